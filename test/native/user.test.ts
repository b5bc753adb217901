// --user: the command runs as a user of the env (uid, gid, supplementary groups and HOME from
// the env's /etc/passwd and /etc/group), in run and in exec; refused where the id map lacks it.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execArgv, startInstance, stopInstance } from '../../src/core/sandbox/instance';
import type { Bind } from '../../src/core/sandbox/helper';
import { busyboxRootfs, mmdebstrapAvailable } from '../fixtures/rootfs';
import { HELPER, PROBE, need, tempDir } from '../lib/harness';
import { facts, helper, run } from './sandbox';

process.env.ASAN_OPTIONS = 'detect_leaks=0';

/** /etc/passwd and /etc/group of an env with a user `dev` (1000) in the groups sudo (27) and users (100). */
function accounts(t: TestContext): Bind[] {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'passwd'), [
    'root:x:0:0:root:/root:/bin/sh',
    'dev:x:1000:1000:Dev:/home/dev:/bin/sh',
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false', ''].join('\n'));
  writeFileSync(path.join(dir, 'group'), [
    'root:x:0:', 'sudo:x:27:dev', 'users:x:100:someone,dev', 'dev:x:1000:', 'other:x:200:someone', 'nogroup:x:65534:', ''].join('\n'));
  return [
    { source: path.join(dir, 'passwd'), target: '/etc/passwd', readonly: true },
    { source: path.join(dir, 'group'), target: '/etc/group', readonly: true },
  ];
}

function subuidStart(): number | undefined {
  const me = os.userInfo().username;
  const line = readFileSync('/etc/subuid', 'utf8').split('\n').find((l) => l.startsWith(`${me}:`) || l.startsWith(`${process.getuid!()}:`));
  return line ? Number(line.split(':')[1]) : undefined;
}

test('--user NAME runs with the uid, gid, groups and HOME of the env\'s /etc/passwd and /etc/group', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  if (!need(t, subuidStart() !== undefined, 'no /etc/subuid range for the test user (a non-root --user needs a full map)')) return;
  const rootfs = await busyboxRootfs('amd64');
  const binds = accounts(t);
  for (const user of ['dev', '1000']) {
    const r = await run({ rootfs, idmap: 'full', user, binds }, ['sh', '-c', '/probe id; echo "home=$HOME"; id -un; cd; pwd']);
    assert.equal(r.code, 0, r.stderr);
    const f = facts(r.stdout);
    assert.equal(f.uid, '1000');
    assert.equal(f.gid, '1000');
    // The kernel lists groups sorted; the primary group is one of them, as after initgroups().
    assert.equal(f.Groups!.trim(), '27 100 1000', user);
    assert.equal(f.home, '/home/dev');
    assert.match(r.stdout, /^dev$/m);
  }
  // An explicit group replaces the primary one; names work for groups too.
  const g = await run({ rootfs, idmap: 'full', user: 'dev:users', binds }, ['/probe', 'id']);
  assert.equal(g.code, 0, g.stderr);
  assert.deepEqual([facts(g.stdout).uid, facts(g.stdout).gid, facts(g.stdout).Groups!.trim()], ['1000', '100', '27 100']);
  // A uid the env does not know: primary group 0 and no others (as runc/Docker do), HOME=/.
  const anon = await run({ rootfs, idmap: 'full', user: '4242', binds }, ['sh', '-c', '/probe id; echo "home=$HOME"']);
  assert.equal(anon.code, 0, anon.stderr);
  assert.deepEqual([facts(anon.stdout).uid, facts(anon.stdout).gid, facts(anon.stdout).Groups!.trim(), facts(anon.stdout).home],
    ['4242', '0', '0', '/']);
  // --env HOME still wins over the passwd entry.
  const home = await run({ rootfs, idmap: 'full', user: 'dev', binds, env: { HOME: '/work' } }, ['sh', '-c', 'echo "$HOME"']);
  assert.equal(home.stdout, '/work\n');
  // Without --user: root, no supplementary groups, HOME=/root, as before.
  const root = await run({ rootfs, idmap: 'full', binds }, ['sh', '-c', '/probe id; echo "home=$HOME"']);
  assert.deepEqual([facts(root.stdout).uid, facts(root.stdout).gid, facts(root.stdout).Groups!.trim(), facts(root.stdout).home],
    ['0', '0', '', '/root']);
});

test('--user: a file the user creates in the bound workspace belongs to its subordinate uid on the host; the cwd is entered as the user', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const start = subuidStart();
  if (!need(t, start !== undefined, 'no /etc/subuid range for the test user')) return;
  const rootfs = await busyboxRootfs('amd64');
  const ws = tempDir(t);
  const binds = [...accounts(t), { source: ws, target: '/workspace' }];
  // The workspace dir is the caller's, i.e. root's inside: others may enter but not write.
  chmodSync(ws, 0o755);
  const denied = await run({ rootfs, idmap: 'full', user: 'dev', binds, cwd: '/workspace' }, ['/probe', 'write', 'x']);
  assert.equal(facts(denied.stdout).write, 'Permission denied');
  const open = await run({ rootfs, idmap: 'full', binds }, ['sh', '-c', 'chmod 777 /workspace && mkdir -m 700 /workspace/private']);
  assert.equal(open.code, 0, open.stderr);
  const r = await run({ rootfs, idmap: 'full', user: 'dev', binds, cwd: '/workspace' }, ['sh', '-c', 'echo hi > by-dev']);
  assert.equal(r.code, 0, r.stderr);
  // uid 1000 inside is subordinate uid start+999 outside: not the calling user (see native/README.md).
  assert.equal(statSync(path.join(ws, 'by-dev')).uid, start! + 999);
  // A working directory the user may not enter is an error of the command, named as such.
  const cwd = await run({ rootfs, idmap: 'full', user: 'dev', binds, cwd: '/workspace/private' }, ['true']);
  assert.equal(cwd.code, 125);
  assert.equal(cwd.events.find((e) => e.event === 'error')?.code, 'ECWD', cwd.stderr);
});

test('--user in a single-id map: root works, any other id is refused with EUSERMAP and a fix', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const binds = accounts(t);
  const root = await run({ rootfs, idmap: 'single', user: 'root', binds }, ['/probe', 'id']);
  assert.equal(root.code, 0, root.stderr);
  assert.equal(facts(root.stdout).uid, '0');
  for (const user of ['dev', '0:100']) {
    const r = await run({ rootfs, idmap: 'single', user, binds }, ['/probe', 'id']);
    assert.equal(r.code, 125, user);
    assert.equal(r.stdout, '', 'the command never ran');
    const err = r.events.find((e) => e.event === 'error');
    assert.equal(err?.code, 'EUSERMAP', r.stderr);
    assert.match(String(err?.message), /single-id map, where only root \(0\) exists/);
    assert.match(String(err?.fix), /usermod --add-subuids/);
  }
});

test('--user: bad specs and unknown names are usage errors before anything runs', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const binds = accounts(t);
  for (const user of [':1', '1:', '1:2:3']) {
    const r = await run({ rootfs, user, binds }, ['true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /bad --user .*\n.*fix: write --user UID\[:GID\]/, user);
  }
  for (const user of ['ghost', 'dev:ghosts']) {
    const r = await run({ rootfs, idmap: 'full', user, binds }, ['true']);
    assert.equal(r.code, 125);
    assert.equal(r.events.find((e) => e.event === 'error')?.code, 'EUSER', `${user}: ${r.stderr}`);
  }
});

test('exec --user joins a running instance as that user; the next exec without it is root again', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  if (!need(t, subuidStart() !== undefined, 'no /etc/subuid range for the test user')) return;
  const rootfs = await busyboxRootfs('amd64');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crossroot-user-'));
  const state = path.join(dir, 'state');
  t.after(async () => {
    await stopInstance(HELPER, state);
    rmSync(dir, { recursive: true, force: true });
  });
  await startInstance(HELPER, { rootfs, idmap: 'full', binds: [{ source: PROBE, target: '/probe', readonly: true }, ...accounts(t)] }, state);
  const asDev = await helper(execArgv(state, ['sh', '-c', '/probe id; echo "home=$HOME"'], { user: 'dev', statusFd: 3 }));
  assert.equal(asDev.code, 0, asDev.stderr);
  assert.deepEqual([facts(asDev.stdout).uid, facts(asDev.stdout).gid, facts(asDev.stdout).Groups!.trim(), facts(asDev.stdout).home],
    ['1000', '1000', '27 100 1000', '/home/dev']);
  const asRoot = await helper(execArgv(state, ['/probe', 'id'], { statusFd: 3 }));
  assert.equal(facts(asRoot.stdout).uid, '0', asRoot.stderr);
});

test('exec --user into a single-id-map instance is refused with EUSERMAP', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crossroot-user-'));
  const state = path.join(dir, 'state');
  t.after(async () => {
    await stopInstance(HELPER, state);
    rmSync(dir, { recursive: true, force: true });
  });
  await startInstance(HELPER, { rootfs, idmap: 'single', binds: accounts(t) }, state);
  const r = await helper(execArgv(state, ['id', '-u'], { user: 'dev', statusFd: 3 }));
  assert.equal(r.code, 125);
  assert.equal(r.events.find((e) => e.event === 'error')?.code, 'EUSERMAP', r.stderr);
});

