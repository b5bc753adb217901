import { test, type TestContext } from 'node:test';
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execArgv, processStat, readInstance, startArgv, startInstance, stopArgv, stopInstance, type InstanceState, type StartOptions } from '../../src/core/sandbox/instance';
import { busyboxRootfs, mmdebstrapAvailable, qemuAvailable } from '../fixtures/rootfs';
import { HELPER, HELPER_ASAN, PROBE, need, tempDir } from '../lib/harness';
import { facts, helper } from './sandbox';

/**
 * Host pids of every live process (ours) inside the pid namespace with this inode. Zombies do
 * not count: the instance's PID 1 is reparented to the host's init, which reaps when it likes.
 */
function processesInNamespace(pidNs: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue;
      if (readlinkSync(`/proc/${name}/ns/pid`) === pidNs) found.push(Number(name));
    } catch { /* gone or not ours */ }
  }
  return found;
}

// The LeakSanitizer cannot stop the world inside a user namespace; the other checks still run.
process.env.ASAN_OPTIONS = 'detect_leaks=0';

async function started(t: TestContext, o: StartOptions, bin = HELPER): Promise<{ state: string; inst: InstanceState }> {
  // Not tempDir(): the instance must be stopped before its state dir is removed.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crossroot-instance-'));
  const state = path.join(dir, 'state');
  t.after(async () => {
    await stopInstance(bin, state);
    rmSync(dir, { recursive: true, force: true });
  });
  const inst = await startInstance(bin, { ...o, binds: [{ source: PROBE, target: '/probe', readonly: true }, ...(o.binds ?? [])] }, state);
  return { state, inst };
}

/** Polls for up to 10 s (CI machines under load are slow to schedule). */
async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting: ${what}`);
}

test('two execs into one instance share one pid namespace, and stop leaves no process behind', { timeout: 120_000 }, async (t) => {
  if (!need(t, mmdebstrapAvailable() && qemuAvailable('arm64'), 'mmdebstrap or qemu-user-static missing')) return;
  const rootfs = await busyboxRootfs('arm64');
  const { state, inst } = await started(t, { rootfs, arch: 'arm64', hostname: 'shared' });
  const pidNs = readlinkSync(`/proc/${inst.pid}/ns/pid`);
  // First terminal: a long sleep, plus a background one that outlives its shell (reaped by PID 1).
  let first!: number;
  // The background sleep must not hold the client's stdout, or the client's pipes never close.
  const running = helper(execArgv(state, ['sh', '-c', 'sleep 300 </dev/null >/dev/null 2>&1 & exec sleep 301']), {
    onSpawn: (pid) => { first = pid; },
  });
  await until(async () => (await helper(execArgv(state, ['ps']))).stdout.includes('sleep 301'), 'first exec running');
  // Second terminal sees the first one's processes and the instance's PID 1.
  const second = await helper(execArgv(state, ['sh', '-c', 'hostname; uname -m; ps -o pid,args']));
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /^shared\naarch64\n/);
  assert.match(second.stdout, /sleep 300/);
  assert.match(second.stdout, /\n\s*1 .*crossroot-helper start/);
  const inside = processesInNamespace(pidNs);
  assert.ok(inside.length >= 3, `instance and both sleeps, found ${inside.join(' ')}`);
  // A client that dies takes its sandboxed command with it.
  process.kill(first, 'SIGKILL');
  await running;
  await until(async () => !(await helper(execArgv(state, ['ps']))).stdout.includes('sleep 301'), 'exec\'d command dies with its client');
  await stopInstance(HELPER, state);
  assert.equal(existsSync(path.join(state, 'instance.json')), false);
  assert.deepEqual(processesInNamespace(pidNs), []);
});

test('exec passes cwd, env and the exit code; the joined process gets fds 0-2 and no_new_privs', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const { state } = await started(t, { rootfs });
  const r = await helper(execArgv(state, ['sh', '-c', 'echo $GREETING; /probe cwd; /probe fds; /probe nnp; /probe id; exit 5'], { cwd: '/tmp', env: { GREETING: 'hi' }, statusFd: 3 }));
  assert.equal(r.code, 5, r.stderr);
  const f = facts(r.stdout);
  assert.equal(r.stdout.split('\n')[0], 'hi');
  assert.equal(f.cwd, '/tmp');
  assert.equal(f.fds, '0,1,2');
  assert.equal(f.nnp, '1');
  assert.equal(f.uid, '0');
  assert.deepEqual(r.events.map((e) => e.event), ['joined', 'exited']);
  assert.equal((await helper(execArgv(state, ['sh', '-c', 'kill -TERM $$']))).code, 143);
  // A signal sent to the exec client reaches the joined command.
  const trapped = await helper(execArgv(state, ['sh', '-c', 'trap "exit 42" TERM; echo ready; sleep 30 >/dev/null 2>&1 & wait']), {
    onSpawn: (pid, out) => out.once('data', () => process.kill(pid, 'SIGTERM')),
  });
  assert.equal(trapped.code, 42, trapped.stderr);
});

test('a command joined to an instance cannot make a read-only bind writable (the mounts are locked)', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const data = tempDir(t);
  writeFileSync(path.join(data, 'file'), 'host\n');
  const { state } = await started(t, { rootfs, binds: [{ source: data, target: '/data', readonly: true }] });
  const r = await helper(execArgv(state, ['sh', '-c', '/probe unlock /data; echo pwned > /data/file; /probe id']));
  const f = facts(r.stdout);
  assert.deepEqual([f.remount, f.setattr, f.clone, f.umount],
    ['Operation not permitted', 'Operation not permitted', 'Operation not permitted', 'Invalid argument'], r.stdout + r.stderr);
  assert.equal(f.uid, '0');
  // A second exec sees the same locked mount (the first one's attempts changed nothing).
  const again = await helper(execArgv(state, ['sh', '-c', 'echo pwned > /data/file']));
  assert.equal(again.code, 1);
  assert.match(again.stderr, /Read-only file system/);
  assert.equal(readFileSync(path.join(data, 'file'), 'utf8'), 'host\n');
});

/** Host pids of zombies (state Z) in the pid namespace with this inode. */
function zombiesInNamespace(pidNs: string): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat[stat.lastIndexOf(')') + 2] === 'Z' && readlinkSync(`/proc/${pid}/ns/pid`) === pidNs;
    } catch { return false; }
  });
}

test('PID 1 of an instance reaps the zombies a command leaves behind', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const { state, inst } = await started(t, { rootfs });
  const pidNs = readlinkSync(`/proc/${inst.pid}/ns/pid`);
  // `sleep 0` ends at once; the process that exec'd `sleep 2` never waits, so it is a zombie
  // until its parent exits and it is handed to PID 1.
  const running = helper(execArgv(state, ['sh', '-c', 'sleep 0 & exec sleep 2']));
  await until(() => zombiesInNamespace(pidNs).length > 0, 'the command made a zombie');
  assert.equal((await running).code, 0);
  await until(() => zombiesInNamespace(pidNs).length === 0, 'PID 1 reaped it');
  const ps = await helper(execArgv(state, ['ps', '-o', 'stat,args']));
  assert.doesNotMatch(ps.stdout, /^\s*Z/m, ps.stdout);
});

test('an exec client whose parent dies goes with it, and so does its command', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const { state } = await started(t, { rootfs });
  // The client's parent (a terminal, the editor) is this sh; it prints the client's pid.
  const parent = spawn('sh', ['-c', '"$0" "$@" </dev/null >/dev/null 2>&1 & echo $!; wait', HELPER, ...execArgv(state, ['sleep', '303'])],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const client = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (d) => resolve(String(d)))));
  await until(async () => (await helper(execArgv(state, ['ps']))).stdout.includes('sleep 303'), 'the command runs');
  parent.kill('SIGKILL');
  const gone = (pid: number) => { try { return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] === 'Z'; } catch { return true; } };
  await until(() => gone(client), 'the client exits with its parent');
  await until(async () => !(await helper(execArgv(state, ['ps']))).stdout.includes('sleep 303'), 'its command is gone too');
});

test('the environment of whoever started the instance is not readable from inside it', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crossroot-instance-'));
  const state = path.join(dir, 'state');
  t.after(async () => {
    await stopInstance(HELPER, state);
    rmSync(dir, { recursive: true, force: true });
  });
  const start = await helper(startArgv({ rootfs }, state), { env: { CROSSROOT_AUDIT_SECRET: 'hunter2' } });
  assert.equal(start.code, 0, start.stderr);
  const r = await helper(execArgv(state, ['sh', '-c', 'cat /proc/1/environ; cat /proc/1/cmdline']));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /crossroot-helper/, 'PID 1 itself stays readable (ps shows it)');
  assert.doesNotMatch(r.stdout, /hunter2/);
});

test('a second start on a running instance is refused; a recycled pid is never joined or killed', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const { state } = await started(t, { rootfs });
  const again = await helper(['start', '--state', state, '--rootfs', rootfs, '--status-fd', '3']);
  assert.equal(again.code, 125);
  assert.equal(again.events[0]?.code, 'EBUSY');

  // State naming a live process that is not the instance (this test runner: same pid, other start time).
  const forged = path.join(tempDir(t), 'forged');
  mkdirSync(forged, { mode: 0o700 });
  writeFileSync(path.join(forged, 'instance.json'), JSON.stringify({ pid: process.pid, starttime: 1, arch: 'amd64', rootfs }));
  const join = await helper(['exec', '--state', forged, '--status-fd', '3', '--', 'true']);
  assert.equal(join.code, 125);
  assert.equal(join.events[0]?.code, 'ENOINSTANCE');
  writeFileSync(path.join(forged, 'instance.json'), JSON.stringify({ pid: process.pid, starttime: 1, arch: 'amd64', rootfs }));
  const stop = await helper(['stop', '--state', forged, '--status-fd', '3']);
  assert.equal(stop.code, 0, `stale state is cleaned, not an error: ${stop.stderr}`);
  assert.deepEqual(stop.events, [{ event: 'stopped', stale: true }]);
  assert.equal(existsSync(path.join(forged, 'instance.json')), false);
  assert.equal(readInstance(forged), undefined);
});

test('a state dir that another user could have made or written is refused, and nothing in it is followed', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const dir = tempDir(t);
  const code = (r: { events: Array<Record<string, unknown>> }) => r.events.find((e) => e.event === 'error')?.code;
  // Group/other bits: as a shared dir another user made (or may write into) would have.
  const shared = path.join(dir, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o755);
  for (const argv of [startArgv({ rootfs, statusFd: 3 }, shared), execArgv(shared, ['true'], { statusFd: 3 }), [...stopArgv(shared), '--status-fd', '3']]) {
    const r = await helper(argv);
    assert.equal(r.code, 125, `${argv[0]}: ${r.stderr}`);
    assert.equal(code(r), 'ESTATE', argv[0]);
    assert.match(r.stderr, /state dir .*shared has mode 0755: other users may write or enter it\n.*fix: chmod 700 .*shared if it is yours/);
  }
  assert.deepEqual(readdirSync(shared), [], 'nothing was created in it');
  // The state dir itself a symlink (to a dir of ours that would pass): refused, not followed.
  const real = path.join(dir, 'real');
  mkdirSync(real, { mode: 0o700 });
  symlinkSync(real, path.join(dir, 'link'));
  const viaLink = await helper(startArgv({ rootfs, statusFd: 3 }, path.join(dir, 'link')));
  assert.equal(code(viaLink), 'ESTATE', viaLink.stderr);
  assert.deepEqual(readdirSync(real), []);
  // A lock planted as a symlink: before, start created (or truncated) whatever it pointed at.
  const planted = path.join(dir, 'planted');
  mkdirSync(planted, { mode: 0o700 });
  symlinkSync(path.join(dir, 'victim'), path.join(planted, 'lock'));
  const viaLock = await helper(startArgv({ rootfs, statusFd: 3 }, planted));
  assert.equal(code(viaLock), 'ESTATE', viaLock.stderr);
  assert.match(viaLock.stderr, /planted\/lock is a symlink/);
  assert.equal(existsSync(path.join(dir, 'victim')), false);
  assert.equal(existsSync(path.join(planted, 'instance.json')), false, 'no instance was started');
});

test('a forged instance.json cannot aim stop or exec at another process of the user, or at a cgroup outside the user\'s sandbox cgroups', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const dir = tempDir(t);
  // A fake delegated cgroup tree (the caller is in /user/shell) and, outside it, a directory
  // named like a sandbox cgroup; inside it, a directory that is not one.
  const cgroot = path.join(dir, 'cgroup');
  mkdirSync(path.join(cgroot, 'user/shell'), { recursive: true });
  mkdirSync(path.join(cgroot, 'user/victim'));
  const outside = path.join(dir, 'elsewhere/crossroot-1');
  mkdirSync(outside, { recursive: true });
  const env = { CROSSROOT_CGROUP_ROOT: cgroot, CROSSROOT_CGROUP_SELF: '/user/shell' };
  // An unrelated process of the same user, named with its true pid and start time.
  const victim = spawn('sleep', ['300'], { stdio: 'ignore' });
  t.after(() => victim.kill('SIGKILL'));
  const starttime = processStat(victim.pid!)!.starttime;
  const state = path.join(dir, 'state');
  mkdirSync(state, { mode: 0o700 });
  for (const cgroup of [outside, path.join(cgroot, 'user/victim'), `${cgroot}/user/../elsewhere/crossroot-1`]) {
    const forge = () => writeFileSync(path.join(state, 'instance.json'), JSON.stringify({ pid: victim.pid, starttime, arch: 'amd64', rootfs: '/', cgroup }));
    forge();
    const exec = await helper(execArgv(state, ['true'], { statusFd: 3 }), { env });
    assert.equal(exec.code, 125, exec.stderr);
    assert.equal(exec.events.find((e) => e.event === 'error')?.code, 'ENOINSTANCE', exec.stderr);
    assert.match(exec.stderr, /names cgroup .*, which is not a crossroot cgroup of yours: left alone/);
    forge();
    const stop = await helper([...stopArgv(state), '--status-fd', '3'], { env });
    assert.equal(stop.code, 0, stop.stderr);
    assert.deepEqual(stop.events.filter((e) => e.event === 'stopped'), [{ event: 'stopped', stale: true }]);
    assert.equal(processStat(victim.pid!)?.state !== 'Z' && processStat(victim.pid!) !== undefined, true, `${cgroup}: the victim still runs`);
  }
  assert.deepEqual(readdirSync(outside), [], 'nothing was written into the foreign cgroup');
  assert.ok(existsSync(outside) && existsSync(path.join(cgroot, 'user/victim')), 'no directory was removed');
});

test('an instance with --idle-exit ends once nothing runs in it, and not while something does', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const { state, inst } = await started(t, { rootfs, idleExit: 1 });
  const pidNs = readlinkSync(`/proc/${inst.pid}/ns/pid`);
  // Busy for 3 s: the instance stays.
  const busy = await helper(execArgv(state, ['sleep', '3']));
  assert.equal(busy.code, 0, busy.stderr);
  assert.ok(readInstance(state), 'still running while a command ran in it');
  await until(() => readInstance(state) === undefined, 'instance exits when idle');
  assert.equal(processesInNamespace(pidNs).length, 0);
  const late = await helper(['exec', '--state', state, '--status-fd', '3', '--', 'true']);
  assert.equal(late.events[0]?.code, 'ENOINSTANCE');
});

test('ASan build: start, join and stop are clean', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  if (!need(t, existsSync(HELPER_ASAN), 'ASan helper not built (make -C native)')) return;
  const rootfs = await busyboxRootfs('amd64');
  const { state, inst } = await started(t, { rootfs, network: 'none' }, HELPER_ASAN);
  const pidNs = readlinkSync(`/proc/${inst.pid}/ns/pid`);
  const r = await helper(execArgv(state, ['sh', '-c', 'grep -c : /proc/net/dev']), { helper: HELPER_ASAN });
  assert.equal(r.stdout, '1\n', r.stderr);
  const stop = await helper(['stop', '--state', state], { helper: HELPER_ASAN });
  assert.equal(stop.code, 0, stop.stderr);
  assert.deepEqual(processesInNamespace(pidNs), []);
  assert.doesNotMatch(r.stderr + stop.stderr, /Sanitizer/);
});
