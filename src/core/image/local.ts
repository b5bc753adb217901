// Images that come from a path instead of a registry: OCI layout dirs, oci-archive and
// docker-archive tars, plain rootfs tarballs and directories. Blobs enter the store verified.
import { createHash } from 'node:crypto';
import { existsSync, statSync, createReadStream } from 'node:fs';
import { PassThrough } from 'node:stream';
import path from 'node:path';
import type { ArchInfo } from '../arch';
import { CrossrootError } from '../errors';
import type { Source } from '../source';
import type { Store } from '../store/store';
import {
  type Descriptor, type ImageConfig, type Index, type Manifest, MediaType, isIndexMediaType, layerCompression,
  parseImageConfig, parseIndex, parseManifest, platformString, sha256Digest,
} from './oci';
import { checkImageArch, selectManifest } from './platform';
import { noProgress, type ProgressListener } from './progress';
import { SmallFileError, readSmallFile } from '../smallfile';
import { type EntrySink, decompressCommand, firstEntries, openTar, readTar, sniffCompression } from './tar';

export type LocalSource = Extract<Source, { kind: 'oci-layout' | 'oci-archive' | 'docker-archive' | 'rootfs-tar' | 'dir' }>;

/** An image whose manifest, config and layers are now blobs in the store. */
export interface ImportedImage {
  manifestDigest: string;
  indexDigest?: string;
  manifest: Manifest;
  config: ImageConfig;
  configDigest: string;
  platform: string;
}

const REF_NAME = 'org.opencontainers.image.ref.name';

/**
 * What a path holds: a dir with `oci-layout` → OCI layout, another dir → plain rootfs dir; a tar
 * whose first entries look like an image archive → oci-archive or docker-archive; any other
 * tar (plain, gzip, zstd, xz) → rootfs tarball. `ref` picks an image inside a layout or archive.
 */
export async function detectLocalSource(p: string, ref?: string): Promise<LocalSource> {
  const full = path.resolve(p);
  let st;
  try {
    st = statSync(full);
  } catch {
    throw new CrossrootError('ENOSOURCE', `${p} does not exist`, { fix: 'give the path of an OCI layout, image archive, rootfs tarball or directory' });
  }
  const withRef = <T extends LocalSource>(s: T): T => (ref ? { ...s, ref } : s);
  if (st.isDirectory()) {
    if (existsSync(path.join(full, 'oci-layout'))) return withRef({ kind: 'oci-layout', path: full });
    if (ref) throw new CrossrootError('ENOSOURCE', `${p} is a plain directory, so it has no image named "${ref}"`);
    return { kind: 'dir', path: full };
  }
  if (!st.isFile()) throw new CrossrootError('ENOSOURCE', `${p} is neither a file nor a directory`);
  const kind = await archiveKind(full);
  if (kind) return withRef({ kind, path: full });
  if (ref) throw new CrossrootError('ENOSOURCE', `${p} is a rootfs tarball, not an image archive, so it has no image named "${ref}"`);
  return { kind: 'rootfs-tar', path: full };
}

/**
 * Image archives start with their own metadata or blob dirs (`docker save`, `podman save`,
 * `skopeo copy … oci-archive:`); a rootfs tarball starts with `./`, `bin`, `etc/`… Reading the
 * first few headers tells them apart without reading a whole rootfs.
 */
async function archiveKind(file: string): Promise<'oci-archive' | 'docker-archive' | undefined> {
  const c = sniffCompression(file);
  if (c !== 'none' && c !== 'gzip') return undefined;
  let names: string[];
  try {
    names = await firstEntries(file, 8);
  } catch (e) {
    if (e instanceof CrossrootError && e.code === 'EARCHIVE') {
      throw new CrossrootError('ENOSOURCE', `${file} is not a tar archive: ${e.message}`, { fix: 'give an OCI layout, image archive, rootfs tarball or directory', cause: e });
    }
    throw e;
  }
  const imageish = (n: string) => n === 'oci-layout' || n === 'index.json' || n === 'manifest.json' || n === 'repositories'
    || n === 'blobs' || n.startsWith('blobs/') || /^[0-9a-f]{64}(\.json|\.tar|\/.*)?$/.test(n);
  if (names.length === 0 || !names.every(imageish)) return undefined;
  return names.some((n) => n === 'oci-layout' || n === 'index.json' || n.startsWith('blobs/')) ? 'oci-archive' : 'docker-archive';
}

/** Index, manifest and config documents are read into memory: none is ever this large. */
const MAX_LAYOUT_DOC_BYTES = 16 * 1024 * 1024;

/**
 * Reads a layout's small blob (index, manifest, config) and checks it hashes to its name (a
 * layout dir is as untrusted as a registry): a regular file of its descriptor's size at most.
 */
function layoutBlob(dir: string, d: Descriptor, what: string): Buffer {
  const { digest } = d;
  const hex = digest.slice('sha256:'.length);
  let bytes: Buffer;
  try {
    bytes = readSmallFile(path.join(dir, 'blobs', 'sha256', hex), Math.min(d.size, MAX_LAYOUT_DOC_BYTES));
  } catch (e) {
    if (e instanceof SmallFileError) throw new CrossrootError('EARCHIVE', `${what}: blob ${digest} ${e.message}`, { fix: 'the layout is damaged; export it again' });
    throw new CrossrootError('EARCHIVE', `${what}: blob ${digest} is missing from ${dir}`, { fix: 'the layout is incomplete; export it again' });
  }
  const got = sha256Digest(bytes);
  if (got !== digest) throw new CrossrootError('EDIGEST', `${what}: blob ${digest} in ${dir} does not match its digest (got ${got})`);
  return bytes;
}

/**
 * The manifest an env of `arch` runs, from a layout's index.json: narrowed by ref name when
 * given, through a nested index when the entry is one, checked against the config's arch.
 */
function chooseFromLayout(index: Index, read: (d: Descriptor) => Buffer, arch: ArchInfo, what: string, ref?: string): ImportedImage {
  let entries = index.manifests;
  if (ref) {
    entries = entries.filter((d) => d.annotations?.[REF_NAME] === ref);
    if (entries.length === 0) {
      const names = [...new Set(index.manifests.map((d) => d.annotations?.[REF_NAME]).filter(Boolean))];
      throw new CrossrootError('ENOTFOUND', `${what} has no image named "${ref}"`, {
        fix: names.length ? `use one of: ${names.join(', ')}` : 'the layout names no images; leave the name out',
      });
    }
  }
  let chosen: Descriptor;
  if (entries.length === 1 && !entries[0]!.platform) chosen = entries[0]!;
  else if (entries.length > 0 && entries.every((d) => d.platform)) chosen = selectManifest({ ...index, manifests: entries }, arch, what);
  else {
    const names = entries.map((d) => d.annotations?.[REF_NAME]).filter(Boolean);
    throw new CrossrootError('EAMBIGUOUS', `${what} holds ${entries.length} images`, {
      fix: names.length ? `name one after the path, e.g. ${what}:${names[0]} (names: ${names.join(', ')})` : 'export a single image into it',
    });
  }
  let indexDigest: string | undefined;
  if (isIndexMediaType(chosen.mediaType)) {
    indexDigest = chosen.digest;
    chosen = selectManifest(parseIndex(read(chosen), `${what} (index ${chosen.digest})`), arch, what);
  }
  const manifest = parseManifest(read(chosen), `${what} (manifest ${chosen.digest})`);
  const config = parseImageConfig(read(manifest.config), manifest, `${what} (config)`);
  if (!chosen.platform) checkImageArch(config, arch, what);
  for (const l of manifest.layers) layerCompression(l.mediaType);
  const platform = platformString(chosen.platform ?? { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) });
  const out = { manifestDigest: chosen.digest, manifest, config, configDigest: manifest.config.digest, platform };
  return indexDigest ? { ...out, indexDigest } : out;
}

/** The image an env of `arch` runs from an OCI layout dir, read (verified) but not yet imported. */
export function resolveOciLayout(dir: string, arch: ArchInfo, ref?: string): ImportedImage {
  const index = parseIndex(readJsonFile(path.join(dir, 'index.json'), dir), `${dir}/index.json`);
  return chooseFromLayout(index, (d) => layoutBlob(dir, d, dir), arch, dir, ref);
}

/** Copies the blobs of an image resolved from a layout into the store, each verified. */
export async function importLayoutBlobs(store: Store, dir: string, img: ImportedImage, onProgress: ProgressListener = noProgress): Promise<void> {
  const small = [img.indexDigest, img.manifestDigest, img.configDigest].filter((d): d is string => !!d);
  for (const d of small) await store.importBlobFile(d, path.join(dir, 'blobs', 'sha256', d.slice(7)));
  const layers = img.manifest.layers;
  for (const [i, l] of layers.entries()) {
    const file = path.join(dir, 'blobs', 'sha256', l.digest.slice(7));
    if (!store.hasBlob(l.digest)) {
      // Copied as a stream until its end: a device or a file longer than the manifest says would never end (or fill the disk).
      const st = statSync(file, { throwIfNoEntry: false });
      if (!st) throw new CrossrootError('EARCHIVE', `${dir}: layer ${l.digest} is missing`, { fix: 'the layout is incomplete; export it again' });
      if (!st.isFile() || st.size !== l.size) {
        throw new CrossrootError('EARCHIVE', `${dir}: layer ${l.digest} is ${st.isFile() ? `${st.size} bytes, not the ${l.size} its manifest says` : 'not a regular file'}`, {
          fix: 'the layout is damaged; export it again',
        });
      }
    }
    const blob = { layer: i + 1, layers: layers.length, digest: l.digest, size: l.size };
    const cached = store.hasBlob(l.digest);
    await store.importBlobFile(l.digest, file, (n) => onProgress({ phase: 'download', blob, done: n }));
    onProgress({ phase: 'verify', blob, cached });
  }
}

/** Imports the chosen image of an OCI layout dir: its manifest, config and layers, verified. */
export async function importOciLayout(store: Store, dir: string, arch: ArchInfo, o: { ref?: string; onProgress?: ProgressListener } = {}): Promise<ImportedImage> {
  o.onProgress?.({ phase: 'resolve', source: dir });
  const img = resolveOciLayout(dir, arch, o.ref);
  await importLayoutBlobs(store, dir, img, o.onProgress);
  return img;
}

function readJsonFile(file: string, what: string): Buffer {
  try {
    return readSmallFile(file, MAX_LAYOUT_DOC_BYTES);
  } catch (e) {
    throw new CrossrootError('EARCHIVE', `${what}: cannot read ${path.basename(file)}: ${(e as Error).message}`, { fix: 'the layout is incomplete; export it again', cause: e });
  }
}

/**
 * Imports an oci-archive or docker-archive in one pass over the tar: every file becomes a blob
 * (named blobs are verified against their name, others are filed under their hash), then the
 * archive's index.json or manifest.json picks the image.
 */
export async function importArchive(store: Store, file: string, arch: ArchInfo, o: { ref?: string; onProgress?: ProgressListener } = {}): Promise<ImportedImage> {
  const onProgress = o.onProgress ?? noProgress;
  onProgress({ phase: 'resolve', source: file });
  const meta = new Map<string, Buffer>(); // small top-level metadata files
  const files = new Map<string, { digest: string; size: number }>(); // other files by archive path
  const stream = openTar(file);
  await readTar(stream, (e): EntrySink | undefined => {
    if (e.type !== '0' && e.type !== '7') return undefined;
    if (['oci-layout', 'index.json', 'manifest.json', 'repositories'].includes(e.name)) {
      if (e.size > 4 * 1024 * 1024) throw new CrossrootError('EARCHIVE', `${file}: ${e.name} is ${e.size} bytes, too big to be image metadata`);
      const parts: Buffer[] = [];
      return { write: (c) => { parts.push(Buffer.from(c)); }, end: () => { meta.set(e.name, Buffer.concat(parts)); } };
    }
    const named = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(e.name);
    const expected = named ? `sha256:${named[1]}` : undefined;
    if (expected && store.hasBlob(expected)) {
      files.set(e.name, { digest: expected, size: e.size });
      return undefined;
    }
    return blobSink(store, e.name, e.size, expected, file, files, onProgress);
  }, file);

  const read = (d: Descriptor | string): Buffer => {
    const digest = typeof d === 'string' ? d : d.digest;
    if (!store.hasBlob(digest)) throw new CrossrootError('EARCHIVE', `${file}: blob ${digest} is missing from the archive`, { fix: 'export the archive again' });
    return store.readBlob(digest);
  };
  if (meta.has('index.json')) {
    return chooseFromLayout(parseIndex(meta.get('index.json')!, `${file} (index.json)`), read, arch, file, o.ref);
  }
  if (meta.has('manifest.json')) return dockerArchiveImage(store, file, meta.get('manifest.json')!, files, arch, o.ref);
  throw new CrossrootError('EARCHIVE', `${file} has neither index.json (oci-archive) nor manifest.json (docker-archive)`, {
    fix: 'export the image again with `skopeo copy … oci-archive:FILE`, `docker save` or `podman save`',
  });
}

/** Streams one archive entry into the store as a blob, with backpressure and progress. */
function blobSink(store: Store, name: string, size: number, expected: string | undefined, file: string,
  files: Map<string, { digest: string; size: number }>, onProgress: ProgressListener): EntrySink {
  const pass = new PassThrough({ highWaterMark: 1 << 20 });
  const done = store.writeBlob(pass, {
    digest: expected,
    entry: `${path.resolve(file)}\0${name}`,
    what: `${file}: ${name}`,
    onBytes: (n) => onProgress({ phase: 'download', blob: { ...(expected ? { digest: expected } : {}), size, name }, done: n }),
  });
  done.catch(() => {}); // surfaced by end()
  return {
    abort: (e) => pass.destroy(e instanceof Error ? e : new Error(String(e))),
    write: (c) => (pass.write(c) ? undefined : new Promise<void>((r) => pass.once('drain', r))),
    end: async () => {
      pass.end();
      const r = await done;
      files.set(name, r);
      onProgress({ phase: 'verify', blob: { digest: r.digest, size, name }, cached: false });
    },
  };
}

interface DockerArchiveEntry { Config: string; RepoTags?: string[] | null; Layers: string[] }

/**
 * A docker-archive has no manifest blob: we write the OCI manifest the image would have (its
 * config and layers as blobs), so it is keyed, unpacked and collected like any other image.
 */
function dockerArchiveImage(store: Store, file: string, manifestJson: Buffer, files: Map<string, { digest: string; size: number }>, arch: ArchInfo, ref?: string): ImportedImage {
  let list: DockerArchiveEntry[];
  try {
    list = JSON.parse(manifestJson.toString('utf8')) as DockerArchiveEntry[];
    if (!Array.isArray(list) || !list.every((e) => typeof e.Config === 'string' && Array.isArray(e.Layers))) throw new Error('unexpected shape');
  } catch (e) {
    throw new CrossrootError('EARCHIVE', `${file}: manifest.json is not a docker-archive manifest (${(e as Error).message})`, { cause: e });
  }
  const tags = list.flatMap((e) => e.RepoTags ?? []);
  let entries = list;
  if (ref) {
    entries = list.filter((e) => (e.RepoTags ?? []).some((t) => t === ref || t.endsWith(`/${ref}`)));
    if (entries.length === 0) throw new CrossrootError('ENOTFOUND', `${file} has no image tagged "${ref}"`, { fix: tags.length ? `use one of: ${tags.join(', ')}` : 'the archive tags no images; leave the name out' });
  }
  if (entries.length !== 1) {
    throw new CrossrootError('EAMBIGUOUS', `${file} holds ${entries.length} images`, { fix: `name one after the path, e.g. ${file}:${tags[0] ?? 'TAG'}` });
  }
  const entry = entries[0]!;
  const blobOf = (p: string): { digest: string; size: number } => {
    const f = files.get(p.replace(/^(\.\/)+/, ''));
    if (!f) throw new CrossrootError('EARCHIVE', `${file}: ${p} (named in manifest.json) is missing from the archive`, { fix: 'export the archive again' });
    return f;
  };
  const cfg = blobOf(entry.Config);
  const config = parseImageConfig(store.readBlob(cfg.digest), undefined, `${file} (config)`);
  if (config.rootfs.diff_ids.length !== entry.Layers.length) {
    throw new CrossrootError('EARCHIVE', `${file}: the config lists ${config.rootfs.diff_ids.length} layers but manifest.json ${entry.Layers.length}`);
  }
  checkImageArch(config, arch, file);
  const layers: Descriptor[] = entry.Layers.map((p, i) => {
    const b = blobOf(p);
    const c = sniffCompression(store.blobPath(b.digest));
    // An uncompressed layer's digest is its diff_id: a free integrity check of the export.
    if (c === 'none' && b.digest !== config.rootfs.diff_ids[i]) {
      throw new CrossrootError('EDIGEST', `${file}: layer ${p} does not match diff_id ${config.rootfs.diff_ids[i]} of its config (got ${b.digest})`, { fix: 'export the archive again' });
    }
    const mediaType = c === 'gzip' ? MediaType.ociLayerGzip : c === 'zstd' ? MediaType.ociLayerZstd : c === 'none' ? MediaType.ociLayer : undefined;
    if (!mediaType) throw new CrossrootError('EARCHIVE', `${file}: layer ${p} is ${c}-compressed, which OCI images do not use`);
    return { mediaType, digest: b.digest, size: b.size };
  });
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: cfg.digest, size: cfg.size },
    layers,
  };
  const manifestDigest = store.putBlob(Buffer.from(JSON.stringify(manifest)));
  const platform = platformString({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) });
  return { manifestDigest, manifest, config, configDigest: cfg.digest, platform };
}

/** A rootfs tarball becomes one blob; its digest keys the unpacked tree. */
export async function importRootfsTarball(store: Store, file: string, onProgress: ProgressListener = noProgress): Promise<string> {
  onProgress({ phase: 'resolve', source: file });
  const c = sniffCompression(file);
  if (c !== 'none' && c !== 'gzip' && c !== 'zstd') {
    throw new CrossrootError('EARCHIVE', `${file} is ${c}-compressed; rootfs tarballs are read plain, gzip- or zstd-compressed`, {
      fix: `recompress it: ${decompressCommand(c, file)} | zstd -o ${file.replace(/\.(tar\.)?(xz|bz2|txz|tbz2?|lz4|lz|lzma|lzo|tzo|Z|taz)$/, '')}.tar.zst`,
    });
  }
  const total = statSync(file).size;
  // Hash first: a tarball already in the store (the usual case) is then only read, not copied.
  const hash = createHash('sha256');
  for await (const c of createReadStream(file)) hash.update(c as Buffer);
  const digest = `sha256:${hash.digest('hex')}`;
  const cached = store.hasBlob(digest);
  if (!cached) {
    await store.writeBlob(() => createReadStream(file), { digest, onBytes: (n) => onProgress({ phase: 'download', blob: { layer: 1, layers: 1, digest, size: total }, done: n }), what: file });
  }
  onProgress({ phase: 'verify', blob: { layer: 1, layers: 1, digest, size: total }, cached });
  return digest;
}
