// Dev Container Features as the env file names them and as their devcontainer-feature.json
// describes them: references (OCI, local folder, https tarball), metadata, options → env vars.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseMountString, type LifecycleCommand } from '../envfile/spec';
import { CrossrootError } from '../errors';
import { isLoopbackHost } from '../image/http';
import { parseImageRef, type ImageRef } from '../image/ref';

/** The media type of a Feature's one layer in its OCI artifact (the spec's distribution format). */
export const FEATURE_LAYER_MEDIA_TYPE = 'application/vnd.devcontainers.layer.v1+tar';

export type FeatureSource =
  | { kind: 'oci'; written: string; ref: ImageRef; /** registry/repository, no tag: what installsAfter and overrides name. */ resource: string }
  | { kind: 'local'; written: string; path: string; resource: string }
  | { kind: 'tarball'; written: string; url: string; resource: string };

/** A user's option values: strings and booleans, as devcontainer.json writes them. */
export type FeatureOptions = Record<string, string | boolean>;

/**
 * Reads a Feature reference as devcontainer.json (or a Feature's dependsOn) writes it; `baseDir`
 * is the folder of the devcontainer.json, which local `./name` references are relative to.
 * Throws EFEATUREREF with the fix for anything else.
 */
export function parseFeatureRef(written: string, baseDir: string): FeatureSource {
  if (written.startsWith('./') || written.startsWith('../')) {
    const p = path.resolve(baseDir, written);
    return { kind: 'local', written, path: p, resource: p };
  }
  if (/^[a-z]+:\/\//i.test(written)) {
    let url: URL;
    try {
      url = new URL(written);
    } catch {
      throw new CrossrootError('EFEATUREREF', `"${written}" is not a valid URL`, { fix: 'write the https URL of the Feature\'s .tgz' });
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.host))) {
      throw new CrossrootError('EFEATUREREF', `Feature tarball "${written}" is not https`, { fix: 'use an https:// URL (plain http only for a registry on this machine)' });
    }
    if (url.username || url.password) throw new CrossrootError('EFEATUREREF', `Feature tarball URL "${url.host}${url.pathname}" holds credentials`, { fix: 'remove the user:password@ part; Crossroot sends no credentials with tarball downloads' });
    return { kind: 'tarball', written, url: url.href, resource: url.href };
  }
  if (path.isAbsolute(written)) {
    throw new CrossrootError('EFEATUREREF', `local Feature "${written}" must be relative to devcontainer.json`, { fix: 'write it as ./name for a folder next to devcontainer.json' });
  }
  // The retired forms: "node" (first-party shorthand) and "owner/repo/feature@v" (GitHub releases).
  const first = written.split('/')[0]!;
  if (!written.includes('/') || !(first.includes('.') || first.includes(':') || first === 'localhost')) {
    throw new CrossrootError('EFEATUREREF', `"${written}" is not an OCI reference, a ./local folder or an https URL (the short and GitHub-release forms are retired)`, {
      fix: `write the full reference, e.g. "ghcr.io/devcontainers/features/${written.split('/').pop()!.split(/[@:]/)[0] || 'node'}:1"`,
    });
  }
  let ref: ImageRef;
  try {
    ref = parseImageRef(written);
  } catch (e) {
    throw new CrossrootError('EFEATUREREF', `"${written}" is not a valid Feature reference: ${(e as Error).message}`, { fix: 'write registry/namespace/feature:version, e.g. ghcr.io/devcontainers/features/node:1' });
  }
  return { kind: 'oci', written, ref, resource: ref.name };
}

/** The Feature id a reference implies (its last path part), before its metadata says otherwise. */
export function featureIdOf(source: FeatureSource): string {
  if (source.kind === 'oci') return source.ref.repository.split('/').pop()!;
  if (source.kind === 'local') return path.basename(source.path);
  return path.posix.basename(new URL(source.url).pathname).replace(/^devcontainer-feature-/, '').replace(/\.(tgz|tar\.gz|tar)$/, '');
}

export interface FeatureOption {
  type: 'string' | 'boolean';
  default?: string | boolean;
  enum?: string[];
  proposals?: string[];
  description?: string;
}

/** What Crossroot uses of devcontainer-feature.json. */
export interface FeatureMetadata {
  id: string;
  version?: string;
  name?: string;
  options: Record<string, FeatureOption>;
  containerEnv: Record<string, string>;
  /** Hard dependencies: reference → options. */
  dependsOn: Record<string, FeatureOptions>;
  /** Soft ordering: resources (no version) installed before this one when they are installed at all. */
  installsAfter: string[];
  /** Its lifecycle commands: each runs before devcontainer.json's own of that moment. */
  lifecycle: FeatureLifecycle;
  /** Mounts it asks the container to have, as written (variables not filled in yet). */
  mounts: FeatureMount[];
  /** What it asks of a container runtime, which Crossroot has not got: see runtimeNotes(). */
  runtime: { privileged: boolean; init: boolean; capAdd: string[]; securityOpt: string[]; entrypoint?: string };
  /** customizations.vscode: merged into the env's lists before devcontainer.json's own. */
  vscode: { extensions: string[]; settings: Record<string, unknown> };
}

/** A Feature's mount: a host folder (bind), or a named volume, which Crossroot keeps as a folder per env. */
export interface FeatureMount {
  type: 'bind' | 'volume';
  /** Host path (bind) or volume name; an anonymous volume has none. */
  source?: string;
  target: string;
  readonly: boolean;
}

/** The moments a Feature may add commands to, as devcontainer-feature.json names them. */
export const FEATURE_HOOKS = {
  onCreate: 'onCreateCommand', updateContent: 'updateContentCommand', postCreate: 'postCreateCommand', postStart: 'postStartCommand', postAttach: 'postAttachCommand',
} as const;
export type FeatureHook = keyof typeof FEATURE_HOOKS;
export type FeatureLifecycle = Partial<Record<FeatureHook, LifecycleCommand[]>>;


/** Parses devcontainer-feature.json (`what` names it in errors); throws EFEATURE. */
export function parseFeatureMetadata(text: string, what: string): FeatureMetadata {
  const bad = (m: string): CrossrootError => new CrossrootError('EFEATURE', `${what}: ${m}`, { fix: 'the Feature is broken; tell its author, or pick another version' });
  let doc: unknown;
  try {
    doc = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    throw bad(`not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(doc)) throw bad('expected a JSON object');
  if (typeof doc.id !== 'string' || !/^[\w.-]+$/.test(doc.id)) throw bad('"id" must be a string of letters, digits, ".", "-" and "_"');
  const options: Record<string, FeatureOption> = {};
  for (const [k, v] of Object.entries(isObject(doc.options) ? doc.options : {})) {
    if (!isObject(v) || (v.type !== 'string' && v.type !== 'boolean')) throw bad(`option "${k}" must have "type": "string" or "boolean"`);
    const o: FeatureOption = { type: v.type };
    if (typeof v.default === 'string' || typeof v.default === 'boolean') o.default = v.default;
    if (Array.isArray(v.enum)) o.enum = v.enum.map(String);
    if (Array.isArray(v.proposals)) o.proposals = v.proposals.map(String);
    if (typeof v.description === 'string') o.description = v.description;
    options[k] = o;
  }
  const containerEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(isObject(doc.containerEnv) ? doc.containerEnv : {})) {
    if (typeof v !== 'string') throw bad(`containerEnv.${k} must be a string`);
    containerEnv[k] = v;
  }
  const dependsOn: Record<string, FeatureOptions> = {};
  for (const [k, v] of Object.entries(isObject(doc.dependsOn) ? doc.dependsOn : {})) dependsOn[k] = userOptions(v);
  const installsAfter = Array.isArray(doc.installsAfter) ? doc.installsAfter.filter((x): x is string => typeof x === 'string') : [];
  const lifecycle: FeatureLifecycle = {};
  for (const [hook, prop] of Object.entries(FEATURE_HOOKS) as Array<[FeatureHook, string]>) {
    if (doc[prop] === undefined) continue;
    const list = lifecycleCommands(doc[prop]);
    if (!list) throw bad(`"${prop}" must be a string, an array of strings, or an object of those`);
    if (list.length) lifecycle[hook] = list;
  }
  const mounts: FeatureMount[] = [];
  if (doc.mounts !== undefined && !Array.isArray(doc.mounts)) throw bad('"mounts" must be an array');
  for (const [i, m] of (Array.isArray(doc.mounts) ? doc.mounts : []).entries()) {
    const o = typeof m === 'string' ? parseMountString(m) : isObject(m) ? m : undefined;
    const type = o?.type ?? 'bind';
    if (!o || typeof o.target !== 'string' || !o.target || (o.source !== undefined && typeof o.source !== 'string') || (type !== 'bind' && type !== 'volume')) {
      throw bad(`mounts[${i}] must be { "type": "bind" | "volume", "source": "…", "target": "/path" } or "type=…,source=…,target=…"`);
    }
    mounts.push({ type, target: o.target, readonly: o.readonly === true || o.readonly === 'true', ...(typeof o.source === 'string' && o.source ? { source: o.source } : {}) });
  }
  const strings = (v: unknown, name: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw bad(`"${name}" must be an array of strings`);
    return v as string[];
  };
  const runtime: FeatureMetadata['runtime'] = {
    privileged: doc.privileged === true, init: doc.init === true, capAdd: strings(doc.capAdd, 'capAdd'), securityOpt: strings(doc.securityOpt, 'securityOpt'),
    ...(typeof doc.entrypoint === 'string' && doc.entrypoint ? { entrypoint: doc.entrypoint } : {}),
  };
  const vscodeDoc = isObject(doc.customizations) && isObject(doc.customizations.vscode) ? doc.customizations.vscode : {};
  const vscode = {
    extensions: Array.isArray(vscodeDoc.extensions) ? vscodeDoc.extensions.filter((x): x is string => typeof x === 'string') : [],
    settings: isObject(vscodeDoc.settings) ? vscodeDoc.settings : {},
  };
  return {
    id: doc.id, options, containerEnv, dependsOn, installsAfter, lifecycle, mounts, runtime, vscode,
    ...(typeof doc.version === 'string' ? { version: doc.version } : {}),
    ...(typeof doc.name === 'string' ? { name: doc.name } : {}),
  };
}

/** The three forms of a lifecycle command, as devcontainer.json has them; undefined when it is none of them. */
function lifecycleCommands(v: unknown): LifecycleCommand[] | undefined {
  const one = (x: unknown, name?: string): LifecycleCommand | undefined => {
    const named = name !== undefined ? { name } : {};
    if (typeof x === 'string') return { ...named, shell: x };
    if (Array.isArray(x) && x.every((a) => typeof a === 'string')) return { ...named, argv: x as string[] };
    return undefined;
  };
  if (!isObject(v)) {
    const c = one(v);
    return c ? [c] : undefined;
  }
  const out: LifecycleCommand[] = [];
  for (const [name, x] of Object.entries(v)) {
    const c = one(x, name);
    if (!c) return undefined;
    out.push(c);
  }
  return out;
}

/**
 * The variables a Feature's commands may use, filled in as devcontainers/cli fills them:
 * `${devcontainerId}`, `${containerWorkspaceFolder}`, `${localWorkspaceFolder}` (and their
 * `Basename` forms), and in lifecycle commands `${featureRoot}` (where its files are). Anything else stays as written, `${localEnv:…}` included: a fetched Feature
 * gets no values from the host's environment.
 */
export function substituteFeatureValue(text: string, vars: { devcontainerId: string; containerWorkspaceFolder: string; localWorkspaceFolder: string; featureRoot?: string }): string {
  return text.replace(/\$\{([A-Za-z]+)\}/g, (whole, name: string) => {
    switch (name) {
      case 'featureRoot': return vars.featureRoot ?? whole;
      case 'devcontainerId': return vars.devcontainerId;
      case 'containerWorkspaceFolder': return vars.containerWorkspaceFolder;
      case 'containerWorkspaceFolderBasename': return path.posix.basename(vars.containerWorkspaceFolder);
      case 'localWorkspaceFolder': return vars.localWorkspaceFolder;
      case 'localWorkspaceFolderBasename': return path.basename(vars.localWorkspaceFolder);
      default: return whole;
    }
  });
}

/**
 * What a Feature asks of a container runtime that a rootless env has not got, each with what
 * Crossroot does instead, for the build's notes and the editor's diagnostics. `native`: the env's
 * arch runs without qemu (debuggers trace it directly).
 */
export function runtimeNotes(meta: FeatureMetadata, native: boolean): Array<{ severity: 'warning' | 'info'; message: string }> {
  const r = meta.runtime;
  const out: Array<{ severity: 'warning' | 'info'; message: string }> = [];
  if (r.privileged) {
    out.push({ severity: 'warning', message: '"privileged" cannot be given: the env runs as your own user in a user namespace, so what needs host privileges (dockerd of docker-in-docker, loading kernel modules, mounting host devices) does not work in it' });
  }
  if (r.capAdd.length) {
    const ptrace = r.capAdd.some((c) => /^(CAP_)?SYS_PTRACE$/i.test(c));
    out.push({
      severity: ptrace && r.capAdd.length === 1 ? 'info' : 'warning',
      message: `"capAdd" ${r.capAdd.join(', ')} is not applied: root in the env already holds every capability over what the env's own namespaces hold, and none over the host's`
        + (ptrace ? (native ? '; debuggers (SYS_PTRACE) work without it' : '; debug programs under qemu through its gdbstub (QEMU_GDB=1234, then gdb-multiarch `target remote :1234`)') : ''),
    });
  }
  if (r.securityOpt.length) {
    out.push({ severity: 'info', message: `"securityOpt" ${r.securityOpt.join(', ')} is not applied: there is no Docker seccomp or AppArmor profile to relax (Crossroot's only filter stops terminal-injection ioctls)` });
  }
  if (r.init) out.push({ severity: 'info', message: '"init" is not needed: the env always has an init process that reaps zombies' });
  if (r.entrypoint) {
    out.push({
      severity: 'warning',
      message: `its entrypoint ${r.entrypoint} is not run: a Crossroot env starts no container entrypoint. To start what it starts, add "postStartCommand": "${r.entrypoint} true" to devcontainer.json (it runs as the env's user, in a rootless env: daemons that need real root, such as docker-in-docker's dockerd, still cannot run)`,
    });
  }
  return out;
}

/** A Feature's value in `features`: `{…}` of options, or a string, which is its "version" option. */
export function userOptions(v: unknown): FeatureOptions {
  if (typeof v === 'string') return { version: v };
  if (!isObject(v)) return {};
  const out: FeatureOptions = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string' || typeof x === 'boolean') out[k] = x;
  return out;
}

/** An option's env var name, as the reference implementation makes it: `nodeGypDependencies` → `NODEGYPDEPENDENCIES`. */
export function optionVariable(name: string): string {
  return name.replace(/[^\w_]/g, '_').replace(/^[\d_]+/g, '_').toUpperCase();
}

/**
 * The env vars of a Feature's options: every declared option with the user's value or its
 * default, and the user's undeclared ones too (as the reference passes them). Problems are
 * messages for the user: undeclared options, wrong types, values outside an enum.
 */
export function optionEnv(meta: FeatureMetadata, given: FeatureOptions): { env: Record<string, string>; problems: string[] } {
  const env: Record<string, string> = {};
  const problems: string[] = [];
  for (const [name, o] of Object.entries(meta.options)) {
    if (o.default !== undefined) env[optionVariable(name)] = String(o.default);
  }
  for (const [name, v] of Object.entries(given)) {
    const o = meta.options[name];
    if (!o) {
      const known = Object.keys(meta.options);
      problems.push(`"${name}" is not an option of Feature ${meta.id}${known.length ? `; its options: ${known.join(', ')}` : ' (it has none)'}`);
    } else if (o.type === 'boolean' && typeof v !== 'boolean') {
      problems.push(`option "${name}" of Feature ${meta.id} is true or false, not ${JSON.stringify(v)}`);
    } else if (o.type === 'string' && typeof v !== 'string') {
      problems.push(`option "${name}" of Feature ${meta.id} is a string, not ${JSON.stringify(v)}`);
    } else if (o.enum && !o.enum.includes(String(v))) {
      problems.push(`option "${name}" of Feature ${meta.id} must be one of ${o.enum.map((x) => JSON.stringify(x)).join(', ')}, not ${JSON.stringify(v)}`);
    }
    env[optionVariable(name)] = String(v);
  }
  return { env, problems };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * `env` with a Feature's containerEnv applied, as Docker applies ENV: `${VAR}` and `$VAR` in a
 * value are the variables so far (`"PATH": "/opt/x/bin:${PATH}"`), unknown ones empty.
 */
export function applyContainerEnv(env: Record<string, string>, containerEnv: Record<string, string>): Record<string, string> {
  const out = { ...env };
  for (const [k, v] of Object.entries(containerEnv)) {
    out[k] = v.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a?: string, b?: string) => out[(a ?? b)!] ?? '');
  }
  return out;
}

/**
 * A cheap stamp of the local Feature folders an env file names (every entry's path, mode, size
 * and mtime): part of an env's build inputs, so an edited local Feature is built again even when
 * devcontainer.json did not change. Stats only: it is taken on every full-path command.
 */
export function localFeaturesStamp(refs: string[], baseDir: string): string {
  const out: string[] = [];
  const walk = (dir: string, rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(path.join(dir, rel)).sort();
    } catch {
      out.push(`${rel}\0missing`);
      return;
    }
    for (const n of names) {
      const r = path.join(rel, n);
      try {
        const st = lstatSync(path.join(dir, r));
        out.push(`${r}\0${st.mode}\0${st.size}\0${st.mtimeMs}`);
        if (st.isDirectory()) walk(dir, r);
      } catch {
        out.push(`${r}\0gone`);
      }
    }
  };
  for (const ref of refs) {
    if (!ref.startsWith('./') && !ref.startsWith('../')) continue;
    out.push(`\0${ref}`);
    walk(path.resolve(baseDir, ref), '');
  }
  return out.join('\n');
}

/** Where a store remembers what a Feature reference resolved to at its last fetch. */
export function featureRefFile(storeRoot: string, written: string): string {
  return path.join(storeRoot, 'features', 'refs', `${createHash('sha256').update(written).digest('hex')}.json`);
}

/** The unpacked folder of a fetched Feature (`features/<hex>/tree`), when the store has it complete. */
export function unpackedFeatureDir(storeRoot: string, digest: string): string | undefined {
  const hex = digest.replace(/^sha256:/, '');
  const dir = path.join(storeRoot, 'features', hex);
  return /^[0-9a-f]{64}$/.test(hex) && existsSync(path.join(dir, '.complete')) ? path.join(dir, 'tree') : undefined;
}

/** The files cachedFeatureDir's answer (and the metadata read from it) comes from, for the join plan (env/plan.ts). */
export function featureMetadataFiles(storeRoot: string, written: string): string[] {
  const dir = cachedFeatureDir(storeRoot, written);
  return [featureRefFile(storeRoot, written), ...(dir ? [path.join(dir, 'devcontainer-feature.json')] : [])];
}

/** The folder of the Feature `written` as the store's last fetch of it left it, if any (for editors). */
export function cachedFeatureDir(storeRoot: string, written: string): string | undefined {
  try {
    const r = JSON.parse(readFileSync(featureRefFile(storeRoot, written), 'utf8')) as { ref?: unknown; integrity?: unknown };
    return r.ref === written && typeof r.integrity === 'string' ? unpackedFeatureDir(storeRoot, r.integrity) : undefined;
  } catch {
    return undefined;
  }
}
