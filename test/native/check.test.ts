import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { checkHost, type HostReport } from '../../src/core/sandbox/check';
import { qemuAvailable } from '../fixtures/rootfs';
import { HELPER, need } from '../lib/harness';

function byName(r: HostReport, name: string) {
  const c = r.checks.find((x) => x.name === name);
  assert.ok(c, `check ${name} is reported`);
  return c;
}

test('check passes on this host for arm64 and names every probe', async (t) => {
  if (!need(t, qemuAvailable('arm64'), 'qemu-user-static is not installed')) return;
  const r = await checkHost(HELPER, { arch: 'arm64' });
  assert.deepEqual(r.checks.map((c) => c.name), ['userns', 'idmap-full', 'overlay', 'binfmt', 'qemu']);
  for (const c of r.checks.filter((x) => x.required)) assert.ok(c.ok, `${c.name}: ${c.detail} (fix: ${c.fix})`);
  assert.equal(r.ok, true);
  assert.match(byName(r, 'qemu').detail, /qemu-aarch64/);
  assert.match(byName(r, 'userns').detail, /user\.max_user_namespaces=\d+/);
  assert.match(byName(r, 'userns').detail, /kernel\.apparmor_restrict_unprivileged_userns/);
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
