// A local import killed with SIGKILL mid-copy leaves its partial blob in tmp/; the next pull of
// the same blob clears it under that blob's lock (not only `crossroot gc`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { CLI, HELPER, need, tempDir } from '../lib/harness';
import { tarArchive } from '../fixtures/hostile';
import { crossroot, storeDir } from './image-trees';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A one-layer amd64 OCI layout written by hand; returns the layer's path and bytes. */
function ociLayout(dir: string): { layerFile: string; layer: Buffer } {
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
  return { layerFile: path.join(blobs, sha(layer)), layer };
}

test('a pull killed with SIGKILL while copying a local layer leaves tmp/blob-*, and the next pull clears it', async (t) => {
  if (!need(t, existsSync(HELPER), 'the helper is not built (make -C native)')) return;
  const layout = path.join(tempDir(t), 'layout');
  const { layerFile, layer } = ociLayout(layout);
  const store = storeDir(t);
  const tmp = path.join(store, 'tmp');

  // The layer is a FIFO for the first pull: the copy has what we wrote and waits for more.
  rmSync(layerFile);
  assert.equal(spawnSync('mkfifo', [layerFile]).status, 0);
  const child = spawn(process.execPath, [CLI, 'pull', '--arch', 'amd64', '--store', store, layout], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const writer = await open(layerFile, 'w');
  await writer.write(layer.subarray(0, 1 << 20));
  const partial = () => (existsSync(tmp) ? readdirSync(tmp).filter((n) => n.startsWith(`blob-${sha(layer)}.`)) : []);
  // Killed once the partial copy holds what we wrote (an observable fact, not a delay).
  while (!partial().some((n) => statSync(path.join(tmp, n)).size >= 1 << 20)) await new Promise((r) => setImmediate(r));
  child.kill('SIGKILL');
  await exited;
  await writer.close().catch(() => {});
  assert.equal(partial().length, 1, 'the killed copy left its partial blob in tmp/');

  rmSync(layerFile);
  writeFileSync(layerFile, layer);
  const r = crossroot(['pull', '--arch', 'amd64', '--store', store, layout]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(partial(), [], 'the next pull of that blob cleared the leftover');
  assert.deepEqual(readdirSync(tmp), []);
});
