import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { HELPER, need, tempDir } from '../lib/harness';

// Setting a setuid bit or file caps on a root-owned file needs root; an unprivileged user gets
// the same effect inside its own user namespace (`unshare --map-auto --map-root-user`), where
// the copy belongs to uid 0 and another mapped uid (1) executes it.
function asOtherUid(helperCopy: string, mark: string): { status: number | null; stderr: string } {
  const script = `${mark} && exec setpriv --reuid=1 --regid=1 --clear-groups "$0" run --rootfs / -- true`;
  const r = spawnSync('unshare', ['--map-auto', '--map-root-user', 'sh', '-c', script, helperCopy], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

test('the helper refuses to run setuid', (t) => {
  const copy = path.join(tempDir(t), 'crossroot-helper');
  copyFileSync(HELPER, copy);
  const r = asOtherUid(copy, 'chmod u+s "$0"');
  assert.equal(r.status, 125, r.stderr);
  assert.match(r.stderr, /refusing to run setuid or setgid/);
  assert.match(r.stderr, /fix: remove the setuid\/setgid bit/);
});

test('the helper refuses to run with file capabilities', (t) => {
  if (!need(t, existsSync('/usr/sbin/setcap') || existsSync('/sbin/setcap'), 'setcap is not installed (apt-get install libcap2-bin)')) return;
  const copy = path.join(tempDir(t), 'crossroot-helper');
  copyFileSync(HELPER, copy);
  const r = asOtherUid(copy, 'PATH=$PATH:/usr/sbin:/sbin setcap cap_net_raw+ep "$0"');
  assert.equal(r.status, 125, r.stderr);
  assert.match(r.stderr, /refusing to run with file capabilities/);
});

test('the unmodified copy runs for that same uid (the refusals above are about the bit and caps)', (t) => {
  const copy = path.join(tempDir(t), 'crossroot-helper');
  copyFileSync(HELPER, copy);
  const r = spawnSync('unshare', ['--map-auto', '--map-root-user', 'sh', '-c', 'exec setpriv --reuid=1 --regid=1 --clear-groups "$0" check --json', copy], { encoding: 'utf8' });
  assert.doesNotMatch(r.stderr, /refusing/);
  assert.match(r.stdout, /"checks":\[/);
});
