// The extension's status follows the env whoever drives it: the CLI (as a VS Code task or
// terminal runs it, out of the extension's process) builds, starts and stops a real env, and
// the extension's controller, reading Env.state() and watching Env.stateDirs(), shows each
// state without being told. Busybox amd64 tree, private store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Env } from '../../src/core/env/env';
import { lockFile } from '../../src/core/store/lock';
import { Store } from '../../src/core/store/store';
import type { EnvBackend, EnvStatus } from '../../src/extension/backend';
import { EnvController } from '../../src/extension/controller';
import { flockFree, fsWatchDir } from '../../src/extension/follow';
import { envStatusOf } from '../../src/extension/lifecycle';
import { busyboxRootfs, mmdebstrapAvailable } from '../fixtures/rootfs';
import { HELPER, need, tempDir } from '../lib/harness';
import { MemoryWorkspace, RecordingLog, RecordingUi } from '../unit/extension/fake-ui';
import { crossroot, crossrootAsync, storeDir } from './image-trees';

/** Resolves once the controller shows `state`: what the status bar would show. */
function shows(c: EnvController, state: EnvStatus['state']): Promise<void> {
  return new Promise((resolve) => {
    if (c.status?.state === state) return resolve();
    c.onDidChange((s) => { if (s?.state === state) resolve(); });
  });
}

test('the status follows a build, a start, a stop and a held lock of another process', async (t) => {
  if (!need(t, existsSync(HELPER), 'the helper is not built (make -C native)')) return;
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap)')) return;
  const tree = await busyboxRootfs('amd64');
  let store = '';
  t.after(() => { if (store) crossroot(['stop', '--all'], { CROSSROOT_STORE: store }, '/'); });
  store = storeDir(t);
  const dir = tempDir(t, 'crossroot-project-');
  const file = path.join(dir, 'crossroot.toml');
  writeFileSync(file, `name = "demo"\narch = "amd64"\n[source]\nkind = "dir"\npath = ${JSON.stringify(tree)}\n[setup]\nrun = ["echo built > /etc/built"]\n`);
  // lifecycle.ts's status, on the core loaded directly (the extension loads it from dist/core.cjs).
  const backend: EnvBackend = {
    describe: () => ({ name: 'demo', arch: 'amd64' }),
    status: async (f) => {
      return envStatusOf(Env.open(f, { store: Store.open(store, { helper: HELPER }), helper: HELPER }));
    },
    build: async () => {},
    stop: async () => {},
  };
  // The extension host lives on by itself; here the watches alone would not hold the loop open.
  const alive = setInterval(() => {}, 1 << 30);
  t.after(() => clearInterval(alive));
  const c = new EnvController(new RecordingUi(), new RecordingLog(), new MemoryWorkspace(), backend, file, fsWatchDir, flockFree);
  t.after(() => c.dispose());
  await c.refresh();
  assert.equal(c.status?.state, 'not built');
  // Never built: no env dir yet, so the watch waits on an ancestor for it.
  assert.equal(existsSync(c.status?.dirs?.[0] ?? '/'), false);

  const env = { CROSSROOT_STORE: store };
  let r = await crossrootAsync(['build'], env, dir);
  assert.equal(r.code, 0, r.stderr);
  await shows(c, 'ready');
  r = await crossrootAsync(['exec', 'true'], env, dir);
  assert.equal(r.code, 0, r.stderr);
  await shows(c, 'running');
  r = await crossrootAsync(['stop'], env, dir);
  assert.equal(r.code, 0, r.stderr);
  await shows(c, 'ready');

  // Another crossroot takes the env's lock to build it (and holds it while it works): building.
  // Letting go of it changes no watched file (a failed build writes nothing); the extension
  // waits for the lock itself and reads again.
  const held = await lockFile(Env.open(file, { store: Store.open(store, { helper: HELPER }), helper: HELPER }).lockFile);
  await shows(c, 'building');
  assert.match(c.status?.detail ?? '', /another crossroot is building, starting or stopping it/);
  held!.release();
  await shows(c, 'ready');
});
