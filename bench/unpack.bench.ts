// Unpacking one image layer (a Debian arm64 minbase, ~8.7k entries): crossroot-helper unpack side
// by side with `tar -x` and `umoci unpack --rootless`, on tmpfs, as the unprivileged test user.
import { createReadStream, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { MediaType, sha256Digest } from '../src/core/image/oci';
import { debianRootfs } from '../test/fixtures/rootfs';
import { HELPER } from '../test/lib/harness';
import { countEntries, measure, removeTree, runBench, sh, type BenchResult, type Contender } from './lib';
import { fileURLToPath } from 'node:url';

const RUNS = Number(process.env.CROSSROOT_BENCH_RUNS || 10);

type Result = BenchResult;

async function gunzipDigest(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file).pipe(createGunzip())) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** An OCI layout whose tag `bench` is one image of the gzip layer, for umoci. */
async function ociLayout(dir: string, layer: string): Promise<string> {
  const layout = path.join(dir, 'layout');
  const blobs = path.join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (bytes: Buffer) => {
    const digest = sha256Digest(bytes);
    writeFileSync(path.join(blobs, digest.slice(7)), bytes);
    return { digest, size: bytes.length };
  };
  const layerDigest = sha256Digest(readFileSync(layer));
  linkSync(layer, path.join(blobs, layerDigest.slice(7)));
  const config = put(Buffer.from(JSON.stringify({
    architecture: 'arm64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [await gunzipDigest(layer)] },
  })));
  const manifest = put(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, ...config },
    layers: [{ mediaType: MediaType.ociLayerGzip, digest: layerDigest, size: statSync(layer).size }],
  })));
  writeFileSync(path.join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2, mediaType: MediaType.ociIndex,
    manifests: [{ mediaType: MediaType.ociManifest, ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }],
  }));
  writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  return layout;
}

async function bench(): Promise<Result> {
  const res: Result = { rows: [], notes: [] };
  const tree = await debianRootfs();
  // tmpfs on both sides: the VM's disk slows a tree written right after one was deleted (PEERS.md).
  const base = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const work = mkdtempSync(path.join(base, 'crossroot-unpack-bench-'));
  try {
    // The layer is made as root in a user namespace so every owner (shadow, utmp, …) is in it.
    // GNU tar exits 1 when a file changes while it reads; the cached tree is static, so that is noise.
    sh(['unshare', '--map-auto', '--map-root-user', 'sh', '-c',
      'tar --numeric-owner -C "$0" -cf layer.tar . ; s=$?; [ $s -le 1 ] && gzip -6 -k layer.tar && zstd -q -3 layer.tar', tree], { cwd: work });
    const plain = path.join(work, 'layer.tar'), gz = `${plain}.gz`, zst = `${plain}.zst`;
    const layout = await ociLayout(work, gz);
    const out = (name: string) => path.join(work, name);

    const helper = (name: string, layer: string, extra: string[] = []): Contender => ({
      name, argv: [HELPER, 'unpack', '--target', out(name), '--layer', layer, ...extra], before: () => removeTree(HELPER, out(name)),
    });
    const tar = (name: string, flags: string[], layer: string): Contender => ({
      name, argv: ['tar', ...flags, layer, '-C', out(name)], before: () => { removeTree(HELPER, out(name)); mkdirSync(out(name)); },
    });
    const ours = helper('crossroot-helper unpack (gzip)', gz);
    const oursNone = helper('crossroot-helper unpack --idmap none (gzip)', gz, ['--idmap', 'none']);
    const oursZstd = helper('crossroot-helper unpack (zstd)', zst);
    const oursPlain = helper('crossroot-helper unpack (tar)', plain);
    const tarGz = tar('tar -xzf', ['-xzf'], gz);
    const tarZstd = tar('tar --zstd -xf', ['--zstd', '-xf'], zst);
    const tarPlain = tar('tar -xf', ['-xf'], plain);
    const umoci: Contender = {
      name: 'umoci unpack --rootless', argv: ['umoci', 'unpack', '--rootless', '--image', `${layout}:bench`, out('umoci')],
      before: () => removeTree(HELPER, out('umoci')),
    };
    const all = [ours, tarGz, umoci, oursNone, oursZstd, tarZstd, oursPlain, tarPlain];

    // Every contender must produce the same tree size before anything is timed.
    for (const c of all) {
      c.before!();
      sh(c.argv!);
    }
    const want = countEntries(out(ours.name));
    for (const c of all) {
      const got = countEntries(c === umoci ? path.join(out('umoci'), 'rootfs') : out(c.name));
      if (got !== want) throw new Error(`${c.name} unpacked ${got} entries, crossroot-helper ${want}`);
    }

    console.error(`unpack bench: ${RUNS} interleaved runs of ${all.length} contenders`);
    const rows = measure(all, RUNS);
    const row = (c: Contender) => rows[all.indexOf(c)]!;
    res.rows.push(
      { label: 'unpack one gzip layer (Debian arm64 minbase)', ours: row(ours), peer: row(tarGz), target: '≤ 1.3×' },
      { label: 'unpack one gzip layer (Debian arm64 minbase)', ours: row(ours), peer: row(umoci), target: '< 1×' },
      { label: 'same, without a user namespace (owners not kept)', ours: row(oursNone), peer: row(tarGz) },
      { label: 'unpack one zstd layer', ours: row(oursZstd), peer: row(tarZstd), target: '≤ 1.3×' },
      { label: 'unpack one uncompressed layer', ours: row(oursPlain), peer: row(tarPlain), target: '≤ 1.3×' },
    );
    const mb = (f: string) => `${(statSync(f).size / 1e6).toFixed(0)} MB`;
    res.notes.push(
      `Layer: ${want} entries, ${mb(plain)} as tar, ${mb(gz)} gzip -6, ${mb(zst)} zstd -3; targets on ${base === '/dev/shm' ? 'tmpfs (/dev/shm)' : base}.`,
      'crossroot-helper runs with the default `--idmap auto` (a full subuid map, so every owner in the layer is applied) unless noted; tar as an unprivileged user and umoci --rootless leave every file owned by the caller.',
      `Peers: ${sh(['tar', '--version']).split('\n')[0]}, ${sh(['umoci', '--version']).trim()}; ${os.cpus().length} CPUs, Linux ${os.release()}, uid ${process.getuid?.()}; medians of ${RUNS} interleaved runs.`,
    );
  } finally {
    removeTree(HELPER, work);
    rmSync(work, { recursive: true, force: true });
  }
  return res;
}

await runBench('unpack', 'Unpacking a layer (crossroot-helper vs tar, umoci)', fileURLToPath(import.meta.url), bench);
