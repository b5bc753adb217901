import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execArgv, startArgv, startInstance, stopArgv, stopInstance } from '../../src/core/sandbox/instance';
import { busyboxRootfs, mmdebstrapAvailable } from '../fixtures/rootfs';
import { cgroupDelegated, hostIsCgroup2 } from '../lib/cgroup';
import { HELPER, need, tempDir } from '../lib/harness';
import { facts, helper, run } from './sandbox';

const WARNING = 'warning: memory/pids limits not applied';

async function rootfs(t: TestContext): Promise<string | undefined> {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap)')) return undefined;
  return busyboxRootfs('amd64');
}

/**
 * A stand-in for /sys/fs/cgroup made of plain files: the caller's cgroup is /user/shell with
 * these controllers. It shows what the helper writes and removes, never what a kernel enforces.
 */
function fakeCgroupTree(t: TestContext, controllers: string): { root: string; env: Record<string, string> } {
  const root = tempDir(t, 'crossroot-cgroup-');
  mkdirSync(path.join(root, 'user/shell'), { recursive: true });
  writeFileSync(path.join(root, 'user/shell/cgroup.controllers'), `${controllers}\n`);
  return { root, env: { CROSSROOT_CGROUP_ROOT: root, CROSSROOT_CGROUP_SELF: '/user/shell' } };
}

const CAT_CGROUP = 'for f in memory.max pids.max cgroup.procs; do echo "$f=$(cat /cg/user/crossroot-*/$f)"; done';

test('[limits] on this host: applied on a delegated cgroup v2, otherwise one warning and the command still runs', async (t) => {
  const tree = await rootfs(t);
  if (!tree) return;
  if (!cgroupDelegated()) {
    const r = await run({ rootfs: tree, limits: { memoryBytes: 512 * 1024 * 1024, pids: 100 } }, ['sh', '-c', 'echo ran; exit 7']);
    assert.deepEqual([r.code, r.stdout], [7, 'ran\n'], r.stderr);
    assert.equal(r.stderr.split(WARNING).length - 1, 1, r.stderr);
    // The reason names what this host lacks, and the fix-it says what to do about it.
    assert.match(r.stderr, hostIsCgroup2() ? /not applied: .*(root cgroup|controller is not enabled|cannot)/ : /not applied: \/sys\/fs\/cgroup is not a cgroup v2 mount/);
    assert.match(r.stderr, /; fix: .*(cgroup v2|systemd-run --user --scope)/);
    const warnings = r.events.filter((e) => e.event === 'warning');
    assert.deepEqual(warnings.map((e) => e.code), ['ENOCGROUP']);
    assert.deepEqual(r.events.map((e) => e.event), ['warning', 'started', 'exited']);
    return;
  }
  // A delegated cgroup v2: the kernel holds the values and enforces the pids cap.
  const r = await run({ rootfs: tree, limits: { memoryBytes: 256 * 1024 * 1024, pids: 6 }, binds: [{ source: '/sys/fs/cgroup', target: '/cg', readonly: true }] },
    ['sh', '-c', 'p=$(cat /proc/self/cgroup); p=${p#0::}; echo "memory=$(cat /cg$p/memory.max)"; echo "pids=$(cat /cg$p/pids.max)"; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 2 & done; wait']);
  assert.doesNotMatch(r.stderr, new RegExp(WARNING));
  assert.deepEqual([facts(r.stdout).memory, facts(r.stdout).pids], [String(256 * 1024 * 1024), '6']);
  assert.match(r.stderr, /fork|Resource temporarily unavailable/i);
});

test('limits are written into a sibling cgroup that holds PID 1 and is removed afterwards (fake cgroup tree: checks the writes only)', async (t) => {
  const tree = await rootfs(t);
  if (!tree) return;
  const fake = fakeCgroupTree(t, 'cpu memory pids');
  const r = await run({ rootfs: tree, limits: { memoryBytes: 536870912, pids: 100 }, binds: [{ source: fake.root, target: '/cg' }] },
    ['sh', '-c', `${CAT_CGROUP}; exit 3`], { env: fake.env });
  assert.equal(r.code, 3, r.stderr);
  assert.doesNotMatch(r.stderr, new RegExp(WARNING));
  const started = r.events.find((e) => e.event === 'started');
  assert.deepEqual(facts(r.stdout), { 'memory.max': '536870912', 'pids.max': '100', 'cgroup.procs': String(started?.pid) });
  assert.deepEqual(readdirSync(path.join(fake.root, 'user')), ['shell'], 'the sandbox cgroup is gone');

  // Only the asked-for limit is written.
  const pidsOnly = await run({ rootfs: tree, limits: { pids: 20 }, binds: [{ source: fake.root, target: '/cg' }] },
    ['sh', '-c', 'ls /cg/user/crossroot-*'], { env: fake.env });
  assert.deepEqual(pidsOnly.stdout.split('\n').filter(Boolean).sort(), ['cgroup.procs', 'pids.max'], pidsOnly.stderr);
});

test('an instance with limits holds its PID 1 and every exec in its cgroup; stop removes it (fake cgroup tree: checks the writes only)', async (t) => {
  const tree = await rootfs(t);
  if (!tree) return;
  const fake = fakeCgroupTree(t, 'memory pids');
  const state = path.join(tempDir(t, 'crossroot-instance-'), 'state');
  t.after(() => helper(stopArgv(state), { env: fake.env }));
  const start = await helper(startArgv({ rootfs: tree, limits: { memoryBytes: 1 << 30 }, binds: [{ source: fake.root, target: '/cg' }], statusFd: 3 }, state), { env: fake.env });
  assert.equal(start.code, 0, start.stderr);
  const inst = JSON.parse(readFileSync(path.join(state, 'instance.json'), 'utf8')) as { pid: number; cgroup: string };
  assert.equal(path.dirname(inst.cgroup), path.join(fake.root, 'user'));
  assert.equal(readFileSync(path.join(inst.cgroup, 'memory.max'), 'utf8'), `${1 << 30}\n`);
  assert.equal(readFileSync(path.join(inst.cgroup, 'cgroup.procs'), 'utf8').trim(), String(inst.pid));

  const exec = await helper(execArgv(state, ['sh', '-c', CAT_CGROUP], { statusFd: 3 }), { env: fake.env });
  assert.equal(exec.code, 0, exec.stderr);
  const joined = exec.events.find((e) => e.event === 'joined');
  assert.equal(facts(exec.stdout)['cgroup.procs'], String(joined?.pid), 'the joined command was moved into the instance cgroup');

  const stop = await helper(stopArgv(state), { env: fake.env });
  assert.equal(stop.code, 0, stop.stderr);
  assert.deepEqual(readdirSync(path.join(fake.root, 'user')), ['shell'], 'stop removed the instance cgroup');
});

test('a cgroup without the pids controller gets the warning naming it, and the sandbox runs unlimited (fake cgroup tree)', async (t) => {
  const tree = await rootfs(t);
  if (!tree) return;
  const fake = fakeCgroupTree(t, 'cpu memory');
  const r = await run({ rootfs: tree, limits: { pids: 50 } }, ['echo', 'ran'], { env: fake.env });
  assert.deepEqual([r.code, r.stdout], [0, 'ran\n'], r.stderr);
  assert.match(r.stderr, /warning: memory\/pids limits not applied: the pids controller is not enabled for your cgroup \/user\/shell; fix: .*systemd-run --user --scope/);
  assert.equal(r.events.find((e) => e.event === 'warning')?.code, 'ENOCGROUP');
  assert.deepEqual(readdirSync(path.join(fake.root, 'user')), ['shell'], 'nothing was created');
});

test('--memory abc and --pids 0 are usage errors that say what to give, and nothing runs', async (t) => {
  const tree = await rootfs(t);
  if (!tree) return;
  for (const [opt, value, fix] of [['--memory', 'abc', /whole number of bytes/], ['--pids', '0', /most processes/], ['--memory', '-1', /bytes/]] as const) {
    const r = await helper(['run', '--status-fd', '3', '--rootfs', tree, opt, value, '--', 'sh', '-c', 'echo ran']);
    assert.equal(r.code, 125, `${opt} ${value}`);
    assert.equal(r.stdout, '');
    const err = r.events.find((e) => e.event === 'error');
    assert.equal(err?.code, 'EUSAGE');
    assert.equal(err?.message, `bad ${opt} '${value}'`);
    assert.match(String(err?.fix), fix);
  }
});

test('startInstance hands the helper\'s limits warning to its caller instead of dropping it', async (t) => {
  const tree = await rootfs(t);
  if (!tree) return;
  const state = tempDir(t, 'crossroot-state-');
  const warnings: string[] = [];
  await startInstance(HELPER, { rootfs: tree, limits: { pids: 50 } }, state, { onWarning: (w) => warnings.push(`${w.message}; fix: ${w.fix}`) });
  await stopInstance(HELPER, state); // before tempDir's cleanup removes the state it needs
  if (cgroupDelegated()) {
    assert.deepEqual(warnings, []); // applied, nothing to warn about
    return;
  }
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0]!, /^memory\/pids limits not applied: .*; fix: /);
});
