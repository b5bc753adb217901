// The env lifecycle: env file → base image (crossroot.lock first) → one cached layer per setup
// step → the env's own writable layer → one running instance that shells, tasks and `exec` join.
// The CLI, `npm start` and the extension are thin callers of Env; nothing here prints.
import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ARCHES, hostArch } from '../arch';
import { CrossrootError } from '../errors';
import { loadEnvSpec } from '../envfile/load';
import { nodeHost } from '../envfile/host';
import { featureMetadataFiles } from '../features/feature';
import { defaultStoreRoot } from '../store/root';
import { volumeName, type EnvSpec, type LifecycleCommand } from '../envfile/spec';
import { parseImageConfig, type ImageConfig } from '../image/oci';
import type { PulledImage } from '../image/pull';
import { flockHeld, type HeldLock } from '../store/lock';
import { Store } from '../store/store';
import { treeBytes } from '../store/size';
import { type Bind, findHelper } from '../sandbox/helper';
import { runSandbox, signalExitCode } from '../sandbox/client';
import { APT_SANDBOX_ROOT, idmapConfigFiles } from '../sandbox/idmap-config';
import { execInInstance, readInstance, startInstance, stopInstance, type InstanceState } from '../sandbox/instance';
import type { EnvEvent, EnvEventListener } from './events';
import { answersHold, contextAnswers, readInstanceKey, recordingHost, stampFile, treeAnswers, writePlan, type FileStamp, type HostAnswer, type JoinPlan } from './plan';
import { DEFAULT_PATH, configEnv, findAccount, identity, insideCwd, processEnv, readEnvTreeFile, imageEnv, type Account } from './inside';
import { LayerStore, layerKey } from './layers';
import { clearMountPoints, planNativeCompilers, recordMountPoints, removeMountPoints, type NativeCompilers, type NativePlan } from './native-cc';
import { FEATURE_SOURCE_TARGET, detectPackageManager, lifecycleArgv, lifecycleText, planSteps, type FeatureInstall, type Step } from './steps';
import { localFeaturesStamp, type FeatureHook, type FeatureLifecycle } from '../features/feature';
import type { ResolvedFeature } from '../features/resolve';

/** What `envs/<id>/env.json` records about the last successful build. */
export interface EnvRecord {
  id: string;
  file: string;
  workspaceFolder: string;
  name: string;
  arch: string;
  /** Store key of the base tree, and its rootfs path. */
  base: { digest?: string; rootfs: string; config?: string; source: string };
  /** Step layers bottom first. */
  layers: string[];
  /** Changed by `build --rebuild`, so a forced rebuild makes new layers instead of reusing shared ones. */
  generation: string;
  /** The image's Env after the Features' containerEnv (devcontainer.json Features only). */
  featureEnv?: Record<string, string>;
  /** The Features' postStart/postAttach commands, in install order: they run before devcontainer.json's own. */
  featureHooks?: { postStart: FeatureCommand[]; postAttach: FeatureCommand[] };
  /** The Features' mounts: host folders (local Features only) and volumes (`envs/<id>/volumes/<name>`). */
  featureMounts?: FeatureMountRecord[];
  /** A Dockerfile build's image config (its ENV, USER, WORKDIR, …), which no registry holds. */
  imageConfig?: ImageConfig;
  /** Hash of the env spec and crossroot.lock this build was made from (see inputsKey). */
  inputs: string;
  /**
   * A Dockerfile build: what it read of its context, as answers to ask again (plan.ts), so an
   * unchanged context is told without hashing it. Absent when it cannot be told that way (an ADD
   * of a URL, or a context file that changed while the build ran).
   */
  context?: { at: number; answers: HostAnswer[] };
  /** Every step the build announced (a Dockerfile's builder stages too), as a build with nothing to do announces them again. */
  steps?: Array<{ index: number; total: number; label: string; key: string }>;
  built: string;
}

/** A lifecycle command a Feature contributes, and which Feature (as written in devcontainer.json). */
export interface FeatureCommand {
  feature: string;
  command: LifecycleCommand;
}

/** A mount a Feature asked for: a host folder, or a volume kept as a folder of the env in the store. */
export interface FeatureMountRecord {
  feature: string;
  target: string;
  readonly: boolean;
  source?: string;
  volume?: string;
}

export interface EnvOptions {
  store?: Store;
  helper?: string;
  /** Seconds an instance with no process but its PID 1 lives on; 0 = never stops on its own. */
  idleTimeout?: number;
  /**
   * The id map of the env's instance and steps (default `auto`: a full map with a subuid range,
   * else a single-id map). `single` is what a host without subordinate ids gets.
   */
  idmap?: 'auto' | 'single' | 'full';
  onEvent?: EnvEventListener;
  signal?: AbortSignal;
}

export interface BuildOptions {
  /** Run every step again, ignoring cached layers. */
  rebuild?: boolean;
  /** Ask the registry what a tag names now, instead of using the image it gave at the last pull. */
  pull?: boolean;
  /**
   * Run devcontainer initializeCommand (on the host) first. Only for what the user asked for
   * by hand: `crossroot build` and `shell`; never for exec, tasks, lint or the language server.
   */
  initialize?: boolean;
}

export interface BuildResult {
  record: EnvRecord;
  /** Steps that ran (the others were cache hits). */
  ran: number;
  steps: number;
  /** True when the env's stack changed (its writable layer was started afresh). */
  changed: boolean;
}

export interface ExecOptions {
  /** The caller's cwd on the host: mapped into the workspace path when inside the workspace folder. */
  hostCwd?: string;
  /** An explicit cwd inside the env (wins over hostCwd). */
  cwd?: string;
  /** 'inherit': the user's terminal; 'pipe': lines to the callbacks. */
  stdio?: 'inherit' | 'pipe';
  stdin?: 'ignore' | string | NodeJS.ReadableStream;
  onStdout?: (line: string) => void;
  onStderr?: (line: string) => void;
  env?: Record<string, string>;
}

export interface EnvStatus {
  id: string;
  name: string;
  arch: string;
  file: string;
  workspaceFolder: string;
  state: 'not-built' | 'outdated' | 'ready' | 'running';
  record?: EnvRecord;
  layers: Array<{ key: string; step: string; bytes: number }>;
  upperBytes: number;
  instance?: { pid: number; processes: number };
  /** Whether gcc & co. run the host's cross compiler, as decided when the instance last started. */
  nativeCompilers?: NativeCompilers;
  /**
   * Some process is building, starting or stopping the env now (it holds the env's lock, named
   * by `lock`): a terminal's or task's CLI, or the CLI elsewhere.
   */
  busy?: { lock: string };
}

/**
 * Whether an unchanged env file (and, for a Dockerfile, the context answers the record holds)
 * means an unchanged build: sources the env file names completely; not archives, whose content
 * is hashed by the build (see unchangedBuild).
 */
function answersFor(kind: string, record: EnvRecord): boolean {
  return ['image', 'debian', 'dir'].includes(kind) || (kind === 'dockerfile' && record.context !== undefined);
}

export const DEFAULT_IDLE_TIMEOUT = 15 * 60;

/** Where a step's apt finds the config that names root its sandbox user (see stepAptConfig). */
const STEP_APT_CONFIG = '/tmp/crossroot-apt.conf';

export function envId(spec: EnvSpec): string {
  const h = createHash('sha256').update(`${path.resolve(spec.workspaceFolder)}\0${path.resolve(spec.file)}`).digest('hex').slice(0, 12);
  return `${spec.name}-${h}`;
}

export class Env {
  readonly spec: EnvSpec;
  readonly store: Store;
  readonly id: string;
  readonly dir: string;
  private readonly layers: LayerStore;
  private readonly helperPath: string;
  private readonly o: EnvOptions;
  /** The host file stepAptConfig binds into apt-based steps, once written. */
  private aptConfigFile: string | undefined;
  /** The steps the running build announced, for its record (EnvRecord.steps). */
  private stepLog: NonNullable<EnvRecord['steps']> | undefined;
  /** What the env file was read from (Env.open only): the join plan's inputs (plan.ts). */
  private planInputs: { written: number; inputs: FileStamp[]; host: HostAnswer[] } | undefined;

  private constructor(spec: EnvSpec, o: EnvOptions) {
    this.spec = spec;
    this.o = o;
    this.helperPath = o.helper ?? o.store?.helper() ?? findHelper();
    this.store = o.store ?? Store.open(undefined, { helper: this.helperPath });
    this.layers = new LayerStore(this.store);
    this.id = envId(spec);
    this.dir = path.join(this.store.root, 'envs', this.id);
  }

  /** Loads the env file (throws EENVFILE with every error and its position). */
  static open(file: string, o: EnvOptions = {}): Env {
    const abs = path.resolve(file);
    // Stamped before they are read, so an edit while this command runs makes the join plan
    // stale (the next command takes the full path), never wrong.
    const written = Date.now();
    const inputs = [stampFile(abs), stampFile(path.join(path.dirname(abs), 'crossroot.lock'))];
    const rec = recordingHost(nodeHost, (ref) => featureMetadataFiles(defaultStoreRoot(), ref));
    const env = new Env(loadEnvSpec(abs, rec.host), o);
    if (env.spec.source.kind === 'dockerfile') inputs.push(stampFile(env.spec.source.file));
    // Local Features are built from their folders: a changed, added or removed file, a chmod or a
    // new symlink is a new build. Walked without following symlinks; a huge folder gets no plan.
    const f = env.spec.features;
    const trees: HostAnswer[] = [];
    for (const ref of f?.list.map((x) => x.value) ?? []) {
      if (!ref.startsWith('./') && !ref.startsWith('../')) continue;
      const t = treeAnswers(path.resolve(f!.baseDir, ref));
      if (!t) return env;
      trees.push(...t);
    }
    env.planInputs = { written, inputs, host: [...rec.answers, ...trees] };
    return env;
  }

  static fromSpec(spec: EnvSpec, o: EnvOptions = {}): Env {
    return new Env(spec, o);
  }

  get helper(): string {
    return this.helperPath;
  }

  private emit(e: EnvEvent): void {
    if (e.phase === 'step') this.stepLog?.push({ index: e.index, total: e.total, label: e.label, key: e.key });
    this.o.onEvent?.(e);
  }

  private get stateDir(): string {
    return path.join(this.dir, 'state');
  }

  private get upper(): string {
    return path.join(this.dir, 'upper');
  }

  private get work(): string {
    return path.join(this.dir, 'work');
  }

  /** The last successful build, if any. */
  record(): EnvRecord | undefined {
    try {
      return JSON.parse(readFileSync(path.join(this.dir, 'env.json'), 'utf8')) as EnvRecord;
    } catch {
      return undefined;
    }
  }

  private writeRecord(r: EnvRecord): void {
    const tmp = path.join(this.dir, `env.json.${process.pid}.${randomBytes(3).toString('hex')}`);
    writeFileSync(tmp, JSON.stringify(r, null, 2) + '\n');
    renameSync(tmp, path.join(this.dir, 'env.json'));
  }

  private ensureDirs(): void {
    // Private to the user: the state dir names a process the helper will join or kill.
    for (const d of [this.dir, this.stateDir]) {
      mkdirSync(d, { recursive: true, mode: 0o700 });
      chmodSync(d, 0o700);
    }
  }

  /** Serialises build, start and stop of this env across processes (8 parallel `exec` → one build). */
  private lockEnv(): Promise<HeldLock> {
    return this.store.lock(`env-${this.id}`, { onWait: (pid) => this.emit({ phase: 'note', message: `waiting for another crossroot (pid ${pid ?? '?'}) working on env ${this.spec.name}` }) });
  }

  private async pullBase(o: BuildOptions): Promise<PulledImage> {
    // Loaded here, not up front: the registry client and the unpackers are not needed by an
    // exec or shell that joins a running env.
    const { pull } = await import('../image/pull');
    return pull(this.spec.source, {
      store: this.store, arch: ARCHES[this.spec.arch], lockfileDir: path.dirname(this.spec.file), use: true,
      policy: o.pull || o.rebuild ? 'always' : 'missing',
      onProgress: (p) => this.emit({ phase: 'pull', pull: p }),
      ...(this.o.signal ? { signal: this.o.signal } : {}),
    });
  }

  /** Builds the env's Dockerfile (each instruction a cached layer); FROM images come through pullBase's pipeline. */
  private async buildDockerfile(source: Extract<EnvSpec['source'], { kind: 'dockerfile' }>, o: BuildOptions, generation: string) {
    const { buildDockerfile } = await import('./dockerfile');
    const { pull } = await import('../image/pull');
    const r = await buildDockerfile({
      source, store: this.store, layers: this.layers, helper: this.helperPath, arch: this.spec.arch, network: this.spec.network.mode,
      hostname: this.spec.name, generation, policy: o.pull || o.rebuild ? 'always' : 'missing', emit: (e) => this.emit(e),
      ...(this.o.signal ? { signal: this.o.signal } : {}),
      pull: (ref, arch, policy) => pull({ kind: 'image', ref }, {
        store: this.store, arch: ARCHES[arch], use: true, policy, onProgress: (p) => this.emit({ phase: 'pull', pull: p }),
        ...(this.o.signal ? { signal: this.o.signal } : {}),
      }),
    });
    // The env holds its base image as for a pulled one: gc leaves it alone while the build runs.
    const inUse = r.base.digest ? await this.store.useImage(r.base.digest) : undefined;
    return { ...r, base: { ...r.base, ...(inUse ? { inUse } : {}) } };
  }

  private imageConfig(digest: string | undefined): ImageConfig | undefined {
    if (!digest || !this.store.hasBlob(digest)) return undefined;
    try {
      return parseImageConfig(this.store.readBlob(digest));
    } catch {
      return undefined;
    }
  }

  /**
   * Makes the env current: pulls the base when missing, runs the steps whose layers are not
   * cached, and switches the env to the new stack (starting its writable layer afresh when the
   * stack changed). A failing step throws ESTEP with its exit code and last lines; the env's
   * previous build stays as it was, usable.
   */
  async build(o: BuildOptions = {}): Promise<BuildResult> {
    const current = this.unchangedBuild(o);
    if (current) {
      this.savePlan(current.record, this.running());
      return current;
    }
    this.ensureDirs();
    const lock = await this.lockEnv();
    let r: BuildResult;
    try {
      r = await this.buildLocked(o);
    } finally {
      lock.release();
    }
    this.savePlan(r.record, this.running());
    return r;
  }

  /**
   * Writes the join plan (plan.ts) of this build and, when given, of its running instance: what
   * the warm `exec`, `shell` and `build` of dist/cli.cjs replay without loading the core. Only
   * what was decided for this very record and instance goes in; a join that had something to
   * say (a warning) is left to the full path, which says it every time.
   */
  private savePlan(record: EnvRecord, instance: InstanceState | undefined): void {
    const p = this.planInputs;
    if (!p) return;
    try {
      const onDisk = this.record();
      if (!onDisk || onDisk.built !== record.built || onDisk.inputs !== record.inputs || !this.upToDate(record)) return;
      const recordStamp = stampFile(path.join(this.dir, 'env.json'));
      // Before processFor reads it: a user or shell changed in the running env (chsh, useradd)
      // is then a change of the plan's inputs.
      const passwd = stampFile(path.join(this.upper, 'etc/passwd'));
      let join: JoinPlan['join'];
      const key = instance && this.instanceKey();
      const now = instance && readInstance(this.stateDir);
      if (instance && now && now.pid === instance.pid && now.starttime === instance.starttime && key !== undefined && key === this.runtimeKey(record)) {
        const warnings: EnvEvent[] = [];
        const proc = this.processFor(record, undefined, undefined, instance, { term: undefined, warn: (e) => warnings.push(e) });
        const config = record.imageConfig ?? this.imageConfig(record.base.config);
        const workingDir = config?.config?.WorkingDir;
        if (!warnings.length) {
          join = {
            instance: { pid: instance.pid, starttime: instance.starttime }, instanceKey: key,
            env: proc.env, termFromEnvFile: Object.prototype.hasOwnProperty.call(this.spec.env, 'TERM'),
            ...(proc.user ? { user: proc.user } : {}), shell: proc.shell,
            workspaceFolder: this.spec.workspaceFolder, workspacePath: this.spec.workspace.path, ...(workingDir ? { workingDir } : {}),
            postAttach: this.spec.lifecycle.postAttach.length + (record.featureHooks?.postAttach.length ?? 0) > 0,
          };
        }
      }
      writePlan(this.store.root, {
        file: this.spec.file, helper: this.helperPath, stateDir: this.stateDir, inputs: [...p.inputs, passwd], host: [...p.host, ...(record.context?.answers ?? [])], record: recordStamp,
        trees: [record.base.rootfs, ...record.layers.map((k) => this.layers.diff(k))],
        build: {
          name: record.name, arch: record.arch, steps: record.steps?.length ?? record.layers.length, initialize: this.spec.lifecycle.initialize.length > 0,
          answers: answersFor(this.spec.source.kind, record),
        },
        ...(join ? { join } : {}),
      }, p.written);
    } catch {
      // A plan only saves time: without one the next command takes the full path.
    }
  }

  private async buildLocked(o: BuildOptions): Promise<BuildResult> {
    this.stepLog = [];
    try {
      return await this.buildSteps(o, this.stepLog);
    } finally {
      this.stepLog = undefined;
    }
  }

  private async buildSteps(o: BuildOptions, stepLog: NonNullable<EnvRecord['steps']>): Promise<BuildResult> {
    if (o.initialize) await this.runInitialize();
    // Shared with every other build and pull; `crossroot gc` takes it exclusively, so it never
    // removes a layer this build made but has not pinned yet.
    const storeLock = await this.store.lockStore({ shared: true });
    const previous = this.record();
    // Empty unless the user forced a rebuild: then the env gets layers of its own, and the shared
    // ones stay for the envs (and running instances) that stand on them.
    const generation = o.rebuild ? randomBytes(8).toString('hex') : previous?.generation ?? '';
    // A Dockerfile is built first: its final stage's FROM image is the base, its layers the bottom of the stack.
    const started = this.spec.source.kind === 'dockerfile' ? this.store.clockMark() : undefined;
    const docker = this.spec.source.kind === 'dockerfile'
      ? await this.buildDockerfile(this.spec.source, o, generation).catch((e) => { storeLock.release(); throw e; })
      : undefined;
    const context = docker?.context && started ? contextAnswers(docker.context.seen, docker.context.ignoreFiles, started) : undefined;
    const base = docker?.base ?? await this.pullBase(o).catch((e) => { storeLock.release(); throw e; });
    try {
      if (base.tagMoved) {
        this.emit({ phase: 'warning', message: `${base.source} now points at ${base.tagMoved.current}; crossroot.lock keeps ${base.tagMoved.locked} (run \`crossroot lock --update\` to move it)` });
      }
      const config = docker?.config ?? this.imageConfig(base.configDigest);
      // Keyed by the image's Env as written; the default PATH is added when a step runs, so layers
      // made before images without PATH got one keep their keys.
      const stepEnv = { ...configEnv(config), ...this.spec.env };
      const pm = detectPackageManager(base.rootfs, (docker?.keys ?? []).map((k) => this.layers.diff(k)));
      const cacheDir = path.join(this.store.root, 'cache', 'packages', `${pm ?? 'none'}-${this.spec.arch}-${(base.digest ?? base.rootfs).replace(/[^A-Za-z0-9]/g, '').slice(-16)}`);
      const features = this.spec.features?.list.length ? await this.features(o, config) : undefined;
      const steps = planSteps({ spec: this.spec, pm, packageCache: cacheDir, env: stepEnv, ...(features ? { features: features.installs, users: features.users } : {}) });
      if (steps.some((s) => s.kind === 'packages') && !pm) {
        throw new CrossrootError('ESTEP', `[setup] packages needs a package manager, and ${base.source} has none of apt-get, apk, dnf or microdnf`, {
          fix: 'install the packages with a [setup] run command, or use an image with a package manager',
        });
      }
      if (steps.some((s) => s.kind === 'packages')) mkdirSync(cacheDir, { recursive: true, mode: 0o700 });

      const keys: string[] = [...docker?.keys ?? []];
      let parent = keys[keys.length - 1] ?? base.digest ?? `dir:${base.rootfs}`;
      let ran = docker?.ran ?? 0;
      for (const [i, step] of steps.entries()) {
        const key = layerKey({
          parent, kind: step.kind, text: step.text, arch: this.spec.arch, env: step.env,
          extra: `${generation}${step.perEnv ? `\n${this.id}` : ''}`,
        });
        const cached = this.layers.has(key);
        this.emit({ phase: 'step', index: i + 1, total: steps.length, label: step.label, key, cached });
        if (!cached) {
          const started = Date.now();
          await this.layers.ensure(key, { parent, step: step.label, arch: this.spec.arch },
            (upper, work, layerLock) => this.runStep(i + 1, step, base.rootfs, keys.map((k) => this.layers.diff(k)), upper, work, layerLock));
          ran++;
          this.emit({ phase: 'step-done', index: i + 1, key, ms: Date.now() - started });
        }
        keys.push(key);
        parent = key;
      }

      const record: EnvRecord = {
        id: this.id, file: this.spec.file, workspaceFolder: this.spec.workspaceFolder, name: this.spec.name, arch: this.spec.arch,
        base: { rootfs: base.rootfs, source: base.source, ...(base.digest ? { digest: base.digest } : {}), ...(base.configDigest ? { config: base.configDigest } : {}) },
        layers: keys, generation, inputs: this.inputsKey(), ...(features ? { featureEnv: features.env } : {}),
        ...(features && (features.hooks.postStart.length || features.hooks.postAttach.length) ? { featureHooks: features.hooks } : {}),
        ...(features?.mounts.length ? { featureMounts: features.mounts } : {}), ...(docker ? { imageConfig: docker.config } : {}),
        ...(context ? { context } : {}), steps: stepLog,
        built: previous && sameStack(previous, base.rootfs, keys) ? previous.built : new Date().toISOString(),
      };
      const changed = !previous || !sameStack(previous, base.rootfs, keys);
      if (changed) {
        // An upper made over another stack would show a mix of both: the env starts afresh.
        if (readInstance(this.stateDir)) {
          this.emit({ phase: 'instance', state: 'stopped', reason: 'the env was rebuilt' });
          await stopInstance(this.helperPath, this.stateDir);
        }
        this.store.removeTree(this.upper);
        this.store.removeTree(this.work);
      }
      // gc keeps what the env stands on: its base image and its layers.
      const images = [...new Set([...(base.digest ? [base.digest] : []), ...(docker?.pinned.images ?? [])])];
      this.store.setRoot(`env-${this.id}`, images, [...new Set([...keys, ...(docker?.pinned.layers ?? [])])], features?.pinned ?? []);
      this.writeRecord(record);
      return { record, ran, steps: steps.length + (docker?.steps ?? 0), changed };
    } finally {
      base.inUse?.release();
      storeLock.release();
    }
  }

  /**
   * The env's Features fetched (crossroot.lock's digests first) and in install order, with the
   * users they install for and the image env their containerEnv makes.
   */
  private async features(o: BuildOptions, config: ImageConfig | undefined): Promise<{
    installs: FeatureInstall[]; users: { remote: string; container: string }; env: Record<string, string>; hooks: NonNullable<EnvRecord['featureHooks']>;
    /** The fetched Features' digests (their store folders), for gc. */
    pinned: string[];
    mounts: FeatureMountRecord[];
  }> {
    const f = this.spec.features!;
    const [{ resolveFeatures }, { RegistryClient }, { readLockfile }, { applyContainerEnv, substituteFeatureValue, runtimeNotes }, { devcontainerId }] = await Promise.all([
      import('../features/resolve'), import('../image/registry'), import('../lockfile'), import('../features/feature'), import('../envfile/substitute'),
    ]);
    let client: InstanceType<typeof RegistryClient> | undefined;
    const resolved = await resolveFeatures(f.list.map((x) => ({ ref: x.value, options: x.options })), f.installOrder, {
      store: this.store, helper: this.helperPath, baseDir: f.baseDir, lock: readLockfile(path.dirname(this.spec.file)), policy: o.pull || o.rebuild ? 'always' : 'missing',
      registry: async () => (client ??= new RegistryClient()),
      onNote: (message) => this.emit({ phase: 'note', message }),
      ...(this.o.signal ? { signal: this.o.signal } : {}),
    });
    let env = imageEnv(config);
    const installs: FeatureInstall[] = [];
    const hooks: NonNullable<EnvRecord['featureHooks']> = { postStart: [], postAttach: [] };
    const mounts: FeatureMountRecord[] = [];
    const vars = { devcontainerId: devcontainerId(this.spec.workspaceFolder, this.spec.file), containerWorkspaceFolder: this.spec.workspace.path, localWorkspaceFolder: this.spec.workspaceFolder };
    for (const [i, r] of resolved.entries()) {
      const what = `Feature ${r.source.written}`;
      for (const p of r.problems) this.emit({ phase: 'warning', message: `${what}: ${p}`, fix: 'fix its options in devcontainer.json' });
      if (r.requiredBy) this.emit({ phase: 'note', message: `${what} is installed because ${r.requiredBy} depends on it` });
      // `${featureRoot}`: the Feature's folder, bound read-only (into the sandbox's /tmp, a tmpfs,
      // so nothing of it lands in a layer) for the steps and the instance that run its commands.
      const usesRoot = Object.values(r.meta.lifecycle).flat().some((c) => lifecycleText(c).includes('${featureRoot}'));
      const root = usesRoot ? { source: r.dir, target: `${FEATURE_SOURCE_TARGET}/${r.meta.id.replace(/[^\w.-]/g, '_')}_${i}`, readonly: true } : undefined;
      const lifecycle: FeatureLifecycle = {};
      for (const [hook, list] of Object.entries(r.meta.lifecycle) as Array<[FeatureHook, LifecycleCommand[]]>) {
        const subst = (x: string) => substituteFeatureValue(x, { ...vars, ...(root ? { featureRoot: root.target } : {}) });
        lifecycle[hook] = list.map((c) => ('shell' in c ? { ...c, shell: subst(c.shell) } : { ...c, argv: c.argv.map(subst) }));
      }
      for (const hook of ['postStart', 'postAttach'] as const) hooks[hook].push(...(lifecycle[hook] ?? []).map((command) => ({ feature: r.source.written, command })));
      if (root && (lifecycle.postStart || lifecycle.postAttach)) mounts.push({ feature: r.source.written, ...root });
      for (const n of runtimeNotes(r.meta, this.spec.arch === hostArch().name)) this.emit({ phase: n.severity === 'warning' ? 'warning' : 'note', message: `${what}: ${n.message}` });
      mounts.push(...this.featureMounts(r, (x) => substituteFeatureValue(x, vars), mounts));
      installs.push({ ref: r.source.written, id: r.meta.id, digest: r.digest, dir: r.dir, options: r.env, containerEnv: r.meta.containerEnv, lifecycle, ...(root ? { root } : {}) });
      env = applyContainerEnv(env, r.meta.containerEnv);
    }
    // As Dev Containers: containerUser, else the image's User, else root; remoteUser defaults to it.
    const container = f.containerUser ?? (config?.config?.User?.split(':')[0] || 'root');
    const pinned = resolved.flatMap((r) => (r.lock ? [r.lock.integrity] : []));
    return { installs, users: { remote: f.remoteUser ?? container, container }, env, hooks, pinned, mounts };
  }

  /**
   * A Feature's mounts as the env makes them: a volume is a folder of this env in the store (kept
   * across rebuilds, as Docker keeps a volume); a bind of a host folder only from a local Feature
   * (a fetched one must not reach into this machine). devcontainer.json's own mount of the same
   * target wins, as in Dev Containers; so does a later Feature's. What is not made gets a warning.
   */
  private featureMounts(r: ResolvedFeature, substitute: (text: string) => string, earlier: FeatureMountRecord[]): FeatureMountRecord[] {
    const what = `Feature ${r.source.written}`;
    const out: FeatureMountRecord[] = [];
    const skip = (message: string, fix?: string) => this.emit({ phase: 'warning', message: `${what}: ${message}`, ...(fix ? { fix } : {}) });
    for (const m of r.meta.mounts) {
      const target = path.posix.normalize(substitute(m.target));
      const source = m.source === undefined ? undefined : substitute(m.source);
      if (!target.startsWith('/') || ['/', '/proc', '/sys', '/dev'].includes(target.replace(/\/$/, '') || '/')) { skip(`its mount target "${m.target}" is not mounted: it must be an absolute path other than /, /proc, /sys and /dev`); continue; }
      if (target === this.spec.workspace.path || this.spec.mounts.some((x) => x.target === target)) {
        this.emit({ phase: 'note', message: `${what}: its mount at ${target} is not made: devcontainer.json mounts something else there` });
        continue;
      }
      const i = earlier.findIndex((x) => x.target === target);
      if (i >= 0) earlier.splice(i, 1); // a later Feature's mount of the same target wins
      if (m.type === 'volume') {
        out.push({ feature: r.source.written, target, readonly: m.readonly, volume: volumeName(source, target) });
        continue;
      }
      if (r.source.kind !== 'local') {
        skip(`its bind mount of ${source ?? '(no source)'} at ${target} is not made: only devcontainer.json and local Features may bind folders of this machine`, `if you want it, add it to "mounts" in devcontainer.json: "source=${source ?? '/host/path'},target=${target},type=bind"`);
        continue;
      }
      if (!source || !path.isAbsolute(source) || !existsSync(source)) {
        skip(`its bind mount at ${target} is not made: its source ${source ?? '(none)'} is not an existing absolute path on this machine`, 'fix the Feature\'s "mounts"');
        continue;
      }
      out.push({ feature: r.source.written, target, readonly: m.readonly, source });
    }
    return out;
  }

  /** The folder of a Feature's volume `name`: the env's, in the store (it goes when the env does). */
  private volumeDir(name: string): string {
    return path.join(this.dir, 'volumes', name);
  }

  private async runStep(index: number, step: Step, rootfs: string, lowers: string[], upper: string, work: string, lock: HeldLock): Promise<void> {
    // One package manager at a time per host package cache: apt and dnf lock it, and a second
    // build of another env (other packages, same distro and arch) would fail on that lock.
    const cacheLock = step.kind === 'packages' ? await this.store.lock(`packages-${path.basename(step.binds[0]!.source)}`) : undefined;
    try {
      await this.runStepLocked(index, step, rootfs, lowers, upper, work, lock);
    } finally {
      cacheLock?.release();
    }
  }

  private async runStepLocked(index: number, step: Step, rootfs: string, lowers: string[], upper: string, work: string, lock: HeldLock): Promise<void> {
    // Setup commands compile at native speed too ([setup] run, onCreate/postCreate); the package
    // step runs before there is a compiler to speak of. The mount points leave the layer after.
    const native = step.kind === 'packages' ? [] : await this.stepCompilers(rootfs, lowers, upper);
    try {
      await this.runStepSandbox(index, step, rootfs, lowers, upper, work, lock, native);
    } finally {
      removeMountPoints(upper, native.map((b) => b.target));
    }
  }

  private async runStepSandbox(index: number, step: Step, rootfs: string, lowers: string[], upper: string, work: string, lock: HeldLock, native: Bind[]): Promise<void> {
    const apt = this.stepAptConfig(rootfs, lowers);
    const r = await runSandbox(this.helperPath, {
      rootfs, lowers, upper, work, arch: this.spec.arch, binds: [...step.binds, ...native, ...apt.binds], env: { PATH: DEFAULT_PATH, ...step.env, ...apt.env }, cwd: step.cwd,
      hostname: this.spec.name, network: this.spec.network.mode, ...(this.o.idmap ? { idmap: this.o.idmap } : {}),
    }, step.command, {
      stdio: 'pipe',
      onStdout: (line) => this.emit({ phase: 'step-output', index, stream: 'stdout', line }),
      onStderr: (line) => this.emit({ phase: 'step-output', index, stream: 'stderr', line }),
      onWarning: (w) => this.emit({ phase: 'warning', message: w.message, fix: w.fix }),
      fds: [lock.fd],
      ...(this.o.signal ? { signal: this.o.signal } : {}),
    });
    if (r.code !== 0) {
      throw new CrossrootError('ESTEP', `step ${index} (${step.label}) failed with exit code ${r.code}; its last lines:\n${r.tail.map((l) => `  ${l}`).join('\n')}`, {
        fix: 'fix the step in the env file and run `crossroot build` again; the previous build of the env is unchanged',
      });
    }
  }

  /**
   * apt in any step (a Feature's install.sh, a `[setup] run` line, a Dockerfile RUN) must work in
   * a single-id map too, where it cannot drop to `_apt`: every step of an apt-based tree gets
   * `APT::Sandbox::User "root"` through APT_CONFIG, a file bound read-only into the step's own
   * /tmp (a tmpfs of the sandbox, so nothing lands in the layer). Not part of the step's key: it
   * changes who apt downloads as, not what the step makes.
   */
  private stepAptConfig(rootfs: string, lowers: string[]): { binds: Bind[]; env: Record<string, string> } {
    if (detectPackageManager(rootfs, lowers) !== 'apt') return { binds: [], env: {} };
    this.aptConfigFile ??= this.writeAptConfig();
    return { binds: [{ source: this.aptConfigFile, target: STEP_APT_CONFIG, readonly: true }], env: { APT_CONFIG: STEP_APT_CONFIG } };
  }

  /** The host file of stepAptConfig, written (atomically) when missing or different; once per Env. */
  private writeAptConfig(): string {
    const file = path.join(this.store.root, 'cache', 'apt-sandbox-root.conf');
    // It stands in for /etc/apt/apt.conf (Debian images ship none; apt.conf.d/ is still read).
    const text = APT_SANDBOX_ROOT.content;
    if (!existsSync(file) || readFileSync(file, 'utf8') !== text) {
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      const tmp = `${file}.${process.pid}`;
      writeFileSync(tmp, text, { mode: 0o644 });
      renameSync(tmp, file);
    }
    return file;
  }

  /** devcontainer initializeCommand: on the host, in the workspace folder, when the user builds or opens a shell. */
  private async runInitialize(): Promise<void> {
    for (const cmd of this.spec.lifecycle.initialize) {
      this.emit({ phase: 'lifecycle', hook: 'initialize', label: lifecycleText(cmd) });
      const code = await hostCommand(cmd, this.spec.workspaceFolder, (stream, line) => this.emit({ phase: 'output', stream, line }));
      if (code !== 0) {
        throw new CrossrootError('ELIFECYCLE', `initializeCommand (${lifecycleText(cmd)}) failed with exit code ${code}`, { fix: 'fix initializeCommand in devcontainer.json' });
      }
    }
  }

  /** The running instance, when it is the one this build made; undefined otherwise. */
  running(): InstanceState | undefined {
    return readInstance(this.stateDir);
  }

  /**
   * Builds when needed and starts the env's instance unless it runs: the first shell/exec starts
   * it, later ones join. postStartCommand runs once per start.
   */
  async up(o: BuildOptions = {}): Promise<{ instance: InstanceState; record: EnvRecord; started: boolean }> {
    // The common case of every exec and shell, checked before taking the env lock (which costs
    // a `flock` process): the lock serialises build, start and stop, but never covered a join,
    // which runs after it is released; an instance that ends in between is the helper's
    // ENOINSTANCE either way. Anything else takes the lock and looks again.
    const joinable = o.rebuild || o.pull ? undefined : this.joinable();
    if (joinable) return { ...joinable, started: false };
    this.ensureDirs();
    const lock = await this.lockEnv();
    try {
      const again = o.rebuild || o.pull ? undefined : this.joinable();
      if (again) return { ...again, started: false };
      const { record } = await this.buildLocked(o);
      let still = this.running();
      if (still && this.instanceKey() !== this.runtimeKey(record)) {
        // Mounts, network or limits changed: those are fixed when an instance starts.
        this.emit({ phase: 'instance', state: 'stopped', reason: 'the env file changed its mounts, network or limits' });
        await stopInstance(this.helperPath, this.stateDir);
        still = undefined;
      }
      if (still) return { instance: still, record, started: false };
      const instance = await this.start(record);
      return { instance, record, started: true };
    } finally {
      lock.release();
    }
  }

  /**
   * A build with nothing to do, told without taking a lock or pulling: the env file and
   * crossroot.lock are the ones the recorded build was made from, and its base tree and every
   * layer are still in the store. Each lock is a `flock` process (Node has no flock), and this
   * path is what `crossroot build` on an unchanged env and every editor start take. Only for
   * sources that the env file names completely (a tag is resolved as the last pull left it, as
   * the locked path does without --pull); archives and Dockerfiles are hashed by the full path,
   * and a devcontainer initializeCommand always takes it.
   */
  private unchangedBuild(o: BuildOptions): BuildResult | undefined {
    if (o.rebuild || o.pull || (o.initialize && this.spec.lifecycle.initialize.length)) return undefined;
    const record = this.record();
    if (!record || !this.upToDate(record)) return undefined;
    if (!answersFor(this.spec.source.kind, record)) return undefined;
    if (record.context && !answersHold(record.context.answers, record.context.at, () => hostArch().name)) return undefined;
    const steps = record.steps ?? record.layers.map((key, i) => ({ index: i + 1, total: record.layers.length, label: this.layers.get(key)?.step ?? key, key }));
    for (const st of steps) this.emit({ phase: 'step', ...st, cached: true });
    return { record, ran: 0, steps: steps.length, changed: false };
  }

  /** The running instance and its build, when nothing changed since it started: join it without pulling or hashing steps. */
  private joinable(): { instance: InstanceState; record: EnvRecord } | undefined {
    const instance = this.running();
    const record = instance && this.record();
    if (!instance || !record) return undefined;
    if (!this.upToDate(record) || this.instanceKey() !== this.runtimeKey(record)) return undefined;
    return { instance, record };
  }

  /** What the env was built from: the spec (with ${localEnv} values resolved) and crossroot.lock. */
  private inputsKey(): string {
    let lock = '';
    try {
      lock = readFileSync(path.join(path.dirname(this.spec.file), 'crossroot.lock'), 'utf8');
    } catch { /* no lockfile */ }
    // A Dockerfile is an input too (its context files are hashed by the build itself).
    let dockerfile = '';
    if (this.spec.source.kind === 'dockerfile') {
      try {
        dockerfile = readFileSync(this.spec.source.file, 'utf8');
      } catch { /* the build reports it */ }
    }
    // So are local Features' files: an edited install.sh or devcontainer-feature.json is a new build.
    const features = this.spec.features ? localFeaturesStamp(this.spec.features.list.map((f) => f.value), this.spec.features.baseDir) : '';
    return createHash('sha256').update(JSON.stringify(this.spec)).update('\0').update(lock).update('\0').update(dockerfile)
      .update(features ? `\0${features}` : '').digest('hex');
  }

  /** What an instance is started with; a change needs a restart. */
  private runtimeKey(r: EnvRecord): string {
    return createHash('sha256').update(JSON.stringify([r.base.rootfs, r.layers, this.binds(r), this.spec.network, this.spec.limits, this.spec.name, this.spec.tools ?? {}])).digest('hex');
  }

  private instanceKey(): string | undefined {
    return readInstanceKey(this.dir);
  }

  /** The env file still yields the recorded stack (cheap: no pull, no steps). */
  /** The recorded build is this env file's (same inputs) and its base and layers are all still in the store. */
  private upToDate(r: EnvRecord): boolean {
    return r.inputs === this.inputsKey() && r.file === this.spec.file && r.arch === this.spec.arch
      && existsSync(r.base.rootfs) && r.layers.every((k) => this.layers.has(k));
  }

  private async start(record: EnvRecord): Promise<InstanceState> {
    this.emit({ phase: 'instance', state: 'starting' });
    mkdirSync(this.upper, { recursive: true });
    mkdirSync(this.work, { recursive: true });
    for (const m of [...this.spec.mounts, ...record.featureMounts ?? []]) if (m.volume !== undefined) mkdirSync(this.volumeDir(m.volume), { recursive: true, mode: 0o755 });
    const idle = this.idleTimeout;
    const native = await this.nativeCompilers(record);
    const instance = await startInstance(this.helperPath, {
      rootfs: record.base.rootfs, lowers: record.layers.map((k) => this.layers.diff(k)), upper: this.upper, work: this.work,
      arch: this.spec.arch, binds: [...this.binds(record), ...native], hostname: this.spec.name, network: this.spec.network.mode,
      limits: this.spec.limits, ...(idle > 0 ? { idleExit: idle } : {}), ...(this.o.idmap ? { idmap: this.o.idmap } : {}),
    }, this.stateDir, {
      onWarning: (w) => this.emit({ phase: 'warning', message: w.message, fix: w.fix }),
      onNote: (message) => this.emit({ phase: 'note', message }),
    });
    writeFileSync(path.join(this.dir, 'instance-key'), this.runtimeKey(record));
    this.emit({ phase: 'instance', state: 'started', pid: instance.pid });
    await this.writeIdmapConfig(record, instance);
    await this.hooks('postStart', record, instance);
    return instance;
  }

  /**
   * The binds that make gcc & co. run the host's cross compiler in this instance (none when they
   * cannot: the reason goes to `status` and a note). Asks the env's gcc for its search dirs the
   * first time, in a throwaway sandbox over the env's layers (cached per gcc install).
   */
  private async stepCompilers(rootfs: string, lowers: string[], upper: string): Promise<Bind[]> {
    const plan = await planNativeCompilers({
      spec: this.spec, trees: [upper, ...[...lowers].reverse(), rootfs], helper: this.helperPath,
      wrapper: path.join(path.dirname(this.helperPath), 'crossroot-cc'),
      confFile: path.join(this.dir, 'cc-step.conf'), cacheFile: path.join(this.dir, 'gcc-search-dirs.json'), hostCacheDir: path.join(this.store.root, 'cache', 'host-toolchains'),
      probe: (script) => this.probe(rootfs, lowers, script),
    }).catch(() => undefined);
    return plan?.binds ?? [];
  }

  private async nativeCompilers(record: EnvRecord): Promise<Bind[]> {
    const statusFile = path.join(this.dir, 'native-compilers.json');
    const mountPoints = path.join(this.dir, 'mount-points.json');
    clearMountPoints(this.upper, mountPoints);
    // Never a reason for the env not to start: on any failure its own compilers run.
    const plan = await planNativeCompilers({
      spec: this.spec, trees: this.trees(record), helper: this.helperPath,
      wrapper: path.join(path.dirname(this.helperPath), 'crossroot-cc'),
      confFile: path.join(this.dir, 'cc.conf'), cacheFile: path.join(this.dir, 'gcc-search-dirs.json'), hostCacheDir: path.join(this.store.root, 'cache', 'host-toolchains'),
      probe: (script) => this.probe(record.base.rootfs, [...record.layers.map((k) => this.layers.diff(k)), this.upper], script),
    }).catch((e: Error): NativePlan => ({ status: { state: 'off', reason: `native compilers could not be set up (${e.message}); the env's own compilers run (emulated)` }, binds: [] }));
    if (plan?.binds.length) recordMountPoints(mountPoints, plan.binds);
    if (!plan) {
      rmSync(statusFile, { force: true });
      return [];
    }
    writeFileSync(statusFile, JSON.stringify(plan.status));
    this.emit({ phase: 'note', message: `native compilers ${plan.status.state}: ${plan.status.reason}${plan.status.fix ? ` (${plan.status.fix})` : ''}` });
    return plan.binds;
  }

  /** A shell line run by the env's own /bin/sh in a one-shot sandbox over its stack (writes go to a throwaway layer). */
  private async probe(rootfs: string, lowers: string[], script: string): Promise<string> {
    const layer = await this.store.runLayer();
    try {
      const lines: string[] = [];
      await runSandbox(this.helperPath, {
        rootfs, lowers, upper: layer.upper, work: layer.work,
        arch: this.spec.arch, hostname: this.spec.name, network: 'none', ...(this.o.idmap ? { idmap: this.o.idmap } : {}),
      }, ['/bin/sh', '-c', script], { stdio: 'pipe', onStdout: (l) => lines.push(l), onStderr: () => {} });
      return lines.join('\n') + '\n';
    } finally {
      this.store.removeTree(layer.dir);
      layer.lock.release();
    }
  }

  /**
   * In a single-id map, tools that switch users must be told there is only root (apt drops to
   * `_apt` for downloads, which fails there): the files idmapConfigFiles() names are written into
   * the env's writable layer through the running instance, once, before any client runs, so
   * `apt-get update` typed in a terminal works unchanged. Setup steps pass the same option on
   * apt's command line (packagesCommand), so their layers do not carry the file.
   */
  private async writeIdmapConfig(record: EnvRecord, instance: InstanceState): Promise<void> {
    if (mappedIds(instance.pid) > 1) return;
    const trees = this.trees(record);
    const has = (p: string) => trees.some((t) => existsSync(path.join(t, p)));
    for (const f of idmapConfigFiles('single', has)) {
      if (readEnvTreeFile(trees, f.path) === f.content) continue;
      const r = await execInInstance(this.helperPath, this.stateDir,
        ['/bin/sh', '-c', 'umask 022 && cat > "$1"', 'crossroot-idmap-config', `/${f.path}`], { stdio: 'pipe', stdin: f.content });
      if (r.code !== 0) {
        this.emit({ phase: 'warning', message: `could not write /${f.path} into the env (exit code ${r.code}): ${r.tail.join(' ')}`, fix: 'tools that switch users (apt) may fail in this single-id map; add a subuid range for your user' });
      }
    }
  }

  /** The workspace, the env file's mounts and the Features' (volumes are folders of the env: volumeDir). */
  private binds(record: EnvRecord): Bind[] {
    return [
      { source: this.spec.workspaceFolder, target: this.spec.workspace.path },
      ...[...this.spec.mounts, ...record.featureMounts ?? []].map((m) => ({ source: m.volume !== undefined ? this.volumeDir(m.volume) : m.source!, target: m.target, readonly: m.readonly })),
    ];
  }

  /**
   * postStart/postAttach: the Features' commands (in install order), then devcontainer.json's,
   * one after the other; the first that fails ends the hook, as in Dev Containers.
   */
  private async hooks(hook: 'postStart' | 'postAttach', record: EnvRecord, instance: InstanceState): Promise<void> {
    const commands: FeatureCommand[] = [...record.featureHooks?.[hook] ?? [], ...this.spec.lifecycle[hook].map((command) => ({ feature: '', command }))];
    for (const [i, c] of commands.entries()) {
      if (await this.hook(hook, c, record, instance, commands.length - i - 1)) continue;
      return;
    }
  }

  /** One postStart/postAttach command, as the env's user (Dev Containers runs them as remoteUser); false when it failed. */
  private async hook(hook: 'postStart' | 'postAttach', c: FeatureCommand, record: EnvRecord, instance: InstanceState, left: number): Promise<boolean> {
    const cmd = c.command;
    const of = c.feature ? ` of Feature ${c.feature}` : '';
    this.emit({ phase: 'lifecycle', hook, label: `${lifecycleText(cmd)}${c.feature ? ` (Feature ${c.feature})` : ''}` });
    const p = this.processFor(record, undefined, undefined, instance);
    const r = await execInInstance(this.helperPath, this.stateDir, lifecycleArgv(cmd), {
      cwd: this.spec.workspace.path, env: p.env, stdio: 'pipe', ...(p.user ? { user: p.user } : {}),
      onStdout: (line) => this.emit({ phase: 'output', stream: 'stdout', line }),
      onStderr: (line) => this.emit({ phase: 'output', stream: 'stderr', line }),
    });
    if (r.code === 0) return true;
    this.emit({
      phase: 'warning', message: `${hook}Command${of} (${lifecycleText(cmd)}) failed with exit code ${r.code}${left ? `; the ${left} ${hook}Command${left > 1 ? 's' : ''} after it did not run` : ''}`,
      fix: c.feature ? `tell the author of Feature ${c.feature}, or remove it from devcontainer.json` : `fix ${hook}Command in devcontainer.json`,
    });
    return false;
  }

  /** Trees of the env top-down (its upper first), for reading its /etc/passwd. */
  private trees(record: EnvRecord): string[] {
    return [this.upper, ...[...record.layers].reverse().map((k) => this.layers.diff(k)), record.base.rootfs];
  }

  /**
   * Who runs, with which variables and where, for a process of the env. `instance` tells the id
   * map: in a single-id map only root exists, so a non-root env user runs as root, with a warning.
   */
  processFor(record: EnvRecord, hostCwd: string | undefined, cwd: string | undefined, instance?: InstanceState,
    o: { term?: string | undefined; warn?: (e: EnvEvent) => void } = { term: process.env.TERM }): { env: Record<string, string>; cwd: string; account: Account; shell: string; user?: string } {
    const warn = o.warn ?? ((e: EnvEvent) => this.emit(e));
    const config = record.imageConfig ?? this.imageConfig(record.base.config);
    const passwd = readEnvTreeFile(this.trees(record), 'etc/passwd');
    const who = identity(this.spec, config, passwd);
    if (who.unknownUser) warn({ phase: 'warning', message: `user ${who.unknownUser} does not exist in the env's /etc/passwd; running as root`, fix: 'create the user in a [setup] run step, or fix [shell] user' });
    let account = who.account;
    if (account.uid !== 0 && instance && mappedIds(instance.pid) <= 1) {
      warn({ phase: 'warning', message: `the env runs with a single-id map (no subuid range for you), where only root exists; running as root instead of ${account.name}`, fix: 'add a range for your user to /etc/subuid and /etc/subgid (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER)' });
      account = findAccount(passwd, 'root') ?? { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' };
    }
    const shell = this.spec.shell.path ?? account.shell;
    return {
      env: processEnv(this.spec, config, account, shell, o.term, record.featureEnv), cwd: cwd ?? insideCwd(this.spec, hostCwd, config), account, shell,
      ...(account.uid !== 0 ? { user: `${account.uid}:${account.gid}` } : {}),
    };
  }

  /** Runs `command` in the env (starting it when needed); resolves to its exit code. */
  async exec(command: string[], o: ExecOptions = {}): Promise<number> {
    const { record, instance } = await this.up();
    const p = this.processFor(record, o.hostCwd, o.cwd, instance);
    this.savePlan(record, instance);
    const r = await execInInstance(this.helperPath, this.stateDir, command, {
      cwd: p.cwd, env: { ...p.env, ...o.env }, stdio: o.stdio ?? 'inherit', ...(p.user ? { user: p.user } : {}),
      ...(o.stdin !== undefined ? { stdin: o.stdin as never } : {}),
      ...(o.onStdout ? { onStdout: o.onStdout } : {}), ...(o.onStderr ? { onStderr: o.onStderr } : {}),
      ...(this.o.signal ? { signal: this.o.signal } : {}),
    });
    return r.code;
  }

  /** An interactive login shell on the caller's terminal; postAttachCommand runs first. */
  async shell(o: Pick<ExecOptions, 'hostCwd'> = {}): Promise<number> {
    const { record, instance } = await this.up({ initialize: true });
    await this.hooks('postAttach', record, instance);
    const p = this.processFor(record, o.hostCwd, undefined, instance);
    this.savePlan(record, instance);
    const r = await execInInstance(this.helperPath, this.stateDir, [p.shell, '-l'], { cwd: p.cwd, env: p.env, stdio: 'inherit', ...(p.user ? { user: p.user } : {}) });
    return r.code;
  }

  /** Ends every process of the env. A stopped env is not an error. */
  async stop(): Promise<{ stopped: boolean }> {
    if (!existsSync(this.stateDir)) return { stopped: false };
    const lock = await this.lockEnv();
    try {
      const r = await stopInstance(this.helperPath, this.stateDir);
      if (!r.stale) this.emit({ phase: 'instance', state: 'stopped', reason: 'stopped by request' });
      return { stopped: !r.stale };
    } finally {
      lock.release();
    }
  }

  status(): EnvStatus {
    const s = this.state();
    const layers = (s.record?.layers ?? []).map((key) => ({ key, step: this.layers.get(key)?.step ?? '?', bytes: treeBytes(this.layers.diff(key)) }));
    return { ...s, layers, upperBytes: treeBytes(this.upper) };
  }

  /**
   * status() without the sizes, which walk every layer tree: cheap enough to read again on every
   * change of the files stateDirs() names (the extension's status bar does).
   */
  state(): Omit<EnvStatus, 'layers' | 'upperBytes'> {
    const record = this.record();
    const running = this.running();
    let state: EnvStatus['state'] = 'not-built';
    if (record) state = running ? 'running' : this.upToDate(record) ? 'ready' : 'outdated';
    return {
      id: this.id, name: this.spec.name, arch: this.spec.arch, file: this.spec.file, workspaceFolder: this.spec.workspaceFolder, state,
      ...(record ? { record } : {}),
      ...(running ? { instance: { pid: running.pid, processes: processesInNamespace(running.pid) } } : {}),
      ...(record ? nativeStatus(path.join(this.dir, 'native-compilers.json')) : {}),
      ...(flockHeld(this.lockFile) ? { busy: { lock: this.lockFile } } : {}),
    };
  }

  /**
   * The file lockEnv() locks: another process writes its pid into it when it starts to build,
   * start or stop the env (a change its watchers see), and holds it until it is done.
   */
  get lockFile(): string {
    return this.store.lockPath(`env-${this.id}`);
  }

  /**
   * The directories whose entries change with the env's state, whoever changes it (this process,
   * a CLI, a terminal): a finished build renames env.json into the env dir; a start writes
   * state/instance.json and `stop` removes it. An instance that ends on its own (idle timeout,
   * killed) changes neither: its instance.json stays until the next start or stop checks it.
   */
  stateDirs(): string[] {
    return [this.dir, this.stateDir];
  }

  /** Seconds an instance of this env started now would wait with nothing in it before it exits; 0: never. */
  get idleTimeout(): number {
    return this.o.idleTimeout ?? this.spec.idleTimeout ?? DEFAULT_IDLE_TIMEOUT;
  }
}

function nativeStatus(file: string): { nativeCompilers?: NativeCompilers } {
  try {
    return { nativeCompilers: JSON.parse(readFileSync(file, 'utf8')) as NativeCompilers };
  } catch {
    return {};
  }
}

function sameStack(r: EnvRecord, rootfs: string, layers: string[]): boolean {
  return r.base.rootfs === rootfs && r.layers.length === layers.length && r.layers.every((k, i) => k === layers[i]);
}

/** Runs a devcontainer host command (initializeCommand), its output as lines. */
async function hostCommand(cmd: LifecycleCommand, cwd: string, out: (stream: 'stdout' | 'stderr', line: string) => void): Promise<number> {
  const argv = lifecycleArgv(cmd);
  // execa splits the output into lines (a generator per stream), as the helper client does.
  const each = (stream: 'stdout' | 'stderr') => [function* (line: unknown) { out(stream, String(line)); }];
  const r = await execa(argv[0]!, argv.slice(1), { cwd, stdin: 'ignore', stdout: each('stdout'), stderr: each('stderr'), reject: false });
  if (r.exitCode !== undefined) return r.exitCode;
  if (r.signal) return signalExitCode(r.signal);
  throw new CrossrootError('ELIFECYCLE', `cannot run initializeCommand ${argv[0]}: ${r.originalMessage || r.shortMessage}`, {
    cause: r.cause, fix: 'fix initializeCommand in devcontainer.json (it runs on the host, in the workspace folder)',
  });
}

/** How many ids the instance's user namespace maps (1: a single-id map, only root exists inside). */
export function mappedIds(pid: number): number {
  try {
    return readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().split('\n').reduce((n, l) => n + (Number(l.trim().split(/\s+/)[2]) || 0), 0);
  } catch {
    return 0;
  }
}

/** Processes in the instance's pid namespace besides its PID 1 (the env's clients and their children). */
export function processesInNamespace(pid: number): number {
  let ns: string;
  try {
    ns = readlinkSafe(`/proc/${pid}/ns/pid_for_children`) ?? '';
  } catch {
    return 0;
  }
  let n = 0;
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === pid) continue;
    if (readlinkSafe(`/proc/${p}/ns/pid`) === ns) n++;
  }
  return n;
}

function readlinkSafe(p: string): string | undefined {
  try {
    return readlinkSync(p);
  } catch {
    return undefined;
  }
}

/** Every env built in the store, with its instance when it runs (for `status --all`, `stop --all`). */
export function listEnvs(store: Store): Array<{ record: EnvRecord; dir: string; running?: InstanceState }> {
  const root = path.join(store.root, 'envs');
  return readdirSync(root).flatMap((id) => {
    const dir = path.join(root, id);
    try {
      const record = JSON.parse(readFileSync(path.join(dir, 'env.json'), 'utf8')) as EnvRecord;
      const running = readInstance(path.join(dir, 'state'));
      return [{ record, dir, ...(running ? { running } : {}) }];
    } catch {
      return [];
    }
  });
}

/** Stops every running env of the store, whatever their env files say now. */
export async function stopAllEnvs(store: Store, helper = store.helper()): Promise<string[]> {
  const stopped: string[] = [];
  for (const e of listEnvs(store)) {
    if (!e.running) continue;
    const lock = await store.lock(`env-${e.record.id}`);
    try {
      if (!(await stopInstance(helper, path.join(e.dir, 'state'))).stale) stopped.push(e.record.name);
    } finally {
      lock.release();
    }
  }
  return stopped;
}
