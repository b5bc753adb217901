// The join plan (core/env/plan.ts) that the warm path of exec/shell/build trusts: each input's
// stamp must notice a change whatever its stat says, the replayed machine answers must notice a
// changed variable or folder, and the warm bundle must stay small.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { nodeHost } from '../../../src/core/envfile/host';
import { answersHold, mapCwd, planHolds, readPlan, recordingHost, stampFile, stampHolds, treeAnswers, writePlan, type JoinPlan } from '../../../src/core/env/plan';
import { readEnvFile } from '../../../src/core/envfile/load';
import { CLI, need, tempDir } from '../../lib/harness';

test('a stamp holds for the same bytes and fails for other bytes, even with the same size and times', (t) => {
  const dir = tempDir(t);
  const f = path.join(dir, 'crossroot.toml');
  writeFileSync(f, 'name = "a"\n');
  const written = Date.now();
  const s = stampFile(f);
  assert.equal(stampHolds(s, written), true);
  // Same size, same mtime (set back), other content: the racy window makes the content decide.
  const st = statSync(f);
  writeFileSync(f, 'name = "b"\n');
  utimesSync(f, st.atime, st.mtime);
  assert.equal(stampHolds(s, written), false);
  // Old enough that the stat alone could be trusted: a change of size still shows.
  writeFileSync(f, 'name = "a"\n');
  const old = stampFile(f);
  assert.equal(stampHolds(old, Date.now() + 10_000), true);
  writeFileSync(f, 'name = "abc"\n');
  assert.equal(stampHolds(old, Date.now() + 10_000), false);
  // Absent stays absent; a file appearing (or one becoming a folder) is a change.
  const lock = path.join(dir, 'crossroot.lock');
  const none = stampFile(lock);
  assert.equal(none.sha256, null);
  assert.equal(stampHolds(none, written), true);
  writeFileSync(lock, '');
  assert.equal(stampHolds(none, written), false);
  unlinkSync(lock);
  mkdirSync(lock);
  assert.equal(stampHolds(none, written), true, 'a folder is no lockfile, as for the reader');
  rmSync(lock, { recursive: true });
  // A chmod is a change even with the same bytes (a COPY keeps modes).
  writeFileSync(f, 'name = "a"\n');
  const m = stampFile(f);
  chmodSync(f, 0o755);
  assert.equal(stampHolds(m, Date.now() + 10_000), false);
  unlinkSync(f);
  assert.equal(stampHolds(s, written), false);
});

test('a folder tree is answered without following symlinks: a loop or a link to / is one answer', (t) => {
  const dir = tempDir(t);
  mkdirSync(path.join(dir, 'sub'));
  writeFileSync(path.join(dir, 'sub/install.sh'), 'echo hi\n');
  symlinkSync('.', path.join(dir, 'sub/loop'));
  symlinkSync('/', path.join(dir, 'root'));
  const a = treeAnswers(dir)!;
  assert.ok(a.length < 20, `${a.length} answers`);
  assert.ok(a.some((x) => x.q === 'readlink' && x.path.endsWith('/loop') && x.a === '.'));
  const arch = () => 'amd64';
  assert.equal(answersHold(a, Date.now() + 10_000, arch), true);
  chmodSync(path.join(dir, 'sub/install.sh'), 0o755);
  assert.equal(answersHold(a, Date.now() + 10_000, arch), false, 'a chmod');
  chmodSync(path.join(dir, 'sub/install.sh'), 0o644);
  const b = treeAnswers(dir)!;
  unlinkSync(path.join(dir, 'sub/install.sh'));
  symlinkSync('/etc/hostname', path.join(dir, 'sub/install.sh'));
  assert.equal(answersHold(b, Date.now() + 10_000, arch), false, 'a file replaced by a symlink');
  assert.equal(treeAnswers(dir, 3), undefined, 'past the cap: no answers, the full path decides');
});

test('a Compose file is read through the host, so the plan stamps it; variable values are kept only as hashes', (t) => {
  const dir = tempDir(t);
  mkdirSync(path.join(dir, '.devcontainer'));
  const compose = path.join(dir, '.devcontainer/compose.yml');
  writeFileSync(compose, 'services:\n  app:\n    image: debian:bookworm\n');
  const file = path.join(dir, '.devcontainer/devcontainer.json');
  writeFileSync(file, JSON.stringify({ dockerComposeFile: 'compose.yml', service: 'app', containerEnv: { T: '${localEnv:CROSSROOT_PLAN_SECRET}' } }));
  process.env.CROSSROOT_PLAN_SECRET = 'secret-value-4711';
  t.after(() => { delete process.env.CROSSROOT_PLAN_SECRET; });
  const rec = recordingHost(nodeHost, () => []);
  assert.ok(readEnvFile(readFileSync(file, 'utf8'), file, rec.host).spec, 'the devcontainer.json loads');
  assert.ok(rec.answers.some((a) => a.q === 'file' && a.stamp.path === compose && a.stamp.sha256 !== null), JSON.stringify(rec.answers));
  assert.doesNotMatch(JSON.stringify(rec.answers), /secret-value-4711/);
  assert.equal(answersHold(rec.answers, Date.now() + 10_000, () => 'amd64'), true);
  writeFileSync(compose, 'services:\n  app:\n    image: debian:trixie\n');
  assert.equal(answersHold(rec.answers, Date.now() + 10_000, () => 'amd64'), false);
});

test('the machine answers the env file reader got are asked again: a variable or a listing that changed voids the plan', (t) => {
  const dir = tempDir(t);
  const store = path.join(tempDir(t), 'store');
  const file = path.join(dir, 'crossroot.toml');
  writeFileSync(file, 'x\n');
  mkdirSync(path.join(dir, 'folder'));
  const name = `CROSSROOT_PLAN_TEST_${process.pid}`;
  process.env[name] = 'one';
  t.after(() => { delete process.env[name]; });
  const rec = recordingHost(nodeHost, () => []);
  assert.equal(rec.host.getenv(name), 'one');
  assert.equal(rec.host.pathKind(path.join(dir, 'folder')), 'dir');
  assert.deepEqual(rec.host.listDir!(dir), ['crossroot.toml', 'folder']);
  assert.equal(rec.host.getenv(`${name}_UNSET`), undefined);
  const written = Date.now();
  const plan: Omit<JoinPlan, 'version' | 'written'> = {
    file, helper: '/h', stateDir: path.join(dir, 'state'), inputs: [stampFile(file)], host: rec.answers,
    record: stampFile(file), trees: [dir], build: { name: 'n', arch: 'amd64', steps: 0, initialize: false, answers: true },
  };
  writePlan(store, plan, written);
  const read = readPlan(store, file)!;
  assert.equal(statSync(path.join(store, 'plans')).mode & 0o777, 0o700);
  const arch = () => 'amd64';
  assert.equal(planHolds(read, file, '/h', arch), true);
  assert.equal(planHolds(read, file, '/other-helper', arch), false);
  process.env[name] = 'two';
  assert.equal(planHolds(read, file, '/h', arch), false);
  process.env[name] = 'one';
  process.env[`${name}_UNSET`] = '';
  assert.equal(planHolds(read, file, '/h', arch), false, 'unset and empty differ, as for ${localEnv}');
  delete process.env[`${name}_UNSET`];
  writeFileSync(path.join(dir, 'new'), '');
  assert.equal(planHolds(read, file, '/h', arch), false);
  unlinkSync(path.join(dir, 'new'));
  assert.equal(planHolds(read, file, '/h', arch), true);
  rmSync(path.join(dir, 'folder'), { recursive: true });
  writeFileSync(path.join(dir, 'folder'), '');
  assert.equal(planHolds(read, file, '/h', arch), false);
  // Another env file's plan is another file.
  assert.equal(readPlan(store, path.join(dir, 'other.toml')), undefined);
});

test('mapCwd: the same place under the workspace path, else WorkingDir, else the workspace path', () => {
  const w = { workspaceFolder: '/home/u/p', workspacePath: '/src/p', workingDir: '/app' };
  assert.equal(mapCwd(w, '/home/u/p'), '/src/p');
  assert.equal(mapCwd(w, '/home/u/p/a/b'), '/src/p/a/b');
  assert.equal(mapCwd(w, '/home/u/other'), '/app');
  assert.equal(mapCwd({ ...w, workingDir: undefined }, '/tmp'), '/src/p');
  assert.equal(mapCwd(w, undefined), '/app');
});

test('the warm bundle (dist/cli.cjs) stays small and holds no execa', (t) => {
  if (!need(t, existsSync(CLI), 'the CLI is not built (npm run build)')) return;
  const text = readFileSync(CLI, 'utf8');
  assert.ok(text.length < 64 * 1024, `dist/cli.cjs is ${text.length} bytes; keep the warm path's imports light (see src/cli/quick.ts)`);
  assert.doesNotMatch(text, /node_modules\/(execa|cross-spawn|toml-eslint-parser|jsonc-parser|yaml)\//);
});
