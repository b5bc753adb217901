// Debian root filesystems through mmdebstrap for any arch, without root and without a host
// binfmt_misc entry: a foreign arch's maintainer scripts run through qemu registered privately.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ArchName, ARCHES } from '../arch';
import { CrossrootError } from '../errors';
import { DEBIAN_MIRROR, DEBIAN_PACKAGE, DEBIAN_SNAPSHOT, DEBIAN_SUITE, DEBIAN_VARIANTS } from '../source';
import { requireArch } from '../sandbox/arches';
import { findHelper } from '../sandbox/helper';
import type { Store } from '../store/store';
import { type ProgressListener, waitMessage } from './progress';

export interface DebianBootstrap {
  arch: ArchName;
  /** Default: the arch's first suite with an official port (bookworm; trixie for riscv64). */
  suite?: string;
  /** mmdebstrap variant; default minbase. */
  variant?: (typeof DEBIAN_VARIANTS)[number];
  /** Extra packages (mmdebstrap --include). */
  include?: string[];
  /** Default http://deb.debian.org/debian, or snapshot.debian.org when `snapshot` is set. */
  mirror?: string;
  /** A snapshot.debian.org timestamp (20240101T000000Z) for a reproducible tree. */
  snapshot?: string;
}

export const MMDEBSTRAP_FIX = 'install mmdebstrap and arch-test (Debian/Ubuntu: apt-get install mmdebstrap arch-test)';

/** "1.3.5", or undefined when mmdebstrap is not installed. */
export function mmdebstrapVersion(): string | undefined {
  const r = spawnSync('mmdebstrap', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? /(\d[\w.~+-]*)/.exec(r.stdout)?.[1] : undefined;
}

export function debianSuite(o: DebianBootstrap): string {
  return o.suite ?? ARCHES[o.arch].minSuite;
}

export function debianMirror(o: DebianBootstrap): string {
  if (o.mirror) return o.mirror;
  return o.snapshot ? `http://snapshot.debian.org/archive/debian/${o.snapshot}/` : 'http://deb.debian.org/debian';
}

/** Everything that decides the tree's content, as a stable string for cache keys. */
export function debianBootstrapKey(o: DebianBootstrap): string {
  return JSON.stringify({
    arch: o.arch, suite: debianSuite(o), variant: o.variant ?? 'minbase',
    include: [...(o.include ?? [])].sort(), mirror: debianMirror(o), mmdebstrap: mmdebstrapVersion() ?? 'none',
  });
}

/**
 * A Debian tree as a store image, built once and shared like a pulled image. Its key is the
 * sha256 of the bootstrap inputs (there is no manifest), so changing any input builds anew.
 */
export async function debianImage(store: Store, o: DebianBootstrap, progress: ProgressListener = () => {}, log?: (line: string) => void): Promise<{ digest: string; rootfs: string }> {
  const digest = `sha256:${createHash('sha256').update(debianBootstrapKey(o)).digest('hex')}`;
  const result = { digest, rootfs: store.rootfsPath(digest) };
  const what = `Debian ${debianSuite(o)} ${o.variant ?? 'minbase'} for ${o.arch}`;
  if (store.image(digest)) {
    progress({ phase: 'done', digest, cached: true, source: what });
    return result;
  }
  const storeLock = await store.lockStore({ shared: true });
  try {
    const arch = ARCHES[o.arch].oci;
    const { cached } = await store.ensureImage(digest, {
      onWait: (pid) => progress({ phase: 'wait', digest, ...(pid ? { pid } : {}), message: waitMessage(pid, `building ${what}`) }),
      build: async (rootfs) => {
        progress({ phase: 'bootstrap', what });
        await bootstrapDebian(o, rootfs, log, store.helper());
        return {
          source: `debian:${debianSuite(o)} ${debianMirror(o)}`, blobs: [],
          platform: `linux/${arch.architecture}${arch.variant ? `/${arch.variant}` : ''}`,
        };
      },
    });
    progress({ phase: 'done', digest, cached, source: what });
    return result;
  } finally {
    storeLock.release();
  }
}

/**
 * mmdebstrap's argv for a bootstrap into `target`. The values come from an env file, so each is
 * checked against its grammar (none can start with "-"), options are single `--name=value`
 * words, and `--` ends the options before suite, target and mirror: mmdebstrap permutes its
 * arguments, so without it a suite "--setup-hook=…" would run a command on the host.
 */
export function mmdebstrapArgv(o: DebianBootstrap, target: string): string[] {
  const bad = (what: string, value: string, expected: string): never => {
    throw new CrossrootError('EBADSOURCE', `the debian source's ${what} ${JSON.stringify(value)} is not ${expected}`, {
      fix: 'fix it in the env file (`crossroot lint` shows where)',
    });
  };
  const suite = debianSuite(o);
  const variant = o.variant ?? 'minbase';
  if (!DEBIAN_SUITE.test(suite)) bad('suite', suite, 'a suite name such as "bookworm"');
  if (!DEBIAN_VARIANTS.includes(variant)) bad('variant', variant, `one of ${DEBIAN_VARIANTS.join(', ')}`);
  if (o.snapshot !== undefined && !DEBIAN_SNAPSHOT.test(o.snapshot)) bad('snapshot', o.snapshot, 'a timestamp like "20250101T000000Z"');
  const mirror = debianMirror(o);
  if (!DEBIAN_MIRROR.test(mirror)) bad('mirror', mirror, 'an http(s):// or file:// URL');
  for (const p of o.include ?? []) if (!DEBIAN_PACKAGE.test(p)) bad('package', p, 'a Debian package name');
  if (!path.isAbsolute(target)) throw new CrossrootError('EUSAGE', `bootstrap target ${target} is not an absolute path`);
  const mm = ['mmdebstrap', '--mode=unshare', `--variant=${variant}`, `--arch=${ARCHES[o.arch].name}`];
  if (o.include?.length) mm.push(`--include=${o.include.join(',')}`);
  mm.push('--', suite, target, mirror);
  return mm;
}

/**
 * Builds a Debian tree into `target` (which must not exist yet). Takes about a minute for a
 * minbase. Ownership: as an unprivileged user with a subuid range, files owned by root inside
 * belong to the caller, the few others (e.g. apt's `partial/` dirs, uid 42) to the caller's
 * subordinate uids, so only Store.removeTree can delete the result; as root, ids are kept as is.
 */
export async function bootstrapDebian(o: DebianBootstrap, target: string, log: (line: string) => void = () => {}, helper = findHelper()): Promise<void> {
  const mm = mmdebstrapArgv(o, target);
  if (!mmdebstrapVersion()) throw new CrossrootError('ENOMMDEBSTRAP', 'mmdebstrap is not installed', { fix: MMDEBSTRAP_FIX });
  const arch = ARCHES[o.arch];
  // The helper's answer, as `run` will use it: the kernel runs the arch, or its qemu is
  // registered with the line the sandbox itself writes (a 32-bit-refusing kernel included).
  const support = await requireArch(helper, arch.name);
  const register = support.native ? '' : support.binfmt ?? '';
  // Inside the namespace we are uid 0, so mmdebstrap skips its own user namespace and the
  // private binfmt_misc instance (one per user namespace, Linux >= 6.7) stays in effect.
  const script = [
    'set -e',
    'if [ -n "$1" ]; then',
    '  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc',
    '  printf "%s" "$1" > /proc/sys/fs/binfmt_misc/register',
    'fi',
    'shift',
    'exec "$@"',
  ].join('\n');
  // The last lines other than progress ("I: ...") say why a bootstrap failed; they go into the
  // error, whether or not the caller shows the log.
  const tail: string[] = [];
  const code = await inBuildNamespace(['sh', '-c', script, 'sh', register, ...mm], (line) => {
    log(line);
    if (line.startsWith('I: ')) return;
    tail.push(line);
    if (tail.length > 12) tail.shift();
  });
  if (code !== 0) {
    throw new CrossrootError('EBOOTSTRAP', `mmdebstrap failed (exit ${code}) building ${arch.name} ${debianSuite(o)}:\n${tail.join('\n')}`, {
      fix: `check the suite name and that ${debianMirror(o)} is reachable; unprivileged builds also need a subuid range for your user in /etc/subuid`,
    });
  }
}

/**
 * Runs argv as uid 0 of a fresh user + mount namespace with a full id map: through newuidmap
 * (`unshare --map-auto`) for users, by writing an identity map ourselves for root (root has no
 * /etc/subuid range, but may map its own ids).
 */
async function inBuildNamespace(argv: string[], log: (line: string) => void): Promise<number> {
  if (process.getuid?.() !== 0) {
    return run(['unshare', '--map-auto', '--map-root-user', '--mount', '--', ...argv], log);
  }
  const child = spawn('unshare', ['--user', '--mount', '--', 'sh', '-c', 'read _ && exec "$@"', 'sh', ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
  const done = collect(child, log);
  const mine = readlinkSync('/proc/self/ns/user');
  for (let i = 0; ; i++) {
    let theirs: string | undefined;
    try { theirs = readlinkSync(`/proc/${child.pid}/ns/user`); } catch { /* exited */ }
    if (theirs === undefined || theirs !== mine) break;
    if (i > 500) throw new CrossrootError('EUSERNS', 'unshare did not create a user namespace within 5 s');
    await sleep(10);
  }
  try {
    writeFileSync(`/proc/${child.pid}/uid_map`, '0 0 65536\n');
    writeFileSync(`/proc/${child.pid}/gid_map`, '0 0 65536\n');
  } catch (e) {
    child.kill();
    throw new CrossrootError('EUSERNS', `cannot map ids in the build namespace: ${(e as Error).message}`, { cause: e });
  }
  child.stdin!.end('go\n');
  return done;
}

function run(argv: string[], log: (line: string) => void): Promise<number> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  return collect(child, log);
}

function collect(child: ReturnType<typeof spawn>, log: (line: string) => void): Promise<number> {
  for (const s of [child.stdout, child.stderr]) {
    let buf = '';
    s?.setEncoding('utf8');
    s?.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) log(l);
    });
    s?.on('end', () => { if (buf) log(buf); });
  }
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, sig) => resolve(c ?? 128 + (sig ? 15 : 0)));
  });
}
