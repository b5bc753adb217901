// The store is private to its user (issue 10 item 2): unpacked images keep their setuid bits, so
// a store another local user can enter would let them run those files as you.
//
// Two users without root: the suite runs as one unprivileged user and cannot switch to another
// account. It does not need to: a subordinate uid (from /etc/subuid, entered through newuidmap
// as every rootless container tool does) is, to the kernel, just another local user: a different
// uid with no capability over our files. `unshare --map-auto --map-root-user` then `setpriv
// --reuid 1000` gives a process that is host uid SUBUID+999 with an empty capability set: the
// "other user" below. A control run shows it can run a setuid file of ours that lies outside
// the store, so what stops it inside the store is the store's mode and nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { need, tempDir } from '../lib/harness';
import { tarArchive } from '../fixtures/hostile';
import { userNamespaceShell } from '../native/unpack-fixtures';
import { crossroot, storeDir } from './image-trees';

const OTHER_UID = 1000;

/**
 * Runs argv as another local user (a subordinate uid without capabilities); see the file comment.
 * setpriv's own execve still holds the namespace root's capabilities (it drops them at that
 * exec), so a shell without any does the exec that matters.
 */
function asOtherUser(argv: string[]): { code: number | null; stderr: string } {
  const r = spawnSync('unshare', ['--map-auto', '--map-root-user', '--',
    'setpriv', `--reuid=${OTHER_UID}`, `--regid=${OTHER_UID}`, '--clear-groups', '--', 'sh', '-c', 'exec "$@"', 'sh', ...argv], { encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

/** A rootfs tarball whose /usr/bin/stamp is a setuid-root copy of the host's `touch`. */
function setuidRootfs(dir: string): string {
  const file = path.join(dir, 'rootfs.tar');
  writeFileSync(file, tarArchive([
    { name: 'usr/', type: 'dir' },
    { name: 'usr/bin/', type: 'dir' },
    { name: 'usr/bin/stamp', data: readFileSync('/usr/bin/touch'), mode: 0o4755, uid: 0, gid: 0 },
  ]));
  return file;
}

test('another local user can neither read the store nor run its setuid files as you', (t) => {
  if (!need(t, userNamespaceShell(), 'unshare --map-auto needs util-linux >= 2.38 and a subuid range for this user')) return;
  // As ~/.cache often is: a parent others may traverse.
  const store = storeDir(t);
  chmodSync(path.dirname(store), 0o755);
  const work = tempDir(t);
  chmodSync(work, 0o755);
  const pulled = crossroot(['pull', '--json', '--store', store, setuidRootfs(work)]);
  assert.equal(pulled.code, 0, pulled.stderr);
  const rootfs = (JSON.parse(pulled.stdout) as { rootfs: string }).rootfs;
  const stamp = path.join(rootfs, 'usr/bin/stamp');
  assert.equal(statSync(store).mode & 0o777, 0o700, 'the store root is 0700');
  assert.equal(statSync(stamp).mode & 0o7777, 0o4755, 'the setuid bit is kept, so sudo and ping work inside envs');
  assert.equal(statSync(stamp).uid, process.getuid!(), 'image root is the store\'s owner on the host');

  // A folder only we may write to: whatever lands there was written as us.
  const mine = path.join(work, 'mine');
  mkdirSync(mine, { mode: 0o755 });

  // Control: the other user does run a setuid file of ours that lies outside the store.
  const outside = path.join(work, 'stamp-outside');
  copyFileSync('/usr/bin/touch', outside);
  chmodSync(outside, 0o4755);
  const control = asOtherUser([outside, path.join(mine, 'control')]);
  assert.equal(control.code, 0, `the other user runs a setuid file outside the store: ${control.stderr}`);
  assert.equal(statSync(path.join(mine, 'control')).uid, process.getuid!(), 'and writes as us');

  // The store's copy, found by the path any user could work out from a public image's digest.
  const attack = asOtherUser([stamp, path.join(mine, 'proof')]);
  assert.notEqual(attack.code, 0);
  assert.match(attack.stderr, /Permission denied/);
  assert.equal(existsSync(path.join(mine, 'proof')), false, 'nothing was written as us');
  for (const p of [store, path.join(store, 'blobs/sha256')]) {
    const ls = asOtherUser(['ls', p]);
    assert.notEqual(ls.code, 0, `the other user cannot list ${p}`);
    assert.match(ls.stderr, /Permission denied/);
  }
});

test('a store other users can enter is refused with a fix-it; --shared-store opens it saying what that exposes', (t) => {
  const store = storeDir(t);
  assert.equal(crossroot(['gc', '--store', store]).code, 0, 'a new store is made private');
  chmodSync(store, 0o755);
  const refused = crossroot(['gc', '--store', store]);
  assert.equal(refused.code, 125);
  assert.match(refused.stderr, new RegExp(`${store} can be entered by other users \\(mode 0755\\)`));
  assert.match(refused.stderr, /run its images' setuid programs as the user who unpacked them/);
  assert.match(refused.stderr, new RegExp(`fix: chmod 700 ${store}; or, to share it on purpose, pass --shared-store \\(CROSSROOT_SHARED_STORE=1\\)`));

  for (const [args, env] of [[['--shared-store'], {}], [[], { CROSSROOT_SHARED_STORE: '1' }]] as const) {
    const shared = crossroot(['gc', '--store', store, ...args], env);
    assert.equal(shared.code, 0, shared.stderr);
    assert.match(shared.stderr, new RegExp(`^warning: the image store ${store} is shared: it can be entered by other users \\(mode 0755\\); other users who can enter it can read every image and blob in it, and run its images' setuid programs`, 'm'));
    assert.equal(statSync(store).mode & 0o777, 0o755, 'an opt-in never changes the mode');
  }
  chmodSync(store, 0o700);
  const fixed = crossroot(['gc', '--store', store]);
  assert.equal(fixed.code, 0, fixed.stderr);
  assert.doesNotMatch(fixed.stderr, /warning/);
});
