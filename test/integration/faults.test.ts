import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { CLI, cacheDir } from '../lib/harness';
import { pushImage, startRegistry, type TestRegistry } from '../fixtures/registry';
import { removeTree } from '../fixtures/rootfs';
import { MediaType } from '../../src/core/image/oci';
import { crossroot, crossrootAsync, storeDir, pullReady } from './image-trees';

const FILES_PER_LAYER = 6000;
const LAYERS = 3;

/**
 * An arm64 image of three plain-tar layers of many small random files: big enough that a
 * throttled download and each layer's unpack take a noticeable time, so kills land mid-way.
 */
function bigImage(): string {
  const dest = path.join(cacheDir('h3b-images'), `big-${FILES_PER_LAYER}x${LAYERS}-v1`);
  if (existsSync(dest)) return dest;
  const work = mkdtempSync(`${dest}.build-`);
  const layout = path.join(work, 'layout');
  const blobs = path.join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (bytes: Buffer): { digest: string; size: number } => {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    writeFileSync(path.join(blobs, digest.slice(7)), bytes);
    return { digest, size: bytes.length };
  };
  const layers = [];
  for (let l = 0; l < LAYERS; l++) {
    const tree = path.join(work, `tree${l}`);
    for (let i = 0; i < FILES_PER_LAYER; i++) {
      const d = path.join(tree, `layer${l}`, `d${i % 50}`);
      mkdirSync(d, { recursive: true });
      writeFileSync(path.join(d, `f${i}`), randomBytes(700));
    }
    const tar = path.join(work, `layer${l}.tar`);
    execFileSync('tar', ['-C', tree, '--owner=0', '--group=0', '--numeric-owner', '-cf', tar, '.']);
    layers.push({ mediaType: MediaType.ociLayer, ...put(readFileSync(tar)) });
  }
  const config = put(Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((x) => x.digest) } })));
  const manifest = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, ...config }, layers })));
  writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'big' } }] }));
  try {
    renameSync(layout, dest);
  } catch (e) {
    if (!existsSync(dest)) throw e;
  } finally {
    removeTree(work);
  }
  return dest;
}

interface Proxy { host: string; blobGets: Map<string, number>; rangeGets: number; stop(): Promise<void> }

/**
 * A loopback proxy in front of the registry that counts blob downloads, can slow them down, and
 * can drop Range headers (a server that cannot resume).
 */
async function countingProxy(reg: TestRegistry, bytesPerSecond?: number, o: { noRange?: boolean } = {}): Promise<Proxy> {
  const blobGets = new Map<string, number>();
  const target = new URL(reg.url);
  const p: Proxy = { host: '', blobGets, rangeGets: 0, stop: async () => {} };
  const server = http.createServer((req, res) => {
    const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '');
    if (blob && req.method === 'GET') {
      blobGets.set(blob[1]!, (blobGets.get(blob[1]!) ?? 0) + 1);
      if (req.headers.range) p.rangeGets++;
    }
    const headers = { ...req.headers, host: target.host };
    if (o.noRange) delete headers.range;
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      if (!blob || !bytesPerSecond) { r.pipe(res); return; }
      // Trickle the body in 64 KiB steps.
      r.on('data', (chunk: Buffer) => {
        r.pause();
        res.write(chunk, () => setTimeout(() => r.resume(), (chunk.length / bytesPerSecond) * 1000));
      });
      r.on('end', () => res.end());
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  p.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  p.stop = () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  return p;
}

/**
 * Starts `crossroot pull` and SIGKILLs it as soon as `when` holds: a progress line matches, or
 * (a function) a fact about the store is observed, checked as the pull goes.
 */
function pullKilledAt(store: string, ref: string, when: RegExp | (() => boolean)): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'pull', '--arch', 'arm64', '--store', store, ref], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    let killed = false;
    const kill = () => {
      if (killed) return;
      killed = true;
      clearInterval(poll);
      child.kill('SIGKILL');
    };
    const poll = setInterval(() => { if (typeof when === 'function' && when()) kill(); }, 10);
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      err += s;
      if (when instanceof RegExp && when.test(err)) kill();
    });
    child.on('close', (code, sig) => {
      clearInterval(poll);
      if (sig === 'SIGKILL') resolve(err);
      else reject(new Error(`pull ended (${code}) before ${String(when)} was seen:\n${err}`));
    });
  });
}

/**
 * True once a download has written bytes into its `.partial` (the kill must leave something to
 * resume: a progress line can come before the first byte is on disk). The config blob is fetched
 * whole while resolving, so a partial is a layer's. (The registry's layer digests are not the
 * layout's: the push compresses them.)
 */
function partialWritten(store: string): () => boolean {
  const blobs = path.join(store, 'blobs/sha256');
  return () => {
    try {
      return readdirSync(blobs).some((n) => n.endsWith('.partial') && statSync(path.join(blobs, n)).size > 0);
    } catch {
      return false; // not there yet, or a partial renamed between the two calls
    }
  };
}

/** Every complete store entry is whole: blobs hash to their names, images have all their files. */
function assertStoreSound(store: string, manifestDigest: string, expectImage: boolean): void {
  const blobs = path.join(store, 'blobs', 'sha256');
  for (const n of readdirSync(blobs).filter((x) => /^[0-9a-f]{64}$/.test(x))) {
    assert.equal(createHash('sha256').update(readFileSync(path.join(blobs, n))).digest('hex'), n, `blob ${n} verifies`);
  }
  const images = readdirSync(path.join(store, 'images'));
  if (!expectImage) {
    assert.deepEqual(images, [], 'no image entry appears before it is complete');
    return;
  }
  assert.deepEqual(images, [manifestDigest.slice(7)]);
  const root = path.join(store, 'images', images[0]!, 'rootfs');
  for (let l = 0; l < LAYERS; l++) {
    const n = readdirSync(path.join(root, `layer${l}`)).reduce((sum, d) => sum + readdirSync(path.join(root, `layer${l}`, d)).length, 0);
    assert.equal(n, FILES_PER_LAYER, `every file of layer ${l + 1} is there`);
  }
}

function manifestOf(layout: string): string {
  return (JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] }).manifests[0]!.digest;
}

test('a pull killed during the download leaves no half entry, and the rerun resumes and finishes', async (t) => {
  if (!pullReady(t, { images: false })) return;
  const layout = bigImage();
  const reg = await startRegistry();
  t.after(() => reg.stop());
  pushImage(reg, `oci:${layout}:big`, 'big:1');
  // 4.3 MB layers at 4 MB/s: about a second each, so the kill lands mid-way.
  const proxy = await countingProxy(reg, 4 << 20);
  t.after(() => proxy.stop());
  const store = storeDir(t);
  const ref = `${proxy.host}/big:1`;

  await pullKilledAt(store, ref, partialWritten(store));
  assertStoreSound(store, manifestOf(layout), false);
  assert.ok(partialWritten(store)(), 'the interrupted download is kept for resuming');

  const r = await crossrootAsync(['pull', '--json', '--arch', 'arm64', '--store', store, ref]);
  assert.equal(r.code, 0, r.stderr);
  assertStoreSound(store, (JSON.parse(r.stdout) as { manifestDigest: string }).manifestDigest, true);
  assert.ok(proxy.rangeGets >= 1, 'the rerun asked for the rest of a partial blob with Range');
  assert.deepEqual(readdirSync(path.join(store, 'blobs/sha256')).filter((n) => n.endsWith('.partial')), []);
  assert.deepEqual(readdirSync(path.join(store, 'tmp')), []);
});

test('after a killed pull, a registry that cannot resume makes the download and the unpack start over', async (t) => {
  if (!pullReady(t, { images: false })) return;
  const layout = bigImage();
  const reg = await startRegistry();
  t.after(() => reg.stop());
  pushImage(reg, `oci:${layout}:big`, 'big:1');
  const slow = await countingProxy(reg, 4 << 20);
  t.after(() => slow.stop());
  const store = storeDir(t);
  await pullKilledAt(store, `${slow.host}/big:1`, partialWritten(store));
  assert.ok(partialWritten(store)());

  // The unpack starts streaming the partial blob, then the download starts over from byte 0.
  const noRange = await countingProxy(reg, 16 << 20, { noRange: true });
  t.after(() => noRange.stop());
  const r = await crossrootAsync(['pull', '--json', '--arch', 'arm64', '--store', store, `${noRange.host}/big:1`]);
  assert.equal(r.code, 0, r.stderr);
  assertStoreSound(store, (JSON.parse(r.stdout) as { manifestDigest: string }).manifestDigest, true);
  assert.deepEqual(readdirSync(path.join(store, 'tmp')), []);
});

test('a pull killed at each stage of the unpack never leaves a half-made image', async (t) => {
  if (!pullReady(t, { images: false })) return;
  const layout = bigImage();
  const store = storeDir(t);
  const source = `${layout}:big`;
  for (const when of [/layer 1\/3 \S+ +unpacking/, /layer 2\/3 \S+ +unpacking/, /layer 3\/3 \S+ +unpacking/]) {
    await pullKilledAt(store, source, when);
    assertStoreSound(store, manifestOf(layout), false);
  }
  const r = crossroot(['pull', '--json', '--arch', 'arm64', '--store', store, source]);
  assert.equal(r.code, 0, r.stderr);
  assertStoreSound(store, manifestOf(layout), true);
  assert.deepEqual(readdirSync(path.join(store, 'tmp')), [], 'the leftovers of the killed runs are cleared');
});

test('eight concurrent pulls of one image download each blob once and share one tree', async (t) => {
  if (!pullReady(t, { images: false })) return;
  const layout = bigImage();
  const reg = await startRegistry();
  t.after(() => reg.stop());
  pushImage(reg, `oci:${layout}:big`, 'big:1');
  const proxy = await countingProxy(reg);
  t.after(() => proxy.stop());
  const store = storeDir(t);
  const ref = `${proxy.host}/big:1`;
  const runs = await Promise.all(Array.from({ length: 8 }, () => crossrootAsync(['pull', '--json', '--arch', 'arm64', '--store', store, ref])));
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  const results = runs.map((r) => JSON.parse(r.stdout) as { rootfs: string; cached: boolean; manifestDigest: string; configDigest: string });
  assert.equal(new Set(results.map((r) => r.rootfs)).size, 1, 'all eight get the same rootfs');
  assert.equal(results.filter((r) => !r.cached).length, 1, 'one of them made it, the others found it made');
  // Every resolve reads the small config to check the platform; the layers are what must come once.
  const layers = [...proxy.blobGets.keys()].filter((d) => d !== results[0]!.configDigest);
  assert.equal(layers.length, LAYERS);
  for (const d of layers) assert.equal(proxy.blobGets.get(d), 1, `layer ${d} downloaded once`);
  assertStoreSound(store, results[0]!.manifestDigest, true);
});
