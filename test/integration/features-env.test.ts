// What a Feature adds to an env besides its install.sh, end to end through the CLI on a busybox
// image from a local registry (fast; the apt-under-qemu Feature project is features.test.ts):
// its lifecycle commands, run at their moments before devcontainer.json's own; its mounts and
// what it asks of a container runtime; gc of the Features an env was built with.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { HELPER, need, tempDir } from '../lib/harness';
import { multiArchImage } from '../fixtures/images';
import { pushImage, startRegistry } from '../fixtures/registry';
import { tarArchive } from '../fixtures/hostile';
import { crossroot, crossrootAsync, pullReady, storeDir } from './image-trees';

/** A private store whose running envs are all stopped when the test ends, before the store goes. */
function envStore(t: TestContext): string {
  let store: string | undefined;
  t.after(() => { if (store) crossroot(['stop', '--all'], { CROSSROOT_STORE: store }, '/'); });
  store = storeDir(t);
  return store;
}

/** A local Feature folder `.devcontainer/NAME` with this devcontainer-feature.json and install.sh. */
function localFeature(dir: string, name: string, meta: object, files: Record<string, string> = {}): void {
  const f = path.join(dir, '.devcontainer', name);
  mkdirSync(f, { recursive: true });
  writeFileSync(path.join(f, 'devcontainer-feature.json'), JSON.stringify({ id: name, version: '1.0.0', ...meta }));
  writeFileSync(path.join(f, 'install.sh'), '#!/bin/sh\ntrue\n', { mode: 0o755 });
  for (const [n, text] of Object.entries(files)) writeFileSync(path.join(f, n), text);
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
  // spec's variables and scripts of its own (${featureRoot}), a's its own containerEnv.
  localFeature(dir, 'hooks-a', {
    containerEnv: { FROM_A: 'set-by-a' },
    postCreateCommand: 'echo "a-postCreate $FROM_A" >> /workspace/log',
    postStartCommand: 'echo "a-postStart $FROM_A" >> /workspace/log',
  });
  localFeature(dir, 'hooks-b', {
    onCreateCommand: log('b-onCreate'),
    postCreateCommand: { first: 'echo b-postCreate-1 >> ${containerWorkspaceFolder}/log', second: ['sh', '${featureRoot}/create.sh'] },
    postStartCommand: log('b-postStart'),
    postAttachCommand: 'sh ${featureRoot}/attach.sh',
  }, { 'create.sh': `${log('b-postCreate-2')}\n`, 'attach.sh': `${log('b-postAttach')}\n` });
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

  // Editing a local Feature (devcontainer.json unchanged) is a new build: the steps from its layer
  // on run again and the env restarts with its new postStartCommand.
  const meta = path.join(dir, '.devcontainer', 'hooks-a', 'devcontainer-feature.json');
  writeFileSync(meta, readFileSync(meta, 'utf8').replace('a-postStart', 'a-postStart-edited'));
  r = await cli(['exec', 'true']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines().slice(14), [
    'b-onCreate', 'onCreate', 'a-postCreate set-by-a', 'b-postCreate-1', 'b-postCreate-2', 'postCreate', 'a-postStart-edited set-by-a', 'b-postStart', 'postStart',
  ]);
  // So is an edit of any other file of it (a script its commands run), on the warm path of exec too.
  r = await cli(['exec', 'true']);
  assert.deepEqual([r.code, lines().length], [0, 23], 'joined: nothing ran');
  const script = path.join(dir, '.devcontainer', 'hooks-b', 'create.sh');
  writeFileSync(script, readFileSync(script, 'utf8').replace('b-postCreate-2', 'b-postCreate-2-edited'));
  r = await cli(['exec', 'true']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines().slice(23), [
    'b-onCreate', 'onCreate', 'a-postCreate set-by-a', 'b-postCreate-1', 'b-postCreate-2-edited', 'postCreate', 'a-postStart-edited set-by-a', 'b-postStart', 'postStart',
  ]);
});

test('a Feature\'s volumes (and devcontainer.json\'s) persist per env, a local Feature binds host folders and a fetched one may not; runtime asks get a note; gc keeps the env\'s Features until the env is gone', async (t) => {
  if (!pullReady(t) || !need(t, existsSync(HELPER), 'the helper is not built (make -C native)')) return;
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const image = pushImage(reg, `oci:${(await multiArchImage()).layout}:multi`, 'bb:multi', { all: true });
  // A fetched Feature (a tarball on this machine's loopback: plain http is allowed there only).
  const tgz = gzipSync(tarArchive([
    { name: './devcontainer-feature.json', data: JSON.stringify({
      id: 'fetched', version: '1.0.0', privileged: true, entrypoint: '/usr/local/share/fetched-init.sh',
      mounts: [{ type: 'bind', source: '/etc', target: '/host-etc' }, { type: 'volume', source: 'fetched-${devcontainerId}', target: '/var/lib/fetched' }],
    }) },
    { name: './install.sh', data: '#!/bin/sh\ntrue\n', mode: 0o755 },
  ]));
  const server = http.createServer((_req, res) => res.end(tgz));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const tarball = `http://127.0.0.1:${(server.address() as { port: number }).port}/devcontainer-feature-fetched.tgz`;
  const store = envStore(t);
  const dir = tempDir(t, 'crossroot-project-');
  mkdirSync(path.join(dir, 'shared'));
  writeFileSync(path.join(dir, 'shared', 'hello'), 'from the host\n');
  localFeature(dir, 'mounter', {
    init: true, postStartCommand: 'exit 3',
    mounts: ['source=${localWorkspaceFolder}/shared,target=/shared,type=bind,readonly', { type: 'volume', source: 'cache', target: '/var/cache/mounter' }],
  });
  writeFileSync(path.join(dir, '.devcontainer', 'devcontainer.json'), JSON.stringify({ name: 'fm', image, workspaceFolder: '/workspace', features: { './mounter': {}, [tarball]: {} }, mounts: ['source=dc-${devcontainerId},target=/var/dc,type=volume'], postStartCommand: 'touch /workspace/dc-post-start' }));
  const env = { CROSSROOT_STORE: store };
  const cli = (args: string[]) => crossrootAsync(args, env, dir);

  let r = await cli(['build']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Feature http:\S+: its bind mount of \/etc at \/host-etc is not made: only devcontainer\.json and local Features may bind folders of this machine/);
  assert.match(r.stderr, /Feature http:\S+: "privileged" cannot be given/);
  assert.match(r.stderr, /Feature http:\S+: its entrypoint \/usr\/local\/share\/fetched-init\.sh is not run: .*"postStartCommand": "\/usr\/local\/share\/fetched-init\.sh true"/);
  assert.match(r.stderr, /Feature \.\/mounter: "init" is not needed/);

  r = await cli(['exec', 'sh', '-c', 'cat /shared/hello; echo kept > /var/cache/mounter/f; echo also > /var/lib/fetched/f; echo dc > /var/dc/f; test -e /host-etc/passwd && echo LEAK; touch /shared/x 2>/dev/null || echo read-only']);
  assert.deepEqual([r.code, r.stdout], [0, 'from the host\nread-only\n'], r.stderr);
  // A failing postStartCommand ends that moment, as in Dev Containers: devcontainer.json's did not run.
  assert.match(r.stderr, /postStartCommand of Feature \.\/mounter \(exit 3\) failed with exit code 3; the 1 postStartCommand after it did not run/);
  assert.equal(existsSync(path.join(dir, 'dc-post-start')), false);
  // A rebuild starts the env's writable layer afresh; its volumes stay, as Docker's do.
  r = await cli(['build', '--rebuild']);
  assert.equal(r.code, 0, r.stderr);
  r = await cli(['exec', 'cat', '/var/cache/mounter/f', '/var/lib/fetched/f', '/var/dc/f']);
  assert.deepEqual([r.code, r.stdout], [0, 'kept\nalso\ndc\n'], r.stderr);

  // gc keeps the fetched Feature this env is built with; once the project is gone, it goes.
  let gc = await crossrootAsync(['gc', '--force', '--json'], env, '/');
  assert.equal(gc.code, 0, gc.stderr);
  assert.deepEqual((JSON.parse(gc.stdout) as { remove: Array<{ kind: string }> }).remove.filter((i) => i.kind === 'feature'), []);
  assert.equal((JSON.parse(gc.stdout) as { kept: { features: number } }).kept.features, 1);
  crossroot(['stop', '--all'], env, '/');
  rmSync(path.join(dir, '.devcontainer'), { recursive: true });
  gc = await crossrootAsync(['gc', '--force'], env, '/');
  assert.equal(gc.code, 0, gc.stderr);
  assert.match(gc.stdout, new RegExp(`removed Feature sha256:[0-9a-f]{64} \\(${tarball.replace(/[.]/g, '\\.')}\\)`));
  assert.match(gc.stdout, /kept .* and 0 Features/);
});
