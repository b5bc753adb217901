// What the unpack tests share: scratch dirs that may hold subuid-owned files (removed through
// `crossroot-helper remove`), the caller's subordinate id range, and shell as root in a userns.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HELPER } from '../lib/harness';

/** A temp dir removed after the test by the helper (plain rm cannot delete subuid-owned files). */
export function scratch(t: { after: (fn: () => void) => void }, prefix = 'crossroot-unpack-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => {
    spawnSync(HELPER, ['remove', '--target', dir], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** The first subordinate uid of the caller (what uid 1 inside a full map is outside). */
export function subuidStart(): number | undefined {
  const me = os.userInfo();
  for (const line of readFileSync('/etc/subuid', 'utf8').split('\n')) {
    const [owner, start] = line.split(':');
    if (owner === me.username || owner === String(me.uid)) return Number(start);
  }
  return undefined;
}

/** Host uid of `uid` inside a full map (0 = the caller, 1.. = the subordinate range). */
export function hostUid(uid: number): number {
  return uid === 0 ? process.getuid!() : subuidStart()! + uid - 1;
}

/** True when `unshare --map-auto --map-root-user` works here (util-linux ≥ 2.38 + subuid range). */
export function userNamespaceShell(): boolean {
  return subuidStart() !== undefined
    && spawnSync('unshare', ['--map-auto', '--map-root-user', 'true'], { stdio: 'ignore' }).status === 0;
}

/** Runs a shell script as root in a user namespace with the same full map the helper uses. */
export function asRootInNamespace(script: string, cwd: string): string {
  const r = spawnSync('unshare', ['--map-auto', '--map-root-user', 'sh', '-euc', script], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`script failed (${r.status}): ${r.stderr}\n${script}`);
  return r.stdout;
}
