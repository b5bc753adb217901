import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ARCHES } from '../../../src/core/arch';
import { CrossrootError } from '../../../src/core/errors';
import type { Descriptor, Index, Platform } from '../../../src/core/image/oci';
import { MediaType } from '../../../src/core/image/oci';
import { checkImageArch, listPlatforms, platformFor, platformName, selectManifest } from '../../../src/core/image/platform';

let n = 0;
function entry(platform: Platform, annotations?: Record<string, string>): Descriptor {
  n++;
  const d: Descriptor = { mediaType: MediaType.ociManifest, digest: 'sha256:' + n.toString(16).padStart(64, '0'), size: 500, platform };
  if (annotations) d.annotations = annotations;
  return d;
}
const index = (...manifests: Descriptor[]): Index => ({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests });
const linux = (architecture: string, variant?: string): Platform => (variant ? { os: 'linux', architecture, variant } : { os: 'linux', architecture });

test('env arches map to the OCI platforms registries index', () => {
  assert.equal(platformName(ARCHES.arm64), 'linux/arm64/v8');
  assert.equal(platformName(ARCHES.armhf), 'linux/arm/v7');
  assert.equal(platformName(ARCHES.amd64), 'linux/amd64');
  assert.equal(platformName(ARCHES.riscv64), 'linux/riscv64');
  assert.equal(platformName(ARCHES.ppc64el), 'linux/ppc64le');
  assert.equal(platformName(ARCHES.i386), 'linux/386');
  assert.deepEqual(platformFor(ARCHES.s390x), { os: 'linux', architecture: 's390x' });
});

test('each arch of a multi-arch index picks its own image', () => {
  const amd = entry(linux('amd64')), arm64 = entry(linux('arm64', 'v8')), arm7 = entry(linux('arm', 'v7'));
  const arm6 = entry(linux('arm', 'v6')), rv = entry(linux('riscv64')), win = entry({ os: 'windows', architecture: 'amd64' });
  const idx = index(win, arm6, amd, arm7, arm64, rv);
  assert.equal(selectManifest(idx, ARCHES.amd64), amd);
  assert.equal(selectManifest(idx, ARCHES.arm64), arm64);
  assert.equal(selectManifest(idx, ARCHES.armhf), arm7, 'exact v7 beats v6');
  assert.equal(selectManifest(idx, ARCHES.riscv64), rv);
});

test('arm64 entries without a variant are accepted, an exact v8 preferred', () => {
  const bare = entry(linux('arm64'));
  assert.equal(selectManifest(index(bare), ARCHES.arm64), bare);
  const v8 = entry(linux('arm64', 'v8'));
  assert.equal(selectManifest(index(bare, v8), ARCHES.arm64), v8);
});

test('armhf falls back to an older arm variant, never to a newer one', () => {
  const v6 = entry(linux('arm', 'v6'));
  assert.equal(selectManifest(index(v6), ARCHES.armhf), v6);
  assert.throws(() => selectManifest(index(entry(linux('arm', 'v8'))), ARCHES.armhf), /no linux\/arm\/v7/);
});

test('attestation manifests are never chosen nor listed', () => {
  const att = entry({ os: 'unknown', architecture: 'unknown' }, { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': 'sha256:' + '1'.repeat(64) });
  const tagged = entry(linux('arm64'), { 'vnd.docker.reference.type': 'attestation-manifest' });
  const amd = entry(linux('amd64'));
  const idx = index(att, tagged, amd);
  assert.deepEqual(listPlatforms(idx), ['linux/amd64']);
  assert.throws(() => selectManifest(idx, ARCHES.arm64), /has linux\/amd64$/);
});

test('a missing arch is an error listing the platforms the image has', () => {
  const idx = index(entry(linux('amd64')), entry(linux('arm64', 'v8')), entry(linux('amd64')));
  assert.throws(() => selectManifest(idx, ARCHES.riscv64, 'localhost:5000/busybox:1'), (e: unknown) => {
    assert.ok(e instanceof CrossrootError);
    assert.equal(e.code, 'ENOPLATFORM');
    assert.equal(e.message, 'localhost:5000/busybox:1 has no linux/riscv64 (riscv64) image; it has linux/amd64, linux/arm64/v8');
    assert.match(e.fix ?? '', /arch/);
    return true;
  });
});

test('a single-platform image of another arch is refused', () => {
  const cfg = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers' as const, diff_ids: [] } };
  assert.doesNotThrow(() => checkImageArch(cfg, ARCHES.amd64));
  assert.throws(() => checkImageArch(cfg, ARCHES.arm64), /built for linux\/amd64, not linux\/arm64\/v8/);
  assert.doesNotThrow(() => checkImageArch({ ...cfg, architecture: 'arm64' }, ARCHES.arm64));
});
