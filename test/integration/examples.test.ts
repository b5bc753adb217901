import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { multiArchImage } from '../fixtures/images';
import { pushImage, startRegistry } from '../fixtures/registry';
import { mmdebstrapAvailable, qemuAvailable } from '../fixtures/rootfs';
import { CLI, HELPER, ROOT, cacheDir, need, tempDir } from '../lib/harness';
import { crossroot, crossrootAsync, pullReady } from './image-trees';

// Each example runs the way its README says. The test store is the one `npm start`'s tests and
// the Debian fixtures use, so the bootstrap and the gcc layer are made once per machine.
const STORE = () => ({ CROSSROOT_STORE: cacheDir('store') });

for (const [dir, arch, machine] of [['arm64-c', 'arm64', 'aarch64'], ['riscv64-c', 'riscv64', 'riscv64']] as const) {
  test(`examples/${dir}: crossroot exec make test builds and runs the program as ${machine}`, { timeout: 30 * 60_000 }, async (t) => {
    if (!need(t, existsSync(HELPER) && existsSync(CLI), 'the helper and CLI are not built (npm run build)')
      || !need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap arch-test)')
      || !need(t, qemuAvailable(arch), `no qemu for ${arch} (apt-get install qemu-user-static)`)) return;
    // A copy, so the build output does not land in the repository.
    // Registered first, so it runs before the copy is removed (after-hooks run in order).
    let work = '';
    t.after(() => { if (work) crossroot(['stop', '--file', path.join(work, 'crossroot.toml')], STORE(), '/'); });
    work = tempDir(t, 'crossroot-example-');
    cpSync(path.join(ROOT, 'examples', dir), work, { recursive: true });
    const r = await crossrootAsync(['exec', 'make', 'test'], STORE(), work);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^hello from ${machine}$`, 'm'));
    const elf = readFileSync(path.join(work, 'hello'));
    assert.equal(elf.readUInt16LE(18), arch === 'arm64' ? 183 : 243, 'an ELF for the env\'s machine (EM_AARCH64 / EM_RISCV)');
  });
}

test('examples/devcontainer: the lifecycle commands ran and the env sees containerEnv and remoteEnv', { timeout: 10 * 60_000 }, async (t) => {
  if (!pullReady(t) || !need(t, qemuAvailable('arm64'), 'no qemu for arm64')) return;
  // Docker Hub is not reachable from tests: the example's image is swapped for a local one.
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const image = pushImage(reg, `oci:${(await multiArchImage()).layout}:multi`, 'demo:bookworm-slim', { all: true });
  const env = { CROSSROOT_STORE: '' };
  t.after(() => { if (env.CROSSROOT_STORE) crossroot(['stop', '--all'], env, '/'); });
  env.CROSSROOT_STORE = tempDir(t, 'crossroot-store-');
  const work = tempDir(t, 'crossroot-example-');
  cpSync(path.join(ROOT, 'examples', 'devcontainer'), work, { recursive: true });
  const file = path.join(work, '.devcontainer', 'devcontainer.json');
  writeFileSync(file, readFileSync(file, 'utf8').replace('docker.io/library/debian:bookworm-slim', image));
  const r = await crossrootAsync(['exec', '--file', file, 'check.sh'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'created on aarch64\nhello from setup.sh on aarch64\nGREETING=hello\n');
  const starts = await crossrootAsync(['exec', '--file', file, 'cat', '/tmp/demo-starts'], env);
  assert.equal(starts.stdout, 'started\n', `postStartCommand ran once for this start (exit ${starts.code}; first exec's stderr:\n${r.stderr}\nthis one's:\n${starts.stderr})`);
});

