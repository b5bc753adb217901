// OCI image-spec and Docker schema2 documents: media types, TypeScript shapes, and parsers that
// check what the rest of Crossroot relies on (so a bad manifest fails here, with a clear message).
import { createHash } from 'node:crypto';
import { CrossrootError } from '../errors';

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** What a registry is asked for when resolving a tag or digest: every manifest and index type. */
export const MANIFEST_ACCEPT = [
  MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest,
].join(', ');

export type LayerCompression = 'gzip' | 'zstd' | 'none';

const LAYER_COMPRESSION: Readonly<Record<string, LayerCompression>> = {
  [MediaType.ociLayer]: 'none',
  [MediaType.ociLayerGzip]: 'gzip',
  [MediaType.ociLayerZstd]: 'zstd',
  [MediaType.ociLayerNondistributable]: 'none',
  [MediaType.ociLayerNondistributableGzip]: 'gzip',
  [MediaType.ociLayerNondistributableZstd]: 'zstd',
  [MediaType.dockerLayerGzip]: 'gzip',
  [MediaType.dockerForeignLayerGzip]: 'gzip',
};

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** The parts of the image config Crossroot uses; other fields are kept as they came. */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    Labels?: Record<string, string> | null;
    StopSignal?: string;
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: Array<{ created?: string; created_by?: string; empty_layer?: boolean; comment?: string }>;
}

export type ManifestOrIndex =
  | { kind: 'manifest'; manifest: Manifest }
  | { kind: 'index'; index: Index };

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const ANY_DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** sha256 of the bytes in the `sha256:<hex>` form OCI uses. */
export function sha256Digest(bytes: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

/** Throws unless `d` is a sha256 digest (the only algorithm Crossroot verifies). */
export function checkDigest(d: unknown, what: string): string {
  if (typeof d === 'string' && DIGEST_RE.test(d)) return d;
  if (typeof d === 'string' && ANY_DIGEST_RE.test(d) && !d.startsWith('sha256:')) {
    throw new CrossrootError('EDIGEST', `${what} uses digest ${d}; only sha256 digests are supported`, {
      fix: 'use an image whose manifests and blobs are addressed by sha256 (the default of every common tool)',
    });
  }
  throw new CrossrootError('EDIGEST', `${what} has an invalid digest ${JSON.stringify(d)} (expected sha256:<64 hex digits>)`);
}

/** The compression of a layer blob, from its media type; throws for types that are not layers. */
export function layerCompression(mediaType: string): LayerCompression {
  const c = LAYER_COMPRESSION[mediaType];
  if (c) return c;
  throw new CrossrootError('EMANIFEST', `unsupported layer media type ${mediaType}`, {
    fix: 'Crossroot unpacks tar layers (plain, gzip or zstd) of OCI and Docker schema2 images',
  });
}

export function isIndexMediaType(mt: string | undefined): boolean {
  return mt === MediaType.ociIndex || mt === MediaType.dockerManifestList;
}

export function isManifestMediaType(mt: string | undefined): boolean {
  return mt === MediaType.ociManifest || mt === MediaType.dockerManifest;
}

function bad(what: string, problem: string): CrossrootError {
  return new CrossrootError('EMANIFEST', `${what} is not a valid image document: ${problem}`);
}

function parseJson(bytes: Uint8Array | string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new CrossrootError('EMANIFEST', `${what} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(what, 'expected a JSON object');
  return v as Record<string, unknown>;
}

function isStringMap(v: unknown): v is Record<string, string> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
}

function checkDescriptor(v: unknown, what: string): Descriptor {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(what, 'descriptor is not an object');
  const d = v as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || d.mediaType === '') throw bad(what, 'descriptor has no mediaType');
  checkDigest(d.digest, what);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw bad(what, `descriptor ${String(d.digest)} has no valid size`);
  if (d.annotations !== undefined && !isStringMap(d.annotations)) throw bad(what, 'annotations must map strings to strings');
  if (d.platform !== undefined) {
    const p = d.platform as Record<string, unknown>;
    if (typeof p !== 'object' || p === null || typeof p.architecture !== 'string' || typeof p.os !== 'string') {
      throw bad(what, `descriptor ${String(d.digest)} has a platform without os/architecture`);
    }
  }
  return d as unknown as Descriptor;
}

function rejectSchema1(doc: Record<string, unknown>, what: string): void {
  const mt = doc.mediaType;
  if (doc.schemaVersion === 1 || mt === MediaType.dockerSchema1 || mt === MediaType.dockerSchema1Signed) {
    throw new CrossrootError('EMANIFEST', `${what} is a Docker schema 1 manifest, which is deprecated and not supported`, {
      fix: 'push the image again with a current tool (docker, podman, skopeo) so it gets an OCI or schema 2 manifest',
    });
  }
}

function checkManifest(doc: Record<string, unknown>, what: string): Manifest {
  if (doc.schemaVersion !== 2) throw bad(what, `schemaVersion is ${JSON.stringify(doc.schemaVersion)}, expected 2`);
  if (doc.mediaType !== undefined && !isManifestMediaType(doc.mediaType as string)) throw bad(what, `mediaType ${String(doc.mediaType)} is not an image manifest`);
  checkDescriptor(doc.config, `${what} (config)`);
  if (!Array.isArray(doc.layers)) throw bad(what, 'layers is not a list');
  doc.layers.forEach((l, i) => checkDescriptor(l, `${what} (layer ${i + 1})`));
  if (doc.annotations !== undefined && !isStringMap(doc.annotations)) throw bad(what, 'annotations must map strings to strings');
  return doc as unknown as Manifest;
}

function checkIndex(doc: Record<string, unknown>, what: string): Index {
  if (doc.schemaVersion !== 2) throw bad(what, `schemaVersion is ${JSON.stringify(doc.schemaVersion)}, expected 2`);
  if (doc.mediaType !== undefined && !isIndexMediaType(doc.mediaType as string)) throw bad(what, `mediaType ${String(doc.mediaType)} is not an image index`);
  if (!Array.isArray(doc.manifests)) throw bad(what, 'manifests is not a list');
  doc.manifests.forEach((m, i) => checkDescriptor(m, `${what} (entry ${i + 1})`));
  return doc as unknown as Index;
}

/**
 * Parses a manifest or an index. The kind comes from the document's own mediaType, else from
 * the Content-Type the registry sent, else from its shape (`manifests` vs `layers`).
 */
export function parseManifestOrIndex(bytes: Uint8Array | string, contentType?: string, what = 'manifest'): ManifestOrIndex {
  const doc = parseJson(bytes, what);
  rejectSchema1(doc, what);
  const ct = contentType?.split(';')[0]?.trim();
  const mt = typeof doc.mediaType === 'string' ? doc.mediaType : ct;
  if (isIndexMediaType(mt) || (!isManifestMediaType(mt) && Array.isArray(doc.manifests))) {
    return { kind: 'index', index: checkIndex(doc, what) };
  }
  if (isManifestMediaType(mt) || Array.isArray(doc.layers)) {
    return { kind: 'manifest', manifest: checkManifest(doc, what) };
  }
  throw bad(what, `unknown document type${mt ? ` ${mt}` : ''} (neither a manifest nor an index)`);
}

export function parseManifest(bytes: Uint8Array | string, what = 'manifest'): Manifest {
  const r = parseManifestOrIndex(bytes, undefined, what);
  if (r.kind !== 'manifest') throw bad(what, 'expected an image manifest, got an index');
  return r.manifest;
}

export function parseIndex(bytes: Uint8Array | string, what = 'index'): Index {
  const r = parseManifestOrIndex(bytes, undefined, what);
  if (r.kind !== 'index') throw bad(what, 'expected an image index, got a manifest');
  return r.index;
}

/** Parses an image config and checks that its diff_ids line up with the manifest's layers. */
export function parseImageConfig(bytes: Uint8Array | string, manifest?: Manifest, what = 'image config'): ImageConfig {
  const doc = parseJson(bytes, what);
  if (typeof doc.architecture !== 'string' || typeof doc.os !== 'string') {
    throw new CrossrootError('EMANIFEST', `${what} has no os/architecture`);
  }
  const rootfs = doc.rootfs as Record<string, unknown> | undefined;
  if (typeof rootfs !== 'object' || rootfs === null || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) {
    throw new CrossrootError('EMANIFEST', `${what} has no rootfs.diff_ids list`);
  }
  rootfs.diff_ids.forEach((d, i) => checkDigest(d, `${what} (diff_id ${i + 1})`));
  if (manifest && rootfs.diff_ids.length !== manifest.layers.length) {
    throw new CrossrootError('EMANIFEST',
      `${what} lists ${rootfs.diff_ids.length} layer diff_ids but the manifest has ${manifest.layers.length} layers`);
  }
  return doc as unknown as ImageConfig;
}

/** `linux/arm64/v8` style name of a platform, as users and `docker --platform` write it. */
export function platformString(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}
