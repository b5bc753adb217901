import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ARCHES, type ArchName } from '../../src/core/arch';
import { busyboxRootfs, mmdebstrapAvailable, qemuAvailable, qemuFor } from '../fixtures/rootfs';
import { HELPER, HELPER_ASAN, PROBE, need, tempDir } from '../lib/harness';
import { facts, run } from './sandbox';

// i386 runs natively on amd64 hosts (with the 32-bit personality); the others through qemu.
const ARCHS: ArchName[] = ['amd64', 'arm64', 'armhf', 'riscv64', 'ppc64el', 's390x', 'i386'];

for (const arch of ARCHS) {
  test(`${arch} env reports ${ARCHES[arch].uname}, and so do the children of its binaries`, async (t) => {
    if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap)')) return;
    if (!need(t, qemuAvailable(arch), `no qemu for ${arch} (apt-get install qemu-user-static)`)) return;
    const rootfs = await busyboxRootfs(arch);
    const r = await run({ rootfs, arch }, ['sh', '-c', 'uname -m; sh -c "uname -m"; echo $0']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${ARCHES[arch].uname}\n${ARCHES[arch].uname}\nsh\n`);
  });
}

test('an explicit --qemu is used where the usual paths have none; a dynamically linked one is not', async (t) => {
  if (!need(t, mmdebstrapAvailable() && qemuAvailable('arm64'), 'mmdebstrap or qemu-user-static missing')) return;
  const rootfs = await busyboxRootfs('arm64');
  const dir = tempDir(t);
  const qemu = path.join(dir, 'my-qemu-aarch64');
  copyFileSync(qemuFor('arm64')!, qemu);
  chmodSync(qemu, 0o755);
  const noneFound = { env: { CROSSROOT_QEMU_DIRS: '/nonexistent' } };
  const r = await run({ rootfs, arch: 'arm64', qemu }, ['uname', '-m'], noneFound);
  assert.equal(r.stdout, 'aarch64\n', r.stderr);
  const without = await run({ rootfs, arch: 'arm64' }, ['uname', '-m'], noneFound);
  assert.equal(without.code, 125);
  assert.equal(without.events.find((e) => e.event === 'error')?.code, 'ENOQEMU');
  assert.match(without.stderr, /no qemu-aarch64-static found.*\n.*fix: install qemu-user-static/);
  // A dynamically linked qemu (Fedora's qemu-user) would lose its libraries with the host's root:
  // not picked up from the usual paths, and refused when named.
  const dynamic = path.join(dir, 'qemu-aarch64');
  copyFileSync('/bin/true', dynamic);
  chmodSync(dynamic, 0o755);
  const skipped = await run({ rootfs, arch: 'arm64' }, ['uname', '-m'], { env: { CROSSROOT_QEMU_DIRS: dir } });
  assert.equal(skipped.events.find((e) => e.event === 'error')?.code, 'ENOQEMU', skipped.stderr);
  const named = await run({ rootfs, arch: 'arm64', qemu: dynamic }, ['uname', '-m']);
  assert.equal(named.code, 125);
  assert.match(named.stderr, /qemu-aarch64 for arm64 is dynamically linked/);
});

test('exit codes and signals of the command pass through (128+n), native and foreign', async (t) => {
  if (!need(t, mmdebstrapAvailable() && qemuAvailable('arm64'), 'mmdebstrap or qemu-user-static missing')) return;
  const amd64 = await busyboxRootfs('amd64');
  const arm64 = await busyboxRootfs('arm64');
  assert.equal((await run({ rootfs: amd64 }, ['/probe', 'exit', '7'])).code, 7);
  assert.equal((await run({ rootfs: amd64 }, ['/probe', 'signal', '15'])).code, 143);
  assert.equal((await run({ rootfs: arm64, arch: 'arm64' }, ['sh', '-c', 'exit 3'])).code, 3);
  assert.equal((await run({ rootfs: arm64, arch: 'arm64' }, ['sh', '-c', 'kill -KILL $$'])).code, 137);
  const done = await run({ rootfs: amd64 }, ['true']);
  assert.deepEqual(done.events.map((e) => e.event), ['started', 'exited']);
});

test('SIGTERM sent to the helper reaches the command', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const r = await run({ rootfs }, ['sh', '-c', 'trap "exit 42" TERM; echo ready; sleep 30 & wait'], {
    onSpawn: (pid, out) => out.once('data', () => process.kill(pid, 'SIGTERM')),
  });
  assert.equal(r.code, 42, r.stderr);
});

test('a missing command exits 127 and says so; a missing rootfs is a helper error 125 with a fix', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const missing = await run({ rootfs }, ['no-such-command']);
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /no-such-command: command not found/);
  const noCwd = await run({ rootfs, cwd: '/no/such/dir' }, ['true']);
  assert.equal(noCwd.code, 125);
  assert.equal(noCwd.events.find((e) => e.event === 'error')?.code, 'ECWD');
  const noRoot = await run({ rootfs: '/nonexistent/rootfs' }, ['true']);
  assert.equal(noRoot.code, 125);
  const err = noRoot.events.find((e) => e.event === 'error');
  assert.equal(err?.code, 'ENOROOTFS');
  assert.match(String(err?.fix), /crossroot build/);
  const noQemu = await run({ rootfs, arch: 's390x', qemu: '/nonexistent/qemu' }, ['true']);
  assert.equal(noQemu.code, 125);
  assert.match(String(noQemu.events.find((e) => e.event === 'error')?.fix), /qemu-user-static/);
});

test('inside: uid 0, only fds 0-2 (plus --keep-fd), no_new_privs, caps only of the env', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  // The helper itself gets fd 3 (status) from us; none of it may leak.
  const fds = facts((await run({ rootfs }, ['/probe', 'fds'])).stdout);
  assert.equal(fds.fds, '0,1,2');
  assert.equal(facts((await run({ rootfs }, ['/probe', 'nnp'])).stdout).nnp, '1');
  const id = facts((await run({ rootfs }, ['/probe', 'id'])).stdout);
  assert.equal(id.uid, '0');
  assert.equal(id.gid, '0');
  const caps = facts((await run({ rootfs }, ['/probe', 'caps'])).stdout);
  assert.equal(caps.CapAmb, '0000000000000000');
  assert.equal(caps.CapInh, '0000000000000000');
  assert.equal(caps.CapEff, caps.CapBnd, 'root of the env holds its namespace\'s capabilities');
  // ... which give nothing over host files: a root-owned host file stays unwritable.
  const hostFile = await run({ rootfs, binds: [{ source: '/etc/passwd', target: '/mnt/passwd' }] }, ['/probe', 'write', '/mnt/passwd']);
  assert.equal(facts(hostFile.stdout).write, 'Permission denied');
});

test('--keep-fd passes exactly that fd into the sandbox', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  // fd 3 is the status pipe; keeping it hands it to the command (which then also reports there).
  const r = await run({ rootfs, keepFds: [3] }, ['/probe', 'fds']);
  assert.equal(facts(r.stdout).fds, '0,1,2,3');
});

test('a file written to the bound workspace belongs to the calling user outside', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const ws = tempDir(t);
  for (const idmap of ['single', 'full'] as const) {
    const r = await run({ rootfs, idmap, binds: [{ source: ws, target: '/workspace' }], cwd: '/workspace' },
      ['sh', '-c', `echo hi > made-${idmap}; /probe cwd`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(facts(r.stdout).cwd, '/workspace');
    const st = statSync(path.join(ws, `made-${idmap}`));
    assert.equal(st.uid, process.getuid!());
    assert.equal(st.gid, process.getgid!());
  }
  const ro = await run({ rootfs, binds: [{ source: ws, target: '/workspace', readonly: true }] }, ['/probe', 'write', '/workspace/x']);
  assert.equal(facts(ro.stdout).write, 'Read-only file system');
});

test('root inside cannot make a read-only bind writable: remount, mount_setattr, a writable clone, umount and a mount on top leave the host file alone', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  for (const idmap of ['single', 'full'] as const) {
    const data = tempDir(t);
    writeFileSync(path.join(data, 'file'), 'host\n');
    const r = await run({ rootfs, idmap, binds: [{ source: data, target: '/data', readonly: true }] },
      ['sh', '-c', '/probe unlock /data; echo pwned > /data/file; mount -t tmpfs none /data && echo over > /data/file && cat /data/file']);
    assert.equal(r.code, 0, r.stderr);
    const f = facts(r.stdout);
    // Before the mounts were locked every one of these said ok, and the host file said pwned.
    assert.deepEqual([f.remount, f.setattr, f.clone, f.umount],
      ['Operation not permitted', 'Operation not permitted', 'Operation not permitted', 'Invalid argument'], `${idmap}: ${r.stdout}`);
    assert.match(r.stderr, /can't create \/data\/file: Read-only file system/);
    // Root inside still mounts what it likes in its own mount namespace: on top, never instead.
    assert.match(r.stdout, /^over$/m);
    assert.equal(readFileSync(path.join(data, 'file'), 'utf8'), 'host\n', idmap);
    assert.deepEqual(readdirSync(data), ['file']);
  }
});

function hashTree(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = lstatSync(p);
      h.update(`${path.relative(dir, p)} ${st.mode} ${st.uid} ${st.size}\n`);
      if (st.isSymbolicLink()) h.update(readlinkSync(p));
      else if (st.isFile()) h.update(readFileSync(p));
      else if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return h.digest('hex');
}

test('overlay: writes land in upper, the lower tree stays byte-identical', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const before = hashTree(rootfs);
  const dir = tempDir(t);
  const upper = path.join(dir, 'upper'), work = path.join(dir, 'work');
  const r = await run({ rootfs, upper, work }, ['sh', '-c', 'echo new > /new-file; echo more >> /etc/passwd; rm /bin/ls; mkdir -p /opt/x']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(path.join(upper, 'new-file'), 'utf8'), 'new\n');
  assert.match(readFileSync(path.join(upper, 'etc/passwd'), 'utf8'), /more\n$/);
  assert.ok(existsSync(path.join(upper, 'opt/x')));
  assert.equal(hashTree(rootfs), before);
  // The next run over the same upper sees the changes.
  const again = await run({ rootfs, upper, work }, ['sh', '-c', 'cat /new-file; test -e /bin/ls || echo gone']);
  assert.equal(again.stdout, 'new\ngone\n');
});

test('hostname, private network with only lo, minimal /dev, /tmp and host resolv.conf', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const r = await run({ rootfs, hostname: 'box', network: 'none' },
    ['sh', '-c', 'hostname; grep -c : /proc/net/dev; ls /dev; echo x > /dev/null && echo null-ok; stat -f -c %T /tmp; cat /etc/resolv.conf']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], 'box');
  assert.equal(lines[1], '1', 'only lo in a private network');
  for (const node of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'pts', 'shm']) assert.ok(lines.includes(node), `/dev/${node}`);
  assert.ok(lines.includes('null-ok'));
  assert.ok(lines.includes('tmpfs'));
  assert.ok(r.stdout.endsWith(readFileSync('/etc/resolv.conf', 'utf8')));
  const hosts = await run({ rootfs }, ['cat', '/etc/hosts']);
  assert.equal(hosts.stdout, readFileSync('/etc/hosts', 'utf8'), 'hosts comes from the host');
  // devpts is a new instance: another device than the host's, so the host's terminals stay out of sight.
  const pts = await run({ rootfs }, ['sh', '-c', 'stat -c %d /dev/pts; ls /dev/pts']);
  assert.equal(pts.code, 0, pts.stderr);
  const [dev, ...entries] = pts.stdout.trim().split('\n');
  assert.notEqual(Number(dev), statSync('/dev/pts').dev, 'a devpts of its own');
  assert.deepEqual(entries, ['ptmx'], 'no host pty shows up inside');
  const hostNet = await run({ rootfs }, ['sh', '-c', 'grep -c : /proc/net/dev']);
  assert.equal(hostNet.stdout.trim(), String(readFileSync('/proc/net/dev', 'utf8').split('\n').filter((l) => l.includes(':')).length));
});

test('a shell on a terminal gets job control (own foreground process group)', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const dir = tempDir(t);
  const cmd = [HELPER, 'run', '--rootfs', rootfs, '--bind', `${PROBE}:/probe:ro`, '--', '/probe', 'tty'].join(' ');
  writeFileSync(path.join(dir, 'go.sh'), `exec ${cmd}\n`);
  // script(1) gives the helper a pty as its controlling terminal, as a VS Code terminal does.
  const r = spawnSync('script', ['-qec', `sh ${path.join(dir, 'go.sh')}`, '/dev/null'], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  const f = facts(r.stdout.replace(/\r/g, ''));
  assert.equal(f.isatty, '1', r.stdout + r.stderr);
  assert.equal(f.ctty, '1');
  assert.equal(f.jobcontrol, '1');
  assert.equal(f.ttyname, '/dev/console', 'programs asking ttyname() find the terminal');
});

test('a sandboxed command cannot type into the caller\'s terminal (TIOCSTI), which stays its controlling tty', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const dir = tempDir(t);
  // Outside first (whether this kernel allows TIOCSTI at all), then the same probe in the sandbox.
  const inside = [HELPER, 'run', '--rootfs', rootfs, '--bind', `${PROBE}:/probe:ro`, '--', '/probe'].join(' ');
  writeFileSync(path.join(dir, 'go.sh'), `${PROBE} sti; ${inside} sti; ${inside} tty\n`);
  const r = spawnSync('script', ['-qec', `sh ${path.join(dir, 'go.sh')}`, '/dev/null'], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = r.stdout.replace(/\r/g, '').split('\n').filter((l) => l.startsWith('sti='));
  assert.equal(lines.length, 2, r.stdout + r.stderr);
  assert.equal(lines[1], 'sti=Operation not permitted', `outside the sandbox: ${lines[0]}`);
  assert.equal(facts(r.stdout.replace(/\r/g, '')).jobcontrol, '1', 'other terminal ioctls still work');
});

test('ASan build: native and foreign runs are clean', async (t) => {
  if (!need(t, mmdebstrapAvailable() && qemuAvailable('arm64'), 'mmdebstrap or qemu-user-static missing')) return;
  if (!need(t, existsSync(HELPER_ASAN), 'ASan helper not built (make -C native)')) return;
  const amd64 = await busyboxRootfs('amd64');
  const arm64 = await busyboxRootfs('arm64');
  const dir = tempDir(t);
  const a = await run({ rootfs: amd64, upper: path.join(dir, 'u'), work: path.join(dir, 'w'), network: 'none' }, ['/probe', 'fds'], { helper: HELPER_ASAN });
  assert.equal(a.code, 0, a.stderr);
  assert.equal(facts(a.stdout).fds, '0,1,2');
  const b = await run({ rootfs: arm64, arch: 'arm64' }, ['uname', '-m'], { helper: HELPER_ASAN });
  assert.equal(b.stdout, 'aarch64\n', b.stderr);
  assert.doesNotMatch(a.stderr + b.stderr, /Sanitizer/);
});

test('a killed helper leaves no process of its sandbox behind', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  let pidNs = '';
  const r = await run({ rootfs }, ['sh', '-c', 'sleep 300 </dev/null >/dev/null 2>&1 & echo ready; exec sleep 301'], {
    onSpawn: (pid, out) => out.once('data', () => {
      // The sandbox's PID 1 is the helper's only child and the command PID 1's; the command's
      // pid namespace holds both sleeps (PID 1 itself is not dumpable, so its ns link is closed to us).
      const children = (p: string | number) => readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim();
      pidNs = readlinkSync(`/proc/${children(children(pid))}/ns/pid`);
      process.kill(pid, 'SIGKILL');
    }),
  });
  assert.equal(r.signal, 'SIGKILL');
  assert.ok(pidNs.startsWith('pid:['));
  const left = (): string[] => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      return stat[stat.lastIndexOf(')') + 2] !== 'Z' && readlinkSync(`/proc/${p}/ns/pid`) === pidNs;
    } catch { return false; }
  });
  for (let i = 0; i < 100 && left().length; i++) await new Promise((res) => setTimeout(res, 20));
  assert.deepEqual(left(), []);
});

test('what the caller left open and its environment stay out of reach through PID 1 of the sandbox', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const outside = tempDir(t);
  // A directory fd the caller forgot to close (fd 4 of the helper) and a secret in its env.
  const dirFd = openSync(outside, 'r');
  t.after(() => closeSync(dirFd));
  const script = 'echo escaped > /proc/1/fd/4/pwned; ls /proc/1/fd/4/; cat /proc/1/environ; /probe fds';
  const r = spawnSync(HELPER, ['run', '--rootfs', rootfs, '--bind', `${PROBE}:/probe:ro`, '--', 'sh', '-c', script], {
    stdio: ['ignore', 'pipe', 'pipe', 'ignore', dirFd], encoding: 'utf8', env: { ...process.env, CROSSROOT_AUDIT_SECRET: 'hunter2' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(facts(r.stdout).fds, '0,1,2');
  assert.match(r.stderr, /can't create \/proc\/1\/fd\/4\/pwned: Permission denied/);
  assert.doesNotMatch(r.stdout, /hunter2/);
  assert.deepEqual(readdirSync(outside), []);
});

test('symlinks in a rootfs cannot aim the sandbox\'s mounts at host paths', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const busybox = await busyboxRootfs('amd64');
  const dir = tempDir(t);
  const victim = path.join(dir, 'victim');
  mkdirSync(victim);
  // A hostile tree: its /tmp, /dev and /etc point at a host directory (absolute and relative).
  const rootfs = path.join(dir, 'rootfs');
  mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  copyFileSync(path.join(busybox, 'bin/busybox'), path.join(rootfs, 'bin/busybox'));
  chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  for (const applet of ['sh', 'stat', 'ls']) symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  symlinkSync(victim, path.join(rootfs, 'tmp'));
  symlinkSync(path.relative(rootfs, victim), path.join(rootfs, 'dev'));
  symlinkSync(`../../../../../../../..${victim}`, path.join(rootfs, 'etc'));
  // Resolved inside the rootfs they lead nowhere: refused, nothing touched.
  const refused = await run({ rootfs }, ['true']);
  assert.equal(refused.code, 125);
  assert.equal(refused.events.find((e) => e.event === 'error')?.code, 'EROOTFS');
  assert.deepEqual(readdirSync(victim), []);
  // Links that do resolve inside the rootfs are followed there: /tmp -> /var/tmp, /dev -> ../victim
  // (which is /victim from the rootfs's /); /etc still leads nowhere, so resolv.conf and hosts
  // are skipped with a note.
  rmSync(path.join(rootfs, 'tmp'));
  symlinkSync('/var/tmp', path.join(rootfs, 'tmp'));
  mkdirSync(path.join(rootfs, 'var/tmp'), { recursive: true });
  mkdirSync(path.join(rootfs, 'victim'));
  const r = await run({ rootfs }, ['sh', '-c', 'stat -f -c %T /var/tmp; ls /victim/null && echo dev-ok']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'tmpfs\n/victim/null\ndev-ok\n');
  assert.equal(r.events.filter((e) => e.event === 'note').length, 2);
  assert.deepEqual(readdirSync(victim), [], 'nothing was created or mounted in the host directory');
});

test('a foreign rootfs whose /proc is a symlink inside it still gets its private binfmt_misc there', async (t) => {
  if (!need(t, mmdebstrapAvailable() && qemuAvailable('arm64'), 'mmdebstrap or qemu-user-static missing')) return;
  const rootfs = path.join(tempDir(t), 'rootfs');
  execFileSync('cp', ['-a', await busyboxRootfs('arm64'), rootfs]);
  rmSync(path.join(rootfs, 'proc'), { recursive: true });
  mkdirSync(path.join(rootfs, 'real-proc'));
  // Absolute: it means /real-proc of the rootfs inside, but a host path when followed outside.
  symlinkSync('/real-proc', path.join(rootfs, 'proc'));
  const r = await run({ rootfs, arch: 'arm64' }, ['sh', '-c', 'uname -m; ls /real-proc/sys/fs/binfmt_misc']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'aarch64\nqemu-aarch64\nregister\nstatus\n');
});

test('a read-only bind stays read-only while another process renames paths in the rootfs', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const dir = tempDir(t);
  const rootfs = path.join(dir, 'rootfs');
  execFileSync('cp', ['-a', await busyboxRootfs('amd64'), rootfs]);
  // /x flips between a real place for the bind and a link to /tmp (another mount root), as a
  // process of another sandbox sharing this tree could make it do in a tight loop.
  mkdirSync(path.join(rootfs, 'a/ro'), { recursive: true });
  mkdirSync(path.join(rootfs, 'evil'));
  symlinkSync('/tmp', path.join(rootfs, 'evil/ro'));
  symlinkSync('a', path.join(rootfs, 'x'));
  symlinkSync('evil', path.join(rootfs, 'y'));
  const swapper = spawn(PROBE, ['exchange', rootfs, 'x', 'y'], { stdio: 'ignore' });
  t.after(() => swapper.kill('SIGKILL'));
  const secret = path.join(dir, 'secret');
  mkdirSync(secret);
  const modes = new Map<string, number>();
  for (let i = 0; i < 150; i++) {
    // Without the fix about one in ten of these came out read-write.
    const r = spawnSync(HELPER, ['run', '--rootfs', rootfs, '--bind', `${secret}:/x/ro:ro`, '--', 'grep', '-F', '/secret ', '/proc/self/mountinfo'], { encoding: 'utf8' });
    const mode = r.status === 0 ? r.stdout.split(' ')[5]!.split(',')[0]! : `exit ${r.status}`;
    modes.set(mode, (modes.get(mode) ?? 0) + 1);
  }
  assert.equal(modes.get('rw'), undefined, JSON.stringify([...modes]));
  assert.ok((modes.get('ro') ?? 0) > 0, JSON.stringify([...modes]));
});

test('an interactive shell on a terminal runs background jobs (job control on)', { timeout: 60_000 }, async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const child = spawn('script', ['-qec', `${HELPER} run --rootfs ${rootfs} -- sh -i`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const prompts = () => out.split('/ # ').length - 1;
  const waitFor = async (cond: () => boolean, what: string) => {
    for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(cond(), `${what}; terminal showed: ${JSON.stringify(out)}`);
  };
  await waitFor(() => prompts() >= 1, 'first prompt');
  child.stdin.write('sleep 5 &\n');
  await waitFor(() => prompts() >= 2, 'prompt after starting a job');
  child.stdin.write('jobs\n');
  await waitFor(() => /\[1\]\+\s+Running\s+sleep 5/.test(out), 'jobs lists the background job');
  child.stdin.end('kill %1; exit\n');
  const code = await new Promise<number | null>((r) => child.on('close', r));
  assert.equal(code, 0);
  assert.doesNotMatch(out, /job control turned off|can't access tty/);
});

test('a full map gives subordinate ids the same host owners with and without the user namespace keeper', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const me = os.userInfo().username;
  const line = readFileSync('/etc/subuid', 'utf8').split('\n').find((l) => l.startsWith(`${me}:`) || l.startsWith(`${process.getuid!()}:`));
  if (!need(t, !!line, `no /etc/subuid range for ${me}`)) return;
  const subuidStart = Number(line!.split(':')[1]);
  const rootfs = await busyboxRootfs('amd64');
  const ws = tempDir(t);
  for (const keeper of [true, false]) {
    const name = keeper ? 'kept' : 'direct';
    const r = await run({ rootfs, idmap: 'full', binds: [{ source: ws, target: '/ws' }] },
      ['sh', '-c', `touch /ws/${name} /ws/${name}-root && chown 1000:1000 /ws/${name}`],
      { env: keeper ? {} : { CROSSROOT_NO_KEEPER: '1' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statSync(path.join(ws, name)).uid, subuidStart + 999, `${name}: uid 1000 inside is subuid start + 999`);
    assert.equal(statSync(path.join(ws, `${name}-root`)).uid, process.getuid!(), `${name}: root inside is the caller`);
  }
});

test('the default id map is the whole subordinate range when /etc/subuid has one, else the caller alone', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const line = readFileSync('/etc/subuid', 'utf8').split('\n').find((l) => l.startsWith(`${os.userInfo().username}:`));
  if (!need(t, !!line, 'no /etc/subuid range for the test user')) return;
  const rootfs = await busyboxRootfs('amd64');
  const mapped = (stdout: string) => stdout.trim().split('\n').reduce((n, l) => n + Number(l.trim().split(/\s+/)[2]), 0);
  const withRange = await run({ rootfs }, ['cat', '/proc/self/uid_map']);
  assert.equal(withRange.code, 0, withRange.stderr);
  assert.equal(mapped(withRange.stdout), 1 + Number(line!.split(':')[2]), withRange.stdout);
  // As uid 0 of an `unshare -r` namespace the caller is "root", which /etc/subuid gives no range.
  if (!need(t, !/^(root|0):/m.test(readFileSync('/etc/subuid', 'utf8')), '/etc/subuid has a range for root')) return;
  const without = spawnSync('unshare', ['-r', HELPER, 'run', '--rootfs', rootfs, '--', 'cat', '/proc/self/uid_map'], { encoding: 'utf8' });
  assert.equal(without.status, 0, without.stderr);
  assert.equal(mapped(without.stdout), 1, without.stdout);
});

test('full-map sandboxes share one user namespace keeper, which a new one replaces once it is gone', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  if (!need(t, readFileSync('/etc/subuid', 'utf8').includes(`${os.userInfo().username}:`), 'no /etc/subuid range')) return;
  const rootfs = await busyboxRootfs('amd64');
  const runtime = tempDir(t); // the keeper's state goes to $XDG_RUNTIME_DIR/crossroot
  const state = path.join(runtime, 'crossroot/userns.json');
  let last = 0;
  const keeperPid = () => (last = (JSON.parse(readFileSync(state, 'utf8')) as { pid: number }).pid);
  const alive = (pid: number) => { try { return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z'; } catch { return false; } };
  const env = { XDG_RUNTIME_DIR: runtime };
  t.after(() => { try { process.kill(last, 'SIGTERM'); } catch { /* gone */ } });

  assert.equal((await run({ rootfs, idmap: 'full' }, ['true'], { env })).code, 0);
  const first = keeperPid();
  assert.equal(readFileSync(`/proc/${first}/comm`, 'utf8').trim(), 'crossroot-keep');
  assert.equal((await run({ rootfs, idmap: 'full' }, ['true'], { env })).code, 0);
  assert.equal(keeperPid(), first, 'the second sandbox joined the same keeper');

  process.kill(first, 'SIGTERM');
  for (let i = 0; i < 100 && alive(first); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(alive(first), false);
  const r = await run({ rootfs, idmap: 'full' }, ['true'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.notEqual(keeperPid(), first, 'a new keeper replaced the dead one');
});
