// Building the Dockerfile fixture (test/fixtures/projects/dockerfile: two stages, apt-get install,
// useradd, COPY --from, COPY --chown, ADD of a tar) for arm64, cold (empty store: pull the base
// from the local registry and run every step) and warm (nothing changed), side by side with
// rootless `buildah build --platform linux/arm64` on the same Dockerfile, context and registry.
// buildah runs foreign binaries through the host's binfmt_misc, which this machine does not have:
// the bench registers qemu-aarch64 there (as root) only around buildah's runs and removes it
// after; Crossroot never uses it (its helper registers qemu in a private binfmt_misc instance).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Env } from '../src/core/env/env';
import { loadEnvSpec } from '../src/core/envfile/load';
import { Store } from '../src/core/store/store';
import { debianImageLayout } from '../test/fixtures/debian-image';
import { pushImage, startRegistry } from '../test/fixtures/registry';
import { HELPER, ROOT } from '../test/lib/harness';
import { median, removeTree, report, type BenchResult, type Row } from './lib';

const COLD_RUNS = Number(process.env.CROSSROOT_BENCH_COLD_RUNS || 3);
const WARM_RUNS = Number(process.env.CROSSROOT_BENCH_RUNS || 10);
const CROSSROOT = path.join(ROOT, 'bin/crossroot.cjs');
const BINFMT = '/proc/sys/fs/binfmt_misc';

function timed(argv: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv }): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: o.cwd, env: o.env ?? process.env, encoding: 'utf8', maxBuffer: 1 << 26 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr.slice(-3000)}`);
  return ms;
}

/** buildah's rootless storage and registries config in private dirs of this run only. */
function buildahEnv(dir: string, registry: string): NodeJS.ProcessEnv {
  const config = path.join(dir, 'config'), data = path.join(dir, 'data'), run = path.join(dir, 'run');
  mkdirSync(path.join(config, 'containers'), { recursive: true });
  mkdirSync(run, { recursive: true, mode: 0o700 });
  const graph = path.join(data, 'storage');
  writeFileSync(path.join(config, 'containers/storage.conf'), `[storage]\ndriver = "overlay"\ngraphroot = "${graph}"\nrunroot = "${run}/containers"\n`);
  writeFileSync(path.join(config, 'containers/registries.conf'), `unqualified-search-registries = []\n[[registry]]\nlocation = "${registry}"\ninsecure = true\n`);
  return { PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: config, XDG_DATA_HOME: data, XDG_RUNTIME_DIR: run, CONTAINERS_REGISTRIES_CONF: path.join(config, 'containers/registries.conf'), CONTAINERS_STORAGE_CONF: path.join(config, 'containers/storage.conf') };
}

function hostBinfmtArm64(): boolean {
  return existsSync(path.join(BINFMT, 'qemu-aarch64'));
}

async function bench(side: 'crossroot' | 'buildah' | 'both'): Promise<BenchResult> {
  const res: BenchResult = { rows: [], notes: [] };
  const reg = await startRegistry();
  const work = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'crossroot-df-bench-'));
  try {
    const layout = await debianImageLayout(['amd64', 'arm64']);
    const base = pushImage(reg, `oci:${layout}:bookworm`, 'debian:bookworm', { all: true });
    const project = path.join(work, 'project');
    cpSync(path.join(ROOT, 'test/fixtures/projects/dockerfile'), project, { recursive: true });
    spawnSync('tar', ['-czf', path.join(project, 'bundle.tar.gz'), '-C', path.join(project, 'bundle'), '.']);
    const cenv = (store: string): NodeJS.ProcessEnv => ({ ...process.env, CROSSROOT_STORE: store, CROSSROOT_FIXTURE_BASE: base });
    const build = (store: string) => timed([process.execPath, CROSSROOT, 'build', '--file', '.devcontainer/devcontainer.json'], { cwd: project, env: cenv(store) });

    // Crossroot: each cold run in an empty store; warm runs on the last one.
    const cold: number[] = [];
    let store = '';
    for (let i = 0; side !== 'buildah' && i < COLD_RUNS; i++) {
      if (store) removeTree(HELPER, store);
      store = path.join(work, `store-${i}`);
      cold.push(build(store));
    }
    const warm: number[] = [];
    // Node's own start in the same runs: the floor under any `crossroot` command on this machine now.
    const node: number[] = [];
    for (let i = 0; side !== 'buildah' && i < WARM_RUNS; i++) {
      warm.push(build(store));
      node.push(timed([process.execPath, '-e', '0'], {}));
    }
    // The same warm build in-process (Env.build(), as the extension calls it): without node's
    // start and the CLI's own loading, what the Dockerfile plan, hashes and store locks cost.
    const inproc: number[] = [];
    if (side !== 'buildah') {
      process.env.CROSSROOT_FIXTURE_BASE = base;
      const env = Env.fromSpec(loadEnvSpec(path.join(project, '.devcontainer/devcontainer.json')), { store: Store.open(store, { helper: HELPER }), helper: HELPER });
      for (let i = 0; i < WARM_RUNS; i++) {
        const t0 = process.hrtime.bigint();
        const r = await env.build();
        inproc.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (r.ran !== 0) throw new Error(`a warm in-process build ran ${r.ran} steps`);
      }
    }
    const oursCold: Row = { name: 'crossroot build (empty store)', medianMs: median(cold), runs: cold.length };
    const oursWarm: Row = { name: 'crossroot build (cached)', medianMs: median(warm), runs: warm.length };

    let peerCold: Row | undefined;
    let peerWarm: Row | undefined;
    const buildah = spawnSync('buildah', ['--version'], { encoding: 'utf8' });
    if (side === 'crossroot') {
      // buildah's side runs separately, with the host binfmt entry it needs (see main()).
    } else if (buildah.status !== 0) {
      res.notes.push('buildah is not installed here (apt-get install buildah), so there is no peer column');
    } else if (!hostBinfmtArm64()) {
      res.notes.push('buildah needs a host binfmt_misc entry for qemu-aarch64 to run the arm64 RUN steps, and none was registered (run the bench as root: it registers one only around buildah\'s runs)');
    } else {
      const bcold: number[] = [];
      let bdir = '';
      const bbuild = (dir: string) => timed(['buildah', 'build', '--quiet', '--layers', '--isolation', 'chroot', '--platform', 'linux/arm64', '--tls-verify=false',
        '--build-arg', `BASE=${base}`, '--build-arg', 'GREETING=hi', '-f', 'Dockerfile', '-t', 'crossroot-bench-df', '.'], { cwd: project, env: buildahEnv(dir, reg.host) });
      for (let i = 0; i < COLD_RUNS; i++) {
        if (bdir) spawnSync('buildah', ['unshare', 'rm', '-rf', bdir], { env: buildahEnv(bdir, reg.host) });
        bdir = path.join(work, `buildah-${i}`);
        bcold.push(bbuild(bdir));
      }
      const bwarm: number[] = [];
      for (let i = 0; i < WARM_RUNS; i++) bwarm.push(bbuild(bdir));
      spawnSync('buildah', ['unshare', 'rm', '-rf', bdir], { env: buildahEnv(bdir, reg.host) });
      peerCold = { name: 'buildah build --platform linux/arm64 (empty storage)', medianMs: median(bcold), runs: bcold.length };
      peerWarm = { name: 'buildah build --layers (cached)', medianMs: median(bwarm), runs: bwarm.length };
    }
    res.rows.push({ label: 'Dockerfile fixture for arm64, cold', ours: oursCold, ...(peerCold ? { peer: peerCold } : {}), target: { text: '≤ 1.0× buildah', maxRatio: 1.0 } });
    res.rows.push({ label: 'Dockerfile fixture for arm64, warm (nothing changed)', ours: oursWarm, ...(peerWarm ? { peer: peerWarm } : {}), target: { text: '≤ 0.2 s', maxMs: 200 } });
    if (inproc.length) res.rows.push({ label: 'the same warm build in-process (Env.build, as the extension runs it)', ours: { name: 'Env.build() (cached)', medianMs: median(inproc), runs: inproc.length }, target: { text: '≤ 0.2 s', maxMs: 200 } });
    res.notes.push(
      'Both sides: the same Dockerfile and context, FROM the same Debian bookworm minbase image in a local docker-registry on 127.0.0.1 (plain tar layers), stores on tmpfs, as the unprivileged test user; cold = empty store (pull + every step, apt-get update/install under qemu), warm = the same build again.',
      'buildah runs rootless with --isolation chroot and overlay storage; its arm64 RUN steps go through a qemu-aarch64 entry the bench registers in the host\'s binfmt_misc (as root; this host has none mounted, so the bench mounts it for those runs and unmounts it after) only for buildah\'s runs and removes afterwards. Crossroot needs no host registration (private binfmt_misc in its user namespace).',
      `Cold runs: ${COLD_RUNS} per side, warm runs: ${WARM_RUNS}; medians. The apt-get steps fetch from the Debian mirror, so cold times include network time on both sides.`,
      ...(node.length ? [`The warm \`crossroot build\` is answered by the warm path (dist/cli.cjs, docs/envs.md): \`node -e 0\` alone took ${median(node).toFixed(0)} ms interleaved with it; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' / ')} at the end.`] : []),
    );
    return res;
  } finally {
    await reg.stop();
    removeTree(HELPER, work);
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * As root: the Crossroot side runs as the test user with no host binfmt_misc at all (as on this
 * machine); then qemu-aarch64 is registered in the host's binfmt_misc (mounted for it when it is
 * not, F: the interpreter is opened now, so it works inside buildah's chroot) for buildah's side
 * only, and removed (and unmounted) right after. As the test user: one side, as asked.
 */
async function main(): Promise<void> {
  const file = fileURLToPath(import.meta.url);
  const side = process.env.CROSSROOT_BENCH_SIDE as 'crossroot' | 'buildah' | undefined;
  if (process.getuid?.() !== 0) {
    const r = await bench(side ?? 'both');
    if (process.env.CROSSROOT_BENCH_RESULT) writeFileSync(process.env.CROSSROOT_BENCH_RESULT, JSON.stringify(r));
    else report('dockerfile', TITLE, r.rows, r.notes);
    return;
  }
  const ours = asTestUser(file, 'crossroot');
  const mounted = existsSync(path.join(BINFMT, 'register'));
  const qemu = '/usr/bin/qemu-aarch64-static';
  let registered = false;
  let peer: BenchResult | undefined;
  let why = '';
  try {
    if (!mounted) spawnSync('mount', ['-t', 'binfmt_misc', 'binfmt_misc', BINFMT]);
    if (!existsSync(path.join(BINFMT, 'register'))) why = 'the host\'s binfmt_misc could not be mounted';
    else if (!existsSync(qemu)) why = `${qemu} is not installed`;
    else {
      if (!hostBinfmtArm64()) {
        const magic = '\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00';
        const mask = '\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff';
        writeFileSync(path.join(BINFMT, 'register'), `:qemu-aarch64:M::${magic}:${mask}:${qemu}:OCF`);
        registered = true;
      }
      peer = asTestUser(file, 'buildah');
    }
  } catch (e) {
    why = `buildah's side failed: ${(e as Error).message.split('\n').slice(0, 3).join(' ')}`;
  } finally {
    if (registered) writeFileSync(path.join(BINFMT, 'qemu-aarch64'), '-1');
    if (!mounted) spawnSync('umount', [BINFMT]);
  }
  const rows = ours.rows.map((r) => {
    const p = peer?.rows.find((x) => x.label === r.label)?.peer;
    return { ...r, ...(p ? { peer: p } : {}) };
  });
  report('dockerfile', TITLE, rows, [...ours.notes, ...(peer ? [] : [`No buildah column: ${why}.`])]);
}

const TITLE = 'Dockerfile build (arm64): crossroot build vs buildah build --platform linux/arm64';

/** Runs this file as the unprivileged test user for one side and reads its result back. */
function asTestUser(file: string, side: 'crossroot' | 'buildah'): BenchResult {
  const user = process.env.CROSSROOT_TEST_USER || 'crossroot-test';
  const home = spawnSync('getent', ['passwd', user], { encoding: 'utf8' }).stdout.split(':')[5];
  if (!home) throw new Error(`user ${user} does not exist; run npm test once as root (it creates it)`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crossroot-bench-'));
  spawnSync('chmod', ['0777', dir]);
  const out = path.join(dir, 'result.json');
  const pass = ['CROSSROOT_BENCH_RUNS', 'CROSSROOT_BENCH_COLD_RUNS'].filter((k) => process.env[k]).map((k) => `${k}=${process.env[k]}`);
  try {
    const r = spawnSync('runuser', ['-u', user, '--', 'env', '-i', `HOME=${home}`, `USER=${user}`, `LOGNAME=${user}`,
      'PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', `CROSSROOT_ROOT=${ROOT}`, `CROSSROOT_BENCH_RESULT=${out}`, `CROSSROOT_BENCH_SIDE=${side}`, ...pass,
      process.execPath, '--import', 'tsx', file], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`the ${side} side failed as ${user} (exit ${r.status})`);
    return JSON.parse(readFileSync(out, 'utf8')) as BenchResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
