// `npm test`: provisions, builds, then runs every test file under test/ with node's test runner.
// As root it runs the suite as an unprivileged user (that is what users are, and what the
// namespace code must work as) from a world-readable copy, since the clone may sit under /root.
// Ends with one line `N passed, N failed, N skipped`.
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, mkdtempSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { ensureNodeModules, ensureDebianPackages } from './provision.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const TEST_USER = process.env.CROSSROOT_TEST_USER || 'crossroot-test';
const args = process.argv.slice(2);
const inCopy = args.includes('--in-copy');
const filters = args.filter((a) => !a.startsWith('--'));

if (process.env.CI === 'true' && !process.env.CROSSROOT_MUST_WORK) process.env.CROSSROOT_MUST_WORK = '1';

function log(msg) { console.error(`test: ${msg}`); }

function findTests(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...findTests(p));
    else if (/\.test\.(ts|mjs|js)$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

// A subordinate id range that does not overlap any other user's.
function freeSubidStart(file) {
  let end = 100000;
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const [, start, count] = line.split(':');
      if (start && count) end = Math.max(end, Number(start) + Number(count));
    }
  }
  return end;
}

function ensureTestUser() {
  if (spawnSync('id', ['-u', TEST_USER]).status !== 0) {
    log(`creating unprivileged test user ${TEST_USER}`);
    execFileSync('useradd', ['--create-home', '--shell', '/bin/bash', TEST_USER], { stdio: 'inherit' });
  }
  for (const [file, flag] of [['/etc/subuid', '--add-subuids'], ['/etc/subgid', '--add-subgids']]) {
    const has = existsSync(file) && readFileSync(file, 'utf8').split('\n').some((l) => l.startsWith(`${TEST_USER}:`));
    if (!has) {
      const start = freeSubidStart(file);
      execFileSync('usermod', [flag, `${start}-${start + 65535}`, TEST_USER], { stdio: 'inherit' });
    }
  }
}

// Source and build outputs are copied and handed to the test user; node_modules is hard-linked
// (read-only for that user, and fast even when it holds code-server).
function makeCopy() {
  // One copy per run, so concurrent runs (two terminals, parallel sessions) never share one.
  const dest = mkdtempSync(path.join(os.tmpdir(), `crossroot-test-${TEST_USER}-`));
  execFileSync('chmod', ['755', dest]);
  const entries = readdirSync(root).filter((n) => n !== 'node_modules' && n !== '.git');
  execFileSync('cp', ['-a', ...entries.map((n) => path.join(root, n)), dest]);
  execFileSync('chown', ['-R', `${TEST_USER}:`, dest]);
  const nm = path.join(root, 'node_modules');
  const r = spawnSync('cp', ['-al', nm, dest]);
  if (r.status !== 0) execFileSync('cp', ['-a', nm, dest]);
  execFileSync('chmod', ['-R', 'a+rX', path.join(dest, 'node_modules')]);
  return dest;
}

function runAsTestUser() {
  ensureTestUser();
  const copy = makeCopy();
  const home = execFileSync('getent', ['passwd', TEST_USER], { encoding: 'utf8' }).split(':')[5];
  const keep = ['CI', 'CROSSROOT_MUST_WORK', 'CROSSROOT_TEST_SLOW', 'TERM', 'LANG'];
  // Screenshots of the E2E tests outlive the copy: they go to .artifacts/ of this checkout.
  const artifacts = process.env.CROSSROOT_ARTIFACTS ?? path.join(root, '.artifacts');
  mkdirSync(artifacts, { recursive: true });
  execFileSync('chown', ['-R', `${TEST_USER}:`, artifacts]);
  const env = ['HOME=' + home, 'USER=' + TEST_USER, 'LOGNAME=' + TEST_USER, 'CROSSROOT_ARTIFACTS=' + artifacts,
    'PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
    ...keep.filter((k) => process.env[k] !== undefined).map((k) => `${k}=${process.env[k]}`)];
  log(`running as ${TEST_USER} in ${copy}`);
  const r = spawnSync('runuser', ['-u', TEST_USER, '--', 'env', '-i', ...env,
    process.execPath, 'scripts/test.mjs', '--in-copy', ...filters], { cwd: copy, stdio: 'inherit' });
  // Sandboxes may leave subuid-owned files in the copy; the tests clean their own temp dirs.
  rmSync(copy, { recursive: true, force: true });
  return r.status ?? 1;
}

function runTests() {
  let files = findTests(path.join(root, 'test'));
  if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
  if (files.length === 0) { console.log('0 passed, 1 failed\n(no test files matched)'); return 1; }
  const tapDir = mkdtempSync(path.join(os.tmpdir(), 'crossroot-tap-'));
  const tap = path.join(tapDir, 'result.tap');
  const r = spawnSync(process.execPath, [
    '--import', 'tsx', '--test', '--test-concurrency=2',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tap}`,
    ...files.map((f) => path.relative(root, f)),
  ], { cwd: root, stdio: 'inherit', env: { ...process.env, CROSSROOT_ROOT: root } });
  const text = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
  rmSync(tapDir, { recursive: true, force: true });
  const count = (k) => Number((text.match(new RegExp(`^# ${k} (\\d+)$`, 'm')) ?? [])[1] ?? 0);
  const passed = count('pass'), failed = count('fail') + count('cancelled'), skipped = count('skipped') + count('todo');
  const broken = r.status !== 0 && failed === 0 ? 1 : 0; // runner died without reporting a failure
  console.log(`${passed} passed, ${failed + broken} failed, ${skipped} skipped`);
  return failed + broken > 0 ? 1 : 0;
}

if (!inCopy) {
  ensureNodeModules();
  ensureDebianPackages(['build', 'run', 'fixtures']);
  // Imported only now: build.mjs needs esbuild, which a fresh clone gets from ensureNodeModules().
  const { buildAll } = await import('./build.mjs');
  await buildAll({ quiet: true });
}
const asRoot = process.getuid?.() === 0 && !inCopy && process.env.CROSSROOT_TEST_AS_ROOT !== '1';
process.exit(asRoot ? runAsTestUser() : runTests());
