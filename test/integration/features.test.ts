// devcontainer.json Features end to end, as the unprivileged user: OCI Features pushed to a real
// registry as publishers push them (one depending on the other), a local Feature after them, on
// an arm64 Debian image under qemu; one Feature installs a package through apt. One env serves
// every case (apt under qemu is the slow part).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pushFeature, pushRootfsImage } from '../fixtures/features';
import { startRegistry } from '../fixtures/registry';
import { debianRootfs, mmdebstrapAvailable, qemuAvailable } from '../fixtures/rootfs';
import { HELPER, ROOT, need, tempDir } from '../lib/harness';
import { crossroot, crossrootAsync, pullReady, storeDir } from './image-trees';

const FIXTURE = path.join(ROOT, 'test/fixtures/features-project');

/** Copies the fixture project with REGISTRY replaced by the test registry's host:port. */
function project(dir: string, registry: string): void {
  cpSync(FIXTURE, dir, { recursive: true });
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = path.join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.json')) writeFileSync(p, readFileSync(p, 'utf8').replaceAll('REGISTRY', registry));
    }
  };
  walk(dir);
}

test('Features: an OCI Feature installs an apt package on arm64 after the Feature it depends on, a local one after it; options, users, containerEnv, caching, crossroot.lock', { timeout: 25 * 60_000 }, async (t) => {
  if (!pullReady(t, { images: false })
    || !need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap arch-test)')
    || !need(t, qemuAvailable('arm64'), 'no qemu-aarch64-static (apt-get install qemu-user-static)')) return;
  const tree = await debianRootfs();
  const reg = await startRegistry();
  const env = { CROSSROOT_STORE: '' };
  // Registered first, so they run after the env is stopped and before the store goes.
  t.after(() => reg.stop());
  t.after(() => { if (env.CROSSROOT_STORE) crossroot(['stop', '--all'], env, '/'); });
  env.CROSSROOT_STORE = storeDir(t);
  await pushRootfsImage(reg, 'crossroot-test/debian', 'bookworm-arm64', tree, 'arm64');
  const dir = tempDir(t, 'crossroot-features-');
  project(dir, reg.host);
  // Published from the project's copy, whose dependsOn names this registry.
  const common = await pushFeature(reg, 'crossroot-test/features/common', ['1', '1.0', '1.0.3'], path.join(dir, 'oci-features/common'));
  const hello = await pushFeature(reg, 'crossroot-test/features/hello', ['1', '1.4', '1.4.0'], path.join(dir, 'oci-features/hello'));
  const cli = (args: string[]) => crossrootAsync(args, env, dir);

  let r = await cli(['lint']);
  assert.equal(r.code, 0, r.stdout + r.stderr);

  r = await cli(['build']);
  assert.equal(r.code, 0, r.stderr);
  const stepLines = r.stderr.split('\n').filter((l) => /^crossroot: step \d+\/\d+ feature /.test(l));
  assert.deepEqual(stepLines.map((l) => l.replace(/^crossroot: step (\d+\/\d+) feature (\S+).*$/, '$1 $2')), [
    `1/3 ${reg.host}/crossroot-test/features/common:1`, `2/3 ${reg.host}/crossroot-test/features/hello:1`, '3/3 ./stamp',
  ], 'dependsOn first, installsAfter last');
  assert.match(r.stderr, /│ Get:\d+ \S+ \S+ \S+ hello arm64/, 'the Feature\'s apt fetched the arm64 package');

  r = await cli(['exec', 'sh', '-c', 'uname -m; dpkg --print-architecture; hello; cat /etc/feature-order; cat /etc/feature-stamp; greet; echo "$HELLO_GREETING_FILE $STAMPED $FROM_FILE"; id -un builder']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, [
    'aarch64', 'arm64', 'Hello, world!',
    'common builder', 'hello', 'stamp from the local Feature',
    'remote=root home=/root container=root chome=/root greeting-file=/usr/local/share/hello-feature/greeting',
    'hello from the hello Feature',
    '/usr/local/share/hello-feature/greeting 1 yes',
    'builder', '',
  ].join('\n'), 'options, defaults, users, containerEnv (with ${PATH}) and dependsOn options all arrived');

  // Unchanged: every Feature is a cached layer; nothing runs.
  r = await cli(['build']);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /step \d+\/\d+ feature/);

  // Another option of the local Feature: only its layer is made again.
  const file = path.join(dir, '.devcontainer/devcontainer.json');
  writeFileSync(file, readFileSync(file, 'utf8').replace('from the local Feature', 'changed'));
  r = await cli(['build']);
  assert.equal(r.code, 0, r.stderr);
  const ran = r.stderr.split('\n').filter((l) => /^crossroot: step \d+\/\d+ feature /.test(l));
  assert.deepEqual(ran.map((l) => l.replace(/^crossroot: step (\S+) feature (\S+)/, '$1 $2')), [
    `1/3 ${reg.host}/crossroot-test/features/common:1 (cached)`, `2/3 ${reg.host}/crossroot-test/features/hello:1 (cached)`, '3/3 ./stamp',
  ]);
  r = await cli(['exec', 'tail', '-n1', '/etc/feature-order']);
  assert.deepEqual([r.code, r.stdout], [0, 'stamp changed\n'], r.stderr);

  // crossroot.lock pins both OCI Features (the dependency too) to what was pushed.
  r = await cli(['lock']);
  assert.equal(r.code, 0, r.stderr);
  const lock = JSON.parse(readFileSync(path.join(dir, '.devcontainer/crossroot.lock'), 'utf8')) as { features: Record<string, { resolved: string; integrity: string; version?: string }> };
  assert.deepEqual(lock.features, {
    [`${reg.host}/crossroot-test/features/common:1`]: { integrity: common.layer, resolved: `${reg.host}/crossroot-test/features/common@${common.manifest}`, version: '1.0.3' },
    [`${reg.host}/crossroot-test/features/hello:1`]: { integrity: hello.layer, resolved: `${reg.host}/crossroot-test/features/hello@${hello.manifest}`, version: '1.4.0' },
  });
  assert.ok(existsSync(HELPER));
});
