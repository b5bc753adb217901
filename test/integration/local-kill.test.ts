// A blob copy killed with SIGKILL leaves its partial blob in tmp/; the next pull of the same
// blob clears it under that blob's lock (not only `crossroot gc`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HELPER, ROOT, need, tempDir } from '../lib/harness';
import { tarArchive } from '../fixtures/hostile';
import { crossroot, storeDir } from './image-trees';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A one-layer amd64 OCI layout written by hand; returns the layer's path and bytes. */
function ociLayout(dir: string): { layer: Buffer } {
  const layer = tarArchive([{ name: 'etc/', type: 'dir' }, { name: 'etc/hello', data: 'hello\n' }, { name: 'big', data: Buffer.alloc(4 << 20, 7) }]);
  const blobs = path.join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => { writeFileSync(path.join(blobs, sha(b)), b); return { digest: `sha256:${sha(b)}`, size: b.length }; };
  const l = put(layer);
  const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [l.digest] } })));
  const manifest = put(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l }],
  })));
  writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest }] }));
  return { layer };
}

test('a blob copy killed with SIGKILL leaves tmp/blob-*, and the next pull of that blob clears it', async (t) => {
  if (!need(t, existsSync(HELPER), 'the helper is not built (make -C native)')) return;
  const layout = path.join(tempDir(t), 'layout');
  const { layer } = ociLayout(layout);
  const store = storeDir(t);
  const tmp = path.join(store, 'tmp');
  assert.equal(crossroot(['gc', '--store', store]).code, 0, 'the store exists');

  // The store's blob copy, as a pull of this layout runs it, with a source that stalls after
  // 1 MiB (a local copy cannot be made to stall; a stalled one is killed at a known point).
  const script = path.join(tempDir(t), 'copy.mts');
  writeFileSync(script, `
import { Readable } from 'node:stream';
import { Store } from ${JSON.stringify(path.join(ROOT, 'src/core/store/store.ts'))};
const src = new Readable({ read() {} });
src.push(Buffer.alloc(1 << 20, 7));
Store.open(${JSON.stringify(store)}).writeBlob(src, { digest: 'sha256:${sha(layer)}', onBytes: (n) => { if (n >= 1 << 20) console.log('copying'); } });
`);
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.on('close', resolve));
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  child.kill('SIGKILL');
  await exited;
  const partial = () => readdirSync(tmp).filter((n) => n.startsWith(`blob-${sha(layer)}.`));
  assert.equal(partial().length, 1, 'the killed copy left its partial blob in tmp/');

  const r = crossroot(['pull', '--arch', 'amd64', '--store', store, layout]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(partial(), [], 'the next pull of that blob cleared the leftover');
  assert.deepEqual(readdirSync(tmp), []);
});
