// Getting a ready root filesystem for any Source: resolve (honouring crossroot.lock) → fetch or
// import verified blobs → unpack once into the store → the rootfs path every env of it shares.
import { existsSync, statSync } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import path from 'node:path';
import type { ArchInfo, ArchName } from '../arch';
import { CrossrootError } from '../errors';
import type { Source, SourceKind } from '../source';
import type { HeldLock } from '../store/lock';
import { digestHex, type ImageRecord, type Store } from '../store/store';
import { type IdMapMode, type UnpackOptions, type UnpackResult, unpackLayers } from '../store/unpack';
import { type DebianBootstrap, debianImage } from './debian';
import { detectLocalSource, importArchive, importLayoutBlobs, importRootfsTarball, resolveOciLayout } from './local';
import { type LockedImage, type Lockfile, lockedImage, lockfilePath, readLockfile } from '../lockfile';
import { type Descriptor, MediaType, layerCompression } from './oci';
import { platformName } from './platform';
import { inParallel } from './parallel';
import { type BlobInfo, waitMessage, noProgress, type ProgressListener } from './progress';
import { parseImageRef } from './ref';
import { sniffCompression } from './tar';
import { RegistryClient, type ResolvedImage } from './registry';

export interface PullOptions {
  store: Store;
  arch: ArchInfo;
  onProgress?: ProgressListener;
  /**
   * The folder of the env's crossroot.lock: a locked image is pulled by its digest, a moved tag
   * is reported, and the lockfile is registered so `crossroot gc` keeps what it pins.
   */
  lockfileDir?: string;
  /** The lockfile's content, when the caller has read it already (else read from lockfileDir). */
  lock?: Lockfile;
  /**
   * Keep the image marked in use (gc leaves it alone) until the returned `inUse` is released;
   * taken before the pull lets go of the store, so gc cannot slip in between.
   */
  use?: boolean;
  registry?: RegistryClient;
  idmap?: IdMapMode;
  /**
   * 'always' (default, `crossroot pull`): ask the registry what the tag names now. 'missing'
   * (`crossroot run`): a tag pulled before uses the image it gave then, with no network at all.
   */
  policy?: 'always' | 'missing';
  /** Parallel blob downloads (default 3). */
  concurrency?: number;
  signal?: AbortSignal;
}

export interface PulledImage {
  /** The source as the user wrote it (image ref or path). */
  source: string;
  kind: SourceKind;
  arch: ArchName;
  /** The root filesystem: read-only, shared; use it as an overlay lower. */
  rootfs: string;
  /** Store key of the unpacked tree (manifest digest, tarball digest or bootstrap hash); none for a plain dir. */
  digest?: string;
  manifestDigest?: string;
  indexDigest?: string;
  configDigest?: string;
  platform?: string;
  /** True when nothing had to be fetched or unpacked. */
  cached: boolean;
  /** The lockfile pinned `locked`, but the tag now points at `current` (`crossroot lock --update` moves it). */
  tagMoved?: { locked: string; current: string };
  /** With `use`: release when the rootfs is no longer in use. */
  inUse?: HeldLock;
}

/** File names that are image archives or rootfs tarballs, so a bare `img.tar` is a path. */
export const ARCHIVE_NAME = /\.(tar|tar\.gz|tgz|tar\.zst|tzst|tar\.xz|txz|tar\.bz2|tbz2?)$/;

/**
 * What a SOURCE argument means. A local path when it starts with `/`, `./`, `../` or `~/` (or is
 * `.`, `..`, `~`), or has an archive's extension (`.tar`, `.tar.gz`, `.tgz`, `.tar.zst`, …);
 * `PATH:NAME` picks an image inside a layout or archive. Anything else is an image reference,
 * as with `docker pull`, whatever the current folder holds: a file or folder there called
 * `alpine` never shadows the `alpine` image (write `./alpine` for it).
 */
export async function sourceFromArgument(arg: string): Promise<Source> {
  const expand = (p: string) => (p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p);
  const pathLike = /^(\/|\.\.?\/|~\/)/.test(arg) || arg === '.' || arg === '..' || arg === '~';
  // The longest prefix before a colon that exists: NAME may hold colons itself (`img.tar:repo:tag`).
  const existingPrefix = (p: string): number => {
    for (let i = p.lastIndexOf(':'); i > 0; i = p.lastIndexOf(':', i - 1)) if (existsSync(p.slice(0, i))) return i;
    return -1;
  };
  // A bare archive name, with or without `:NAME`: the part before the first colon says.
  const firstColon = arg.indexOf(':');
  const archive = ARCHIVE_NAME.test(firstColon < 0 ? arg : arg.slice(0, firstColon));
  if (pathLike || archive) {
    const p = expand(arg);
    if (existsSync(p)) return detectLocalSource(p);
    const colon = existingPrefix(p);
    if (colon > 0) return detectLocalSource(p.slice(0, colon), p.slice(colon + 1));
    throw new CrossrootError('ENOSOURCE', `${arg} does not exist`, { fix: 'give the path of an OCI layout, image archive, rootfs tarball or directory' });
  }
  try {
    parseImageRef(arg);
  } catch (e) {
    // Not a reference: say how to name the local path, if that is what was meant.
    if (e instanceof CrossrootError && existsSync(arg)) {
      throw new CrossrootError(e.code, e.message, { fix: `${e.fix ? `${e.fix}; ` : ''}for the local path ${arg}, write ./${arg}`, cause: e });
    }
    throw e;
  }
  return { kind: 'image', ref: arg };
}

/** The digest pair `crossroot lock` writes for a registry image. */
export function lockEntry(r: ResolvedImage, arch: ArchInfo): LockedImage {
  const e: LockedImage = { manifest: r.manifestDigest, platform: platformName(arch), config: r.configDigest };
  if (r.indexDigest) e.index = r.indexDigest;
  return e;
}

/** Makes the source's rootfs ready in the store (or, for a plain dir, checks it) and says where it is. */
export async function pull(source: Source, o: PullOptions): Promise<PulledImage> {
  const progress = o.onProgress ?? noProgress;
  if (source.kind === 'dir') {
    if (!existsSync(source.path) || !statSync(source.path).isDirectory()) {
      throw new CrossrootError('ENOSOURCE', `${source.path} is not a directory`, { fix: 'give the path of a root filesystem directory' });
    }
    progress({ phase: 'done', cached: true, source: source.path });
    return { source: source.path, kind: 'dir', arch: o.arch.name, rootfs: source.path, cached: true };
  }
  // Shared: many pulls at once; `crossroot gc` takes it exclusively so it never removes what a pull is using.
  const storeLock = await o.store.lockStore({ shared: true });
  try {
    const dir = o.lockfileDir;
    if (dir) {
      o = { ...o, lock: o.lock ?? readLockfile(dir) };
      if (o.lock) o.store.registerLockfile(lockfilePath(dir));
    }
    const out = await pullLocked(source, { ...o, heldFds: [storeLock.fd] }, progress);
    if (o.use && out.digest) out.inUse = await o.store.useImage(out.digest);
    progress({ phase: 'done', ...(out.digest ? { digest: out.digest } : {}), cached: out.cached, source: out.source });
    return out;
  } finally {
    storeLock.release();
  }
}

/** Internal: descriptors of locks the pull holds, for the helpers it starts. */
type PullState = PullOptions & { heldFds?: number[] };

async function pullLocked(source: Exclude<Source, { kind: 'dir' }>, o: PullState, progress: ProgressListener): Promise<PulledImage> {
  const base = { kind: source.kind, arch: o.arch.name };
  switch (source.kind) {
    case 'image':
      return pullRegistry(source.ref, o, progress);
    case 'oci-layout': {
      progress({ phase: 'resolve', source: source.path });
      const img = resolveOciLayout(source.path, o.arch, source.ref);
      const made = await unpackImage(o, img.manifestDigest, img.manifest.layers, progress, async () => {
        await importLayoutBlobs(o.store, source.path, img, progress);
        return { rec: { source: source.path, platform: img.platform, config: img.configDigest } };
      });
      return { ...base, source: source.path, ...made, manifestDigest: img.manifestDigest, ...(img.indexDigest ? { indexDigest: img.indexDigest } : {}), configDigest: img.configDigest, platform: img.platform };
    }
    case 'oci-archive':
    case 'docker-archive': {
      const img = await importArchive(o.store, source.path, o.arch, { ref: source.ref, onProgress: progress });
      const made = await unpackImage(o, img.manifestDigest, img.manifest.layers, progress, async () => ({ rec: { source: source.path, platform: img.platform, config: img.configDigest } }));
      return { ...base, source: source.path, ...made, manifestDigest: img.manifestDigest, ...(img.indexDigest ? { indexDigest: img.indexDigest } : {}), configDigest: img.configDigest, platform: img.platform };
    }
    case 'rootfs-tar': {
      const digest = await importRootfsTarball(o.store, source.path, progress);
      const size = statSync(o.store.blobPath(digest)).size;
      const c = sniffCompression(o.store.blobPath(digest));
      const layer: Descriptor = { mediaType: c === 'gzip' ? MediaType.ociLayerGzip : c === 'zstd' ? MediaType.ociLayerZstd : MediaType.ociLayer, digest, size };
      const made = await unpackImage(o, digest, [layer], progress, async () => ({ rec: { source: source.path, platform: platformName(o.arch) } }));
      return { ...base, source: source.path, ...made, platform: platformName(o.arch) };
    }
    case 'debian': {
      let cached = false;
      const d = await debianImage(o.store, {
        arch: o.arch.name, suite: source.suite,
        ...(source.variant ? { variant: source.variant as DebianBootstrap['variant'] } : {}),
        ...(source.packages ? { include: source.packages } : {}),
        ...(source.mirror ? { mirror: source.mirror } : {}),
        ...(source.snapshot ? { snapshot: source.snapshot } : {}),
      }, (e) => {
        if (e.phase === 'done') cached = !!e.cached; // pull() reports done itself
        else progress(e);
      });
      return { ...base, source: `debian:${source.suite}`, rootfs: d.rootfs, digest: d.digest, platform: platformName(o.arch), cached };
    }
    case 'dockerfile':
      // A build, not a pull: the env builds it (src/core/env/dockerfile.ts), pulling each FROM image.
      throw new CrossrootError('EUSAGE', `${source.file} is a Dockerfile: it is built by \`crossroot build\`, not pulled`, { fix: 'run `crossroot build` in the project' });
  }
}

/** Blobs that are still arriving while the unpack starts (registry pulls). */
interface BlobFeed {
  /** Settles when the blob is in the store, verified; rejects when its download failed. */
  blob(digest: string): Promise<void>;
  /** Settles when every download has ended; rejects with the first failure. */
  all: Promise<void>;
  /** Stops the downloads still running (the unpack failed, so they are not needed now). */
  cancel(): void;
}

/**
 * Unpacks `layers` into the image entry `key`, unless it is there already. Concurrent pulls of
 * one image wait for the first and share it. `fetch` brings the blobs: either all of them before
 * it returns, or (registry) as a feed, so each layer is unpacked while it is still downloading.
 */
async function unpackImage(o: PullState, key: string, layers: Descriptor[], progress: ProgressListener,
  fetch: () => Promise<{ rec: Omit<ImageRecord, 'digest' | 'created' | 'blobs' | 'idmap'>; feed?: BlobFeed }>): Promise<{ rootfs: string; digest: string; cached: boolean }> {
  for (const l of layers) layerCompression(l.mediaType);
  const { cached } = await o.store.ensureImage(key, {
    onWait: (pid) => progress({ phase: 'wait', digest: key, ...(pid ? { pid } : {}), message: waitMessage(pid, 'preparing this image') }),
    build: async (rootfs, entryLock) => {
      const { rec, feed } = await fetch();
      const n = layers.length;
      const options = (first: number) => ({
        idmap: o.idmap ?? 'auto',
        signal: o.signal,
        keepFds: [entryLock.fd, ...(o.heldFds ?? [])],
        onLayer: (j: number, bytesIn: number, finished: boolean) => {
          const l = layers[first + j];
          progress({ phase: 'unpack', layer: first + j + 1, layers: n, ...(l ? { digest: l.digest, size: l.size } : {}), done: finished ? l?.size ?? bytesIn : bytesIn });
        },
        // The helper's own note goes to its stderr, which is only shown on failure: pass it on.
        onDone: (r: UnpackResult) => {
          const devices = r.skipped.devices ?? 0;
          if (devices) progress({ phase: 'note', message: `skipped ${devices} device node${devices === 1 ? '' : 's'}: a user namespace cannot create them (the env gets /dev from the host)` });
        },
      });
      const files = () => unpackLayers(o.store.helper(), rootfs, layers.map((l) => o.store.blobPath(l.digest)), options(0));
      let idmap: string;
      if (!feed) idmap = (await files()).idmap;
      else idmap = await unpackWhileDownloading(o, rootfs, layers, feed, options, files);
      const blobs = [...(rec.config ? [rec.config] : []), ...layers.map((l) => l.digest)];
      if (key !== layers[0]?.digest) blobs.unshift(key);
      return { ...rec, blobs: blobs.filter((b) => o.store.hasBlob(b)), idmap };
    },
  });
  return { rootfs: o.store.rootfsPath(key), digest: key, cached };
}

/**
 * One helper per layer, in order, each fed the layer's bytes as they land on disk, so the unpack
 * keeps pace with the download instead of starting after it. The bytes are not verified yet
 * while they are applied: that is safe because the tree lives in tmp/ and is published only
 * after every blob's digest matched (the helper never writes outside its target, whatever the
 * bytes). When a download had to start over, the unpack is redone from the verified blobs.
 */
async function unpackWhileDownloading(o: PullState, rootfs: string, layers: Descriptor[], feed: BlobFeed,
  options: (first: number) => UnpackOptions, files: () => Promise<{ idmap: string }>): Promise<string> {
  let idmap = 'unknown';
  let failure: unknown;
  try {
    for (const [i, l] of layers.entries()) {
      const input = o.store.hasBlob(l.digest) ? [o.store.blobPath(l.digest)] : followDownload(o.store.partialBlobPath(l.digest), o.store.blobPath(l.digest), feed.blob(l.digest));
      idmap = (await unpackLayers(o.store.helper(), rootfs, input, options(i))).idmap;
    }
  } catch (e) {
    failure = e;
    if (!isRestart(e)) feed.cancel();
  }
  // An unpack failure is reported as it is (a failed download reaches it through its stream);
  // otherwise the first download failure is.
  await feed.all.catch((e: unknown) => { throw failure !== undefined && !isRestart(failure) ? failure : e; });
  if (failure === undefined) return idmap;
  if (!isRestart(failure)) throw failure;
  o.store.removeTree(rootfs);
  return (await files()).idmap;
}

const RESTART = 'EDOWNLOADRESTARTED';
function isRestart(e: unknown): boolean {
  return e instanceof CrossrootError && e.code === RESTART;
}

/**
 * The bytes of a blob being downloaded, read from its partial file as it grows (the registry
 * client writes `partial` and renames it to `dest` once verified), ending when `done` settles.
 * Also follows a download made by another process, which holds the blob's lock meanwhile.
 */
function followDownload(partial: string, dest: string, done: Promise<void>): Readable {
  let finished = false;
  let failed: unknown;
  done.then(() => { finished = true; }, (e: unknown) => { failed = e; });
  async function* bytes(): AsyncGenerator<Buffer> {
    let fh: FileHandle | undefined;
    let pos = 0;
    try {
      for (;;) {
        if (failed !== undefined) throw failed;
        const complete = finished;
        fh ??= await openFirst([partial, dest]);
        if (!fh) {
          if (complete) throw new CrossrootError(RESTART, `${dest} vanished while it was read`);
          await sleep(5);
          continue;
        }
        const buf = Buffer.allocUnsafe(1 << 20);
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead > 0) {
          pos += bytesRead;
          yield buf.subarray(0, bytesRead);
        } else if (complete) {
          // Same inode as the verified blob: we streamed exactly the bytes that were checked.
          const [a, b] = [await fh.stat(), await stat(dest)];
          if (a.ino !== b.ino || a.dev !== b.dev || pos !== b.size) throw new CrossrootError(RESTART, `the download of ${dest} started over`);
          return;
        } else {
          await sleep(5);
        }
      }
    } finally {
      await fh?.close();
    }
  }
  return Readable.from(bytes(), { objectMode: false });
}

async function openFirst(paths: string[]): Promise<FileHandle | undefined> {
  for (const p of paths) {
    try {
      return await open(p, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return undefined;
}

async function pullRegistry(refText: string, o: PullState, progress: ProgressListener): Promise<PulledImage> {
  const ref = parseImageRef(refText);
  const registry = o.registry ?? new RegistryClient();
  const locked = lockedImage(o.lock, refText, o.arch.name);
  progress({ phase: 'resolve', source: ref.familiar() });

  // With a lock, the build uses the locked digest; the tag is still looked up to say when it moved.
  let tagMoved: PulledImage['tagMoved'];
  const tagCheck = locked && !ref.digest
    ? registry.oneShot().fetchManifest(ref, ref.reference, o.signal).then((m) => {
      const pinned = locked.index ?? locked.manifest;
      if (m.digest !== pinned) tagMoved = { locked: pinned, current: m.digest };
    }, () => { /* offline: the lock is enough to build */ })
    : Promise.resolve();

  const result = (r: { rootfs: string; digest: string; cached: boolean }, m: { manifest: string; index?: string; config: string; platform: string }): PulledImage => {
    const out: PulledImage = { source: refText, kind: 'image', arch: o.arch.name, ...r, manifestDigest: m.manifest, configDigest: m.config, platform: m.platform };
    if (m.index) out.indexDigest = m.index;
    if (tagMoved) {
      out.tagMoved = tagMoved;
      progress({ phase: 'moved', source: ref.familiar(), ...tagMoved });
    }
    return out;
  };

  if (locked && o.store.image(locked.manifest)) {
    await tagCheck;
    return result({ rootfs: o.store.rootfsPath(locked.manifest), digest: locked.manifest, cached: true }, locked);
  }
  const known = locked ? undefined : o.store.taggedImage(refText, o.arch.name);
  if (known && o.policy === 'missing') return result({ rootfs: o.store.rootfsPath(known.manifest), digest: known.manifest, cached: true }, known);
  if (known && !ref.digest) {
    // Up to date when the tag still names what it named at the last pull: one manifest request
    // instead of the three (index, platform manifest, config) a full resolve makes.
    const top = await registry.fetchManifest(ref, ref.reference, o.signal);
    if (top.digest === (known.index ?? known.manifest)) return result({ rootfs: o.store.rootfsPath(known.manifest), digest: known.manifest, cached: true }, known);
  }
  const resolved = await registry.resolve(locked ? ref.withDigest(locked.manifest) : ref, o.arch, { signal: o.signal });
  const entry = lockEntry(resolved, o.arch);
  if (locked?.index) entry.index = locked.index;
  const layers = resolved.manifest.layers;
  const made = await unpackImage(o, resolved.manifestDigest, layers, progress, async () => {
    // resolve() fetched and verified the config already: keep those bytes rather than ask again.
    if (!o.store.hasBlob(resolved.configDigest)) await o.store.writeBlob(Readable.from([Buffer.from(resolved.configBytes)]), { digest: resolved.configDigest });
    return {
      rec: { source: ref.familiar(), platform: entry.platform, config: resolved.configDigest },
      feed: fetchBlobs(o, registry, ref, [resolved.manifest.config, ...layers], progress),
    };
  });
  await tagCheck;
  if (!locked) o.store.recordTag(refText, o.arch.name, entry);
  return result(made, entry);
}

/**
 * Starts downloading the blobs the store lacks, a few at a time, and returns at once. Each blob
 * is fetched under its own lock, so pulls of two images that share a layer download it once.
 */
function fetchBlobs(o: PullOptions, registry: RegistryClient, ref: ReturnType<typeof parseImageRef>, descs: Descriptor[], progress: ProgressListener): BlobFeed {
  const layerNo = (d: Descriptor) => (d === descs[0] ? undefined : descs.indexOf(d));
  const layers = descs.length - 1;
  const stop = new AbortController();
  const settled = new Map<string, { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void }>();
  for (const d of descs) {
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
    promise.catch(() => {}); // observed through blob() or all
    settled.set(d.digest, { promise, resolve, reject });
  }
  const one = async (d: Descriptor, signal: AbortSignal): Promise<void> => {
    const blob: BlobInfo = { digest: d.digest, size: d.size, ...(d === descs[0] ? { name: 'config' } : { layer: layerNo(d), layers }) };
    if (!o.store.hasBlob(d.digest)) {
      const lock = await o.store.lock(`blob-${digestHex(d.digest)}`, {
        onWait: (pid) => progress({ phase: 'wait', digest: d.digest, ...(pid ? { pid } : {}), message: waitMessage(pid, `downloading ${blob.name ?? `layer ${blob.layer}`}`) }),
      });
      try {
        if (!o.store.hasBlob(d.digest)) {
          await registry.fetchBlob(ref, d, o.store.blobPath(d.digest), { partial: o.store.partialBlobPath(d.digest), signal, onProgress: (p) => progress({ phase: 'download', blob, done: p.done }) });
          progress({ phase: 'verify', blob, cached: false });
        }
      } finally {
        lock.release();
      }
    } else {
      progress({ phase: 'verify', blob, cached: true });
    }
    settled.get(d.digest)!.resolve();
  };
  const signal = o.signal ? AbortSignal.any([o.signal, stop.signal]) : stop.signal;
  const all = inParallel(descs, o.concurrency ?? 3, one, signal);
  // Blobs that failed or never started settle with the failure, so no reader waits forever.
  all.catch((e: unknown) => { for (const s of settled.values()) s.reject(e); });
  return {
    blob: (digest) => settled.get(digest)!.promise,
    all,
    cancel: () => stop.abort(new CrossrootError('ECANCELLED', 'the unpack failed, so the download was stopped')),
  };
}
