import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { debianRootfs, debianRootfsSingleMap, mmdebstrapAvailable, qemuAvailable } from '../fixtures/rootfs';
import { HELPER, need, tempDir } from '../lib/harness';
import { crossroot, crossrootAsync, storeDir } from './image-trees';
import { existsSync } from 'node:fs';

// [setup] packages in a real Debian arm64 env: installed through the env's own apt under qemu,
// with downloads kept in the host's package cache so a rebuild fetches no package again.
test('[setup] packages installs with the env\'s apt for arm64; a rebuild downloads no package again', { timeout: 20 * 60_000 }, async (t) => {
  if (!need(t, existsSync(HELPER), 'the helper is not built (make -C native)')
    || !need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap arch-test)')
    || !need(t, qemuAvailable('arm64'), 'no qemu-aarch64-static (apt-get install qemu-user-static)')) return;
  const tree = await debianRootfs();
  const env = { CROSSROOT_STORE: '' };
  // Registered before the store and project exist, so it runs before they are removed.
  t.after(() => { if (env.CROSSROOT_STORE) crossroot(['stop', '--all'], env, '/'); });
  env.CROSSROOT_STORE = storeDir(t);
  const dir = tempDir(t, 'crossroot-project-');
  writeFileSync(path.join(dir, 'crossroot.toml'), `name = "pkgs"\narch = "arm64"\n[source]\nkind = "dir"\npath = ${JSON.stringify(tree)}\n[setup]\npackages = ["hello"]\nrun = ["hello > /etc/greeting"]\n`);
  const cli = (args: string[]) => crossrootAsync(args, env, dir);
  let r = await cli(['build']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /│ Get:\d+ \S+ \S+ \S+ hello arm64/, 'apt fetched the arm64 package');
  r = await cli(['exec', 'sh', '-c', 'uname -m; hello; cat /etc/greeting; dpkg --print-architecture']);
  assert.deepEqual([r.code, r.stdout], [0, 'aarch64\nHello, world!\nHello, world!\narm64\n'], r.stderr);
  r = await cli(['build', '--rebuild']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /│ Need to get 0 B/, 'every package came from the host cache');
  assert.doesNotMatch(r.stderr, /│ Get:\d+ \S+ \S+ \S+ hello arm64/);
});

// A host without a subuid range runs envs in a single-id map, where only root exists: apt's
// switch to `_apt` for downloads cannot work there. The env tells apt so when it starts, so the
// command a user types in a terminal works unchanged.
test('in a single-id map, apt-get update as typed in a terminal works; the env says why apt runs as root', { timeout: 20 * 60_000 }, async (t) => {
  if (!need(t, existsSync(HELPER), 'the helper is not built (make -C native)')
    || !need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap arch-test)')
    || !need(t, qemuAvailable('arm64'), 'no qemu-aarch64-static (apt-get install qemu-user-static)')) return;
  const tree = await debianRootfsSingleMap();
  const env = { CROSSROOT_STORE: '', CROSSROOT_IDMAP: 'single' };
  t.after(() => { if (env.CROSSROOT_STORE) crossroot(['stop', '--all'], env, '/'); });
  env.CROSSROOT_STORE = storeDir(t);
  const dir = tempDir(t, 'crossroot-project-');
  // A setup step (as a Feature's install.sh would) meets the same apt.
  writeFileSync(path.join(dir, 'crossroot.toml'), `name = "single"\narch = "arm64"\n[source]\nkind = "dir"\npath = ${JSON.stringify(tree)}\n[setup]\nrun = ["apt-config dump APT::Sandbox::User > /etc/step-apt-user"]\n`);
  const cli = (args: string[]) => crossrootAsync(args, env, dir);
  let r = await cli(['exec', 'sh', '-c', 'cat /proc/self/uid_map; apt-config dump APT::Sandbox::User; cat /etc/step-apt-user; ls /tmp']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.split('\n').filter((l) => l.includes('APT::Sandbox::User')), ['APT::Sandbox::User "root";', 'APT::Sandbox::User "root";'], 'the terminal and the setup step');
  assert.doesNotMatch(r.stdout, /crossroot-apt\.conf/, 'the step\'s apt config stays out of the env');
  assert.match(r.stdout, /^\s*0\s+\d+\s+1\n/, 'one id mapped');
  assert.match(r.stdout, /APT::Sandbox::User "root";/);
  r = await cli(['exec', 'apt-get', 'update']);
  assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
  assert.doesNotMatch(r.stdout + r.stderr, /setgroups|Method http has died|W: /);
  assert.match(r.stdout, /Reading package lists/);
});
