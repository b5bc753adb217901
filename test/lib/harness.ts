// What every test tier shares: the must-work switch, paths to built artefacts, temp dirs
// that are removed afterwards, and a cache for heavy fixtures keyed by their inputs.
import type { TestContext } from 'node:test';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = process.env.CROSSROOT_ROOT ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const HELPER = path.join(ROOT, 'native/out/crossroot-helper');
export const HELPER_ASAN = path.join(ROOT, 'native/out/crossroot-helper-asan');
export const PROBE = path.join(ROOT, 'native/out/probe');
export const CLI = path.join(ROOT, 'dist/cli.cjs');

/** In CI (CROSSROOT_MUST_WORK=1) a missing prerequisite is a failure, never a skip. */
export const MUST_WORK = process.env.CROSSROOT_MUST_WORK === '1';

/**
 * Returns true when the test may go on. When `ok` is false: fails under the must-work switch,
 * otherwise skips the test saying why.
 */
export function need(t: TestContext, ok: boolean, why: string): boolean {
  if (ok) return true;
  if (MUST_WORK) throw new Error(`prerequisite missing (CROSSROOT_MUST_WORK=1): ${why}`);
  t.skip(why);
  return false;
}

/** A temp dir removed when the test ends. */
export function tempDir(t: TestContext, prefix = 'crossroot-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Where heavy fixtures (rootfs trees, images) are cached across runs, keyed by their inputs. */
export function cacheDir(...parts: string[]): string {
  const base = process.env.CROSSROOT_TEST_CACHE
    ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'crossroot-test');
  const dir = path.join(base, ...parts);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Resolves once process `pid` has exited (gone, or a zombie left for its reaper). Node has no
 * pidfd, so /proc is read again every 20 ms; there is no time
 * window of its own: the test's `timeout` bounds a process that never exits.
 */
export async function waitForExit(pid: number): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const { setTimeout: delay } = await import('node:timers/promises');
  for (;;) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return;
    }
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return;
    await delay(20);
  }
}
