// The content-addressed store: verified blobs, unpacked images shared by every env of an image,
// and the tmp/ + locks/ machinery that makes each entry appear whole or not at all.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, chmodSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import path from 'node:path';
import { CrossrootError } from '../errors';
import type { LockedImage } from '../lockfile';
import { callHelperSync } from '../sandbox/client';
import { findHelper } from '../sandbox/helper';
import { waitForLock, type HeldLock, type LockOptions } from './lock';
import { checkPrivate, defaultStoreRoot, sharedStoreFromEnv } from './root';

export { defaultStoreRoot } from './root';

const DIGEST = /^sha256:([0-9a-f]{64})$/;

type BlobSource = Readable | AsyncIterable<Uint8Array>;



/** The hex part of a sha256 digest; throws on anything else (digests become path names). */
export function digestHex(digest: string): string {
  const m = DIGEST.exec(digest);
  if (!m) throw new CrossrootError('EDIGEST', `invalid digest ${JSON.stringify(digest)} (expected sha256:<64 lowercase hex digits>)`);
  return m[1]!;
}

/** What `images/<hex>/image.json` records about an unpacked image. */
export interface ImageRecord {
  /** The key: the image manifest digest (registry, OCI and docker archives) or the tarball digest. */
  digest: string;
  /** Where it came from, for `crossroot gc` listings: an image ref or a file path. */
  source: string;
  /** Blobs the entry was made from (manifest, config, layers), kept while the image is kept. */
  blobs: string[];
  platform?: string;
  /** Digest of the image config blob (Env, WorkingDir, User for `run`). */
  config?: string;
  /** How owners were written: 'full' (subordinate ids) or 'single' (caller, real owner in an xattr). */
  idmap?: string;
  created: string;
}

export interface EnsureImageOptions {
  /**
   * Makes the tree in `rootfs` (which does not exist yet) and says what the record holds.
   * `lock` is the entry lock: hand its fd to helper processes so it outlives a killed caller.
   */
  build: (rootfs: string, lock: HeldLock) => Promise<Omit<ImageRecord, 'digest' | 'created'>>;
  /** Another process is making the same entry; we wait for it instead of doing it twice. */
  onWait?: (holderPid: number | undefined) => void;
}

export interface StoreOptions {
  /** The helper binary, for unpacking and for removing trees owned by subordinate uids. */
  helper?: string;
  /**
   * Accept a store that other users can enter or that is not yours (`--shared-store`). Default:
   * CROSSROOT_SHARED_STORE=1, else refuse it, since its images' setuid files would run as you.
   */
  shared?: boolean;
}



export class Store {
  readonly root: string;
  /**
   * Set when a shared store (opened with `shared`) is open to other users: what that exposes,
   * for the caller to show. Undefined for a private store.
   */
  readonly sharedWarning: string | undefined;
  private readonly helperPath: string | undefined;

  private constructor(root: string, o: StoreOptions, sharedWarning: string | undefined) {
    this.root = root;
    this.helperPath = o.helper;
    this.sharedWarning = sharedWarning;
  }

  /**
   * The file system's clock now: the ctime (ns) and device of a file made and removed in tmp/. What a build
   * read may be trusted unchanged only if its ctime is older (env/plan.ts contextAnswers): the
   * same kernel clock, unlike Date.now(), which runs ahead of the coarse file timestamps.
   */
  clockMark(): { ctimeNs: bigint; dev: bigint } {
    const f = path.join(this.root, 'tmp', `clock-${process.pid}-${randomBytes(4).toString('hex')}`);
    writeFileSync(f, '');
    try {
      const st = statSync(f, { bigint: true });
      return { ctimeNs: st.ctimeNs, dev: st.dev };
    } finally {
      rmSync(f, { force: true });
    }
  }

  /**
   * Opens (creating as needed) the store at `root`. The root is made 0700 and checked on every
   * open, as podman's storage is: unpacked images keep their setuid bits and file capabilities
   * (sudo and ping must work inside envs), so a store another user can enter would let them run
   * those files as you. Its parent may be 0755; only the root needs to be closed.
   */
  static open(root = defaultStoreRoot(), o: StoreOptions = {}): Store {
    const dir = path.resolve(root);
    const cannot = (e: unknown) => new CrossrootError('ESTORE', `cannot create the image store at ${dir}: ${(e as Error).message}`, {
      fix: 'make the folder writable, or choose another store with --store DIR or CROSSROOT_STORE', cause: e,
    });
    let st;
    try {
      mkdirSync(path.dirname(dir), { recursive: true });
      try {
        mkdirSync(dir, { mode: 0o700 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      st = statSync(dir);
    } catch (e) {
      throw cannot(e);
    }
    const s = new Store(dir, o, checkPrivate(dir, st, o.shared ?? sharedStoreFromEnv()));
    try {
      for (const d of ['blobs/sha256', 'images', 'layers', 'tmp', 'locks', 'roots', 'refs', 'envs']) mkdirSync(path.join(s.root, d), { recursive: true });
    } catch (e) {
      throw cannot(e);
    }
    return s;
  }

  /** The helper binary; found lazily so blob-only work does not need a built helper. */
  helper(): string {
    return this.helperPath ?? findHelper();
  }

  blobPath(digest: string): string {
    return path.join(this.root, 'blobs', 'sha256', digestHex(digest));
  }

  /**
   * Where a blob grows while it downloads: the registry client writes here (resuming what a
   * killed pull left) and renames it to blobPath() once its sha256 matches; a pull that unpacks
   * while downloading reads it as it grows; gc removes the ones no pull is resuming. The name
   * is the store's to choose, so no other module spells it.
   */
  partialBlobPath(digest: string): string {
    return `${this.blobPath(digest)}.partial`;
  }

  /** Partial downloads in the store (see partialBlobPath), as paths. */
  partialBlobs(): string[] {
    const dir = path.join(this.root, 'blobs', 'sha256');
    return readdirSync(dir).filter((n) => /^[0-9a-f]{64}\.partial$/.test(n)).map((n) => path.join(dir, n));
  }

  hasBlob(digest: string): boolean {
    return existsSync(this.blobPath(digest));
  }

  readBlob(digest: string): Buffer {
    return readFileSync(this.blobPath(digest));
  }

  /** `images/<hex>`: the entry dir holding `rootfs/` and `image.json`. */
  imageDir(digest: string): string {
    return path.join(this.root, 'images', digestHex(digest));
  }

  /** The unpacked root filesystem of an image; use it read-only (as an overlay lower). */
  rootfsPath(digest: string): string {
    return path.join(this.imageDir(digest), 'rootfs');
  }

  /** The record of an unpacked image, or undefined when it is not in the store. */
  image(digest: string): ImageRecord | undefined {
    try {
      return JSON.parse(readFileSync(path.join(this.imageDir(digest), 'image.json'), 'utf8')) as ImageRecord;
    } catch {
      return undefined;
    }
  }

  /** Every complete image entry (anything in images/ is complete: entries appear by rename). */
  images(): ImageRecord[] {
    return readdirSync(path.join(this.root, 'images'))
      .map((hex) => this.image(`sha256:${hex}`))
      .filter((r): r is ImageRecord => r !== undefined);
  }

  blobs(): string[] {
    return readdirSync(path.join(this.root, 'blobs', 'sha256')).filter((h) => /^[0-9a-f]{64}$/.test(h)).map((h) => `sha256:${h}`);
  }

  lockPath(name: string): string {
    return path.join(this.root, 'locks', `${name}.lock`);
  }

  /** Locks one entry (`blob-<hex>`, `image-<hex>`) so only one process makes it. */
  lock(name: string, o: Omit<LockOptions, 'noWait'> = {}): Promise<HeldLock> {
    return waitForLock(this.lockPath(name), o);
  }

  /**
   * Work that adds to the store holds the store lock shared; `gc` holds it exclusive, so it
   * never removes something a running pull is about to use, and may clear all of tmp/.
   */
  lockStore(o: Omit<LockOptions, 'noWait'> = {}): Promise<HeldLock> {
    return waitForLock(this.lockPath('store'), o);
  }

  /**
   * A throwaway writable layer (`crossroot run`): `upper/` and `work/` in a fresh tmp/ dir, kept
   * from gc by the `run-<id>` lock, which the caller holds until it has removed the dir. Lock and
   * dir are made under the shared store lock: gc holds that exclusively while it removes tmp/
   * entries and unlinks idle lock files, so it never runs between this lock file's open and its
   * flock (it would unlink the file, and the next gc would find the dir's lock free).
   */
  async runLayer(): Promise<{ dir: string; upper: string; work: string; lock: HeldLock }> {
    const storeLock = await this.lockStore({ shared: true });
    try {
      const id = `run-${randomBytes(6).toString('hex')}`;
      const lock = await this.lock(id);
      const dir = this.tempPath(id);
      const layer = { dir, upper: path.join(dir, 'upper'), work: path.join(dir, 'work'), lock };
      try {
        mkdirSync(layer.upper, { recursive: true });
        mkdirSync(layer.work);
      } catch (e) {
        rmSync(dir, { recursive: true, force: true });
        lock.release();
        throw new CrossrootError('ESTORE', `cannot make a writable layer in ${dir}: ${(e as Error).message}`, { cause: e });
      }
      return layer;
    } finally {
      storeLock.release();
    }
  }

  /**
   * A fresh path under tmp/ for building entry `name`. tmp/ is on the store's filesystem, so
   * the finished entry moves into place with one atomic rename.
   */
  tempPath(name: string): string {
    return path.join(this.root, 'tmp', `${name}.${process.pid}.${randomBytes(4).toString('hex')}`);
  }

  /**
   * Removes leftovers of entry `name` from crashed runs. Call only while holding that entry's
   * lock: then no live process is building it.
   */
  clearTemp(name: string): void {
    for (const n of readdirSync(path.join(this.root, 'tmp'))) {
      if (!n.startsWith(`${name}.`)) continue;
      const p = path.join(this.root, 'tmp', n);
      // A partial blob is one file: unlinked here; only trees need the helper.
      if (lstatSync(p, { throwIfNoEntry: false })?.isDirectory()) this.removeTree(p);
      else rmSync(p, { force: true });
    }
  }

  /** Everything in tmp/ (for gc, which holds the store lock exclusively). */
  tempEntries(): string[] {
    return readdirSync(path.join(this.root, 'tmp')).map((n) => path.join(this.root, 'tmp', n));
  }

  /**
   * Moves a finished entry from tmp/ into place. Returns false when the destination already
   * exists (then `from` is removed), which only happens when a caller skipped the entry lock.
   */
  commit(from: string, to: string): boolean {
    try {
      renameSync(from, to);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOTEMPTY') {
        this.removeTree(from);
        return false;
      }
      throw new CrossrootError('ESTORE', `cannot move ${from} to ${to}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Writes a blob from a stream (or a function that opens one, called only when the blob is
   * still missing), hashing as it goes. With `digest`, only bytes whose sha256 matches are kept
   * (EDIGEST otherwise); without, the blob is filed under the digest it has, and `entry` names
   * where the bytes come from (e.g. archive path + member), so that a rerun finds the leftovers
   * of a killed one.
   *
   * The temp file is written under the entry's lock (`blob-<hex>`, or `blob-from-<hash of
   * entry>`), which first clears what killed writers of the same entry left in tmp/: a kill -9
   * during a copy leaves its partial file until the next copy of that blob, not until gc.
   */
  async writeBlob(input: BlobSource | (() => BlobSource), o: { digest?: string; entry?: string; onBytes?: (n: number) => void; what?: string } = {}): Promise<{ digest: string; size: number }> {
    const name = o.digest ? `blob-${digestHex(o.digest)}`
      : `blob-from-${createHash('sha256').update(o.entry ?? randomBytes(16).toString('hex')).digest('hex').slice(0, 32)}`;
    const lock = await this.lock(name);
    try {
      this.clearTemp(name);
      if (o.digest && this.hasBlob(o.digest)) {
        // Another process copied it meanwhile. A stream we were handed is read to its end
        // (its writer may be waiting on it); a source not yet opened is never opened.
        if (typeof input !== 'function') for await (const _ of input) { /* drained */ }
        return { digest: o.digest, size: statSync(this.blobPath(o.digest)).size };
      }
      return await this.writeBlobLocked(typeof input === 'function' ? input() : input, this.tempPath(name), o);
    } finally {
      lock.release();
    }
  }

  private async writeBlobLocked(source: BlobSource, tmp: string, o: { digest?: string; onBytes?: (n: number) => void; what?: string }): Promise<{ digest: string; size: number }> {
    const hash = createHash('sha256');
    let n = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        n += chunk.length;
        o.onBytes?.(n);
        cb(null, chunk);
      },
    });
    let digest: string;
    try {
      await pipeline(source, tap, createWriteStream(tmp, { mode: 0o444 }));
      digest = `sha256:${hash.digest('hex')}`;
      if (o.digest && digest !== o.digest) {
        throw new CrossrootError('EDIGEST', `${o.what ?? `blob ${o.digest}`} does not match its digest: expected ${o.digest}, got ${digest} (${n} bytes)`, {
          fix: 'the source is damaged or was changed; fetch or export it again',
        });
      }
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
    this.commit(tmp, this.blobPath(digest));
    return { digest, size: n };
  }

  /** Copies a local file into blobs/ if its sha256 is `digest` (verified, like a download). */
  async importBlobFile(digest: string, file: string, onBytes?: (n: number) => void): Promise<string> {
    if (!this.hasBlob(digest)) await this.writeBlob(() => createReadStream(file), { digest, onBytes, what: file });
    return this.blobPath(digest);
  }

  /** Writes small bytes (manifests, configs) as a blob under their own digest. */
  putBlob(bytes: Uint8Array): string {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (!this.hasBlob(digest)) {
      const tmp = this.tempPath(`blob-${digestHex(digest)}`);
      writeFileSync(tmp, bytes, { mode: 0o444 });
      this.commit(tmp, this.blobPath(digest));
    }
    return digest;
  }

  /**
   * Removes a tree (rm -rf) through `crossroot-helper remove`, always: only it can delete files
   * owned by subordinate uids (it enters the user namespace when they are there), and it walks
   * any depth with a few fds, where Node's recursive rmSync overflows its stack on a tree of a
   * few thousand nested directories that a command in an env can make.
   */
  removeTree(p: string): void {
    try {
      callHelperSync(this.helper(), { argv: ['remove', '--target', p] });
    } catch (e) {
      if (!(e instanceof CrossrootError) || e.code === 'ENOHELPER') throw e;
      throw new CrossrootError('ESTORE', `cannot remove ${p}: ${e.message}`, {
        fix: e.fix ?? `remove it by hand: crossroot-helper remove --target ${p}`, cause: e,
      });
    }
  }

  /** Makes a new image entry dir holding `rootfs/` + `image.json`, and returns its tmp path. */
  /**
   * The image entry `digest`, made by `build` when missing (see ensureEntry).
   */
  async ensureImage(digest: string, o: EnsureImageOptions): Promise<{ record: ImageRecord; cached: boolean }> {
    const { value, cached } = await this.ensureEntry(`image-${digestHex(digest)}`, {
      get: () => this.image(digest),
      make: async (tmp, lock) => ({ digest, ...(await o.build(path.join(tmp, 'rootfs'), lock)), created: new Date().toISOString() }),
      place: (tmp, record) => this.commitImage(tmp, record),
      ...(o.onWait ? { onWait: o.onWait } : {}),
    });
    return { record: value, cached };
  }

  /**
   * The one way anything appears in the store (an image entry, a setup-step layer): look; else
   * take the entry's lock and look again (another process made it meanwhile); clear what killed
   * makers left in tmp/; make it in a fresh dir there; move it into place with one rename. So
   * concurrent makers make it once, and a failure or a kill -9 leaves nothing in place. `make`
   * gets the entry lock: hand its fd to helper processes so it outlives a killed caller.
   */
  async ensureEntry<T>(name: string, o: {
    get(): T | undefined;
    make(tmp: string, lock: HeldLock): Promise<T>;
    /** Moves the made dir into place (after writing its record); the rename is the commit. */
    place(tmp: string, made: T): void;
    onWait?: (holderPid: number | undefined) => void;
  }): Promise<{ value: T; cached: boolean }> {
    const have = o.get();
    if (have !== undefined) return { value: have, cached: true };
    const lock = await this.lock(name, o.onWait ? { onWait: o.onWait } : {});
    try {
      const made = o.get();
      if (made !== undefined) return { value: made, cached: true };
      this.clearTemp(name);
      const tmp = this.tempPath(name);
      mkdirSync(tmp);
      try {
        const value = await o.make(tmp, lock);
        o.place(tmp, value);
        return { value, cached: false };
      } catch (e) {
        this.removeTree(tmp);
        throw e;
      }
    } finally {
      lock.release();
    }
  }

  /**
   * Remembers a crossroot.lock so `crossroot gc` keeps the images it pins. A symlink per
   * lockfile (named by a hash of its path): adding one is atomic and needs no shared list.
   */
  registerLockfile(file: string): void {
    const link = this.lockfileLink(file);
    if (existsSync(link)) return;
    const tmp = this.tempPath('root');
    symlinkSync(path.resolve(file), tmp);
    renameSync(tmp, link);
  }

  forgetLockfile(file: string): void {
    rmSync(this.lockfileLink(file), { force: true });
  }

  private lockfileLink(file: string): string {
    return path.join(this.root, 'roots', `lock-${createHash('sha256').update(path.resolve(file)).digest('hex').slice(0, 16)}`);
  }

  /** The lockfiles registered with registerLockfile (those that were moved or deleted included). */
  lockfileRoots(): string[] {
    const dir = path.join(this.root, 'roots');
    return readdirSync(dir).filter((n) => n.startsWith('lock-')).map((n) => readlinkSync(path.join(dir, n)));
  }

  /**
   * Pins images, setup-step layers and fetched Features (their digests, the names of their
   * `features/` folders) for `crossroot gc` under a name of the caller's choosing (an env id):
   * the lifecycle code records what each env is built on here.
   */
  setRoot(name: string, images: string[], layers: string[] = [], features: string[] = []): void {
    if (!/^[\w.-]+$/.test(name) || name.startsWith('lock-')) throw new CrossrootError('ESTORE', `invalid root name ${JSON.stringify(name)}`);
    const tmp = this.tempPath('root');
    writeFileSync(tmp, JSON.stringify({ images, layers, ...(features.length ? { features } : {}) }) + '\n');
    renameSync(tmp, path.join(this.root, 'roots', `${name}.json`));
  }

  removeRoot(name: string): void {
    rmSync(path.join(this.root, 'roots', `${name}.json`), { force: true });
  }

  /** Images pinned with setRoot. */
  pinnedImages(): string[] {
    return this.pinned('images');
  }

  /** Setup-step layers pinned with setRoot. */
  pinnedLayers(): string[] {
    return this.pinned('layers');
  }

  /** Fetched Features (digests) pinned with setRoot. */
  pinnedFeatures(): string[] {
    return this.pinned('features');
  }

  private pinned(field: 'images' | 'layers' | 'features'): string[] {
    const dir = path.join(this.root, 'roots');
    return readdirSync(dir).filter((n) => n.endsWith('.json')).flatMap((n) => {
      try {
        const v = (JSON.parse(readFileSync(path.join(dir, n), 'utf8')) as Record<string, unknown>)[field];
        return Array.isArray(v) ? v.filter((d): d is string => typeof d === 'string') : [];
      } catch {
        return [];
      }
    });
  }

  /**
   * Marks an image as in use (an env or `crossroot run` has it as its overlay lower) until
   * released; `crossroot gc` skips images in use. Shared, so any number of users may hold it.
   */
  useImage(digest: string): Promise<HeldLock> {
    return this.lock(`use-${digestHex(digest)}`, { shared: true });
  }

  /**
   * Remembers which image a reference gave for an arch at its last pull, so `crossroot run REF`
   * can use it without asking the registry (Docker's pull policy "missing"), also offline.
   */
  recordTag(ref: string, arch: string, image: LockedImage): void {
    const tmp = this.tempPath('ref');
    writeFileSync(tmp, JSON.stringify({ ref, arch, ...image }) + '\n');
    renameSync(tmp, this.tagPath(ref, arch));
  }

  /** The image `ref` gave for `arch` at its last pull, if it is still in the store. */
  taggedImage(ref: string, arch: string): LockedImage | undefined {
    try {
      const t = JSON.parse(readFileSync(this.tagPath(ref, arch), 'utf8')) as LockedImage & { ref: string; arch: string };
      if (t.ref !== ref || t.arch !== arch || !this.image(t.manifest)) return undefined;
      const { ref: _r, arch: _a, ...image } = t;
      return image;
    } catch {
      return undefined;
    }
  }

  /** Every recorded reference, with the file that records it (for gc). */
  tags(): Array<{ file: string; manifest: string }> {
    const dir = path.join(this.root, 'refs');
    return readdirSync(dir).flatMap((n) => {
      try {
        return [{ file: path.join(dir, n), manifest: (JSON.parse(readFileSync(path.join(dir, n), 'utf8')) as LockedImage).manifest }];
      } catch {
        return [{ file: path.join(dir, n), manifest: '' }];
      }
    });
  }

  private tagPath(ref: string, arch: string): string {
    return path.join(this.root, 'refs', `${createHash('sha256').update(`${ref}\n${arch}`).digest('hex').slice(0, 32)}.json`);
  }

  /** Writes image.json into a tmp entry and renames the entry into images/. */
  commitImage(tmpDir: string, record: ImageRecord): void {
    writeFileSync(path.join(tmpDir, 'image.json'), JSON.stringify(record, null, 2) + '\n');
    chmodSync(tmpDir, 0o755);
    this.commit(tmpDir, this.imageDir(record.digest));
  }
}
