// The env lifecycle as a user meets it (issue 7): a cached env's `crossroot exec true`, `crossroot
// shell` until its prompt, `crossroot build` with nothing to do, and the helper-level join, side
// by side with rootless podman (exec, run --rm, exec -it, build) and bwrap on the same image, as
// the unprivileged test user. podman is configured in private HOME/XDG dirs of this run only.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { busyboxRootfs } from '../test/fixtures/rootfs';
import { HELPER, ROOT } from '../test/lib/harness';
import { measure, median, removeTree, runBench, sh, type BenchResult, type Contender, type Row } from './lib';

const RUNS = Number(process.env.CROSSROOT_BENCH_RUNS || 20);
const CROSSROOT = path.join(ROOT, 'bin/crossroot.cjs');
const IMAGE = 'localhost/crossroot-bench/busybox:amd64';
const ENV_IMAGE = 'localhost/crossroot-bench/env:amd64';
const CONTAINER = 'crossroot-bench-env';
// The one setup step both sides build: a cached build must find it done and run nothing.
const STEP = 'echo built > /etc/built';

/**
 * Rootless podman for this run only, configured as PEERS.md says it must be on Debian 12: overlay
 * storage (no storage.conf ships, so it would silently use vfs), runc with cgroupfs (crun fails on
 * this cgroup-v1 hybrid host), no event log. Everything lives in private HOME/XDG dirs under
 * `dir`, never in the user's or the system's configuration.
 */
function podmanEnv(dir: string): { env: NodeJS.ProcessEnv; runtime: string } {
  const home = path.join(dir, 'home'), config = path.join(dir, 'config'), data = path.join(dir, 'data'), run = path.join(dir, 'run');
  for (const d of [home, path.join(config, 'containers'), data]) mkdirSync(d, { recursive: true });
  mkdirSync(run, { recursive: true, mode: 0o700 });
  const graph = path.join(data, 'containers/storage');
  writeFileSync(path.join(config, 'containers/storage.conf'),
    `[storage]\ndriver = "overlay"\ngraphroot = "${graph}"\nrunroot = "${run}/containers"\nrootless_storage_path = "${graph}"\n`);
  const runtime = ['/usr/bin/runc', '/usr/sbin/runc'].some((p) => existsSync(p)) ? 'runc' : 'crun';
  writeFileSync(path.join(config, 'containers/containers.conf'),
    `[engine]\nruntime = "${runtime}"\ncgroup_manager = "cgroupfs"\nevents_logger = "none"\n`);
  writeFileSync(path.join(config, 'containers/registries.conf'), 'unqualified-search-registries = []\n');
  return {
    runtime,
    env: {
      PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: config, XDG_DATA_HOME: data, XDG_RUNTIME_DIR: run,
      XDG_CACHE_HOME: path.join(dir, 'cache'), TERM: 'xterm', LANG: 'C.UTF-8',
    },
  };
}

/** bench/spawn-time.py: per contender, the wall time of each run, started with vfork (interleaved). */
function spawnTimed(contenders: { name: string; argv: string[]; env: NodeJS.ProcessEnv }[], runs: number): Row[] {
  const r = spawnSync('python3', [path.join(ROOT, 'bench/spawn-time.py')], {
    input: JSON.stringify({ contenders: contenders.map(({ argv, env }) => ({ argv, env })), runs, warmup: 2 }),
    encoding: 'utf8', maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`bench/spawn-time.py failed (${r.status}): ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { times: number[][] };
  return contenders.map((c, i) => ({ name: c.name, medianMs: median(out.times[i]!), runs }));
}

/** The pty harness (bench/first-byte.py): per contender, the ms until the first output byte. */
function firstByte(contenders: { name: string; argv: string[]; env: NodeJS.ProcessEnv; cwd?: string }[], runs: number): { rows: Row[]; first: string[] } {
  const r = spawnSync('python3', [path.join(ROOT, 'bench/first-byte.py')], {
    input: JSON.stringify({ contenders: contenders.map(({ argv, env, cwd }) => ({ argv, env, cwd })), runs, warmup: 2 }),
    encoding: 'utf8', maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`bench/first-byte.py failed (${r.status}): ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { times: number[][]; first: string[] };
  return { rows: contenders.map((c, i) => ({ name: c.name, medianMs: median(out.times[i]!), runs })), first: out.first };
}

function loadavg(): string {
  return os.loadavg().map((l) => l.toFixed(1)).join(' / ');
}

async function bench(): Promise<BenchResult> {
  const res: BenchResult = { rows: [], notes: [] };
  const loadBefore = loadavg();
  const tree = await busyboxRootfs('amd64');
  // tmpfs for both sides' stores (PEERS.md: the VM's disk is slow right after deletes).
  const base = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const work = mkdtempSync(path.join(base, 'crossroot-env-bench-'));
  const project = path.join(work, 'project');
  const store = path.join(work, 'store');
  mkdirSync(project);
  writeFileSync(path.join(project, 'crossroot.toml'),
    `name = "bench"\narch = "amd64"\n[source]\nkind = "dir"\npath = ${JSON.stringify(tree)}\n[setup]\nrun = [${JSON.stringify(STEP)}]\n`);
  const cenv: NodeJS.ProcessEnv = { ...process.env, CROSSROOT_STORE: store, TERM: 'xterm' };
  const cli = (args: string[]) => sh([process.execPath, CROSSROOT, ...args], { cwd: project, env: cenv });
  const { env: penv, runtime } = podmanEnv(path.join(work, 'podman'));
  const podman = (args: string[], okCodes?: number[]) => sh(['podman', ...args], { env: penv, cwd: work, ...(okCodes ? { okCodes } : {}) });
  try {
    // Crossroot: build the env (one cached step), start its instance once; every timed exec joins it.
    cli(['build']);
    if (cli(['exec', '--idle-timeout', 'never', 'cat', '/etc/built']).trim() !== 'built') throw new Error('the env lacks its setup step\'s file');
    const status = JSON.parse(cli(['status', '--json'])) as { id: string; state: string };
    if (status.state !== 'running') throw new Error(`the env is ${status.state}, not running`);
    const stateDir = path.join(store, 'envs', status.id, 'state');

    // podman: the same busybox tree as an image, the same setup step built on it, one container running.
    const tar = path.join(work, 'busybox.tar');
    sh(['tar', '-C', tree, '-cf', tar, '.']);
    podman(['import', '-q', tar, IMAGE]);
    writeFileSync(path.join(work, 'Containerfile'), `FROM ${IMAGE}\nRUN ${STEP}\n`);
    const podmanBuild = ['podman', 'build', '-q', '--network', 'none', '-t', ENV_IMAGE, '-f', path.join(work, 'Containerfile'), work];
    sh(podmanBuild, { env: penv });
    const info = podman(['info', '--format', '{{.Store.GraphDriverName}} {{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}}']).trim();
    if (info !== `overlay ${runtime} cgroupfs`) throw new Error(`podman is not configured as intended: ${info}`);
    podman(['run', '-d', '--name', CONTAINER, '--network', 'none', ENV_IMAGE, '/bin/sleep', '1000000']);
    if (podman(['exec', CONTAINER, 'cat', '/etc/built']).trim() !== 'built') throw new Error('the podman container lacks the setup step\'s file');

    console.error(`env bench: exec (${RUNS} interleaved runs of crossroot exec, podman exec, podman run --rm, node -e 0)`);
    const ours: Contender = { name: '`crossroot exec true`', argv: [process.execPath, CROSSROOT, 'exec', 'true'], env: cenv, cwd: project };
    const [o, pe, pr, nodeFloor] = measure([
      ours,
      { name: '`podman exec CTR true`', argv: ['podman', 'exec', CONTAINER, '/bin/true'], env: penv },
      { name: '`podman run --rm --network none IMG true`', argv: ['podman', 'run', '--rm', '--network', 'none', ENV_IMAGE, '/bin/true'], env: penv },
      { name: 'node -e 0', argv: [process.execPath, '-e', '0'] },
    ], RUNS);
    res.rows.push(
      { label: 'cached env, `exec true` end to end (CLI, Node startup included)', ours: o!, peer: pr!, target: { text: '≥ 10× faster (≤ 0.10×)', maxRatio: 0.1 } },
      { label: 'cached env, `exec true` end to end (CLI, Node startup included)', ours: o!, peer: pe!, target: { text: '≤ 1.0×', maxRatio: 1.0 } },
    );

    console.error('env bench: helper-level join vs bwrap cold start');
    const bwrap = ['bwrap', '--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts',
      '--ro-bind', tree, '/', '--proc', '/proc', '--dev', '/dev', '--', '/bin/true'];
    const joinArgv = [HELPER, 'exec', '--state', stateDir, '--', '/bin/true'];
    // Timed by bench/spawn-time.py: Node's spawnSync adds its own fork (about 9 ms here) to each
    // side of a measurement that is itself 5-25 ms. The Node harness's figures are in the notes.
    const [hj, bw] = spawnTimed([
      { name: 'crossroot-helper exec', argv: joinArgv, env: process.env },
      { name: 'bwrap (cold start)', argv: bwrap, env: process.env },
    ], RUNS * 5);
    const [hjNode, bwNode] = measure([
      { name: 'crossroot-helper exec', argv: joinArgv },
      { name: 'bwrap (cold start)', argv: bwrap },
    ], RUNS * 2);
    res.rows.push({ label: 'join the running env, `true` (helper level)', ours: hj!, peer: bw!, target: { text: '≤ 0.5×', maxRatio: 0.5 } });

    console.error('env bench: first byte of an interactive shell under a pty');
    const fb = firstByte([
      { name: '`crossroot shell`', argv: [process.execPath, CROSSROOT, 'shell'], env: cenv, cwd: project },
      { name: '`podman exec -it CTR sh`', argv: ['podman', 'exec', '-it', CONTAINER, '/bin/sh'], env: penv },
    ], RUNS);
    // The first bytes must be the prompt, not a message from Crossroot or an error.
    if (/crossroot|error/i.test(fb.first[0]!)) throw new Error(`crossroot shell's first output is not a prompt: ${JSON.stringify(fb.first[0])}`);
    res.rows.push({ label: 'cached env → interactive prompt (first output byte under a pty)', ours: fb.rows[0]!, peer: fb.rows[1]!, target: { text: '≤ 0.3 s', maxMs: 300 } });

    console.error('env bench: build with nothing to do');
    const [bo, bp] = measure([
      { name: '`crossroot build`', argv: [process.execPath, CROSSROOT, 'build'], env: cenv, cwd: project },
      { name: '`podman build` (cached)', argv: podmanBuild, env: penv },
    ], RUNS);
    res.rows.push({ label: '`build` of an unchanged env (one cached setup step)', ours: bo!, peer: bp!, target: { text: '≤ 0.2 s', maxMs: 200 } });

    res.notes.push(
      `Same image on both sides: the busybox-static amd64 tree of test/fixtures/rootfs.ts (crossroot: \`[source] kind = "dir"\`; podman: \`podman import\` of a tar of it), plus one setup step (\`${STEP}\`: crossroot.toml \`[setup] run\`, a Containerfile \`RUN\`); stores on ${base === '/dev/shm' ? 'tmpfs (/dev/shm)' : base}.`,
      `Crossroot is timed as users run it (\`bin/crossroot.cjs\` in the project folder, Node ${process.version} startup included; \`node -e 0\` alone took ${nodeFloor!.medianMs.toFixed(0)} ms in the same run); its instance was started once before timing, as podman's container (\`podman run -d … sleep\`).`,
      `podman ${podman(['--version']).trim().replace(/^podman version /, '')} rootless, ${runtime} ${sh([runtime, '--version']).split('\n')[0]!.replace(/^\S+ version /, '')}, \`cgroup_manager = "cgroupfs"\`, overlay storage, \`--network none\`; configured for this benchmark only, in private HOME/XDG_CONFIG_HOME/XDG_DATA_HOME/XDG_RUNTIME_DIR dirs (nothing system-wide).`,
      `Helper-level join: timed by bench/spawn-time.py (Python's subprocess, vfork); through Node's spawnSync, as the other rows, the same run gave ${hjNode!.medianMs.toFixed(1)} ms vs ${bwNode!.medianMs.toFixed(1)} ms (${(hjNode!.medianMs / bwNode!.medianMs).toFixed(2)}×), each side carrying Node's own fork.`,
      `First byte: bench/first-byte.py starts each side on a new pty and times until its first output byte (for crossroot the shell's banner, \`${fb.first[0]!.trim().split(/\r?\n/)[0]!.slice(0, 32)}…\`, then its prompt), then types \`exit\` and waits for it to end.`,
      `${os.cpus().length} CPUs, Linux ${os.release()}, uid ${process.getuid?.()} (unprivileged); medians of ${RUNS} interleaved runs (the helper join: ${RUNS * 5}) after 2 warm-ups; load average (1/5/15 min) ${loadBefore} before, ${loadavg()} after: other work shares this machine, so absolute times run long and the ratios are the fairer figures.`,
    );
  } finally {
    spawnSync(process.execPath, [CROSSROOT, 'stop'], { cwd: project, env: cenv, stdio: 'ignore' });
    spawnSync('podman', ['rm', '-f', '-t', '0', CONTAINER], { env: penv, stdio: 'ignore' });
    spawnSync('podman', ['system', 'reset', '-f'], { env: penv, stdio: 'ignore' });
    // Rootless podman leaves its pause process (holding its user namespace) behind: it is ours, end it.
    try {
      const pid = Number(readFileSync(path.join(penv.XDG_RUNTIME_DIR!, 'libpod/tmp/pause.pid'), 'utf8'));
      if (pid > 0) process.kill(pid, 'SIGKILL');
    } catch { /* not started */ }
    removeTree(HELPER, work);
    rmSync(work, { recursive: true, force: true });
  }
  return res;
}

await runBench('env', 'Env lifecycle (crossroot exec, shell, build vs podman; helper join vs bwrap)', fileURLToPath(import.meta.url), bench);
