import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, HELPER, need, tempDir, waitForExit } from '../lib/harness';
import { busyboxRootfs, mmdebstrapAvailable, qemuAvailable } from '../fixtures/rootfs';
import { crossroot, crossrootAsync, fullIdMap, pullReady, storeDir, type CliResult } from './image-trees';
import { multiArchImage } from '../fixtures/images';
import { pushImage, startRegistry } from '../fixtures/registry';

// The env lifecycle end to end through the CLI, as a user drives it: crossroot.toml → build →
// exec/shell joining one instance → stop. Busybox trees keep these fast; the Debian arm64 env
// with real packages is in env-debian.test.ts.

function ready(t: TestContext): boolean {
  return need(t, existsSync(HELPER), 'the helper is not built (make -C native)')
    && need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap)');
}

interface Project { dir: string; store: string; file: string; cli(args: string[], o?: { cwd?: string; input?: string }): Promise<CliResult> }

/** A project folder with a crossroot.toml over a busybox tree, and a private store. */
async function project(t: TestContext, toml: string, arch: 'amd64' | 'arm64' = 'amd64'): Promise<Project> {
  const tree = await busyboxRootfs(arch);
  // after-hooks run in the order they are registered: stopping the env must come before its
  // project and store are removed, or its instance would outlive the test.
  const store = envStore(t);
  const dir = tempDir(t, 'crossroot-project-');
  const file = path.join(dir, 'crossroot.toml');
  writeFileSync(file, `name = "demo"\narch = "${arch}"\n[source]\nkind = "dir"\npath = ${JSON.stringify(tree)}\n${toml}`);
  const env = { CROSSROOT_STORE: store };
  const p: Project = {
    dir, store, file,
    cli: (args, o = {}) => run([...args], env, o.cwd ?? dir, o.input),
  };
  return p;
}

/** A private store whose running envs are all stopped when the test ends, before the store goes. */
function envStore(t: TestContext): string {
  let store: string | undefined;
  t.after(() => { if (store) crossroot(['stop', '--all'], { CROSSROOT_STORE: store }, '/'); });
  store = storeDir(t);
  return store;
}

const run = (args: string[], env: NodeJS.ProcessEnv, cwd: string, input?: string): Promise<CliResult> => crossrootAsync(args, env, cwd, input);

function jsonLines(stdout: string): Array<Record<string, unknown>> {
  return stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The steps a `build --json` ran (not cached), by index. */
function ranSteps(stdout: string): number[] {
  return jsonLines(stdout).filter((e) => e.event === 'step' && e.cached === false).map((e) => e.index as number);
}

/** Host pids whose pid namespace is the given one; zombies (dead, waiting for the host's init to reap them) are not processes any more. */
function pidsInNamespace(ns: string): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      return readlinkSync(`/proc/${p}/ns/pid`) === ns && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch { return false; }
  }).map(Number);
}

test('build runs each setup step once as a cached layer; editing step k reruns k and later only; --rebuild reruns all', async (t) => {
  if (!ready(t)) return;
  const p = await project(t, '[setup]\nrun = ["echo one > /etc/one", "echo two > /etc/two", "cat /etc/one /etc/two > /etc/both"]\n');
  let r = await p.cli(['build', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(ranSteps(r.stdout), [1, 2, 3]);
  assert.deepEqual(jsonLines(r.stdout).at(-1)?.ran, 3);
  r = await p.cli(['exec', 'cat', '/etc/both']);
  assert.deepEqual([r.code, r.stdout], [0, 'one\ntwo\n'], r.stderr);

  r = await p.cli(['build', '--json']);
  assert.deepEqual(ranSteps(r.stdout), [], 'an unchanged env file runs nothing');

  writeFileSync(p.file, readFileSync(p.file, 'utf8').replace('echo two', 'echo TWO'));
  r = await p.cli(['build', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(ranSteps(r.stdout), [2, 3], 'step 1 is reused');
  r = await p.cli(['exec', 'cat', '/etc/both']);
  assert.equal(r.stdout, 'one\nTWO\n', r.stderr);

  r = await p.cli(['build', '--rebuild', '--json']);
  assert.deepEqual(ranSteps(r.stdout), [1, 2, 3]);
  r = await p.cli(['build', '--json']);
  assert.deepEqual(ranSteps(r.stdout), [], 'after a rebuild, the new layers are the cache');
});

test('a failing step stops the build with its exit code and last lines, and the previous build stays usable', async (t) => {
  if (!ready(t)) return;
  const p = await project(t, '[setup]\nrun = ["echo good > /etc/state"]\n');
  assert.equal((await p.cli(['build'])).code, 0);
  writeFileSync(p.file, readFileSync(p.file, 'utf8').replace('run = [', 'run = ["echo about to fail; exit 7", '));
  const r = await p.cli(['build']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /step 1 \(\[setup\] run: echo about to fail; exit 7\) failed with exit code 7/);
  assert.match(r.stderr, /│ about to fail/, 'the step\'s output streamed');
  assert.match(r.stderr, /\n {2}about to fail\n/, 'and its last lines are in the error');
  const layers = readdirSync(path.join(p.store, 'layers'));
  assert.equal(layers.length, 1, 'no layer for the failed step');
  // The old build still runs (exec builds first, fails the same way; status still names the old build).
  const s = JSON.parse((await p.cli(['status', '--json'])).stdout) as { state: string; layers: unknown[] };
  assert.deepEqual([s.state, s.layers.length], ['outdated', 1]);
});

test('kill -9 during a step leaves no layer, and the next build runs the step again', async (t) => {
  if (!ready(t)) return;
  const p = await project(t, '[setup]\nrun = ["echo started; sleep 600"]\n');
  const child = spawn(process.execPath, [CLI, 'build', '--json'], { cwd: p.dir, env: { ...process.env, CROSSROOT_STORE: p.store }, stdio: ['ignore', 'pipe', 'ignore'], detached: true });
  // Wait for the step's own output: then it is running inside its sandbox.
  await new Promise<void>((resolve) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; if (out.includes('"line":"started"')) resolve(); });
  });
  const closed = new Promise((resolve) => child.on('close', resolve));
  process.kill(-child.pid!, 'SIGKILL'); // crossroot, the helper and the sandbox: the whole group
  await closed;
  assert.deepEqual(readdirSync(path.join(p.store, 'layers')), []);
  writeFileSync(p.file, readFileSync(p.file, 'utf8').replace('echo started; sleep 600', 'echo finished'));
  const r = await p.cli(['build', '--json']);
  assert.deepEqual(ranSteps(r.stdout), [1], r.stderr);
  assert.equal(readdirSync(path.join(p.store, 'layers')).length, 1);
});

test('exec passes exit codes, signals, stdin and pipes through, and maps the cwd into the workspace', async (t) => {
  if (!ready(t)) return;
  const p = await project(t, '[env]\nGREETING = "hi ${localEnv:USER}"\n');
  mkdirSync(path.join(p.dir, 'src', 'deep'), { recursive: true });
  assert.equal((await p.cli(['exec', 'sh', '-c', 'exit 7'])).code, 7);
  assert.equal((await p.cli(['exec', '--', 'sh', '-c', 'kill -TERM $$'])).code, 143);
  let r = await p.cli(['exec', 'cat'], { input: 'through a pipe\n' });
  assert.deepEqual([r.code, r.stdout], [0, 'through a pipe\n']);
  r = await p.cli(['exec', 'pwd'], { cwd: path.join(p.dir, 'src', 'deep') });
  assert.equal(r.stdout, '/workspace/src/deep\n');
  r = await p.cli(['exec', 'sh', '-c', 'echo "$GREETING"; echo x > made-inside']);
  assert.equal(r.stdout, `hi ${process.env.USER}\n`);
  assert.equal(readFileSync(path.join(p.dir, 'made-inside'), 'utf8'), 'x\n', 'the workspace is the host folder');
  r = await p.cli(['exec', 'no-such-command']);
  assert.equal(r.code, 127, r.stderr);
});

test('every exec joins one running instance; stop ends every process of it; kill -9 of its PID 1 is recovered from', async (t) => {
  if (!ready(t)) return;
  const p = await project(t, '');
  writeFileSync(p.file + '.orig', readFileSync(p.file, 'utf8'));
  const bg = spawn(process.execPath, [CLI, 'exec', 'sh', '-c', 'echo up; exec sleep 600'], { cwd: p.dir, env: { ...process.env, CROSSROOT_STORE: p.store }, stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise<void>((resolve) => bg.stdout.on('data', () => resolve()));
  const r = await p.cli(['exec', 'sh', '-c', 'cat /proc/[0-9]*/comm']);
  assert.match(r.stdout, /^sleep$/m, 'the second exec sees the first one\'s process');
  const s = JSON.parse((await p.cli(['status', '--json'])).stdout) as { state: string; instance: { pid: number; processes: number } };
  assert.equal(s.state, 'running');
  const ns = readlinkSync(`/proc/${s.instance.pid}/ns/pid_for_children`);
  assert.ok(pidsInNamespace(ns).length >= 1);

  const bgClosed = new Promise((resolve) => bg.on('close', resolve));
  assert.equal((await p.cli(['stop'])).code, 0);
  await bgClosed;
  assert.deepEqual(pidsInNamespace(ns), [], 'no process of the env is left');

  // status --all lists it; stop --all stops it whatever the env file says now.
  assert.equal((await p.cli(['exec', 'true'])).code, 0);
  assert.match((await p.cli(['status', '--all'])).stdout, /^demo\s+amd64\s+running \(pid \d+\)/m);
  writeFileSync(p.file, 'broken = [');
  assert.match((await p.cli(['stop', '--all'])).stderr, /stopped demo/);
  assert.match((await p.cli(['status', '--all'])).stdout, /^demo\s+amd64\s+stopped/m);
  writeFileSync(p.file, readFileSync(p.file + '.orig', 'utf8'));

  // A killed PID 1 leaves stale state; the next exec notices and starts afresh.
  assert.equal((await p.cli(['exec', 'true'])).code, 0);
  const again = JSON.parse((await p.cli(['status', '--json'])).stdout) as { instance: { pid: number } };
  process.kill(again.instance.pid, 'SIGKILL');
  const after = await p.cli(['exec', 'echo', 'recovered']);
  assert.deepEqual([after.code, after.stdout], [0, 'recovered\n'], after.stderr);
});

test('an instance with nothing running in it stops after its idle timeout', { timeout: 5 * 60_000 }, async (t) => {
  if (!ready(t)) return;
  const p = await project(t, '');
  // A client that lives until we close its stdin holds the instance up while we look at it.
  const client = spawn(process.execPath, [CLI, 'exec', '--idle-timeout', '1s', 'sh', '-c', 'echo up; cat'], { cwd: p.dir, env: { ...process.env, CROSSROOT_STORE: p.store }, stdio: ['pipe', 'pipe', 'ignore'] });
  await new Promise<void>((resolve) => client.stdout.once('data', () => resolve()));
  const s = JSON.parse((await p.cli(['status', '--json'])).stdout) as { state: string; instance: { pid: number } };
  assert.equal(s.state, 'running');
  const closed = new Promise((resolve) => client.on('close', resolve));
  client.stdin.end();
  await closed;
  // Observable fact: PID 1 exits on its own (the test's timeout bounds a broken idle exit).
  await waitForExit(s.instance.pid);
  assert.equal((JSON.parse((await p.cli(['status', '--json'])).stdout) as { state: string }).state, 'ready');
});

test('8 parallel execs on a cold env: one build, one instance, 8 right answers', async (t) => {
  if (!ready(t)) return;
  const p = await project(t, '[setup]\nrun = ["echo built >> /etc/builds"]\n');
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => p.cli(['exec', 'sh', '-c', `cat /etc/builds; readlink /proc/self/ns/pid; echo ${i}`])));
  const namespaces = new Set<string>();
  for (const [i, r] of results.entries()) {
    assert.equal(r.code, 0, r.stderr);
    const [builds, ns, n] = r.stdout.trim().split('\n');
    assert.deepEqual([builds, n], ['built', String(i)]);
    namespaces.add(ns!);
  }
  assert.equal(namespaces.size, 1, 'one instance');
  assert.equal(readdirSync(path.join(p.store, 'layers')).length, 1, 'one layer');
  assert.equal(results.filter((r) => /step 1 done/.test(r.stderr)).length, 1, 'the step ran once');
});

test('a broken env file is exit code 125 with each error and its position; no file found says how to name one', async (t) => {
  if (!ready(t)) return;
  const p = await project(t, '[network]\nmode = "everywhere"\n');
  const r = await p.cli(['exec', 'true']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /crossroot\.toml:\d+:\d+: error/);
  const empty = tempDir(t);
  const none = await run(['exec', 'true'], { CROSSROOT_STORE: p.store }, empty);
  assert.equal(none.code, 125);
  assert.match(none.stderr, /no env file in .* or any folder above it[\s\S]*fix: .*--file/);
});

test('a foreign-arch env without qemu fails with the fix-it naming qemu-user-static', async (t) => {
  if (!ready(t) || !need(t, qemuAvailable('arm64'), 'no qemu for arm64')) return;
  const p = await project(t, '', 'arm64');
  const r = await run(['exec', 'uname', '-m'], { CROSSROOT_STORE: p.store, CROSSROOT_QEMU_DIRS: '/nonexistent' }, p.dir);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /qemu-aarch64-static[\s\S]*fix: .*qemu-user-static/);
  const ok = await p.cli(['exec', 'uname', '-m']);
  assert.deepEqual([ok.code, ok.stdout], [0, 'aarch64\n'], ok.stderr);
});

test('devcontainer.json lifecycle commands run at their moments, each exactly once', async (t) => {
  if (!ready(t)) return;
  if (!pullReady(t)) return;
  // A registry image, as devcontainer.json files name them: the busybox index pushed to a local registry.
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const image = pushImage(reg, `oci:${(await multiArchImage()).layout}:multi`, 'bb:multi', { all: true });
  const store = envStore(t);
  const dir = tempDir(t, 'crossroot-project-');
  mkdirSync(path.join(dir, '.devcontainer'));
  const log = (what: string) => `echo ${what} >> /workspace/log`;
  writeFileSync(path.join(dir, '.devcontainer', 'devcontainer.json'), JSON.stringify({
    name: 'dc', image, workspaceFolder: '/workspace',
    initializeCommand: 'echo initialize >> log',
    onCreateCommand: log('onCreate'), postCreateCommand: log('postCreate'),
    postStartCommand: log('postStart'), postAttachCommand: log('postAttach'),
  }));
  const env = { CROSSROOT_STORE: store };
  const lines = () => readFileSync(path.join(dir, 'log'), 'utf8').trim().split('\n');
  let r = await run(['build'], env, dir);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(), ['initialize', 'onCreate', 'postCreate']);
  r = await run(['exec', 'true'], env, dir);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines().slice(3), ['postStart'], 'postStart once per start; exec is not an attach');
  r = await run(['exec', 'true'], env, dir);
  assert.deepEqual(lines().slice(3), ['postStart'], 'a second exec joins: nothing runs');
  r = await run(['shell'], env, dir, 'exit 0\n');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines().slice(3), ['postStart', 'postAttach']);
  await run(['stop'], env, dir);
  r = await run(['exec', 'true'], env, dir);
  assert.deepEqual(lines().slice(3), ['postStart', 'postAttach', 'postStart'], 'a new start runs postStart again, not the create steps');
});

test('[shell] user runs commands as that user, with HOME, USER and SHELL from the env\'s own /etc/passwd', async (t) => {
  if (!ready(t)) return;
  const p = await project(t, '[shell]\nuser = "nobody"\n[env]\nEDITOR = "vi"\n');
  // From / : the workspace (a 0700 temp dir of the host user, root inside) is not nobody's to enter.
  const r = await p.cli(['exec', '--cwd', '/', 'sh', '-c', 'echo "$(id -u) $HOME $USER $SHELL $EDITOR"']);
  assert.equal(r.code, 0, r.stderr);
  if (fullIdMap()) assert.equal(r.stdout, '65534 /nonexistent nobody /bin/false vi\n');
  else {
    // A single-id map has only root: the env says so and runs as root.
    assert.equal(r.stdout, '0 /root root /bin/sh vi\n');
    assert.match(r.stderr, /single-id map .* running as root instead of nobody/);
  }
});

test('envs with the same first steps share those layers; a --rebuild gives an env layers of its own', async (t) => {
  if (!ready(t)) return;
  const a = await project(t, '[setup]\nrun = ["echo shared > /etc/shared", "echo a > /etc/mine"]\n');
  const b = { ...a, file: path.join(tempDir(t, 'crossroot-project-'), 'crossroot.toml') };
  writeFileSync(b.file, readFileSync(a.file, 'utf8').replace('echo a > /etc/mine', 'echo b > /etc/mine'));
  // --file right after the command name: for exec, what follows the first plain word is the command.
  const cli = (file: string, args: string[]) => run([args[0]!, '--file', file, ...args.slice(1)], { CROSSROOT_STORE: a.store }, path.dirname(file));
  // project() stops every env of the store (both of these) when the test ends.
  assert.deepEqual(ranSteps((await cli(a.file, ['build', '--json'])).stdout), [1, 2]);
  assert.deepEqual(ranSteps((await cli(b.file, ['build', '--json'])).stdout), [2], 'step 1 is the first env\'s layer');
  assert.deepEqual(ranSteps((await cli(b.file, ['build', '--rebuild', '--json'])).stdout), [1, 2]);
  assert.deepEqual(ranSteps((await cli(a.file, ['build', '--json'])).stdout), [], 'the first env keeps its layers');
  assert.equal((await cli(a.file, ['exec', 'cat', '/etc/shared', '/etc/mine'])).stdout, 'shared\na\n');
});
