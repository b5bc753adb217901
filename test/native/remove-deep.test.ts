// `crossroot-helper remove` on trees a command in an env can make: thousands of nested
// directories, removed with a handful of fds whatever RLIMIT_NOFILE allows, and failures deep
// down reported with their cause (the errno), not cut off by the path in front of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { HELPER, HELPER_ASAN, need } from '../lib/harness';
import { makeDeepTree } from '../lib/deep';
import { helper } from './sandbox';
import { scratch, userNamespaceShell } from './unpack-fixtures';

for (const [build, bin] of [['release', HELPER], ['asan', HELPER_ASAN]] as const) {
  test(`remove deletes 5000 nested directories with at most 40 open files allowed (${build})`, async (t) => {
    const dir = scratch(t);
    const tree = path.join(dir, 'tree');
    makeDeepTree(tree, 5000);
    // The hard limit too: the helper raises its soft limit to the hard one, and no further.
    const r = await helper(['--nofile=40:40', bin, 'remove', '--target', tree, '--status-fd', '3'], { helper: 'prlimit' });
    assert.doesNotMatch(r.stderr, /AddressSanitizer|runtime error/, 'no memory error');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.events, [{ event: 'done' }]);
    assert.equal(existsSync(tree), false, 'the whole tree is gone');
    assert.deepEqual(readdirSync(dir), []);
  });
}

test('a removal that fails 3000 levels down names the file and the errno, with the path shortened', async (t) => {
  if (!need(t, userNamespaceShell(), 'unshare --map-auto needs util-linux ≥ 2.38 and a subuid range')) return;
  const dir = scratch(t);
  const tree = path.join(dir, 'tree');
  // At the bottom, a directory of uid 1000 (a subordinate id outside): without a namespace,
  // the file in it cannot be removed.
  makeDeepTree(tree, 3000, { lockedLeafUid: 1000 });
  const r = await helper(['remove', '--target', tree, '--idmap', 'none', '--status-fd', '3']);
  assert.equal(r.code, 125, r.stderr);
  const line = r.stderr.split('\n')[0]!;
  assert.match(line, /^crossroot-helper: cannot remove .*\/tree\/d\/d\/.*\.\.\.\(\d+ bytes\)\.\.\..*\/d\/d\/locked\/file: Permission denied$/);
  assert.ok(line.length < 1000, `the message stays readable (${line.length} bytes)`);
  assert.match(r.stderr, /fix: files owned by subordinate ids/);
  const err = r.events.find((e) => e.event === 'error')!;
  assert.equal(err.code, 'EPERM');
  assert.match(String(err.message), /locked\/file: Permission denied$/);

  // With the namespace (the default), the same tree goes, the subordinate id's files included.
  const ok = await helper(['remove', '--target', tree, '--status-fd', '3']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(existsSync(tree), false);
});
