import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CrossrootError } from '../../../src/core/errors';
import {
  MediaType, checkDigest, layerCompression, parseImageConfig, parseIndex, parseManifest, parseManifestOrIndex, sha256Digest,
} from '../../../src/core/image/oci';

const d = (c: string) => 'sha256:' + c.repeat(64);
const manifest = {
  schemaVersion: 2, mediaType: MediaType.ociManifest,
  config: { mediaType: MediaType.ociConfig, digest: d('c'), size: 100 },
  layers: [{ mediaType: MediaType.ociLayerGzip, digest: d('1'), size: 10 }, { mediaType: MediaType.ociLayerZstd, digest: d('2'), size: 20 }],
};

function code(re: RegExp, c = 'EMANIFEST') {
  return (e: unknown) => { assert.ok(e instanceof CrossrootError); assert.equal(e.code, c); assert.match(e.message, re); return true; };
}

test('layer media types give their compression, OCI and Docker alike', () => {
  assert.equal(layerCompression(MediaType.ociLayer), 'none');
  assert.equal(layerCompression(MediaType.ociLayerGzip), 'gzip');
  assert.equal(layerCompression(MediaType.ociLayerZstd), 'zstd');
  assert.equal(layerCompression(MediaType.dockerLayerGzip), 'gzip');
  assert.equal(layerCompression(MediaType.dockerForeignLayerGzip), 'gzip');
  assert.throws(() => layerCompression('application/vnd.example.helm'), code(/unsupported layer media type application\/vnd.example.helm/));
});

test('manifests and indexes are told apart by mediaType, Content-Type or shape', () => {
  assert.equal(parseManifestOrIndex(JSON.stringify(manifest)).kind, 'manifest');
  const idx = { schemaVersion: 2, manifests: [{ mediaType: MediaType.dockerManifest, digest: d('a'), size: 5, platform: { os: 'linux', architecture: 'amd64' } }] };
  assert.equal(parseManifestOrIndex(JSON.stringify(idx), MediaType.dockerManifestList).kind, 'index');
  assert.equal(parseManifestOrIndex(JSON.stringify(idx)).kind, 'index');
  const { mediaType: _omit, ...bare } = manifest;
  assert.equal(parseManifestOrIndex(JSON.stringify(bare), `${MediaType.dockerManifest}; charset=utf-8`).kind, 'manifest');
  assert.equal(parseIndex(Buffer.from(JSON.stringify(idx))).manifests.length, 1);
  assert.throws(() => parseIndex(JSON.stringify(manifest)), code(/expected an image index/));
});

test('broken manifests fail with what is wrong', () => {
  assert.throws(() => parseManifest('{'), code(/not valid JSON/));
  assert.throws(() => parseManifest('[]'), code(/expected a JSON object/));
  assert.throws(() => parseManifest(JSON.stringify({ ...manifest, schemaVersion: 3 })), code(/schemaVersion is 3/));
  assert.throws(() => parseManifest(JSON.stringify({ schemaVersion: 1, name: 'x', fsLayers: [] })), code(/schema 1/));
  assert.throws(() => parseManifest(JSON.stringify({ ...manifest, layers: [{ mediaType: MediaType.ociLayer, digest: 'sha256:zz', size: 1 }] })),
    code(/layer 1\) has an invalid digest/, 'EDIGEST'));
  assert.throws(() => parseManifest(JSON.stringify({ ...manifest, layers: [{ mediaType: MediaType.ociLayer, digest: d('1'), size: -1 }] })),
    code(/no valid size/));
  assert.throws(() => parseManifest(JSON.stringify({ ...manifest, config: undefined })), code(/config\) .*descriptor is not an object/));
  assert.throws(() => parseManifestOrIndex(JSON.stringify({ schemaVersion: 2 })), code(/neither a manifest nor an index/));
});

test('only sha256 digests are accepted', () => {
  assert.equal(checkDigest(d('e'), 'x'), d('e'));
  assert.throws(() => checkDigest('sha512:' + 'a'.repeat(128), 'layer'), code(/only sha256/, 'EDIGEST'));
  assert.equal(sha256Digest(Buffer.from('')), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

test('image config diff_ids must match the manifest layers', () => {
  const cfg = { architecture: 'arm64', os: 'linux', variant: 'v8', rootfs: { type: 'layers', diff_ids: [d('3'), d('4')] }, config: { Env: ['PATH=/bin'] } };
  assert.equal(parseImageConfig(JSON.stringify(cfg), manifest as never).architecture, 'arm64');
  assert.throws(() => parseImageConfig(JSON.stringify({ ...cfg, rootfs: { type: 'layers', diff_ids: [d('3')] } }), manifest as never),
    code(/lists 1 layer diff_ids but the manifest has 2 layers/));
  assert.throws(() => parseImageConfig(JSON.stringify({ os: 'linux', rootfs: cfg.rootfs })), code(/no os\/architecture/));
});
