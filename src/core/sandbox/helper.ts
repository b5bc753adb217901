// Finds the native helper (setting → CROSSROOT_HELPER → bundled build) and turns sandbox
// options into its argv. The argv is the helper's public contract; see native/README.md.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CrossrootError } from '../errors';

export interface Bind {
  source: string;
  target: string;
  readonly?: boolean;
}

export interface SandboxOptions {
  /** Root filesystem; with `upper`/`work` it is the read-only overlay lower. */
  rootfs: string;
  /** Read-only layers stacked on the rootfs, bottom first (an env's setup-step layers). */
  lowers?: string[];
  upper?: string;
  work?: string;
  /** Crossroot arch name (amd64, arm64, …); omitted = host. */
  arch?: string;
  /** Explicit qemu interpreter. */
  qemu?: string;
  binds?: Bind[];
  cwd?: string;
  /**
   * Who the command runs as inside: `UID[:GID]` or `NAME[:GROUP]` from the env's /etc/passwd and
   * /etc/group; omitted = root. A non-zero id needs a full id map: with a single-id map the
   * helper fails with `EUSERMAP` (only root exists there).
   */
  user?: string;
  env?: Record<string, string>;
  hostname?: string;
  /** 'host' shares the host's network (and its abstract unix sockets); 'none' is lo only;
   *  'private' is the env's own network with outbound access through slirp4netns. */
  network?: 'host' | 'none' | 'private';
  /** 'auto' (full subuid map when /etc/subuid has a range), 'single' or 'full'. */
  idmap?: 'auto' | 'single' | 'full';
  /** cgroup v2 memory.max / pids.max; without a delegated cgroup the helper warns and runs unlimited. */
  limits?: { memoryBytes?: number; pids?: number };
  /** fd number on which the helper writes JSON status events. */
  statusFd?: number;
  /** fds (besides 0-2) the command inherits; every other one is closed. */
  keepFds?: number[];
}

/** Locates the helper binary. `configured` comes from the VS Code setting or a CLI flag. */
export function findHelper(configured?: string, packageRoot = defaultPackageRoot()): string {
  const candidates = [
    configured,
    process.env.CROSSROOT_HELPER,
    path.join(packageRoot, 'native', 'out', 'crossroot-helper'),
  ].filter((p): p is string => !!p);
  for (const p of candidates) {
    if (existsSync(p)) return p;
  }
  throw new CrossrootError('ENOHELPER', `crossroot-helper not found (looked in ${candidates.join(', ')})`, {
    fix: 'build it with `make -C native`, or point CROSSROOT_HELPER at a built helper',
  });
}

/** Options shared by `run` and `start`. */
export function sandboxArgs(o: SandboxOptions): string[] {
  const a = ['--rootfs', o.rootfs];
  for (const l of o.lowers ?? []) a.push('--lower', l);
  if (o.upper || o.work) {
    if (!o.upper || !o.work) throw new CrossrootError('EUSAGE', 'an overlay needs both upper and work dirs');
    a.push('--upper', o.upper, '--work', o.work);
  }
  if (o.arch) a.push('--arch', o.arch);
  if (o.qemu) a.push('--qemu', o.qemu);
  for (const b of o.binds ?? []) a.push('--bind', `${b.source}:${b.target}${b.readonly ? ':ro' : ''}`);
  if (o.hostname) a.push('--hostname', o.hostname);
  if (o.network) a.push('--network', o.network);
  if (o.idmap) a.push('--idmap', o.idmap);
  if (o.limits?.memoryBytes !== undefined) a.push('--memory', String(o.limits.memoryBytes));
  if (o.limits?.pids !== undefined) a.push('--pids', String(o.limits.pids));
  a.push(...processArgs(o));
  return a;
}

/** Options of the process itself, shared by `run`, `start` and `exec`. */
export function processArgs(o: { cwd?: string; user?: string; env?: Record<string, string>; statusFd?: number; keepFds?: number[] }): string[] {
  const a: string[] = [];
  if (o.cwd) a.push('--cwd', o.cwd);
  if (o.user) a.push('--user', o.user);
  for (const [k, v] of Object.entries(o.env ?? {})) a.push('--env', `${k}=${v}`);
  if (o.statusFd !== undefined) a.push('--status-fd', String(o.statusFd));
  for (const fd of o.keepFds ?? []) a.push('--keep-fd', String(fd));
  return a;
}

export function runArgv(o: SandboxOptions, command: string[]): string[] {
  return ['run', ...sandboxArgs(o), '--', ...command];
}

/** The crossroot package root: walks up from the bundle (dist/) or, in tests, the working dir. */
export function defaultPackageRoot(): string {
  const starts = [typeof __dirname === 'string' ? __dirname : undefined, process.env.CROSSROOT_ROOT, process.cwd()];
  for (const start of starts) {
    for (let dir = start; dir; dir = path.dirname(dir) === dir ? undefined : path.dirname(dir)) {
      try {
        if (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).name === 'crossroot') return dir;
      } catch { /* keep walking */ }
    }
  }
  return process.cwd();
}
