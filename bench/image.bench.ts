// Getting an image from a registry until its rootfs is on disk: `crossroot pull` side by side
// with rootless `podman pull` and `skopeo copy` + `umoci unpack --rootless`, on tmpfs, as the
// unprivileged test user, from one loopback docker-registry holding a Debian arm64 minbase.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { pushImage, startRegistry } from '../test/fixtures/registry';
import { debianRootfs } from '../test/fixtures/rootfs';
import { CLI, HELPER, cacheDir } from '../test/lib/harness';
import { countEntries, measure, removeTree, runBench, sh, type BenchResult, type Contender } from './lib';
import { fileURLToPath } from 'node:url';

const RUNS = Number(process.env.CROSSROOT_BENCH_RUNS || 8);

type Result = BenchResult;

/**
 * The Debian tree as an OCI image made by umoci (one gzip layer), cached by the tree's path and
 * inode (a rebuilt fixture at the same path is a new tree, possibly with other package versions).
 * umoci runs as root of a user namespace with the full id map, so the layer keeps every owner.
 */
function debianImageLayout(tree: string): string {
  const dest = path.join(cacheDir('images'), `debian-arm64-umoci-${createHash('sha256').update(`${tree}:${statSync(tree).ino}`).digest('hex').slice(0, 12)}`);
  if (existsSync(dest)) return dest;
  const work = mkdtempSync(`${dest}.build-`);
  try {
    const layout = path.join(work, 'layout');
    sh(['unshare', '--map-auto', '--map-root-user', 'sh', '-ec', [
      'umoci init --layout "$1"',
      'umoci new --image "$1:bookworm"',
      'umoci config --image "$1:bookworm" --architecture arm64 --os linux --config.cmd /bin/bash',
      'umoci insert --image "$1:bookworm" "$0" /',
      'umoci gc --layout "$1"',
    ].join('\n'), tree, layout]);
    renameSync(layout, dest);
  } finally {
    removeTree(HELPER, work);
    rmSync(work, { recursive: true, force: true });
  }
  return dest;
}

/** Rootless podman with overlay storage under `dir`, the loopback registry marked insecure (PEERS.md). */
function podmanEnv(dir: string, registry: string): NodeJS.ProcessEnv {
  const run = path.join(dir, 'run');
  mkdirSync(run, { recursive: true, mode: 0o700 });
  // Rootless podman ignores graphroot; without rootless_storage_path it would use ~/.local/share on disk.
  writeFileSync(path.join(dir, 'storage.conf'), `[storage]\ndriver = "overlay"\ngraphroot = "${dir}/graph"\nrunroot = "${dir}/runroot"\nrootless_storage_path = "${dir}/graph"\n`);
  writeFileSync(path.join(dir, 'registries.conf'), `unqualified-search-registries = []\n[[registry]]\nlocation = "${registry}"\ninsecure = true\n`);
  // runc is what PEERS.md measured with; pulls never start a runtime, so crun (installed) does as well.
  const runtime = existsSync('/usr/bin/runc') ? 'runc' : 'crun';
  writeFileSync(path.join(dir, 'containers.conf'), `[engine]\nruntime = "${runtime}"\ncgroup_manager = "cgroupfs"\nevents_logger = "none"\n`);
  return {
    ...process.env, XDG_RUNTIME_DIR: run,
    CONTAINERS_STORAGE_CONF: path.join(dir, 'storage.conf'),
    CONTAINERS_REGISTRIES_CONF: path.join(dir, 'registries.conf'),
    CONTAINERS_CONF: path.join(dir, 'containers.conf'),
  };
}

async function bench(): Promise<Result> {
  const res: Result = { rows: [], notes: [] };
  const tree = await debianRootfs();
  const layout = debianImageLayout(tree);
  const reg = await startRegistry();
  // tmpfs for every side: the VM's disk slows a tree written right after one was deleted (PEERS.md).
  const base = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const work = mkdtempSync(path.join(base, 'crossroot-image-bench-'));
  const pod = path.join(work, 'podman');
  mkdirSync(pod);
  const penv = podmanEnv(pod, reg.host);
  try {
    const ref = pushImage(reg, `oci:${layout}:bookworm`, 'debian:bookworm-minbase');
    const store = path.join(work, 'store');
    const skopeoLayout = path.join(work, 'oci');
    const bundle = path.join(work, 'bundle');

    const ours: Contender = {
      name: 'crossroot pull', argv: [process.execPath, CLI, 'pull', '--arch', 'arm64', '--store', store, ref],
      before: () => removeTree(HELPER, store),
    };
    const podman: Contender = {
      name: 'podman pull (rootless, overlay)', argv: ['podman', 'pull', '-q', '--arch', 'arm64', ref], env: penv,
      before: () => { sh(['podman', 'rmi', '-f', ref], { env: penv, okCodes: [0, 1, 2] }); },
    };
    const skopeoUmoci: Contender = {
      name: 'skopeo copy + umoci unpack --rootless',
      argv: ['sh', '-ec', 'skopeo copy -q --src-tls-verify=false "docker://$0" "oci:$1:b"; umoci unpack --rootless --image "$1:b" "$2"', ref, skopeoLayout, bundle],
      before: () => { removeTree(HELPER, skopeoLayout); removeTree(HELPER, bundle); },
    };
    const oursAgain: Contender = { name: 'crossroot pull (in store)', argv: ours.argv! };
    const podmanAgain: Contender = { name: 'podman pull (in storage)', argv: podman.argv!, env: penv };

    // Each side must end with the whole tree before anything is timed.
    for (const c of [ours, podman, skopeoUmoci]) {
      c.before!();
      sh(c.argv!, { env: c.env ?? process.env });
    }
    const rootfs = path.join(store, 'images', readdirSync(path.join(store, 'images'))[0]!, 'rootfs');
    const want = countEntries(tree);
    for (const [who, dir] of [['crossroot', rootfs], ['umoci', path.join(bundle, 'rootfs')]] as const) {
      const got = countEntries(dir);
      if (got !== want) throw new Error(`${who} has ${got} entries, the source tree ${want}`);
    }
    if (!sh(['podman', 'images', '-q', ref], { env: penv }).trim()) throw new Error('podman did not store the image');
    if (!sh(['podman', 'info', '--format', '{{.Store.GraphRoot}} {{.Store.GraphDriverName}}'], { env: penv }).startsWith(`${pod}/graph overlay`)) {
      throw new Error('podman does not use the overlay storage on tmpfs set up for it');
    }

    console.error(`image bench: ${RUNS} interleaved runs of 3 contenders (fresh), then the already-pulled case`);
    const [o, p, s] = measure([ours, podman, skopeoUmoci], RUNS);
    const [oa, pa] = measure([oursAgain, podmanAgain], RUNS);
    res.rows.push(
      { label: 'pull + unpack Debian arm64 minbase from a loopback registry', ours: o!, peer: p!, target: '≤ 0.8×' },
      { label: 'pull + unpack Debian arm64 minbase from a loopback registry', ours: o!, peer: s! },
      { label: 'pull again (already there: resolve the tag only)', ours: oa!, peer: pa! },
    );
    const layerSize = JSON.parse(sh(['skopeo', 'inspect', '--raw', '--tls-verify=false', `docker://${ref}`])).layers
      .reduce((n: number, l: { size: number }) => n + l.size, 0) as number;
    res.notes.push(
      `Image: Debian bookworm minbase for arm64 (mmdebstrap), one gzip layer of ${(layerSize / 1e6).toFixed(0)} MB made by umoci, ${want} entries, pushed to Debian's docker-registry on 127.0.0.1 (http); stores and targets on ${base === '/dev/shm' ? 'tmpfs (/dev/shm)' : base}.`,
      'crossroot pull = resolve, download with sha256 verified while streaming and each layer unpacked by crossroot-helper as it arrives (full subuid map, owners kept), publish by rename once verified; timed as the CLI (node startup included).',
      `podman ${sh(['podman', '--version']).trim().replace(/^podman version /, '')} rootless with overlay storage and the registry marked insecure; ${sh(['skopeo', '--version']).trim()}, ${sh(['umoci', '--version']).trim()} (rootless: every file owned by the caller).`,
      `${os.cpus().length} CPUs, Linux ${os.release()}, uid ${process.getuid?.()}; medians of ${RUNS} interleaved runs after 2 warm-ups.`,
    );
  } finally {
    spawnSync('podman', ['system', 'reset', '-f'], { env: penv, stdio: 'ignore' });
    await reg.stop();
    removeTree(HELPER, work);
    rmSync(work, { recursive: true, force: true });
  }
  return res;
}

await runBench('image', 'Getting an image (crossroot pull vs podman pull, skopeo + umoci)', fileURLToPath(import.meta.url), bench);
