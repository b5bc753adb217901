// devcontainer.json Features end to end, as the unprivileged user: OCI Features pushed to a real
// registry as publishers push them (one depending on the other), a local Feature after them, on
// an arm64 Debian image under qemu; one Feature installs a package through apt. One env serves
// every case (apt under qemu is the slow part).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

  let started = Date.now();
  r = await cli(['build']);
  t.diagnostic(`cold build (image pull, 3 Features, apt under qemu): ${((Date.now() - started) / 1000).toFixed(1)} s`);
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

  // crossroot.lock pins both OCI Features (the dependency too) to what was built: what was pushed.
  r = await cli(['lock']);
  assert.equal(r.code, 0, r.stderr);
  const lock = JSON.parse(readFileSync(path.join(dir, '.devcontainer/crossroot.lock'), 'utf8')) as { features: Record<string, { resolved: string; integrity: string; version?: string }> };
  assert.deepEqual(lock.features, {
    [`${reg.host}/crossroot-test/features/common:1`]: { integrity: common.layer, resolved: `${reg.host}/crossroot-test/features/common@${common.manifest}`, version: '1.0.3' },
    [`${reg.host}/crossroot-test/features/hello:1`]: { integrity: hello.layer, resolved: `${reg.host}/crossroot-test/features/hello@${hello.manifest}`, version: '1.4.0' },
  });

  // Unchanged: every Feature is a cached layer; nothing runs, and nothing needs the registry
  // (the image and the Features are pinned by crossroot.lock).
  await reg.stop();
  started = Date.now();
  r = await cli(['build']);
  t.diagnostic(`warm build, registry stopped: ${((Date.now() - started) / 1000).toFixed(2)} s`);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /step \d+\/\d+ feature/);

  // Another option of the local Feature: only its layer is made again.
  const file = path.join(dir, '.devcontainer/devcontainer.json');
  writeFileSync(file, readFileSync(file, 'utf8').replace('from the local Feature', 'changed'));
  started = Date.now();
  r = await cli(['build']);
  t.diagnostic(`rebuild of the last Feature's layer: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  assert.equal(r.code, 0, r.stderr);
  const ran = r.stderr.split('\n').filter((l) => /^crossroot: step \d+\/\d+ feature /.test(l));
  assert.deepEqual(ran.map((l) => l.replace(/^crossroot: step (\S+) feature (\S+)/, '$1 $2')), [
    `1/3 ${reg.host}/crossroot-test/features/common:1 (cached)`, `2/3 ${reg.host}/crossroot-test/features/hello:1 (cached)`, '3/3 ./stamp',
  ]);
  r = await cli(['exec', 'tail', '-n1', '/etc/feature-order']);
  assert.deepEqual([r.code, r.stdout], [0, 'stamp changed\n'], r.stderr);

  // Without crossroot.lock, what the references resolved to at the last fetch still needs no registry.
  rmSync(path.join(dir, '.devcontainer/crossroot.lock'));
  r = await cli(['build']);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /step \d+\/\d+ feature/);
});

test('a Feature tarball is fetched without credentials and unpacked only inside its own folder; a hostile one fails, writing nothing outside', async (t) => {
  if (!need(t, existsSync(HELPER), 'the helper is not built (make -C native)')) return;
  const { Store } = await import('../../src/core/store/store');
  const { resolveFeatures } = await import('../../src/core/features/resolve');
  const { tarArchive } = await import('../fixtures/hostile');
  const { gzipSync } = await import('node:zlib');
  const http = await import('node:http');
  const dir = tempDir(t, 'crossroot-feature-tgz-');
  const outside = path.join(dir, 'outside');
  mkdirSync(outside);
  const good = gzipSync(tarArchive([
    { name: './devcontainer-feature.json', data: JSON.stringify({ id: 'color', version: '1.0.1', options: { favorite: { type: 'string', default: 'red' } } }) },
    { name: './install.sh', data: '#!/bin/sh\necho "$FAVORITE" > /etc/color\n', mode: 0o755 },
  ]));
  const hostile = gzipSync(tarArchive([
    { name: './devcontainer-feature.json', data: '{"id":"evil"}' },
    { name: './install.sh', data: '#!/bin/sh\n', mode: 0o755 },
    { name: 'link', type: 'symlink', linkname: outside },
    { name: 'link/planted', data: 'x' },
    { name: '../../planted-too', data: 'x' },
  ]));
  const sneaky = gzipSync(tarArchive([
    { name: './devcontainer-feature.json', data: JSON.stringify({ id: 'sneaky', dependsOn: { './secret': {} } }) },
    { name: './install.sh', data: '#!/bin/sh\n', mode: 0o755 },
  ]));
  const seen: Array<Record<string, string | string[] | undefined>> = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    res.end(req.url === '/devcontainer-feature-color.tgz' ? good : req.url === '/devcontainer-feature-sneaky.tgz' ? sneaky : hostile);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const store = Store.open(storeDir(t), { helper: HELPER });
  const o = { store, helper: HELPER, baseDir: dir, registry: async () => { throw new Error('no registry for tarballs'); } };

  const [f] = await resolveFeatures([{ ref: `${base}/devcontainer-feature-color.tgz`, options: { favorite: 'green' } }], [], o);
  assert.deepEqual([f!.meta.id, f!.env, f!.lock?.version, f!.lock?.integrity.startsWith('sha256:')], ['color', { FAVORITE: 'green' }, '1.0.1', true]);
  assert.equal(readFileSync(path.join(f!.dir, 'install.sh'), 'utf8'), '#!/bin/sh\necho "$FAVORITE" > /etc/color\n');
  assert.ok(f!.dir.startsWith(path.join(store.root, 'features') + path.sep));
  assert.ok(seen.every((h) => h.authorization === undefined && h.cookie === undefined), 'no credentials of any kind');

  await assert.rejects(resolveFeatures([{ ref: `${base}/evil.tgz`, options: {} }], [], o), /unpacking failed/);
  assert.ok(!existsSync(path.join(outside, 'planted')) && !existsSync(path.join(dir, '..', 'planted-too')) && !existsSync(path.join(store.root, 'planted-too')), 'nothing written outside');
  assert.deepEqual(readdirSync(path.join(store.root, 'features')).filter((n) => n !== 'refs').length, 1, 'no half-made Feature folder is left');

  // A fetched Feature may not name a folder of this machine in its dependsOn.
  mkdirSync(path.join(dir, 'secret'));
  writeFileSync(path.join(dir, 'secret/devcontainer-feature.json'), '{"id":"secret"}');
  writeFileSync(path.join(dir, 'secret/install.sh'), '#!/bin/sh\n');
  await assert.rejects(resolveFeatures([{ ref: `${base}/devcontainer-feature-sneaky.tgz`, options: {} }], [], o),
    /Feature .*sneaky\.tgz depends on the local folder \.\/secret; only devcontainer\.json and local Features may name local folders/);
});
