// What a Feature adds to an env besides its install.sh, end to end through the CLI on a busybox
// image from a local registry (fast; the apt-under-qemu Feature project is features.test.ts):
// its lifecycle commands, run at their moments before devcontainer.json's own.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HELPER, need, tempDir } from '../lib/harness';
import { multiArchImage } from '../fixtures/images';
import { pushImage, startRegistry } from '../fixtures/registry';
import { crossroot, crossrootAsync, pullReady, storeDir } from './image-trees';

/** A private store whose running envs are all stopped when the test ends, before the store goes. */
function envStore(t: TestContext): string {
  let store: string | undefined;
  t.after(() => { if (store) crossroot(['stop', '--all'], { CROSSROOT_STORE: store }, '/'); });
  store = storeDir(t);
  return store;
}

/** A local Feature folder `.devcontainer/NAME` with this devcontainer-feature.json and install.sh. */
function localFeature(dir: string, name: string, meta: object, install = 'true'): void {
  const f = path.join(dir, '.devcontainer', name);
  mkdirSync(f, { recursive: true });
  writeFileSync(path.join(f, 'devcontainer-feature.json'), JSON.stringify({ id: name, version: '1.0.0', ...meta }));
  writeFileSync(path.join(f, 'install.sh'), `#!/bin/sh\nset -e\n${install}\n`, { mode: 0o755 });
}

test('a Feature\'s lifecycle commands run once each at their moment, before devcontainer.json\'s own, in install order, with its containerEnv', async (t) => {
  if (!pullReady(t) || !need(t, existsSync(HELPER), 'the helper is not built (make -C native)')) return;
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const image = pushImage(reg, `oci:${(await multiArchImage()).layout}:multi`, 'bb:multi', { all: true });
  const store = envStore(t);
  const dir = tempDir(t, 'crossroot-project-');
  const log = (what: string) => `echo ${what} >> /workspace/log`;
  // Installed a, then b (the spec's order sorts a round by resource); b's commands use the
  // spec's variables, a's its own containerEnv.
  localFeature(dir, 'hooks-a', {
    containerEnv: { FROM_A: 'set-by-a' },
    postCreateCommand: 'echo "a-postCreate $FROM_A" >> /workspace/log',
    postStartCommand: 'echo "a-postStart $FROM_A" >> /workspace/log',
  });
  localFeature(dir, 'hooks-b', {
    onCreateCommand: log('b-onCreate'),
    postCreateCommand: { first: 'echo b-postCreate-1 >> ${containerWorkspaceFolder}/log', second: ['sh', '-c', log('b-postCreate-2')] },
    postStartCommand: log('b-postStart'),
    postAttachCommand: log('b-postAttach'),
  });
  writeFileSync(path.join(dir, '.devcontainer', 'devcontainer.json'), JSON.stringify({
    name: 'fh', image, workspaceFolder: '/workspace',
    features: { './hooks-b': {}, './hooks-a': {} },
    onCreateCommand: log('onCreate'), postCreateCommand: log('postCreate'),
    postStartCommand: log('postStart'), postAttachCommand: log('postAttach'),
  }));
  const env = { CROSSROOT_STORE: store };
  const cli = (args: string[], input?: string) => crossrootAsync(args, env, dir, input);
  const lines = () => readFileSync(path.join(dir, 'log'), 'utf8').trim().split('\n');

  let r = await cli(['build']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(), ['b-onCreate', 'onCreate', 'a-postCreate set-by-a', 'b-postCreate-1', 'b-postCreate-2', 'postCreate']);
  assert.match(r.stderr, /step \d+\/\d+ postCreateCommand of Feature \.\/hooks-a: echo "a-postCreate/, 'the step says whose command it is');
  assert.doesNotMatch(r.stderr, /is not applied by Crossroot/);

  r = await cli(['exec', 'sh', '-c', 'echo "$FROM_A"']);
  assert.deepEqual([r.code, r.stdout], [0, 'set-by-a\n'], r.stderr);
  assert.deepEqual(lines().slice(6), ['a-postStart set-by-a', 'b-postStart', 'postStart'], 'postStart once per start: the Features\' first');
  r = await cli(['exec', 'true']);
  assert.deepEqual(lines().slice(6), ['a-postStart set-by-a', 'b-postStart', 'postStart'], 'joining runs nothing');
  r = await cli(['shell'], 'exit 0\n');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines().slice(9), ['b-postAttach', 'postAttach']);
  r = await cli(['build']);
  assert.deepEqual([r.code, lines().length], [0, 11], 'an unchanged build runs no create command again');
  await cli(['stop']);
  r = await cli(['exec', 'true']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines().slice(11), ['a-postStart set-by-a', 'b-postStart', 'postStart'], 'a new start runs the postStart commands again, not the create ones');
});
