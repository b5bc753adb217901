// The warm path of `exec`, `shell` and `build`: a join plan that the full lifecycle (env.ts) writes
// next to the env's record, and that dist/cli.cjs checks and runs without loading the env file
// readers, the image pipeline or the store (src/cli/quick.ts). Node's start-up is most of a cached
// `crossroot exec`; loading the 1.8 MB core bundle was most of the rest (131 of 177 ms of CPU), and
// every warm command needs only what this file holds.
//
// The plan is valid only while everything the env file was read from is as it was: the file
// itself, crossroot.lock, a Dockerfile, and every answer the reader got from the machine (paths it
// looked at, folders it listed, files it read, variables, the home folder), recorded through a
// recording EnvHost. Any difference, a missing piece, a newer record or another instance sends the
// command down the full path, which decides and writes a new plan. Nothing here decides what an
// env is: it replays what the full path decided.
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EnvHost } from '../envfile/host';
import { nodeLookup } from '../envfile/names';

const PLAN_VERSION = 1;

/** A file as it was: its content hash (null: absent) and the stat fields that tell a change cheaply. */
export interface FileStamp {
  path: string;
  sha256: string | null;
  size?: number;
  /** Nanosecond times and inode as decimal strings (bigint stat), as git's index keeps them. */
  mtime?: string;
  ctime?: string;
  ino?: string;
  /** Type and permission bits: a chmod is a change (a COPY keeps modes, a Feature's key hashes them). */
  mode?: number;
}

/** One answer the env file reader got from the machine (EnvHost), to be asked again. */
export type HostAnswer =
  | { q: 'pathKind'; path: string; a: 'file' | 'dir' | null }
  | { q: 'listDir'; path: string; a: string[] }
  /** The value's sha256, not the value: plans must not keep the ${localEnv} secrets a build arg read. */
  | { q: 'getenv'; name: string; a: string | null }
  | { q: 'homedir'; a: string }
  | { q: 'hostArch'; a: string }
  | { q: 'file'; stamp: FileStamp }
  | { q: 'realpath'; path: string; a: string | null }
  | { q: 'readlink'; path: string; a: string | null }
  /** lstat's type and permission bits (null: absent), without following a symlink. */
  | { q: 'lstat'; path: string; a: number | null };

export interface JoinPlan {
  version: number;
  /** The env file, absolute, as the full path opened it. */
  file: string;
  /** The helper the full path used; another one (a setting, CROSSROOT_HELPER) means the full path. */
  helper: string;
  stateDir: string;
  /** When the plan was written (ms): a file changed within the same clock tick is hashed, never trusted by its stat. */
  written: number;
  inputs: FileStamp[];
  host: HostAnswer[];
  /** env.json as it was: another build since means the full path. */
  record: FileStamp;
  /** Base tree and layer dirs: gc may have removed them. */
  trees: string[];
  build: {
    name: string; arch: string; steps: number;
    /** devcontainer initializeCommand runs on the host at every build and shell: those take the full path. */
    initialize: boolean;
    /** Whether an unchanged plan means an unchanged build (false where the source's content is hashed at build time). */
    answers: boolean;
  };
  /**
   * How a process joins the running instance, for that instance only (pid + start time). Absent
   * when the plan was written without one (by `build`) or when joining said something (a warning).
   */
  join?: {
    instance: { pid: number; starttime: number };
    /** The instance-key file's content the instance was started with. */
    instanceKey: string;
    /** The process env without TERM, and whether the env file sets TERM itself (then it wins over the host's). */
    env: Record<string, string>;
    termFromEnvFile: boolean;
    user?: string;
    shell: string;
    workspaceFolder: string;
    workspacePath: string;
    workingDir?: string;
    /** devcontainer postAttachCommand runs on every attach: a shell then takes the full path. */
    postAttach: boolean;
  };
}

type Stat = ReturnType<typeof statBig>;
function statBig(p: string) {
  return statSync(p, { bigint: true, throwIfNoEntry: false });
}

function sha256(p: string): string | null {
  try {
    return createHash('sha256').update(readFileSync(p)).digest('hex');
  } catch {
    return null;
  }
}

/** The stamp of `p` now (absent: sha256 null). Directories and other non-files count as absent. */
export function stampFile(p: string): FileStamp {
  const st: Stat = statBig(p);
  if (!st || !st.isFile()) return { path: p, sha256: null };
  return { path: p, sha256: sha256(p), size: Number(st.size), mtime: String(st.mtimeNs), ctime: String(st.ctimeNs), ino: String(st.ino), mode: Number(st.mode) };
}

function hashValue(v: string | undefined): string | null {
  return v === undefined ? null : createHash('sha256').update(v).digest('hex');
}

function lstatMode(p: string): number | null {
  const st = lstatSync(p, { bigint: true, throwIfNoEntry: false });
  return st ? Number(st.mode) : null;
}

/**
 * True when `s` still describes the file. Same stat fields: unchanged, unless the file changed
 * within 2 s before the plan was written (a write in the same timestamp tick can keep them, git's
 * "racily clean" case); then, and whenever a field differs, the content decides.
 */
export function stampHolds(s: FileStamp, written: number): boolean {
  const st: Stat = statBig(s.path);
  if (!st || !st.isFile()) return s.sha256 === null;
  if (s.sha256 === null) return false;
  if (s.mode !== undefined && Number(st.mode) !== s.mode) return false;
  const sameStat = String(st.size) === String(s.size) && String(st.mtimeNs) === s.mtime && String(st.ctimeNs) === s.ctime && String(st.ino) === s.ino;
  // ctime too: a tool that restores mtime (cp -p, rsync -t, tar) cannot restore it.
  const newest = st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs;
  const racy = Number(newest / 1000000n) >= written - 2000;
  return sameStat && !racy ? true : sha256(s.path) === s.sha256;
}

/**
 * An EnvHost that answers as `inner` and remembers each answer, so the plan can ask again.
 * archSupport is passed through unrecorded: it only shapes diagnostics, never the spec.
 * `featureFiles` tells which files a featureMetadata answer came from.
 */
export function recordingHost(inner: EnvHost, featureFiles: (ref: string) => string[]): { host: EnvHost; answers: HostAnswer[] } {
  const answers: HostAnswer[] = [];
  const host: EnvHost = {
    pathKind(p) {
      const a = inner.pathKind(p);
      answers.push({ q: 'pathKind', path: p, a: a ?? null });
      return a;
    },
    getenv(name) {
      const a = inner.getenv(name);
      answers.push({ q: 'getenv', name, a: hashValue(a) });
      return a;
    },
    homedir() {
      const a = inner.homedir();
      answers.push({ q: 'homedir', a });
      return a;
    },
    hostArch() {
      const a = inner.hostArch();
      answers.push({ q: 'hostArch', a });
      return a;
    },
    archSupport: (arch) => inner.archSupport(arch),
  };
  if (inner.listDir) {
    const listDir = inner.listDir.bind(inner);
    host.listDir = (p) => {
      const a = listDir(p);
      answers.push({ q: 'listDir', path: p, a: [...a] });
      return a;
    };
  }
  if (inner.readFile) {
    const readFile = inner.readFile.bind(inner);
    host.readFile = (p) => {
      answers.push({ q: 'file', stamp: stampFile(p) });
      return readFile(p);
    };
  }
  if (inner.featureMetadata) {
    const featureMetadata = inner.featureMetadata.bind(inner);
    host.featureMetadata = (ref) => {
      for (const f of featureFiles(ref)) answers.push({ q: 'file', stamp: stampFile(f) });
      return featureMetadata(ref);
    };
  }
  return { host, answers };
}

/** Asks the machine again; true when every answer is the same. The primitives are nodeHost's own (envfile/names.ts nodeLookup). */
function answerHolds(a: HostAnswer, written: number, hostArchName: () => string): boolean {
  switch (a.q) {
    case 'pathKind': return (nodeLookup.pathKind(a.path) ?? null) === a.a;
    case 'listDir': {
      const names = nodeLookup.listDir!(a.path);
      return names.length === a.a.length && names.every((n, i) => n === a.a[i]);
    }
    case 'getenv': return hashValue(process.env[a.name]) === a.a;
    case 'homedir': return os.homedir() === a.a;
    case 'hostArch': return hostArchName() === a.a;
    case 'file': return stampHolds(a.stamp, written);
    case 'realpath': return tryOr(() => realpathSync(a.path)) === a.a;
    case 'readlink': return tryOr(() => readlinkSync(a.path)) === a.a;
    case 'lstat': return lstatMode(a.path) === a.a;
  }
}

/**
 * Answers for a whole folder tree as it is now (a local Feature's folder): every entry's type and
 * mode, each folder's listing, each file's stamp, each symlink's target; symlinks are never
 * followed, so a link to `/` or a loop costs one answer. Undefined past `max` entries: such a
 * folder is left to the full path.
 */
export function treeAnswers(root: string, max = 5000): HostAnswer[] | undefined {
  const answers: HostAnswer[] = [];
  const visit = (p: string): boolean => {
    if (answers.length > max) return false;
    const mode = lstatMode(p);
    answers.push({ q: 'lstat', path: p, a: mode });
    if (mode === null) return true;
    const type = mode & 0o170000;
    if (type === 0o040000) {
      const names = nodeLookup.listDir!(p);
      answers.push({ q: 'listDir', path: p, a: names });
      return names.every((n) => visit(path.join(p, n)));
    }
    if (type === 0o120000) answers.push({ q: 'readlink', path: p, a: tryOr(() => readlinkSync(p)) });
    else if (type === 0o100000) answers.push({ q: 'file', stamp: stampFile(p) });
    return true;
  };
  return visit(root) ? answers : undefined;
}

function tryOr(f: () => string): string | null {
  try {
    return f();
  } catch {
    return null;
  }
}

/** Every answer the same when asked again. */
export function answersHold(answers: HostAnswer[], written: number, hostArchName: () => string): boolean {
  return answers.every((a) => answerHolds(a, written, hostArchName));
}

/**
 * A Dockerfile build's reads of its context (context.ts ContextSeen, and the .dockerignore files
 * it looked for) as answers, taken now, after the build. Undefined when anything read changed
 * since `sinceCtimeNs`, the ctime of a file made as the build began (the same kernel clock as the
 * files' own ctimes; an equal one counts as changed): the build may then have hashed other bytes
 * than these, so its record must not claim them. ctime, because no one can set it back.
 */
export function contextAnswers(seen: { dirs: Iterable<string>; realpaths: Iterable<[string, string]>; files: Iterable<string>; links: Iterable<string> }, ignoreFiles: string[], mark: { ctimeNs: bigint; dev: bigint }): { at: number; answers: HostAnswer[] } | undefined {
  const at = Date.now();
  const answers: HostAnswer[] = [];
  const paths: string[] = [];
  for (const f of [...seen.files, ...ignoreFiles]) {
    answers.push({ q: 'file', stamp: stampFile(f) }, { q: 'lstat', path: f, a: lstatMode(f) });
    paths.push(f);
  }
  for (const d of seen.dirs) {
    answers.push({ q: 'listDir', path: d, a: nodeLookup.listDir!(d) }, { q: 'lstat', path: d, a: lstatMode(d) });
    paths.push(d);
  }
  for (const [p, real] of seen.realpaths) answers.push({ q: 'realpath', path: p, a: real });
  for (const l of seen.links) {
    answers.push({ q: 'readlink', path: l, a: tryOr(() => readlinkSync(l)) }, { q: 'lstat', path: l, a: lstatMode(l) });
    paths.push(l);
  }
  // Checked after the answers were taken, so an edit in between shows too. Only a file system
  // whose clock is the mark's (the store's device) can be told this way: on another (NFS, 9p,
  // FUSE: another machine's clock) the answers are not kept.
  for (const p of paths) {
    const st = lstatSync(p, { bigint: true, throwIfNoEntry: false });
    if (st && (st.dev !== mark.dev || st.ctimeNs >= mark.ctimeNs)) return undefined;
  }
  return { at, answers };
}

/**
 * Plans live by env file, in the store (`plans/<hash of the path>.json`): the env's own folder is
 * named after its name, which only reading the env file tells.
 */
/** The instance-key file of an env folder: what its running instance was started with (env.ts runtimeKey). */
export function readInstanceKey(envDir: string): string | undefined {
  try {
    return readFileSync(path.join(envDir, 'instance-key'), 'utf8');
  } catch {
    return undefined;
  }
}

export function planPath(storeRoot: string, file: string): string {
  return path.join(storeRoot, 'plans', `${createHash('sha256').update(file).digest('hex').slice(0, 32)}.json`);
}

export function writePlan(storeRoot: string, plan: Omit<JoinPlan, 'version' | 'written'>, written: number): void {
  const dest = planPath(storeRoot, plan.file);
  mkdirSync(path.dirname(dest), { recursive: true, mode: 0o700 });
  const tmp = `${dest}.${process.pid}.${randomBytes(3).toString('hex')}`;
  writeFileSync(tmp, JSON.stringify({ version: PLAN_VERSION, written, ...plan }) + '\n', { mode: 0o600 });
  renameSync(tmp, dest);
}

export function readPlan(storeRoot: string, file: string): JoinPlan | undefined {
  try {
    const p = JSON.parse(readFileSync(planPath(storeRoot, file), 'utf8')) as JoinPlan;
    return p.version === PLAN_VERSION && p.file === file ? p : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the plan still says what the full path would decide for this env file: the same inputs,
 * the same machine answers, the same record, its trees still there. `helper` is the one this
 * command would use. The join part is checked by the caller against the running instance.
 */
export function planHolds(plan: JoinPlan, file: string, helper: string, hostArchName: () => string): boolean {
  if (plan.file !== file || plan.helper !== helper) return false;
  if (!plan.inputs.every((s) => stampHolds(s, plan.written))) return false;
  if (!answersHold(plan.host, plan.written, hostArchName)) return false;
  if (!stampHolds(plan.record, plan.written)) return false;
  return plan.trees.every((t) => statBig(t)?.isDirectory() ?? false);
}

/** The working dir inside for a host cwd: the same place under the workspace path when the cwd is inside the workspace folder, else the image's WorkingDir, else the workspace path. */
export function mapCwd(w: { workspaceFolder: string; workspacePath: string; workingDir?: string | undefined }, hostCwd: string | undefined): string {
  if (hostCwd) {
    const rel = path.relative(w.workspaceFolder, path.resolve(hostCwd));
    if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) return path.posix.join(w.workspacePath, ...rel.split(path.sep));
  }
  return w.workingDir || w.workspacePath;
}

/** The join's variables with the host's TERM where the env file does not set one (processEnv's order). */
export function joinEnv(join: NonNullable<JoinPlan['join']>, term: string | undefined): Record<string, string> {
  return !join.termFromEnvFile && term ? { ...join.env, TERM: term } : join.env;
}
