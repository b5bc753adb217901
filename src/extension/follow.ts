// Follows the env's state on disk, so the status bar tells the truth whoever changed it: a
// terminal's `crossroot shell`, a task's `crossroot exec`, the CLI in another terminal,
// `crossroot stop --all`. All of them run out of this process, and all of them leave their mark
// in two directories of the store (Env.stateDirs(): env.json renamed in by a finished build,
// state/instance.json written by a start and removed by a stop). Watching those (inotify through
// fs.watch) costs nothing while nothing happens and reacts at once, where polling `status` would
// cost a read every few seconds and still lag. No `vscode` here: unit-tested in plain node.
import { spawn } from 'node:child_process';
import { existsSync, statSync, watch } from 'node:fs';
import path from 'node:path';

/** One watched directory: calls back on any change of its entries (or of the directory itself). */
export interface DirWatch {
  close(): void;
}

/**
 * Watches a directory; `onChange` gets the changed entry's name when known, and also fires when
 * the watch breaks (the directory was removed).
 */
export type WatchDir = (dir: string, onChange: (entry?: string) => void) => DirWatch;

/** WatchDir on fs.watch (inotify on Linux; not recursive, so a busy tree below costs nothing). */
export const fsWatchDir: WatchDir = (dir, onChange) => {
  const w = watch(dir, { persistent: false }, (_event, entry) => onChange(entry ?? undefined));
  // Removing the directory ends the watch with an error on some kernels: re-armed by the caller.
  w.on('error', () => onChange());
  return w;
};

/**
 * Calls `onFree` once no process holds the lock file exclusively any more: a build, start or stop
 * by another process ended, which (when it failed) changes no file that StateFollower watches.
 */
export type WaitFree = (lockFile: string, onFree: () => void) => DirWatch;

/**
 * WaitFree through util-linux `flock -s FILE true` (the store's locks are flocks taken the same
 * way): it returns as soon as a shared lock can be had, and lets go of it at once.
 */
export const flockFree: WaitFree = (lockFile, onFree) => {
  const child = spawn('flock', ['-s', lockFile, 'true'], { stdio: 'ignore' });
  let done = false;
  const end = (): void => { if (!done) { done = true; onFree(); } };
  child.on('exit', end);
  // No flock (util-linux is missing): one read now instead; the CLI says what to install.
  child.on('error', end);
  return { close: () => { done = true; child.kill(); } };
};

/** The directory itself when it exists, else its nearest existing ancestor. */
export function nearestExisting(dir: string): string {
  let d = path.resolve(dir);
  while (!existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}

/**
 * Watches `dirs` and calls `onChange` when an entry of one of them changes. A directory that
 * does not exist yet (an env never built: no env dir, maybe no store) is waited for by watching
 * its nearest existing ancestor, re-armed one level deeper as each level appears; a removed one
 * (gc) falls back to its ancestor the same way. Events in an ancestor that bring the directory
 * no closer are ignored, so a busy ~/.cache costs a stat per event and no status read.
 */
export class StateFollower {
  private readonly watches = new Map<string, { at: string; ino: number; watch: DirWatch }>();
  private closed = false;
  /** Per directory, the one entry that matters (the env's lock in the store's shared locks dir). */
  private readonly only = new Map<string, string>();

  /**
   * `dirs`: every entry counts. `files`: only that file counts, watched through its directory
   * (a lock file is rewritten in place, which a directory watch reports by the file's name).
   */
  constructor(readonly dirs: readonly string[], private readonly onChange: () => void, private readonly watchDir: WatchDir = fsWatchDir, readonly files: readonly string[] = []) {
    for (const file of files) this.only.set(path.dirname(file), path.basename(file));
    for (const dir of [...dirs, ...this.only.keys()]) this.arm(dir);
  }

  private arm(dir: string): void {
    let at = nearestExisting(dir);
    let watch: DirWatch | undefined;
    while (!watch) {
      try {
        watch = this.watchDir(at, (entry) => this.changed(dir, entry));
      } catch {
        // Gone between the check and the watch (or unreadable): its parent tells when it is back.
        if (path.dirname(at) === at) return;
        at = path.dirname(at);
      }
    }
    this.watches.set(dir, { at, ino: inode(at), watch });
  }

  private changed(dir: string, entry?: string): void {
    if (this.closed) return;
    const current = this.watches.get(dir);
    const at = nearestExisting(dir);
    // The same directory, not one removed and made again (whose old watch hears nothing more).
    const same = current !== undefined && current.at === at && current.ino === inode(at);
    if (same && at === dir) {
      const only = this.only.get(dir);
      if (!only || entry === undefined || entry === only) this.onChange();
      return;
    }
    // An ancestor's unrelated entry changed: nothing to read.
    if (same) return;
    // The directory (or a level above it) appeared or went away: re-arm where it now is.
    current?.watch.close();
    this.arm(dir);
    this.onChange();
  }

  dispose(): void {
    this.closed = true;
    for (const { watch } of this.watches.values()) watch.close();
    this.watches.clear();
  }
}

function inode(p: string): number {
  try {
    return statSync(p).ino;
  } catch {
    return 0;
  }
}
