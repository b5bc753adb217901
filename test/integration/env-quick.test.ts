// The warm path (src/cli/quick.ts over core/env/plan.ts): a cached `exec`, `shell` and `build`
// answered by dist/cli.cjs alone, and the full path (dist/core.cjs) the moment anything the env
// was read from changes. The tests run the warm bundle from a copy that has no core.cjs next to
// it: whatever only the full path can do then fails loudly ("Cannot find module …core.cjs"),
// so each case shows which path answered, as a user would see it.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, HELPER, ROOT, need, tempDir } from '../lib/harness';
import { busyboxRootfs, mmdebstrapAvailable } from '../fixtures/rootfs';
import { crossroot, storeDir, type CliResult } from './image-trees';

/** A package folder with the warm bundle only (and the package.json that names the package root). */
function warmOnly(t: TestContext): string {
  const pkg = tempDir(t, 'crossroot-warm-');
  mkdirSync(path.join(pkg, 'dist'));
  copyFileSync(CLI, path.join(pkg, 'dist/cli.cjs'));
  copyFileSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
  return path.join(pkg, 'dist/cli.cjs');
}

function run(cli: string, args: string[], env: NodeJS.ProcessEnv, cwd: string, input?: string): CliResult {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', env: { ...process.env, ...env }, ...(input !== undefined ? { input } : {}) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const FULL_PATH = /Cannot find module '.*core\.cjs'/;

test('a warm exec, shell and build need only dist/cli.cjs; any change to what the env was read from takes the full path', { timeout: 600_000 }, async (t) => {
  if (!need(t, existsSync(HELPER) && existsSync(CLI), 'the helper and the CLI are not built (npm run build)')
    || !need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap)')) return;
  const tree = await busyboxRootfs('amd64');
  let stop = () => {};
  t.after(() => stop());
  const dir = tempDir(t, 'crossroot-project-');
  const store = storeDir(t);
  const file = path.join(dir, 'crossroot.toml');
  const toml = (extra: string) => `name = "quick"\narch = "amd64"\n[source]\nkind = "dir"\npath = ${JSON.stringify(tree)}\n[workspace]\npath = "/src/q"\n[env]\nFROM_FILE = "\${localEnv:QUICK_VAR}"\n${extra}`;
  writeFileSync(file, toml(''));
  mkdirSync(path.join(dir, 'sub'));
  // The same helper for both bundles: the plan names the helper it was made with.
  const env = { CROSSROOT_STORE: store, CROSSROOT_HELPER: HELPER, QUICK_VAR: 'one', TERM: 'xterm-quick' };
  stop = () => {
    const s = crossroot(['stop'], env, dir);
    assert.equal(s.code, 0, s.stderr);
  };
  const warm = warmOnly(t);

  // Cold: the warm bundle cannot build or start anything.
  let r = run(warm, ['exec', 'true'], env, dir);
  assert.match(r.stderr, FULL_PATH);
  r = crossroot(['exec', '--idle-timeout', '10m', 'true'], env, dir);
  assert.equal(r.code, 0, r.stderr);

  // Warm: exit codes, stdin and stdout, the variables, the cwd mapped from a subfolder, --cwd, --env.
  r = run(warm, ['exec', 'sh', '-c', 'echo "$FROM_FILE $TERM $EXTRA $(pwd) $(cat)"; exit 7', '--'], env, path.join(dir, 'sub'), 'stdin-line');
  assert.equal(r.code, 7, r.stderr);
  assert.equal(r.stdout, 'one xterm-quick  /src/q/sub stdin-line\n');
  r = run(warm, ['exec', '--cwd', '/tmp', '--env', 'EXTRA=x', '--', 'sh', '-c', 'echo "$EXTRA $(pwd)"'], env, dir);
  assert.deepEqual([r.code, r.stdout], [0, 'x /tmp\n'], r.stderr);
  r = run(warm, ['build'], env, dir);
  assert.deepEqual([r.code, r.stderr], [0, 'crossroot: env quick (amd64) is ready: 0 steps, 0 run, 0 cached\n']);
  // A shell under no terminal reads its commands from stdin.
  r = run(warm, ['shell'], env, path.join(dir, 'sub'), 'echo "shell in $(pwd)"\n');
  assert.deepEqual([r.code, r.stdout], [0, 'shell in /src/q/sub\n'], r.stderr);
  // What only the full path does (other commands, --verbose, --rebuild) is not attempted.
  for (const args of [['status'], ['build', '--rebuild'], ['exec', '--verbose', 'true'], ['build', '--json']]) {
    assert.match(run(warm, args, env, dir).stderr, FULL_PATH, args.join(' '));
  }

  // A variable the env file reads changed: the full path, with the new value; then warm again.
  const env2 = { ...env, QUICK_VAR: 'two' };
  assert.match(run(warm, ['exec', 'true'], env2, dir).stderr, FULL_PATH);
  r = crossroot(['exec', 'sh', '-c', 'echo $FROM_FILE'], env2, dir);
  assert.deepEqual([r.code, r.stdout], [0, 'two\n'], r.stderr);
  r = run(warm, ['exec', 'sh', '-c', 'echo $FROM_FILE'], env2, dir);
  assert.deepEqual([r.code, r.stdout], [0, 'two\n'], r.stderr);

  // The env file changed (same size, written right away: the content decides, not the stat).
  writeFileSync(file, toml('').replace('"/src/q"', '"/src/Q"'));
  assert.match(run(warm, ['exec', 'pwd'], env2, dir).stderr, FULL_PATH);
  r = crossroot(['exec', 'pwd'], env2, dir);
  assert.deepEqual([r.code, r.stdout], [0, '/src/Q\n'], r.stderr);
  // A crossroot.lock appearing is a change too.
  writeFileSync(path.join(dir, 'crossroot.lock'), '# nothing pinned: a dir source has no digests\n');
  assert.match(run(warm, ['exec', 'true'], env2, dir).stderr, FULL_PATH);
  r = crossroot(['exec', 'true'], env2, dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(run(warm, ['exec', 'true'], env2, dir).code, 0);

  // A stopped env: nothing to join; the full path starts it again.
  r = crossroot(['stop'], env2, dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(run(warm, ['exec', 'true'], env2, dir).stderr, FULL_PATH);
  // ...but a build of the unchanged env is still answered.
  r = run(warm, ['build'], env2, dir);
  assert.equal(r.code, 0, r.stderr);
  r = crossroot(['exec', 'echo', 'again'], env2, dir);
  assert.deepEqual([r.code, r.stdout], [0, 'again\n'], r.stderr);
  assert.deepEqual(run(warm, ['exec', 'echo', 'warm'], env2, dir).stdout, 'warm\n');

  // A store others can enter is never trusted by the warm path.
  spawnSync('chmod', ['0750', store]);
  assert.match(run(warm, ['exec', 'true'], env2, dir).stderr, FULL_PATH);
  spawnSync('chmod', ['0700', store]);
  assert.equal(run(warm, ['exec', 'true'], env2, dir).code, 0);
});
