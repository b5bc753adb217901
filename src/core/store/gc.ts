// `crossroot gc`: finds what nothing refers to any more (images no known lockfile or env pins
// and no running env uses, their blobs, fetched Features, crash leftovers in tmp/) and removes
// it when asked.
import { existsSync, readFileSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { CrossrootError } from '../errors';
import { type Lockfile, readLockfile } from '../lockfile';
import { lockFile } from './lock';
import { treeBytes } from './size';
import { digestHex, type Store } from './store';

export interface GcItem {
  kind: 'image' | 'blob' | 'layer' | 'feature' | 'temp';
  /** Digest for images, blobs and Features, path for temp entries. */
  id: string;
  /** Where an image came from; the references that last gave a Feature. */
  source?: string;
  bytes: number;
}

export interface GcResult {
  /** What was removed (or, on a dry run, would be). */
  remove: GcItem[];
  bytes: number;
  kept: { images: number; blobs: number; layers: number; features: number };
  /** Unreferenced images left alone because an env or `crossroot run` is using them. */
  inUse: string[];
  /** Registered lockfiles that are gone (their registration is dropped on a real run). */
  goneLockfiles: string[];
  dryRun: boolean;
}

export interface GcOptions {
  dryRun: boolean;
  onWait?: (pid: number | undefined) => void;
}

function lockfileDigests(lock: Lockfile): string[] {
  return Object.values(lock.images).flatMap((arches) => Object.values(arches).flatMap((e) => [e.manifest, e.config, ...(e.index ? [e.index] : [])]));
}

/** The fetched Features in the store (`features/<hex>`), and the reference records (`features/refs/`) that point at each. */
function storedFeatures(store: Store): { features: string[]; refs: Array<{ file: string; ref: string; digest: string }> } {
  const dir = path.join(store.root, 'features');
  if (!existsSync(dir)) return { features: [], refs: [] };
  const features = readdirSync(dir).filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => `sha256:${n}`);
  const refsDir = path.join(dir, 'refs');
  const refs = (existsSync(refsDir) ? readdirSync(refsDir) : []).map((n) => {
    const file = path.join(refsDir, n);
    try {
      const r = JSON.parse(readFileSync(file, 'utf8')) as { ref?: unknown; integrity?: unknown };
      return { file, ref: typeof r.ref === 'string' ? r.ref : '', digest: typeof r.integrity === 'string' ? r.integrity : '' };
    } catch {
      return { file, ref: '', digest: '' };
    }
  });
  return { features, refs };
}

/**
 * Plans (dry run) or performs a collection. Holds the store lock exclusively, so no pull is
 * half-way while it looks, and everything in tmp/ except live `crossroot run` dirs is junk.
 */
export async function collectGarbage(store: Store, o: GcOptions): Promise<GcResult> {
  const storeLock = await store.lockStore(o.onWait ? { onWait: o.onWait } : {});
  const held: Array<{ release(): void }> = [];
  try {
    forgetGoneEnvs(store);
    const keep = new Set<string>(store.pinnedImages());
    const keepFeatures = new Set<string>(store.pinnedFeatures());
    const goneLockfiles: string[] = [];
    for (const file of store.lockfileRoots()) {
      let lock: Lockfile | undefined;
      try {
        lock = readLockfile(path.dirname(file));
      } catch (e) {
        throw new CrossrootError('EGC', `cannot tell what ${file} pins, so nothing was removed: ${(e as Error).message}`, {
          fix: `repair ${file} (or delete it and run \`crossroot lock\`), then run gc again`, cause: e,
        });
      }
      if (!lock) goneLockfiles.push(file);
      else {
        for (const d of lockfileDigests(lock)) keep.add(d);
        for (const f of Object.values(lock.features ?? {})) keepFeatures.add(f.integrity);
      }
    }

    const remove: GcItem[] = [];
    const inUse: string[] = [];
    const keptBlobs = new Set<string>(keep);
    let keptImages = 0;
    for (const img of store.images()) {
      if (keep.has(img.digest)) {
        keptImages++;
        for (const b of img.blobs) keptBlobs.add(b);
        continue;
      }
      // An env or `crossroot run` holds this shared while the image is its overlay lower.
      const use = await lockFile(store.lockPath(`use-${digestHex(img.digest)}`), { noWait: true });
      if (!use) {
        inUse.push(img.digest);
        keptImages++;
        for (const b of img.blobs) keptBlobs.add(b);
        continue;
      }
      held.push(use);
      remove.push({ kind: 'image', id: img.digest, source: img.source, bytes: treeBytes(store.imageDir(img.digest)) });
    }
    // Setup-step layers no env stands on any more (an env's root pins its current stack; builds
    // hold the store lock shared, so none is half-way while we look).
    const keepLayers = new Set(store.pinnedLayers());
    let keptLayers = 0;
    for (const key of readdirSync(path.join(store.root, 'layers'))) {
      if (keepLayers.has(key)) { keptLayers++; continue; }
      remove.push({ kind: 'layer', id: key, bytes: treeBytes(path.join(store.root, 'layers', key)) });
    }
    // Fetched Features no env stands on and no lockfile names: a build fetches them again.
    const stored = storedFeatures(store);
    let keptFeatures = 0;
    for (const digest of stored.features) {
      if (keepFeatures.has(digest)) { keptFeatures++; continue; }
      const refs = stored.refs.filter((r) => r.digest === digest).map((r) => r.ref).filter(Boolean);
      remove.push({ kind: 'feature', id: digest, ...(refs.length ? { source: refs.join(', ') } : {}), bytes: treeBytes(featureDir(store, digest)) });
    }
    for (const b of store.blobs()) {
      if (!keptBlobs.has(b)) remove.push({ kind: 'blob', id: b, bytes: treeBytes(store.blobPath(b)) });
    }
    // Partial downloads left by a killed pull: only a pull of the same blob could resume them.
    for (const p of store.partialBlobs()) remove.push({ kind: 'temp', id: p, bytes: treeBytes(p) });
    for (const t of store.tempEntries()) {
      const name = path.basename(t);
      if (name.startsWith('run-')) {
        const l = await lockFile(store.lockPath(name.split('.')[0]!), { noWait: true });
        if (!l) continue; // a live `crossroot run`'s writable layer
        held.push(l);
      }
      remove.push({ kind: 'temp', id: t, bytes: treeBytes(t) });
    }

    if (!o.dryRun) {
      for (const item of remove) {
        if (item.kind === 'image') store.removeTree(store.imageDir(item.id));
        else if (item.kind === 'blob') rmSync(store.blobPath(item.id), { force: true });
        else if (item.kind === 'layer') store.removeTree(path.join(store.root, 'layers', item.id));
        else if (item.kind === 'feature') store.removeTree(featureDir(store, item.id));
        else store.removeTree(item.id);
      }
      for (const file of goneLockfiles) store.forgetLockfile(file);
      // Recorded references whose image is gone would only mislead `run`; they go with it.
      for (const t of store.tags()) if (!/^sha256:[0-9a-f]{64}$/.test(t.manifest) || !store.image(t.manifest)) rmSync(t.file, { force: true });
      // So do records of what a Feature reference gave, once that Feature is gone.
      for (const r of stored.refs) if (!/^sha256:[0-9a-f]{64}$/.test(r.digest) || !existsSync(featureDir(store, r.digest))) rmSync(r.file, { force: true });
      await removeIdleLockFiles(store);
    }
    return {
      remove, bytes: remove.reduce((n, i) => n + i.bytes, 0), dryRun: o.dryRun, inUse, goneLockfiles,
      kept: { images: keptImages, blobs: store.blobs().filter((b) => keptBlobs.has(b)).length, layers: keptLayers, features: keptFeatures },
    };
  } finally {
    for (const l of held) l.release();
    storeLock.release();
  }
}

function featureDir(store: Store, digest: string): string {
  return path.join(store.root, 'features', digestHex(digest));
}

/**
 * Deletes lock files nobody holds. Unlinking a flock file is only safe when no one can be about
 * to lock it: entry and "use" locks are taken only under the shared store lock, which we hold
 * exclusively here, and `run-` locks have unique names.
 */
async function removeIdleLockFiles(store: Store): Promise<void> {
  const dir = path.dirname(store.lockPath('store'));
  for (const n of readdirSync(dir)) {
    if (n === 'store.lock') continue;
    const l = await lockFile(path.join(dir, n), { noWait: true });
    if (!l) continue;
    try {
      unlinkSync(path.join(dir, n));
    } finally {
      l.release();
    }
  }
}

/**
 * Envs whose env file is gone (the project was deleted or moved) pin nothing any more: their
 * root goes, and their writable layer with it unless their instance still runs.
 */
function forgetGoneEnvs(store: Store): void {
  const dir = path.join(store.root, 'envs');
  for (const id of readdirSync(dir)) {
    let file: unknown;
    try {
      file = (JSON.parse(readFileSync(path.join(dir, id, 'env.json'), 'utf8')) as { file?: unknown }).file;
    } catch {
      continue;
    }
    if (typeof file !== 'string' || existsSync(file)) continue;
    store.removeRoot(`env-${id}`);
    if (!existsSync(path.join(dir, id, 'state', 'instance.json'))) store.removeTree(path.join(dir, id));
  }
  // The warm path's join plans (core/env/plan.ts), one per env file, go with their env file.
  const plans = path.join(store.root, 'plans');
  for (const name of existsSync(plans) ? readdirSync(plans) : []) {
    let file: unknown;
    try {
      file = (JSON.parse(readFileSync(path.join(plans, name), 'utf8')) as { file?: unknown }).file;
    } catch {
      file = undefined; // a torn or foreign file: nothing trusts it, so it goes too
    }
    if (typeof file !== 'string' || !existsSync(file)) unlinkSync(path.join(plans, name));
  }
}
