import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkHost, type HostReport } from '../../src/core/sandbox/check';
import { qemuAvailable } from '../fixtures/rootfs';
import { HELPER, need, tempDir } from '../lib/harness';

function byName(r: HostReport, name: string) {
  const c = r.checks.find((x) => x.name === name);
  assert.ok(c, `check ${name} is reported`);
  return c;
}

test('check passes on this host for arm64 and names every probe', async (t) => {
  if (!need(t, qemuAvailable('arm64'), 'qemu-user-static is not installed')) return;
  const r = await checkHost(HELPER, { arch: 'arm64' });
  assert.deepEqual(r.checks.map((c) => c.name), ['userns', 'idmap-full', 'overlay', 'binfmt', 'qemu', 'compilers']);
  for (const c of r.checks.filter((x) => x.required)) assert.ok(c.ok, `${c.name}: ${c.detail} (fix: ${c.fix})`);
  assert.equal(r.ok, true);
  assert.match(byName(r, 'qemu').detail, /qemu-aarch64/);
  assert.match(byName(r, 'userns').detail, /user\.max_user_namespaces=\d+/);
  assert.match(byName(r, 'userns').detail, /kernel\.apparmor_restrict_unprivileged_userns/);
});

test('the helper takes the usual architecture aliases and says which names it knows', () => {
  const aliases: Record<string, string> = { aarch64: 'arm64', x86_64: 'amd64', armv7l: 'armhf', ppc64le: 'ppc64el', i686: 'i386', riscv: 'riscv64', ARM64: 'arm64' };
  for (const [alias, name] of Object.entries(aliases)) {
    const r = spawnSync(HELPER, ['check', '--arch', alias, '--json'], { encoding: 'utf8' });
    assert.equal((JSON.parse(r.stdout) as HostReport).arch, name, `${alias}: ${r.stderr}`);
  }
  const bad = spawnSync(HELPER, ['run', '--rootfs', '/', '--arch', 'sparc', '--', 'true'], { encoding: 'utf8' });
  assert.equal(bad.status, 125);
  assert.match(bad.stderr, /unknown architecture 'sparc'\n.*fix: use one of amd64, arm64, armhf, riscv64, ppc64el, s390x, i386/);
});

test('check reports a missing qemu with the package to install', async () => {
  const r = await checkHost(HELPER, { arch: 'riscv64', env: { ...process.env, CROSSROOT_QEMU_DIRS: '/nonexistent' } });
  assert.equal(r.ok, false);
  const q = byName(r, 'qemu');
  assert.equal(q.ok, false);
  assert.match(q.detail, /qemu-riscv64-static/);
  assert.match(q.fix, /qemu-user-static/);
  const explicit = await checkHost(HELPER, { arch: 'arm64', qemu: '/nonexistent/qemu-aarch64-static' });
  assert.equal(byName(explicit, 'qemu').ok, false);
  assert.match(byName(explicit, 'qemu').detail, /\/nonexistent\/qemu-aarch64-static is not an executable/);
});

test('check reports a missing rootfs, and a native arch needs no qemu', async () => {
  const r = await checkHost(HELPER, { arch: 'amd64', rootfs: '/nonexistent/rootfs', env: { ...process.env, CROSSROOT_QEMU_DIRS: '/nonexistent' } });
  assert.equal(r.ok, false);
  const root = byName(r, 'rootfs');
  assert.equal(root.ok, false);
  assert.match(root.fix, /crossroot build/);
  assert.equal(byName(r, 'qemu').ok, true, 'amd64 runs natively here');
});

test('`crossroot check --json` prints the report and exits 1 when something required fails', async () => {
  const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const out = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', cli, 'check', '--arch', 'aarch64', '--json'], {
      env: { ...process.env, CROSSROOT_HELPER: HELPER, CROSSROOT_QEMU_DIRS: '/nonexistent' },
    }, (err, stdout) => resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout }));
  });
  assert.equal(out.code, 1);
  const r = JSON.parse(out.stdout) as HostReport;
  assert.equal(r.arch, 'arm64');
  assert.equal(byName(r, 'qemu').ok, false);
});

// user.max_user_namespaces is per user namespace: inside one of our own we may set it to 0,
// which is how a host with user namespaces disabled looks from there.
function withUsernsDisabled(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('unshare', ['--map-root-user', 'sh', '-c', 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"', 'sh', HELPER, ...args],
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr }));
  });
}

test('with user namespaces disabled, check and run say so and name the sysctl', async () => {
  const check = await withUsernsDisabled(['check', '--json']);
  assert.equal(check.code, 1, check.stderr);
  const r = JSON.parse(check.stdout) as HostReport;
  const userns = byName(r, 'userns');
  assert.equal(userns.ok, false);
  assert.match(userns.fix, /sysctl -w user\.max_user_namespaces=/);
  assert.match(byName(r, 'overlay').detail, /not probed/);
  const run = await withUsernsDisabled(['run', '--rootfs', '/', '--status-fd', '1', '--', 'true']);
  assert.equal(run.code, 125);
  const err = JSON.parse(run.stdout.trim()) as { code: string; fix: string };
  assert.equal(err.code, 'EUSERNS');
  assert.match(err.fix, /user\.max_user_namespaces/);
});

// How Ubuntu 23.10+ restricts user namespaces (kernel.apparmor_restrict_unprivileged_userns=1):
// unshare works, but the namespace gets no capabilities, so its first mount fails. Simulated in
// bwrap with a seccomp filter that fails mount(2) with EPERM and that sysctl reading 1.
// `only` narrows the filter to mounts whose 32-bit words of struct seccomp_data at these byte
// offsets hold these values (args[i] starts at 16 + 8 * i, low word first).
function seccompDenyingMount(only: Array<[offset: number, value: number]> = []): Buffer {
  const ins = (code: number, jt: number, jf: number, k: number) => {
    const b = Buffer.alloc(8);
    b.writeUInt16LE(code, 0); b.writeUInt8(jt, 2); b.writeUInt8(jf, 3); b.writeUInt32LE(k >>> 0, 4);
    return b;
  };
  const LD_W_ABS = 0x20, JEQ_K = 0x15, RET_K = 0x06;
  // One block per (audit arch, mount syscall number); any mismatch jumps past the block.
  const block = (arch: number, nr: number): Buffer[] => {
    const tests: Array<[number, number]> = [[4, arch], [0, nr], ...only];
    const length = 2 * tests.length + 1;
    return [...tests.flatMap(([offset, value], i) => [ins(LD_W_ABS, 0, 0, offset), ins(JEQ_K, 0, length - 2 * i - 2, value)]),
      ins(RET_K, 0, 0, 0x00050000 | 1)]; // SECCOMP_RET_ERRNO | EPERM
  };
  return Buffer.concat([...block(0xc000003e, 165), ...block(0xc00000b7, 40), // x86_64, aarch64
    ins(RET_K, 0, 0, 0x7fff0000)]); // SECCOMP_RET_ALLOW
}

/** Runs the helper in bwrap under that filter (and, given a dir, with it as /proc/sys/kernel). */
function restricted(dir: string, filter: Buffer, args: string[], sysctls = '/proc/sys/kernel') {
  writeFileSync(path.join(dir, 'filter.bpf'), filter);
  return spawnSync('sh', ['-c', 'k=$1; shift; exec bwrap --bind / / --proc /proc --dev /dev --bind "$k" /proc/sys/kernel --seccomp 9 -- "$@" 9<"$0"',
    path.join(dir, 'filter.bpf'), sysctls, HELPER, ...args], { encoding: 'utf8' });
}

test('with AppArmor restricting user namespaces, check and run name the AppArmor sysctl', (t) => {
  if (!need(t, spawnSync('bwrap', ['--version']).status === 0, 'bubblewrap is not installed (apt-get install bubblewrap)')) return;
  if (!need(t, ['x64', 'arm64'].includes(process.arch), 'the seccomp filter knows x86_64 and aarch64 only')) return;
  const dir = tempDir(t);
  const sysctls = path.join(dir, 'kernel');
  mkdirSync(sysctls);
  writeFileSync(path.join(sysctls, 'apparmor_restrict_unprivileged_userns'), '1\n');
  const check = restricted(dir, seccompDenyingMount(), ['check', '--json'], sysctls);
  const r = JSON.parse(check.stdout) as HostReport;
  const userns = byName(r, 'userns');
  assert.equal(userns.ok, false, check.stderr);
  assert.match(userns.detail, /mount.*Operation not permitted/);
  assert.match(userns.fix, /sysctl -w kernel\.apparmor_restrict_unprivileged_userns=0/);
  const run = restricted(dir, seccompDenyingMount(), ['run', '--rootfs', '/', '--', 'true'], sysctls);
  assert.equal(run.status, 125);
  assert.match(run.stderr, /may not mount/);
  assert.match(run.stderr, /fix: AppArmor forbids unprivileged user namespaces/);
});

// A kernel before 6.7 refuses binfmt_misc in a user namespace. check's binfmt probe is its only
// mount with no flags and no data (overlay's has data, the userns probe's has flags); the fresh
// /proc of bwrap shows no host registration.
test('on a kernel without private binfmt_misc, check says so and how to register qemu on the host', (t) => {
  if (!need(t, spawnSync('bwrap', ['--version']).status === 0, 'bubblewrap is not installed (apt-get install bubblewrap)')) return;
  if (!need(t, ['x64', 'arm64'].includes(process.arch), 'the seccomp filter knows x86_64 and aarch64 only')) return;
  const foreign = process.arch === 'x64' ? 'arm64' : 'amd64';
  const flagsAndData: Array<[number, number]> = [[16 + 3 * 8, 0], [16 + 4 * 8, 0], [16 + 4 * 8 + 4, 0]];
  const out = restricted(tempDir(t), seccompDenyingMount(flagsAndData), ['check', '--arch', foreign, '--json']);
  assert.equal(out.status, 1, out.stderr);
  const r = JSON.parse(out.stdout) as HostReport;
  assert.equal(byName(r, 'userns').ok, true);
  assert.equal(byName(r, 'overlay').ok, true);
  const binfmt = byName(r, 'binfmt');
  assert.deepEqual([binfmt.ok, binfmt.required], [false, true]);
  assert.match(binfmt.detail, /cannot mount binfmt_misc in a user namespace \(needs Linux 6\.7\): Operation not permitted/);
  assert.match(binfmt.fix, /upgrade to Linux 6\.7\+, or register qemu on the host once: sudo apt-get install qemu-user-static/);
  assert.match(binfmt.fix, /systemctl restart systemd-binfmt/);
});
