// The status bar follows the env's state whoever changes it: the files another process (a
// task's `crossroot exec`, the CLI) leaves in the env's state dirs are watched, and each change
// reads the status again. Real directories and fs.watch here; the controller is the one the
// extension uses, on the plain-object wrappers of fake-ui.ts.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { EnvBackend, EnvStatus } from '../../../src/extension/backend';
import { EnvController } from '../../../src/extension/controller';
import { fsWatchDir, nearestExisting, StateFollower, type WatchDir } from '../../../src/extension/follow';
import { tempDir } from '../../lib/harness';
import { MemoryWorkspace, RecordingLog, RecordingUi } from './fake-ui';

/** A backend that reads the state the way Env.state() does: env.json built, state/instance.json running. */
function diskBackend(envDir: string, extra: Partial<EnvStatus> = {}): EnvBackend & { reads: number } {
  const b = {
    reads: 0,
    describe: () => ({ name: 'demo', arch: 'arm64' as const }),
    status: async (): Promise<EnvStatus> => {
      b.reads++;
      const built = existsSync(path.join(envDir, 'env.json'));
      const running = existsSync(path.join(envDir, 'state', 'instance.json'));
      return { name: 'demo', arch: 'arm64', state: !built ? 'not built' : running ? 'running' : 'ready', dirs: [envDir, path.join(envDir, 'state')], ...extra };
    },
    build: async () => {},
    stop: async () => {},
  };
  return b;
}

/** Resolves once the controller shows `state` (now or on a later change): what the status bar shows. */
function shows(c: EnvController, state: EnvStatus['state']): Promise<void> {
  return new Promise((resolve) => {
    if (c.status?.state === state) return resolve();
    c.onDidChange((s) => { if (s?.state === state) resolve(); });
  });
}

/** What another process does to the store: the same renames and unlinks as Env and the helper. */
function writeAtomically(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

test('the status follows a build, a start and a stop made by another process, from a store that did not exist yet', async (t) => {
  // Nothing exists below `root` yet: the env was never built and the store never made.
  // The watches do not hold the event loop open (as in the extension host, which lives on anyway).
  const alive = setInterval(() => {}, 1 << 30);
  t.after(() => clearInterval(alive));
  const root = tempDir(t);
  const envDir = path.join(root, 'store', 'envs', 'demo-0123456789ab');
  const c = new EnvController(new RecordingUi(), new RecordingLog(), new MemoryWorkspace(), diskBackend(envDir), '/w/crossroot.toml', fsWatchDir);
  t.after(() => c.dispose());
  await c.refresh();
  assert.equal(c.status?.state, 'not built');

  // `crossroot build` elsewhere: the store, the env dir, then env.json renamed into it.
  mkdirSync(path.join(envDir, 'state'), { recursive: true, mode: 0o700 });
  writeAtomically(path.join(envDir, 'env.json'), '{}\n');
  await shows(c, 'ready');
  // An exec starts the instance: the helper writes state/instance.json.
  writeAtomically(path.join(envDir, 'state', 'instance.json'), '{"pid":1}\n');
  await shows(c, 'running');
  // `crossroot stop`: the helper removes it.
  unlinkSync(path.join(envDir, 'state', 'instance.json'));
  await shows(c, 'ready');
  // gc removes the whole env; a build makes it again: the watch follows the new directories.
  rmSync(envDir, { recursive: true });
  await shows(c, 'not built');
  mkdirSync(path.join(envDir, 'state'), { recursive: true });
  writeAtomically(path.join(envDir, 'env.json'), '{}\n');
  await shows(c, 'ready');
  writeAtomically(path.join(envDir, 'state', 'instance.json'), '{"pid":1}\n');
  await shows(c, 'running');
});

/** A WatchDir that records what is watched and lets the test fire a directory's events. */
class FakeWatches {
  open = new Map<string, (entry?: string) => void>();
  closed: string[] = [];
  watch: WatchDir = (dir, onChange) => {
    this.open.set(dir, onChange);
    return { close: () => { this.open.delete(dir); this.closed.push(dir); } };
  };
  fire(dir: string, entry?: string): void {
    const f = this.open.get(dir);
    assert.ok(f, `${dir} is watched (watched: ${[...this.open.keys()].join(', ')})`);
    f(entry);
  }
}

test('a burst of changes reads the status at most twice, and never two reads at once', async () => {
  const watches = new FakeWatches();
  let inFlight = 0, most = 0, reads = 0;
  let release: (() => void) | undefined;
  const backend: EnvBackend = {
    describe: () => ({ name: 'demo', arch: 'arm64' }),
    status: async () => {
      reads++;
      inFlight++;
      most = Math.max(most, inFlight);
      // The first read waits until the test has fired the burst.
      if (reads === 1) await new Promise<void>((r) => { release = r; });
      inFlight--;
      return { name: 'demo', arch: 'arm64', state: reads === 1 ? 'ready' : 'running', dirs: ['/s/envs/demo'] };
    },
    build: async () => {},
    stop: async () => {},
  };
  const c = new EnvController(new RecordingUi(), new RecordingLog(), new MemoryWorkspace(), backend, '/w/crossroot.toml', watches.watch);
  const first = c.refresh();
  const burst = [c.refresh(), c.refresh(), c.refresh()];
  release!();
  await Promise.all([first, ...burst]);
  assert.equal(reads, 2);
  assert.equal(most, 1);
  // The newer read is what shows.
  assert.equal(c.status?.state, 'running');
  c.dispose();
});

test('the watch moves with the env (another name or store is another dir) and ends untrusted or disposed', async () => {
  const watches = new FakeWatches();
  const ws = new MemoryWorkspace();
  let dirs = ['/nonexistent-crossroot-a/envs/x', '/nonexistent-crossroot-a/envs/x/state'];
  const backend: EnvBackend = {
    describe: () => ({ name: 'demo', arch: 'arm64' }),
    status: async () => ({ name: 'demo', arch: 'arm64', state: 'not built', dirs }),
    build: async () => {},
    stop: async () => {},
  };
  const c = new EnvController(new RecordingUi(), new RecordingLog(), ws, backend, '/w/crossroot.toml', watches.watch);
  await c.refresh();
  // Neither exists: their nearest existing ancestor (/) is watched until they appear.
  assert.deepEqual([...watches.open.keys()], ['/']);
  dirs = ['/tmp/crossroot-follow-none/envs/y'];
  await c.refresh();
  assert.deepEqual([...watches.open.keys()], [nearestExisting('/tmp/crossroot-follow-none/envs/y')]);
  ws.trusted = false;
  await c.refresh();
  assert.deepEqual([...watches.open.keys()], []);
  ws.trusted = true;
  await c.refresh();
  assert.equal(watches.open.size, 1);
  c.dispose();
  assert.deepEqual([...watches.open.keys()], []);
});

test('an event in an ancestor that brings the env dir no closer reads nothing', (t) => {
  const root = tempDir(t);
  const watches = new FakeWatches();
  let changes = 0;
  const f = new StateFollower([path.join(root, 'store', 'envs', 'e')], () => { changes++; }, watches.watch);
  t.after(() => f.dispose());
  // Something else in the ancestor (another program's file in ~/.cache): no status read.
  writeFileSync(path.join(root, 'other'), 'x');
  watches.fire(root);
  assert.equal(changes, 0);
  // The store appears: one level closer, watched there, and the status is read.
  mkdirSync(path.join(root, 'store'));
  watches.fire(root);
  assert.equal(changes, 1);
  assert.deepEqual([...watches.open.keys()], [path.join(root, 'store')]);
});

test('a running env with nothing in it is read again when its idle timeout would have ended it', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  let state: EnvStatus = { name: 'demo', arch: 'arm64', state: 'running', processes: 0, idleExit: 60 };
  let reads = 0;
  const backend: EnvBackend = {
    describe: () => ({ name: 'demo', arch: 'arm64' }),
    status: async () => { reads++; return state; },
    build: async () => {},
    stop: async () => {},
  };
  const c = new EnvController(new RecordingUi(), new RecordingLog(), new MemoryWorkspace(), backend, '/w/crossroot.toml', new FakeWatches().watch);
  t.after(() => c.dispose());
  await c.refresh();
  assert.equal(reads, 1);
  // The instance exited on its own: no file changed, so only this check notices.
  state = { name: 'demo', arch: 'arm64', state: 'ready' };
  mock.timers.tick(60_000);
  assert.equal(reads, 1);
  const ended = shows(c, 'ready');
  mock.timers.tick(1_000);
  await ended;
  assert.equal(reads, 2);
  // Not running any more: nothing else is scheduled.
  mock.timers.tick(10 * 60_000);
  assert.equal(reads, 2);
});

test('a running env with a terminal in it, or one that never idles out, schedules no read', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  for (const s of [{ processes: 2, idleExit: 60 }, { processes: 0, idleExit: 0 }]) {
    let reads = 0;
    const backend: EnvBackend = {
      describe: () => ({ name: 'demo', arch: 'arm64' }),
      status: async () => { reads++; return { name: 'demo', arch: 'arm64', state: 'running', ...s }; },
      build: async () => {},
      stop: async () => {},
    };
    const c = new EnvController(new RecordingUi(), new RecordingLog(), new MemoryWorkspace(), backend, '/w/crossroot.toml', new FakeWatches().watch);
    await c.refresh();
    mock.timers.tick(24 * 3600_000);
    assert.equal(reads, 1, JSON.stringify(s));
    c.dispose();
  }
});

test('in the store\'s shared locks dir only the env\'s own lock counts', (t) => {
  const root = tempDir(t);
  mkdirSync(path.join(root, 'locks'));
  const watches = new FakeWatches();
  let changes = 0;
  const f = new StateFollower([], () => { changes++; }, watches.watch, [path.join(root, 'locks', 'env-demo-1.lock')]);
  t.after(() => f.dispose());
  // A pull's blob lock: nothing to read.
  watches.fire(path.join(root, 'locks'), 'blob-0123.lock');
  assert.equal(changes, 0);
  // Another crossroot takes the env's lock (writes its pid in it): read.
  watches.fire(path.join(root, 'locks'), 'env-demo-1.lock');
  assert.equal(changes, 1);
});

test('another process\'s build is waited for once; its end reads the status again', async () => {
  let state: EnvStatus = { name: 'demo', arch: 'arm64', state: 'building', busyLock: '/s/locks/env-demo.lock' };
  const backend: EnvBackend = {
    describe: () => ({ name: 'demo', arch: 'arm64' }),
    status: async () => state,
    build: async () => {},
    stop: async () => {},
  };
  const waits: Array<{ file: string; free: () => void; closed: boolean }> = [];
  const c = new EnvController(new RecordingUi(), new RecordingLog(), new MemoryWorkspace(), backend, '/w/crossroot.toml', new FakeWatches().watch,
    (file, free) => { const w = { file, free, closed: false }; waits.push(w); return { close: () => { w.closed = true; } }; });
  await c.refresh();
  await c.refresh();
  assert.equal(c.status?.state, 'building');
  assert.deepEqual(waits.map((w) => w.file), ['/s/locks/env-demo.lock'], 'one waiter, however often it is read');
  // The build failed: no file changed; only the lock's release tells.
  state = { name: 'demo', arch: 'arm64', state: 'not built' };
  const over = shows(c, 'not built');
  waits[0]!.free();
  await over;
  c.dispose();
});
