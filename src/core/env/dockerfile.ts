// Builds a Dockerfile without Docker: each FROM through the registry client (or an earlier
// stage), each RUN/COPY/ADD/WORKDIR one cached layer in the store, keyed like the setup steps
// (parent, instruction, resolved args and variables, arch, and for COPY/ADD the copied files'
// hash). RUN runs in the sandbox for the stage's arch; COPY/ADD write a tar that the helper's own
// `unpack` (which never writes outside its root) applies inside the sandbox, so owners and the
// overlay's copy-up come out as Docker makes them. ENV/USER/WORKDIR/… end in the image config.
import { createHash } from 'node:crypto';
import { fstatSync, lstatSync, mkdirSync, readFileSync, writeFileSync, rmSync, rmdirSync, unlinkSync, openSync, readSync, closeSync } from 'node:fs';
import path from 'node:path';
import { ARCHES, hostArch, type ArchName } from '../arch';
import { CrossrootError } from '../errors';
import { chompHeredoc, parseDockerfile, mountFields, type DockerHeredoc, type DockerInstruction, type DockerStage, type ParsedDockerfile } from '../envfile/dockerfile';
import { DockerWordError, expandHeredoc, processWord, processWords, splitRaw } from '../envfile/dockerwords';
import type { ImageConfig } from '../image/oci';
import { parseImageConfig } from '../image/oci';
import type { PulledImage } from '../image/pull';
import { copyFd, readTarHeaders, TarWriter, type TarHeader } from '../image/tarwrite';
import { callHelper, runSandbox } from '../sandbox/client';
import type { Bind } from '../sandbox/helper';
import type { HeldLock } from '../store/lock';
import type { Store } from '../store/store';
import type { Source } from '../source';
import { checksumDigest, fetchUrl, urlFileName, type FetchedUrl } from './addurl';
import { collectLocal, contextSeen, DockerIgnore, entryMode, globPattern, hashItems, hasGlob, parseChmod, writeItems, type ContextSeen, type Ownership } from './context';
import type { EnvEvent } from './events';
import { findAccount, readEnvTreeFile } from './inside';
import { layerKey, type LayerStore } from './layers';

type DockerfileSource = Extract<Source, { kind: 'dockerfile' }>;

export interface DockerBuildOptions {
  source: DockerfileSource;
  store: Store;
  layers: LayerStore;
  helper: string;
  /** The env's arch: TARGETPLATFORM, and every stage without --platform. */
  arch: ArchName;
  network: 'host' | 'none' | 'private';
  hostname: string;
  /** Renewed by --rebuild: every layer is made again. */
  generation: string;
  /** 'always' asks the registry again for each FROM tag (--pull, --rebuild). */
  policy: 'always' | 'missing';
  emit: (e: EnvEvent) => void;
  signal?: AbortSignal;
  /** Pulls a FROM image (Env passes its pull, with progress events). */
  pull: (ref: string, arch: ArchName, policy: 'always' | 'missing') => Promise<PulledImage>;
}

export interface DockerBuildResult {
  /** The final stage's FROM image (its tree is the bottom of the env's stack). */
  base: PulledImage;
  /** Layers of the final stage, bottom first, on that base. */
  keys: string[];
  config: ImageConfig;
  /** How many layers ran (the others were cache hits) and how many there were. */
  ran: number;
  steps: number;
  /** Every stage's layers and FROM images: the env pins them all, so gc keeps the builder stages' cache too. */
  pinned: { layers: string[]; images: string[] };
  /**
   * What the build read of the context (and the .dockerignore files it looked for), for the warm
   * path's check that nothing changed; undefined when an input cannot be told that way (ADD of a URL).
   */
  context?: { seen: ContextSeen; ignoreFiles: string[] };
}

/** What a built stage is: a base tree, its layers, its config, its arch. */
interface StageResult {
  base: PulledImage;
  keys: string[];
  config: ImageConfig;
  arch: ArchName;
  /** Built on `FROM scratch` (the helper's mount points are no part of its layers). */
  scratch?: boolean;
}

interface StageState {
  env: Array<[string, string]>;
  args: Map<string, string>;
  user: string;
  workdir: string;
  shell: string[];
  config: ImageConfig;
}

/** Where the helper binary and the files to copy appear inside the sandbox during a COPY/ADD. */
const COPY_TOOL = '/.crossroot-copy-helper';
const COPY_IN = '/.crossroot-copy-in';
/** What the helper makes in a sandbox's root when the tree lacks it (children before parents). */
const SANDBOX_MOUNT_POINTS = ['proc', 'dev', 'sys', 'tmp', 'etc/hosts', 'etc/resolv.conf', 'etc'];
/** Where a `RUN <<EOF` script that starts with `#!` is bound, read-only, while it runs. */
const HEREDOC_DIR = '/.crossroot-heredoc';

function dfError(file: string, ins: DockerInstruction | undefined, message: string, fix?: string): CrossrootError {
  return new CrossrootError('EDOCKERFILE', `${path.basename(file)}${ins ? ` line ${ins.line} (${ins.keyword})` : ''}: ${message}`, fix ? { fix } : {});
}

function platformArch(platform: string, file: string, ins: DockerInstruction): ArchName {
  const [os, arch, variant] = platform.split('/');
  if (os !== 'linux' || !arch) throw dfError(file, ins, `--platform=${platform} is not a linux platform such as linux/arm64`);
  const found = (Object.keys(ARCHES) as ArchName[]).find((a) => {
    const p = ARCHES[a].oci;
    return p.architecture === arch && (!variant || !p.variant || p.variant === variant);
  });
  if (!found) throw dfError(file, ins, `--platform=${platform} names an arch Crossroot does not know (it knows ${Object.values(ARCHES).map((a) => `linux/${a.oci.architecture}${a.oci.variant ? `/${a.oci.variant}` : ''}`).join(', ')})`);
  return found;
}

function platformString(a: ArchName): string {
  const p = ARCHES[a].oci;
  return `linux/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** BuildKit's automatic platform args. */
function platformArgs(target: ArchName): Record<string, string> {
  const t = ARCHES[target].oci;
  const h = ARCHES[hostArch().name].oci;
  return {
    TARGETPLATFORM: platformString(target), TARGETOS: 'linux', TARGETARCH: t.architecture, TARGETVARIANT: t.variant ?? '',
    BUILDPLATFORM: platformString(hostArch().name), BUILDOS: 'linux', BUILDARCH: h.architecture, BUILDVARIANT: h.variant ?? '',
  };
}

function envObject(env: Array<[string, string]>): Record<string, string> {
  return Object.fromEntries(env);
}

function setEnv(env: Array<[string, string]>, k: string, v: string): void {
  const i = env.findIndex(([n]) => n === k);
  if (i >= 0) env[i] = [k, v];
  else env.push([k, v]);
}

/** ENV/LABEL/ARG pairs: `k=v k2="v 2"`, or the legacy `ENV k value with spaces`. */
function pairs(ins: DockerInstruction, vars: Record<string, string>, escape: string, file: string, allowBare = false): Array<[string, string | undefined]> {
  const words = splitRaw(ins.args, escape);
  if (!words.length) throw dfError(file, ins, `${ins.keyword} needs name=value`);
  if (ins.keyword !== 'ARG' && !words[0]!.includes('=')) {
    const rest = ins.args.trim().slice(words[0]!.length).trim();
    if (!rest) throw dfError(file, ins, `${ins.keyword} ${words[0]} needs a value`);
    return [[processWord(words[0]!, vars, escape), processWord(rest, vars, escape)]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) {
      if (!allowBare) throw dfError(file, ins, `${w} has no "=value"`);
      return [w, undefined];
    }
    return [processWord(w.slice(0, eq), vars, escape), processWord(w.slice(eq + 1), vars, escape)];
  });
}

export async function buildDockerfile(o: DockerBuildOptions): Promise<DockerBuildResult> {
  const file = o.source.file;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CrossrootError('EDOCKERFILE', `cannot read the Dockerfile ${file}: ${(e as Error).message}`, { fix: 'check build.dockerfile in devcontainer.json (relative to its folder)' });
  }
  const df = parseDockerfile(text);
  const firstError = df.diagnostics.find((d) => d.severity === 'error');
  if (firstError) {
    throw new CrossrootError('EDOCKERFILE', `${path.basename(file)} line ${text.slice(0, firstError.start).split('\n').length}: ${firstError.message}`, { fix: 'fix the Dockerfile (`crossroot lint` and the editor show every problem)' });
  }
  const b = new DockerBuild(o, df, text);
  return b.run();
}

class DockerBuild {
  private readonly file: string;
  private readonly results = new Map<number, StageResult>();
  private readonly images = new Map<string, StageResult>();
  private readonly ignore: DockerIgnore;
  private index = 0;
  private total = 0;
  private ran = 0;
  /** What the COPY/ADD instructions read of the context (see DockerBuildResult.context). */
  private readonly seen = contextSeen();
  /** An ADD of a URL: its content can change without any local file changing. */
  private remoteInputs = false;
  private readonly held: HeldLock[] = [];

  constructor(private readonly o: DockerBuildOptions, private readonly df: ParsedDockerfile, text: string) {
    this.file = o.source.file;
    void text;
    this.ignore = DockerIgnore.forContext(o.source.context, o.source.file).ignore;
  }

  private words(ins: DockerInstruction, vars: Record<string, string>): string[] {
    try {
      return ins.json ?? processWords(ins.args, vars, this.df.escape);
    } catch (e) {
      throw dfError(this.file, ins, (e as Error).message);
    }
  }

  private word(ins: DockerInstruction, s: string, vars: Record<string, string>): string {
    try {
      return processWord(s, vars, this.df.escape);
    } catch (e) {
      if (e instanceof DockerWordError) throw dfError(this.file, ins, e.message);
      throw e;
    }
  }

  /** Global ARGs (before the first FROM) with build args over their defaults. */
  private globalArgs(arch: ArchName): Record<string, string> {
    const vars: Record<string, string> = { ...platformArgs(arch) };
    for (const ins of this.df.globalArgs) {
      for (const [k, v] of pairs(ins, vars, this.df.escape, this.file, true)) {
        const given = this.o.source.args[k] ?? v;
        if (given !== undefined) vars[k] = given;
      }
    }
    return vars;
  }

  private stageByName(name: string): DockerStage | undefined {
    const n = name.toLowerCase();
    return this.df.stages.find((s) => s.name === n) ?? (/^\d+$/.test(n) ? this.df.stages[Number(n)] : undefined);
  }

  async run(): Promise<DockerBuildResult> {
    const target = this.o.source.target ? this.stageByName(this.o.source.target) : this.df.stages[this.df.stages.length - 1];
    if (!target) throw dfError(this.file, undefined, `build target "${this.o.source.target}" is not a stage (stages: ${this.df.stages.map((s) => s.name ?? s.index).join(', ')})`, 'set build.target to one of them');
    // The stages the target needs: FROM an earlier stage, COPY --from a stage.
    const need = new Set<number>();
    const visit = (s: DockerStage): void => {
      if (need.has(s.index)) return;
      need.add(s.index);
      const vars = this.globalArgs(this.o.arch);
      const from = this.stageByName(this.word(s.from, s.image, vars));
      if (from && from.index < s.index) visit(from);
      for (const ins of s.instructions) {
        const f = ins.flags.find((x) => x.name === 'from')?.value;
        const st = f ? this.stageByName(f) : undefined;
        if (st && st.index < s.index) visit(st);
      }
    };
    visit(target);
    const order = this.df.stages.filter((s) => need.has(s.index));
    this.total = order.reduce((n, s) => n + s.instructions.filter((i) => ['RUN', 'COPY', 'ADD', 'WORKDIR'].includes(i.keyword)).length, 0);
    try {
      for (const s of order) this.results.set(s.index, await this.stage(s));
      const r = this.results.get(target.index)!;
      const all = [...this.results.values(), ...this.images.values()];
      const pinned = {
        layers: [...new Set(all.flatMap((s) => s.keys))],
        images: [...new Set(all.flatMap((s) => (s.base.digest ? [s.base.digest] : [])))],
      };
      const context = this.remoteInputs ? undefined : { seen: this.seen, ignoreFiles: DockerIgnore.candidates(this.o.source.context, this.o.source.file) };
      return { base: r.base, keys: r.keys, config: r.config, ran: this.ran, steps: this.total, pinned, ...(context ? { context } : {}) };
    } finally {
      // The env takes its own hold on the final base; the other images may go.
      for (const h of this.held) h.release();
    }
  }

  /**
   * `FROM scratch`: an empty tree (one per store, never written: steps write their own layers).
   * Its key parent is the word "scratch", so the same COPY on scratch is the same layer anywhere.
   */
  private scratch(arch: ArchName): StageResult {
    const rootfs = path.join(this.o.store.root, 'scratch');
    mkdirSync(rootfs, { recursive: true, mode: 0o755 });
    const config: ImageConfig = { architecture: ARCHES[arch].oci.architecture, os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] } };
    return { base: { source: 'scratch', kind: 'dir', arch, rootfs, cached: true }, keys: [], config, arch, scratch: true };
  }

  private async fromImage(ref: string, arch: ArchName): Promise<StageResult> {
    const k = `${ref}\0${arch}`;
    const have = this.images.get(k);
    if (have) return have;
    const base = await this.o.pull(ref, arch, this.o.policy);
    if (base.inUse) this.held.push(base.inUse);
    let config: ImageConfig = { architecture: ARCHES[arch].oci.architecture, os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] } };
    if (base.configDigest && this.o.store.hasBlob(base.configDigest)) {
      try {
        config = parseImageConfig(this.o.store.readBlob(base.configDigest));
      } catch { /* keep the empty config */ }
    }
    const r: StageResult = { base: { ...base, inUse: undefined } as PulledImage, keys: [], config, arch };
    this.images.set(k, r);
    return r;
  }

  private async stage(s: DockerStage): Promise<StageResult> {
    const gvars = this.globalArgs(this.o.arch);
    const arch = s.platform ? platformArch(this.word(s.from, s.platform, gvars), this.file, s.from) : this.o.arch;
    const image = this.word(s.from, s.image, this.globalArgs(arch));
    const earlier = this.stageByName(image);
    let start: StageResult;
    if (earlier && earlier.index < s.index) start = this.results.get(earlier.index)!;
    else if (image === 'scratch') start = this.scratch(arch);
    else start = await this.fromImage(image, arch);
    if (start.arch !== arch) throw dfError(this.file, s.from, `stage ${image} was built for ${start.arch}, but this stage is for ${arch}`);

    const cfg = JSON.parse(JSON.stringify(start.config)) as ImageConfig;
    cfg.config ??= {};
    const st: StageState = {
      env: (cfg.config.Env ?? []).map((kv) => { const eq = kv.indexOf('='); return [kv.slice(0, eq), kv.slice(eq + 1)] as [string, string]; }).filter(([k]) => k),
      args: new Map(Object.entries(platformArgs(this.o.arch))),
      user: cfg.config.User ?? '',
      workdir: cfg.config.WorkingDir || '/',
      shell: ['/bin/sh', '-c'],
      config: cfg,
    };
    const keys = [...start.keys];
    const stack = () => ({ rootfs: start.base.rootfs, lowers: keys.map((k) => this.o.layers.diff(k)) });
    let parent = keys[keys.length - 1] ?? start.base.digest ?? (start.scratch ? 'scratch' : `dir:${start.base.rootfs}`);
    const vars = () => ({ ...Object.fromEntries(st.args), ...envObject(st.env) });

    for (const ins of s.instructions) {
      const kw = ins.keyword;
      const c = st.config.config!;
      switch (kw) {
        case 'ARG':
          for (const [k, v] of pairs(ins, vars(), this.df.escape, this.file, true)) {
            const global = this.df.globalArgs.length ? this.globalArgs(arch)[k] : undefined;
            const value = this.o.source.args[k] ?? v ?? global;
            if (value !== undefined) st.args.set(k, value);
            else st.args.delete(k);
          }
          continue;
        case 'ENV':
          for (const [k, v] of pairs(ins, vars(), this.df.escape, this.file)) setEnv(st.env, k, v ?? '');
          c.Env = st.env.map(([k, v]) => `${k}=${v}`);
          continue;
        case 'LABEL':
        case 'MAINTAINER': {
          c.Labels ??= {};
          if (kw === 'MAINTAINER') c.Labels.maintainer = ins.args.trim();
          else for (const [k, v] of pairs(ins, vars(), this.df.escape, this.file)) c.Labels[k] = v ?? '';
          continue;
        }
        case 'USER':
          st.user = this.word(ins, ins.args.trim(), vars());
          c.User = st.user;
          continue;
        case 'SHELL':
          st.shell = ins.json!;
          continue;
        case 'EXPOSE': case 'VOLUME': case 'CMD': case 'ENTRYPOINT': case 'HEALTHCHECK': case 'STOPSIGNAL': case 'ONBUILD':
          this.record(ins, st, vars());
          continue;
        case 'WORKDIR': {
          const dir = path.posix.resolve(st.workdir, this.word(ins, ins.args.trim(), vars()));
          st.workdir = dir;
          c.WorkingDir = dir;
          // Docker makes the directory (owned by USER, as BuildKit does).
          const argv = ['/bin/sh', '-c', st.user && st.user !== 'root' && st.user !== '0' ? 'mkdir -p -- "$1" && chown -- "$2" "$1"' : 'mkdir -p -- "$1"', 'workdir', dir, st.user.split(':')[0] ?? ''];
          parent = await this.layer(ins, parent, arch, keys, stack, `WORKDIR ${dir}\nuser ${st.user}`, {}, (upper, work, lock) =>
            start.scratch ? this.mkdirByTar(ins, stack(), upper, work, lock, arch, dir, st.user)
              : this.runIn(ins, stack(), upper, work, lock, arch, argv, { cwd: '/', env: envObject(st.env), user: '', binds: [], network: 'none' }));
          continue;
        }
        case 'RUN': {
          const runEnv = vars();
          let argv = ins.json ?? [...st.shell, ins.args];
          const binds: Bind[] = [];
          // Heredocs as BuildKit runs them: `RUN <<EOF` alone runs the lines with the SHELL (a
          // `#!` first line makes them a script file that is executed); anything else on the line
          // (`RUN python3 <<EOF`, several heredocs) is handed to the SHELL as the shell's own heredoc.
          let script: { name: string; data: string } | undefined;
          const docs = ins.heredocs ?? [];
          if (docs.length === 1 && heredocOf(ins, ins.args.trim()) === docs[0]) {
            const data = docs[0]!.chomp ? chompHeredoc(docs[0]!.content) : docs[0]!.content;
            if (data.startsWith('#!')) {
              script = { name: /^[A-Za-z0-9_.-]+$/.test(docs[0]!.name) ? docs[0]!.name : 'script', data };
              argv = [`${HEREDOC_DIR}/${script.name}`];
            } else {
              argv = [...st.shell, data];
            }
          } else if (docs.length) {
            argv = [...st.shell, ins.args + docs.map((h) => `\n${h.content}${h.name}`).join('')];
          }
          const caches: string[] = [];
          let network = this.o.network;
          for (const f of ins.flags) {
            if (f.name === 'network') {
              if (f.value === 'none') network = 'none';
              else if (f.value !== 'default' && f.value !== 'host') throw dfError(this.file, ins, `RUN --network=${f.value} is not known: use none, host or default`);
            } else if (f.name === 'mount') {
              const m = mountFields(this.word(ins, f.value ?? '', runEnv));
              const target = m.target ?? m.dst ?? m.destination;
              if (!target) throw dfError(this.file, ins, 'RUN --mount=type=cache needs target=/path');
              const id = createHash('sha256').update(`${m.id ?? target}\0${arch}`).digest('hex').slice(0, 24);
              const dir = path.join(this.o.store.root, 'cache', 'dockerfile', id);
              mkdirSync(dir, { recursive: true, mode: 0o700 });
              binds.push({ source: dir, target: path.posix.resolve(st.workdir, target), ...(m.readonly === 'true' || m.ro === 'true' ? { readonly: true } : {}) });
              caches.push(id);
            }
          }
          const keyText = `RUN ${JSON.stringify(argv)}\nuser ${st.user}\nworkdir ${st.workdir}\nnetwork ${network === 'none' ? 'none' : 'on'}\nmounts ${JSON.stringify(binds.map((x) => x.target))}${script ? `\nscript ${JSON.stringify(script.data)}` : ''}`;
          parent = await this.layer(ins, parent, arch, keys, stack, keyText, runEnv, async (upper, work, lock) => {
            // One RUN at a time per cache dir, as BuildKit's sharing=locked does.
            const cacheLocks = [];
            for (const id of caches) cacheLocks.push(await this.o.store.lock(`dockerfile-cache-${id}`));
            const dir = script ? this.o.store.tempPath(`heredoc-${process.pid}-${this.index}-${Date.now()}`) : undefined;
            try {
              if (script && dir) {
                mkdirSync(dir, { mode: 0o700 });
                writeFileSync(path.join(dir, script.name), script.data, { mode: 0o755 });
              }
              await this.runIn(ins, stack(), upper, work, lock, arch, argv, { cwd: st.workdir, env: runEnv, user: st.user, network,
                binds: dir ? [...binds, { source: dir, target: HEREDOC_DIR, readonly: true }] : binds });
            } finally {
              if (dir) this.o.store.removeTree(dir);
              for (const l of cacheLocks) l.release();
            }
          });
          continue;
        }
        case 'COPY':
        case 'ADD':
          parent = await this.copy(ins, st, arch, keys, stack, parent, vars());
          continue;
        default:
          throw dfError(this.file, ins, `${kw} is not supported`);
      }
    }
    return { base: start.base, keys, config: st.config, arch, ...(start.scratch ? { scratch: true } : {}) };
  }

  private record(ins: DockerInstruction, st: StageState, vars: Record<string, string>): void {
    const c = st.config.config! as NonNullable<ImageConfig['config']> & { ExposedPorts?: Record<string, object>; Volumes?: Record<string, object>; Healthcheck?: { Test: string[] } };
    const shellForm = (): string[] => ins.json ?? [...st.shell, ins.args];
    switch (ins.keyword) {
      case 'EXPOSE': c.ExposedPorts ??= {}; for (const p of this.words(ins, vars)) c.ExposedPorts[p.includes('/') ? p : `${p}/tcp`] = {}; break;
      case 'VOLUME': c.Volumes ??= {}; for (const v of this.words(ins, vars)) c.Volumes[v] = {}; break;
      case 'CMD': c.Cmd = shellForm(); break;
      case 'ENTRYPOINT': c.Entrypoint = shellForm(); break;
      case 'HEALTHCHECK': c.Healthcheck = { Test: ins.args.trim().toUpperCase() === 'NONE' ? ['NONE'] : ['CMD-SHELL', ins.args.replace(/^\s*CMD\s+/i, '')] }; break;
      case 'STOPSIGNAL': c.StopSignal = this.word(ins, ins.args.trim(), vars); break;
      default: break;
    }
    this.o.emit({ phase: 'note', message: `${path.basename(this.file)} line ${ins.line}: ${ins.keyword} is recorded in the image config and not run by Crossroot` });
  }

  /** WORKDIR where there is no shell (a scratch stage): the directory as a tar entry, applied by the helper's unpack. */
  private async mkdirByTar(ins: DockerInstruction, stack: { rootfs: string; lowers: string[] }, upper: string, work: string, lock: HeldLock, arch: ArchName, dir: string, user: string): Promise<void> {
    const trees = [...stack.lowers].reverse().concat(stack.rootfs);
    if (isDirIn(trees, dir)) return;
    const own = this.owner(ins, user && user !== 'root' && user !== '0' ? user : undefined, trees);
    const tmp = this.o.store.tempPath(`workdir-${process.pid}-${this.index}-${Date.now()}`);
    mkdirSync(tmp, { recursive: true, mode: 0o700 });
    try {
      const tw = new TarWriter(path.join(tmp, 'layer.tar'));
      try {
        tw.entry({ name: dir.replace(/^\/+/, ''), type: '5', mode: 0o755, uid: own.uid ?? 0, gid: own.gid ?? 0, mtime: Math.floor(Date.now() / 1000), size: 0 });
      } finally {
        tw.close();
      }
      await this.runIn(ins, stack, upper, work, lock, arch,
        [COPY_TOOL, 'unpack', '--idmap', 'none', '--compression', 'none', '--no-whiteouts', '--target', '/', '--layer', `${COPY_IN}/layer.tar`],
        { cwd: '/', env: {}, user: '', network: 'none', binds: [{ source: this.o.helper, target: COPY_TOOL, readonly: true }, { source: tmp, target: COPY_IN, readonly: true }] });
    } finally {
      this.o.store.removeTree(tmp);
    }
  }

  /** One cached layer: emits the step events, runs `build` on a miss. Returns the layer's key. */
  private async layer(ins: DockerInstruction, parent: string, arch: ArchName, keys: string[], _stack: unknown, text: string, env: Record<string, string>,
    build: (upper: string, work: string, lock: HeldLock) => Promise<void>, extra = ''): Promise<string> {
    const key = layerKey({ parent, kind: 'dockerfile', text, arch, env, extra: `${this.o.generation}${extra}` });
    const label = `${path.basename(this.file)}:${ins.line} ${ins.keyword} ${ins.args.replace(/\s+/g, ' ').trim()}`.slice(0, 160);
    const cached = this.o.layers.has(key);
    this.index++;
    this.o.emit({ phase: 'step', index: this.index, total: this.total, label, key, cached });
    if (!cached) {
      const started = Date.now();
      await this.o.layers.ensure(key, { parent, step: label, arch }, build);
      this.ran++;
      this.o.emit({ phase: 'step-done', index: this.index, key, ms: Date.now() - started });
    }
    keys.push(key);
    return key;
  }

  private async runIn(ins: DockerInstruction, stack: { rootfs: string; lowers: string[] }, upper: string, work: string, lock: HeldLock, arch: ArchName,
    argv: string[], p: { cwd: string; env: Record<string, string>; user: string; binds: Bind[]; network: 'host' | 'none' | 'private'; stdin?: NodeJS.ReadableStream; keep?: Set<string> }): Promise<void> {
    const index = this.index;
    const go = (user: string) => runSandbox(this.o.helper, {
      rootfs: stack.rootfs, lowers: stack.lowers, upper, work, arch, binds: p.binds, env: p.env, cwd: p.cwd,
      hostname: this.o.hostname, network: p.network, ...(user ? { user } : {}),
    }, argv, {
      stdio: 'pipe',
      onStdout: (line) => this.o.emit({ phase: 'step-output', index, stream: 'stdout', line }),
      onStderr: (line) => this.o.emit({ phase: 'step-output', index, stream: 'stderr', line }),
      onWarning: (w) => this.o.emit({ phase: 'warning', message: w.message, fix: w.fix }),
      fds: [lock.fd],
      ...(this.o.signal ? { signal: this.o.signal } : {}),
    });
    let r;
    try {
      r = await go(p.user && p.user !== 'root' && p.user !== '0' ? p.user : '');
    } catch (e) {
      // A single-id map has only root: run as root, as the env's terminals then do.
      if ((e as CrossrootError).code !== 'EUSERMAP') throw e;
      this.o.emit({ phase: 'warning', message: `${path.basename(this.file)} line ${ins.line}: USER ${p.user} cannot exist in a single-id map (no subuid range for you); this step runs as root`, fix: 'add a range for your user to /etc/subuid and /etc/subgid (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER)' });
      r = await go('');
    }
    for (const m of p.binds) removeMountPoint(upper, m.target);
    // On scratch the helper made its mount points in this layer; they are not the step's files.
    if (stack.rootfs === path.join(this.o.store.root, 'scratch')) {
      for (const m of SANDBOX_MOUNT_POINTS) if (!p.keep?.has(m)) removeMountPoint(upper, `/${m}`);
    }
    if (r.code !== 0) {
      throw new CrossrootError('ESTEP', `${path.basename(this.file)} line ${ins.line} (${ins.keyword}) failed with exit code ${r.code}; its last lines:\n${r.tail.map((l) => `  ${l}`).join('\n')}`, {
        fix: 'fix the Dockerfile and run `crossroot build` again; the previous build of the env is unchanged',
      });
    }
  }

  /** --chown USER[:GROUP] as numbers, names looked up in the stage's own /etc/passwd and /etc/group. */
  private owner(ins: DockerInstruction, spec: string | undefined, trees: string[]): Pick<Ownership, 'uid' | 'gid'> {
    if (!spec) return {};
    const [u, g] = spec.split(':');
    const passwd = readEnvTreeFile(trees, 'etc/passwd');
    const group = readEnvTreeFile(trees, 'etc/group');
    let uid: number | undefined;
    let gid: number | undefined;
    if (/^\d+$/.test(u!)) uid = Number(u);
    else {
      const a = findAccount(passwd, u!);
      if (!a) throw dfError(this.file, ins, `--chown=${spec}: no user "${u}" in the image's /etc/passwd`, 'create the user in an earlier RUN, or use numeric ids');
      uid = a.uid;
      gid = a.gid;
    }
    if (g !== undefined && g !== '') {
      if (/^\d+$/.test(g)) gid = Number(g);
      else {
        const line = (group ?? '').split('\n').find((l) => l.split(':')[0] === g);
        if (!line) throw dfError(this.file, ins, `--chown=${spec}: no group "${g}" in the image's /etc/group`, 'create the group in an earlier RUN, or use numeric ids');
        gid = Number(line.split(':')[2]);
      }
    }
    return { uid, gid: gid ?? uid };
  }

  private async copy(ins: DockerInstruction, st: StageState, arch: ArchName, keys: string[], stack: () => { rootfs: string; lowers: string[] }, parent: string, vars: Record<string, string>): Promise<string> {
    const words = this.words(ins, vars);
    if (words.length < 2) throw dfError(this.file, ins, `${ins.keyword} needs at least one source and a destination`);
    const sources = words.slice(0, -1);
    const destWord = words[words.length - 1]!;
    const dest = path.posix.resolve(st.workdir, destWord) + (destWord.endsWith('/') || destWord === '.' ? '/' : '');
    const flag = (n: string) => {
      const v = ins.flags.find((f) => f.name === n)?.value;
      return v === undefined || v === null ? undefined : this.word(ins, v, vars);
    };
    const trees = [...stack().lowers].reverse().concat(stack().rootfs);
    const own: Ownership = this.owner(ins, flag('chown'), trees);
    const chmod = flag('chmod');
    if (chmod !== undefined) {
      const mode = parseChmod(chmod);
      if (mode === undefined) throw dfError(this.file, ins, `--chmod=${chmod} is not a mode: use octal (755) or chmod's symbolic form (u+x, a=rX, go-w)`);
      own.mode = mode;
      if (typeof mode !== 'number') own.chmod = chmod;
    }
    // --exclude (several allowed) and --parents, as Dockerfile 1.19 has them.
    const excludes = ins.flags.filter((f) => f.name === 'exclude').map((f) => this.word(ins, f.value ?? '', vars));
    if (excludes.some((e) => !e)) throw dfError(this.file, ins, '--exclude needs a pattern (--exclude=*.log)');
    const exclude = excludes.length ? new DockerIgnore(excludes.join('\n')) : undefined;
    const parentsFlag = ins.flags.find((f) => f.name === 'parents');
    const parents = parentsFlag !== undefined && parentsFlag.value !== 'false';
    if (ins.flags.some((f) => f.name === 'link')) this.o.emit({ phase: 'note', message: `${path.basename(this.file)} line ${ins.line}: --link makes no difference here (each instruction is its own layer already)` });
    const destIsDir = isDirIn(trees, dest);
    const tmpName = `copy-${process.pid}-${this.index}-${Date.now()}`;
    const from = flag('from');
    const text = (hash: string) => `${ins.keyword} ${JSON.stringify(sources)} ${dest}\nfrom ${from ?? ''}\nown ${JSON.stringify(own)}\n${hash}${excludes.length ? `\nexclude ${JSON.stringify(excludes)}` : ''}${parents ? '\nparents' : ''}`;

    // Each source kind gives the hash of what it copies and a writer of the tar, used on a miss.
    let hash: string;
    let write: (tarFile: string, tmp: string) => Promise<void>;
    if (from !== undefined) {
      const stage = this.stageByName(from);
      const src = stage && this.results.get(stage.index) ? this.results.get(stage.index)! : await this.fromImage(from, arch);
      if (sources.some((s) => heredocOf(ins, s))) throw dfError(this.file, ins, 'COPY --from cannot take a heredoc: the heredoc is the file, there is nothing to read from the stage', 'drop --from for the heredoc, or use a COPY of its own');
      // The source stage's layers are content-addressed: its top key names exactly what it holds.
      hash = `stage ${src.keys[src.keys.length - 1] ?? src.base.digest ?? src.base.rootfs}`;
      if (parents) throw dfError(this.file, ins, 'COPY --parents with --from is not supported yet (it is for files of the build context)', 'name the destination folders in the COPY, or copy from the build context');
      write = (tarFile, tmp) => this.tarFromStage(ins, src, sources, dest, destIsDir, own, tarFile, tmp, exclude);
    } else {
      const urls = ins.keyword === 'ADD' ? sources.filter(isUrl) : [];
      const docs = sources.map((s) => heredocOf(ins, s)).filter((h): h is DockerHeredoc => h !== undefined);
      const locals = sources.filter((s) => !urls.includes(s) && !heredocOf(ins, s));
      const checksum = flag('checksum');
      if (checksum !== undefined && (urls.length !== 1 || locals.length)) throw dfError(this.file, ins, '--checksum is only for ADD of one URL (BuildKit\'s rule)', 'put the URL in an ADD of its own, or drop --checksum');
      if (checksum !== undefined && !checksumDigest(checksum)) throw dfError(this.file, ins, `--checksum=${checksum} must be sha256:<64 hex digits>`, 'write the file\'s digest as sha256:… (sha256sum prints the hex part)');
      // Several sources always go into dest as a directory, whatever their kind.
      const intoDir = destIsDir || dest.endsWith('/') || sources.length > 1;
      const fetched: Array<{ url: string; got: FetchedUrl }> = [];
      for (const url of urls) {
        fetched.push({ url, got: await fetchUrl(this.o.store, url, {
          network: this.o.network, ...(checksum ? { checksum } : {}), ...(this.o.signal ? { signal: this.o.signal } : {}),
          fail: (message, fix) => dfError(this.file, ins, message, fix),
        }) });
      }
      if (urls.length) this.remoteInputs = true;
      let items = locals.length ? collectLocal(this.o.source.context, locals, dest, intoDir, this.ignore, this.seen, { ...(exclude ? { exclude } : {}), parents }) : [];
      const archives = ins.keyword === 'ADD' ? items.filter((it) => it.st.isFile() && isArchive(it.host)) : [];
      items = items.filter((it) => !archives.includes(it));
      const destClean = path.posix.normalize(dest).replace(/^\/+/, '').replace(/\/+$/, '');
      // A download's entry: Docker names it after the URL's path, mode 0600 unless --chmod, the
      // mtime from Last-Modified; it is never unpacked. Its key part is the content's digest
      // (and that mtime, as BuildKit's http source keys it), so a changed file rebuilds the step.
      const downloads = fetched.map(({ url, got }) => ({
        url, digest: got.digest,
        header: { name: intoDir ? path.posix.join(destClean, urlFileName(url)) : destClean, type: '0' as const, mode: entryMode(own, 0o600, false), uid: own.uid ?? 0, gid: own.gid ?? 0, mtime: got.mtime ?? Math.floor(Date.now() / 1000), size: 0 },
      }));
      // A heredoc's file: named after its delimiter in a directory, mode 0644 unless --chmod
      // (BuildKit's Mkfile), its content with `<<-` tabs removed and, for an unquoted delimiter,
      // the build's variables substituted.
      const texts = docs.map((h) => {
        let content = h.chomp ? chompHeredoc(h.content) : h.content;
        if (h.expand) content = expandHeredoc(content, vars, this.df.escape);
        const bytes = Buffer.from(content);
        return { bytes, header: { name: intoDir ? path.posix.join(destClean, h.name) : destClean, type: '0' as const, mode: entryMode(own, 0o644, false), uid: own.uid ?? 0, gid: own.gid ?? 0, mtime: Math.floor(Date.now() / 1000), size: bytes.length } };
      });
      hash = `${archives.length ? `archive ${hashItems(archives, {})} ` : ''}${hashItems(items, own)}${downloads.map((d) => ` url ${JSON.stringify([d.header.name, d.digest, d.header.mode, d.header.uid, d.header.gid, fetched.find((f) => f.url === d.url)!.got.mtime ?? null])}`).join('')}`
        + texts.map((x) => ` heredoc ${JSON.stringify([x.header.name, x.header.mode, x.header.uid, x.header.gid])} ${createHash('sha256').update(x.bytes).digest('hex')}`).join('');
      write = async (tarFile, tmp) => {
        const tw = new TarWriter(tarFile);
        try {
          writeItems(tw, items, own);
          for (const a of archives) {
            const unpacked = await relocateArchive(a.host, destClean, tw, tmp, this.o.helper, (m) => dfError(this.file, ins, m, 'check the archive (or COPY it, which never unpacks)'));
            // Not a tar inside: copied as it is, as a file of its own under dest (Docker's rule).
            if (!unpacked) writeItems(tw, [a], own);
          }
          for (const x of texts) {
            tw.entry(x.header);
            tw.body((w) => w(x.bytes), x.bytes.length);
          }
          for (const d of downloads) {
            const blob = this.o.store.blobPath(d.digest);
            const fd = openSync(blob, 'r');
            try {
              const size = fstatSync(fd).size;
              tw.entry({ ...d.header, size });
              tw.body((w) => copyFd(fd, size, w), size);
            } finally {
              closeSync(fd);
            }
          }
        } finally {
          tw.close();
        }
      };
    }
    return this.layer(ins, parent, arch, keys, stack, text(hash), {}, async (upper, work, lock) => {
      const tmp = this.o.store.tempPath(tmpName);
      mkdirSync(tmp, { recursive: true, mode: 0o700 });
      try {
        const tarFile = path.join(tmp, 'layer.tar');
        await write(tarFile, tmp);
        const keep = new Set<string>();
        readTarHeaders(tarFile, (h) => { if (SANDBOX_MOUNT_POINTS.includes(h.name)) keep.add(h.name); });
        await this.runIn(ins, stack(), upper, work, lock, arch,
          [COPY_TOOL, 'unpack', '--idmap', 'none', '--compression', 'none', '--no-whiteouts', '--target', '/', '--layer', `${COPY_IN}/layer.tar`],
          { cwd: '/', env: {}, user: '', network: 'none', keep, binds: [{ source: this.o.helper, target: COPY_TOOL, readonly: true }, { source: tmp, target: COPY_IN, readonly: true }] });
      } finally {
        this.o.store.removeTree(tmp);
      }
    });
  }

  /**
   * The files of another stage (or image), as tar entries under `dest`. They are read inside that
   * stage's own sandbox by the helper's `pack` (bound in, host arch, static), so a stage with no
   * tar of its own (`FROM scratch`, distroless) works, and owners are the ones ids have there.
   * A source with a glob packs the folder above its first pattern and keeps the entries whose
   * names match the whole pattern (Docker's filepath.Match per component).
   */
  private async tarFromStage(ins: DockerInstruction, src: StageResult, sources: string[], dest: string, destIsDir: boolean, own: Ownership, tarFile: string, tmp: string, exclude?: DockerIgnore): Promise<void> {
    const out = path.join(tmp, 'out');
    mkdirSync(out, { mode: 0o700 });
    const scratch = path.join(tmp, 'scratch');
    mkdirSync(path.join(scratch, 'upper'), { recursive: true });
    mkdirSync(path.join(scratch, 'work'));
    const wanted = sources.map((s) => {
      const abs = path.posix.resolve('/', s).replace(/^\/+/, '');
      if (!hasGlob(abs)) return { written: s, pack: abs === '' ? '.' : abs, root: abs };
      const parts = abs.split('/');
      const firstGlob = parts.findIndex(hasGlob);
      return { written: s, pack: parts.slice(0, firstGlob).join('/') || '.', pattern: new RegExp(`^${globPattern(abs)}$`, 's') };
    });
    const r = await runSandbox(this.o.helper, {
      rootfs: src.base.rootfs, lowers: src.keys.map((k) => this.o.layers.diff(k)), upper: path.join(scratch, 'upper'), work: path.join(scratch, 'work'),
      arch: src.arch, binds: [{ source: this.o.helper, target: COPY_TOOL, readonly: true }, { source: out, target: '/.crossroot-copy-out' }], network: 'none', cwd: '/',
    }, [COPY_TOOL, 'pack', '--output', '/.crossroot-copy-out/from.tar', '--', ...new Set(wanted.map((w) => w.pack))], { stdio: 'pipe' });
    if (r.code !== 0) {
      throw dfError(this.file, ins, `COPY --from could not read ${sources.join(' ')} from that stage:\n${r.tail.map((l) => `  ${l}`).join('\n')}`, 'check the paths exist in the source stage');
    }
    const from = path.join(out, 'from.tar');
    // The source roots: the paths named, and what each pattern matched (in name order).
    const roots: string[] = [];
    const dirs = new Set<string>();
    const matched = new Map<string, number>();
    // `/`: the whole stage, its contents going into dest.
    if (wanted.some((w) => w.root === '')) { roots.push(''); dirs.add(''); }
    readTarHeaders(from, (h) => {
      for (const w of wanted) {
        if (w.root === '') continue;
        const hit = w.pattern ? w.pattern.test(h.name) : h.name === w.root;
        if (!hit) continue;
        matched.set(w.written, (matched.get(w.written) ?? 0) + 1);
        if (!roots.includes(h.name)) roots.push(h.name);
        if (h.type === '5') dirs.add(h.name);
      }
    });
    const none = wanted.find((w) => w.pattern && !matched.get(w.written));
    if (none) throw dfError(this.file, ins, `COPY --from: ${none.written} matches no file in that stage`, 'check the pattern (it is matched from the stage\'s root)');
    const tw = new TarWriter(tarFile);
    try {
      const destClean = path.posix.normalize(dest).replace(/^\/+/, '').replace(/\/+$/, '');
      const intoDir = destIsDir || dest.endsWith('/') || roots.length > 1;
      const rename = (name: string): string | undefined => {
        for (const root of roots) {
          if (root === '') return path.posix.join(destClean, name);
          if (name === root) return dirs.has(root) ? undefined : (intoDir ? path.posix.join(destClean, path.posix.basename(root)) : destClean);
          if (name.startsWith(`${root}/`)) return path.posix.join(destClean, name.slice(root.length + 1));
        }
        return undefined;
      };
      // What the sandbox itself put there (its /tmp, /etc/hosts … where the stage has none) is not the stage's.
      const trees = [...src.keys.map((k) => this.o.layers.diff(k))].reverse().concat(src.base.rootfs);
      const sandboxMade = (n: string) => SANDBOX_MOUNT_POINTS.includes(n) && !existsIn(trees, n);
      // --exclude: matched against the path below the source root it came in by (a file root: its name).
      const excluded = (n: string): boolean => {
        if (!exclude) return false;
        for (const root of roots) {
          if (root === '') return exclude.excludes(n);
          if (n === root) return !dirs.has(root) && exclude.excludes(path.posix.basename(root));
          if (n.startsWith(`${root}/`)) return exclude.excludes(n.slice(root.length + 1));
        }
        return false;
      };
      // A hardlink whose first name is not copied (a glob left it out): that file is written
      // under the first copied name instead, and the other links point there.
      const promoted = new Map<string, string>();
      readTarHeaders(from, (h) => {
        const name = rename(h.name);
        if (h.type === '1' && h.linkname && name !== undefined && rename(h.linkname) === undefined && !promoted.has(h.linkname)) promoted.set(h.linkname, name);
      });
      readTarHeaders(from, (h, body) => {
        let name = rename(h.name);
        if (name === undefined && h.type === '0') name = promoted.get(h.name);
        if (name === undefined || sandboxMade(h.name) || excluded(h.name)) return;
        if (!['0', '1', '2', '5', '6'].includes(h.rawType)) return;
        const e: TarHeader = { ...h, name, uid: own.uid ?? h.uid, gid: own.gid ?? h.gid, mode: h.type === '2' ? h.mode : entryMode(own, h.mode, h.type === '5') };
        if (h.type === '1' && h.linkname) {
          const l = rename(h.linkname) ?? promoted.get(h.linkname);
          if (l === undefined || l === name) return;
          e.linkname = l;
        }
        tw.entry(e);
        if (e.type === '0') tw.body(body, e.size);
      });
    } finally {
      tw.close();
    }
  }
}

/** The heredoc a word (`<<EOF`, `<<-EOF`, quotes already removed or not) stands for on this instruction. */
function heredocOf(ins: DockerInstruction, word: string): DockerHeredoc | undefined {
  const m = /^<<-?(["']?)(.+)\1$/.exec(word);
  return m ? ins.heredocs?.find((h) => h.name === m[2]) : undefined;
}

/** An ADD source that is downloaded rather than read from the build context. */
function isUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/** Whether `rel` is in the stack at all (top tree first; an overlay whiteout hides it). */
function existsIn(trees: string[], rel: string): boolean {
  for (const t of trees) {
    try {
      const st = lstatSync(path.join(t, rel));
      return !(st.isCharacterDevice() && st.rdev === 0);
    } catch { /* lower */ }
  }
  return false;
}

/** A directory at `p` in the stack (top tree first); a symlink or nothing there is not. */
function isDirIn(trees: string[], p: string): boolean {
  const rel = p.replace(/^\/+/, '').replace(/\/+$/, '');
  if (!rel) return true;
  for (const t of trees) {
    try {
      const st = lstatSync(path.join(t, rel));
      return st.isDirectory();
    } catch { /* lower */ }
  }
  return false;
}

/** The compressions Docker's ADD detects by content (gzip, bzip2, xz, zstd), by their magic numbers. */
function compressedMagic(b: Buffer, n: number): boolean {
  return (n >= 2 && b[0] === 0x1f && b[1] === 0x8b)
    || (n >= 6 && b.toString('latin1', 0, 6) === '\xfd7zXZ\0')
    || (n >= 4 && b.toString('latin1', 0, 3) === 'BZh' && b[3]! >= 0x31 && b[3]! <= 0x39)
    || (n >= 4 && b.readUInt32LE(0) === 0xfd2fb528);
}

/** A tar header block: its checksum (the sum of its bytes, the checksum field read as spaces) matches. */
function tarHeaderOk(b: Buffer, n: number): boolean {
  if (n < 512) return false;
  const field = b.toString('latin1', 148, 156).replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i]!;
  return sum === parseInt(field, 8);
}

function head(file: string): { b: Buffer; n: number } {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(512);
    return { b, n: readSync(fd, b, 0, 512, 0) };
  } finally {
    closeSync(fd);
  }
}

/** What ADD may unpack: a tar, or a file compressed with one of Docker's compressions (whether that holds a tar is seen after decompressing). */
function isArchive(file: string): boolean {
  const { b, n } = head(file);
  return compressedMagic(b, n) || tarHeaderOk(b, n);
}

/**
 * An ADD archive's entries under `destName`; the helper's unpack then refuses any `..` in them.
 * Compressed ones are decompressed by the helper (`decompress`: zlib, libzstd, liblzma, libbz2,
 * the same static code that reads image layers). Returns false when the content is not a tar:
 * Docker then copies the file as it is.
 */
async function relocateArchive(file: string, destName: string, tw: TarWriter, tmp: string, helper: string, fail: (message: string) => Error): Promise<boolean> {
  let plain = file;
  const first = head(file);
  if (compressedMagic(first.b, first.n)) {
    plain = path.join(tmp, 'archive.tar');
    rmSync(plain, { force: true });
    try {
      await callHelper(helper, { argv: ['decompress', '--input', file, '--output', plain] });
    } catch (e) {
      throw fail(`${path.basename(file)} cannot be decompressed: ${(e as Error).message}`);
    }
    const h = head(plain);
    if (!tarHeaderOk(h.b, h.n)) {
      rmSync(plain, { force: true });
      return false;
    }
  }
  readTarHeaders(plain, (h, body) => {
    if (!['0', '1', '2', '5', '6'].includes(h.rawType)) return;
    const e: TarHeader = { ...h, name: path.posix.join(destName, h.name) };
    if (h.type === '1' && h.linkname) e.linkname = path.posix.join(destName, h.linkname);
    tw.entry(e);
    if (e.type === '0') tw.body(body, e.size);
  });
  if (plain !== file) rmSync(plain, { force: true });
  return true;
}

/** The empty file or dir the helper made in the layer for a bind's mount point; not part of the layer. */
function removeMountPoint(upper: string, target: string): void {
  const p = path.join(upper, target);
  try {
    const st = lstatSync(p);
    if (st.isDirectory()) rmdirSync(p);
    else if (st.isFile() && st.size === 0) unlinkSync(p);
  } catch { /* not there, or not empty (the cache dir's parent) */ }
}
