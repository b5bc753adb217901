import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CrossrootError } from '../../../src/core/errors';
import type { BuildOptions, EnvBackend, EnvStatus } from '../../../src/extension/backend';
import { EnvController, MANAGE_TRUST, REBUILD, SHOW_LOG } from '../../../src/extension/controller';
import { MemoryWorkspace, RecordingLog, RecordingUi } from './fake-ui';

/** A backend whose env is a record: build makes it ready, stop makes it not running. */
class RecordingBackend implements EnvBackend {
  state: EnvStatus = { name: 'firmware', arch: 'arm64', state: 'not built' };
  calls: string[] = [];
  buildError: Error | undefined;
  describe() { return { name: this.state.name, arch: this.state.arch }; }
  async status(): Promise<EnvStatus> { this.calls.push('status'); return { ...this.state }; }
  async build(_file: string, o: BuildOptions): Promise<void> {
    this.calls.push(o.rebuild ? 'rebuild' : 'build');
    o.onProgress({ message: 'layer 1/2: 10 MB', fraction: 0.25 });
    if (o.signal.aborted) throw new Error('aborted');
    o.onProgress({ message: '[setup] packages: gcc', fraction: 0.75 });
    if (this.buildError) throw this.buildError;
    this.state = { ...this.state, state: 'ready' };
  }
  async stop(): Promise<void> {
    this.calls.push('stop');
    this.state = { ...this.state, state: 'ready' };
  }
}

function setup(trusted = true) {
  const ui = new RecordingUi(), log = new RecordingLog(), ws = new MemoryWorkspace(), backend = new RecordingBackend();
  ws.trusted = trusted;
  const c = new EnvController(ui, log, ws, backend, '/w/crossroot.toml');
  return { ui, log, ws, backend, c };
}

test('a build shows progress with the layer and setup step, and ends ready', async () => {
  const { ui, backend, c } = setup();
  await c.refresh();
  const states: string[] = [];
  c.onDidChange((s) => states.push(s!.state));
  assert.equal(await c.build(false), true);
  assert.deepEqual(backend.calls.filter((c) => c !== 'status'), ['build']);
  assert.deepEqual(ui.progressTitles, ['Crossroot: building arm64 · firmware']);
  assert.deepEqual(ui.reports, [{ message: 'layer 1/2: 10 MB', increment: 25 }, { message: '[setup] packages: gcc', increment: 50 }]);
  assert.deepEqual(states, ['building', 'ready']);
});

test('an untrusted folder builds nothing and says why, offering the trust editor', async () => {
  const { ui, backend, c } = setup(false);
  ui.answer = MANAGE_TRUST;
  assert.equal(await c.build(false), false);
  assert.deepEqual(backend.calls, []);
  assert.equal(ui.shown.length, 1);
  assert.match(ui.shown[0]!.message, /did not build the env: this folder is not trusted/);
  assert.deepEqual(ui.shown[0]!.actions, [MANAGE_TRUST]);
  assert.deepEqual(ui.commands, ['workbench.trust.manage']);
});

test('a failed build shows its first line with Show Log, and the log has the fix-it', async () => {
  const { ui, log, backend, c } = setup();
  await c.refresh();
  backend.buildError = new CrossrootError('EPULL', 'manifest unknown: debian:nope\nmore detail', { fix: 'check the tag' });
  ui.answer = SHOW_LOG;
  assert.equal(await c.build(false), false);
  const err = ui.shown.find((s) => s.kind === 'error')!;
  assert.equal(err.message, 'Crossroot: the build of arm64 · firmware failed: manifest unknown: debian:nope');
  assert.deepEqual(err.actions, [SHOW_LOG]);
  assert.equal(log.shownCount, 1);
  assert.ok(log.lines.some((l) => l.startsWith('error ') && l.includes('fix: check the tag')));
  assert.equal(c.status?.state, 'not built');
});

test('a failed build is over at once, while its error is still on screen', async () => {
  const { ui, backend, c } = setup();
  await c.refresh();
  backend.buildError = new Error('step 2 failed');
  // The user has not closed the notification (VS Code's promise is still pending).
  ui.error = (m: string, ...a: string[]) => { ui.shown.push({ kind: 'error', message: m, actions: a }); return new Promise(() => {}); };
  assert.equal(await c.build(false), false);
  assert.equal(c.status?.state, 'not built');
  assert.equal(ui.shown.length, 1);
});

test('an untrusted refusal does not wait for its notification to close', async () => {
  const { ui, c } = setup(false);
  ui.warn = (m: string, ...a: string[]) => { ui.shown.push({ kind: 'warn', message: m, actions: a }); return new Promise(() => {}); };
  assert.equal(await c.build(true), false);
  assert.match(ui.shown[0]!.message, /did not rebuild the env: this folder is not trusted/);
});

test('cancelling a build shows no error', async () => {
  const { ui, c } = setup();
  await c.refresh();
  ui.cancelOnFirstReport = true;
  assert.equal(await c.build(false), false);
  assert.deepEqual(ui.shown, []);
});

test('a changed env file offers a rebuild of a built env, and Rebuild rebuilds', async () => {
  const { ui, backend, c } = setup();
  backend.state.state = 'running';
  ui.answer = REBUILD;
  await c.envFileChanged('/w/crossroot.toml');
  assert.match(ui.shown[0]!.message, /crossroot\.toml changed\. Rebuild the env/);
  assert.deepEqual(backend.calls.filter((c) => c !== 'status'), ['rebuild']);
});

test('a changed env file of an env never built offers nothing', async () => {
  const { ui, backend, c } = setup();
  await c.envFileChanged('/w/crossroot.lock');
  assert.deepEqual(ui.shown, []);
  assert.deepEqual(backend.calls, ['status']);
});

test('a status that fails (broken env file) shows the error state with the reason', async () => {
  const { c, backend } = setup();
  backend.status = async () => { throw new CrossrootError('EENVFILE', '/w/crossroot.toml has 1 error:\n/w/crossroot.toml:2:8: error E101: ...'); };
  await c.refresh();
  assert.equal(c.status?.state, 'error');
  assert.equal(c.status?.detail, '/w/crossroot.toml has 1 error:');
});

test('stop is allowed untrusted (it only ends processes)', async () => {
  const { backend, c } = setup(false);
  await c.stop();
  assert.deepEqual(backend.calls, ['stop']);
});

test('an untrusted folder shows name and arch from the file without asking the lifecycle', async () => {
  const { backend, c } = setup(false);
  await c.refresh();
  assert.deepEqual(c.status, { name: 'firmware', arch: 'arm64', state: 'not built' });
  assert.deepEqual(backend.calls, []);
});

test('while this window stops the env, its own hold of the env lock is not shown as another build', async () => {
  const { backend, c } = setup();
  backend.state = { ...backend.state, state: 'running' };
  await c.refresh();
  const states: string[] = [];
  c.onDidChange((s) => states.push(s!.state));
  backend.stop = async () => {
    // The watcher fires mid-stop (instance.json went) while the lock is still held.
    backend.state = { ...backend.state, state: 'building', busyLock: '/s/locks/env.lock' };
    await c.refresh();
    backend.state = { name: 'firmware', arch: 'arm64', state: 'ready' };
  };
  await c.stop();
  assert.deepEqual(states, ['stopping', 'ready']);
});
