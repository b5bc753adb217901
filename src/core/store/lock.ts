// File locks for the store: kernel flock(2) locks taken through util-linux `flock` on an fd that
// this process keeps open, so a lock is released by the kernel when its holder dies (even kill -9).
import { spawn } from 'node:child_process';
import { openSync, closeSync, ftruncateSync, writeSync, readFileSync, statSync, constants } from 'node:fs';
import { CrossrootError } from '../errors';

export interface HeldLock {
  readonly file: string;
  /**
   * The locked descriptor. A child process given a copy holds the lock too, until both exit:
   * a helper orphaned by a killed crossroot keeps others out until it is done writing.
   */
  readonly fd: number;
  /** Drops the lock. Safe to call twice. */
  release(): void;
}

export interface LockOptions {
  /** Shared (many holders) instead of exclusive. */
  shared?: boolean;
  /** Called once when the lock is not free at once, with the pid written by its holder if known. */
  onWait?: (holderPid: number | undefined) => void;
  /** Give up instead of waiting: resolves undefined when the lock is held elsewhere. */
  noWait?: boolean;
}

// Node has no flock(); `flock -x 3` run on a dup of our fd locks the open file description we
// share with it, and the lock stays ours after it exits. The lock file itself is never deleted
// while the store is in use: unlinking a flock file lets a second locker lock a new inode.
export async function lockFile(file: string, o: LockOptions = {}): Promise<HeldLock | undefined> {
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o644);
  let waitTimer: NodeJS.Timeout | undefined;
  try {
    const mode = o.shared ? '-s' : '-x';
    const args = o.noWait ? [mode, '-n', '3'] : [mode, '3'];
    const child = spawn('flock', args, { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    if (o.onWait && !o.noWait) {
      // Most locks are free; only say "waiting" when it takes longer than a blink.
      waitTimer = setTimeout(() => o.onWait!(holderPid(file)), 150);
    }
    const code = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, sig) => resolve(c ?? 128 + (sig ? 1 : 0)));
    }).catch((e: NodeJS.ErrnoException) => {
      throw new CrossrootError('ENOFLOCK', `cannot run \`flock\` to lock ${file}: ${e.message}`, {
        fix: 'install util-linux (it provides flock; every mainstream Linux distribution ships it)', cause: e,
      });
    });
    if (code === 1 && o.noWait) {
      closeSync(fd);
      return undefined;
    }
    if (code !== 0) throw new CrossrootError('ELOCK', `cannot lock ${file}: flock exited with ${code}: ${stderr.trim()}`);
  } catch (e) {
    clearTimeout(waitTimer);
    closeSync(fd);
    throw e;
  }
  clearTimeout(waitTimer);
  if (!o.shared) {
    // Only for messages to waiters ("waiting for pid N"); correctness rests on the kernel lock.
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`, 0);
  }
  let held = true;
  return {
    file,
    fd,
    release() {
      if (!held) return;
      held = false;
      closeSync(fd);
    },
  };
}

/** Like lockFile but always waits, so it always returns a lock. */
export async function waitForLock(file: string, o: Omit<LockOptions, 'noWait'> = {}): Promise<HeldLock> {
  return (await lockFile(file, o))!;
}

/** Runs `fn` holding the lock; releases it however `fn` ends. */
export async function withLock<T>(file: string, o: Omit<LockOptions, 'noWait'>, fn: () => Promise<T>): Promise<T> {
  const lock = await waitForLock(file, o);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

function holderPid(file: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(file, 'utf8'), 10);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when some process holds an exclusive flock on `file` now, as /proc/locks tells (a holder
 * that died holds nothing). Looks only: never takes the lock, so it never waits.
 */
export function flockHeld(file: string, locks = readProcLocks()): boolean {
  let st;
  try {
    st = statSync(file);
  } catch {
    return false;
  }
  // /proc/locks names the file as MAJOR:MINOR:INODE, the device numbers in hex.
  const major = Math.floor(st.dev / 256) & 0xfff, minor = (st.dev & 0xff) | (Math.floor(st.dev / 4096) & 0xfff00);
  const id = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${st.ino}`;
  // "1: FLOCK  ADVISORY  WRITE 1234 fe:00:4596290 0 EOF"; a waiter's line has "->" after the number.
  return locks.split('\n').some((l) => {
    const f = l.trim().split(/\s+/);
    return f[1] === 'FLOCK' && f[3] === 'WRITE' && f[5] === id;
  });
}

function readProcLocks(): string {
  try {
    return readFileSync('/proc/locks', 'utf8');
  } catch {
    return '';
  }
}
