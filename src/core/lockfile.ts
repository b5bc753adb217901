// `crossroot.lock`: the image digests an env file resolved to, per image reference and arch,
// so every build of that env gets the same bytes until `crossroot lock --update` moves them.
import { writeFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { CrossrootError } from './errors';
import { SmallFileError, readSmallFile } from './smallfile';

export const LOCKFILE_NAME = 'crossroot.lock';
export const LOCKFILE_VERSION = 1;

/** What one image reference resolved to for one arch. */
export interface LockedImage {
  /** Digest of the platform's image manifest: what a build pulls. */
  manifest: string;
  /** Digest of the multi-arch index the manifest was chosen from, when the tag named one. */
  index?: string;
  /** OCI platform the manifest is for, e.g. "linux/arm64/v8". */
  platform: string;
  /** Digest of the image config. */
  config: string;
}

/** What one Feature reference resolved to, as the Dev Containers lockfile records it. */
export interface FeatureLock {
  /** The Feature's own version (devcontainer-feature.json), for people reading the file. */
  version?: string;
  /** `registry/repository@sha256:…` (OCI) or the tarball's URL. */
  resolved: string;
  /** Digest of the Feature's tarball. */
  integrity: string;
}

export interface Lockfile {
  lockfileVersion: 1;
  /** image reference as written in the env file → Crossroot arch name → resolution. */
  images: Record<string, Record<string, LockedImage>>;
  /** Feature reference as written in devcontainer.json (or a Feature's dependsOn) → resolution. */
  features?: Record<string, FeatureLock>;
  /** Keys written by newer parts of Crossroot are kept as they are (bad input loses nothing). */
  [key: string]: unknown;
}

/** Far more than any env's images need; a bigger "lockfile" is not one and is not read. */
export const MAX_LOCKFILE_BYTES = 4 * 1024 * 1024;

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const ENTRY_ORDER = ['manifest', 'index', 'platform', 'config'];

export function lockfilePath(dir: string): string {
  return path.join(dir, LOCKFILE_NAME);
}

export function emptyLockfile(): Lockfile {
  return { lockfileVersion: 1, images: {} };
}

/**
 * Reads `crossroot.lock` in `dir`; undefined when there is none. Throws on a damaged file. The
 * lockfile comes with the workspace, which may be hostile: it is read only when it is a regular
 * file of at most MAX_LOCKFILE_BYTES, so one linked to /dev/zero or a FIFO cannot hang the
 * language server or fill its memory.
 */
export function readLockfile(dir: string): Lockfile | undefined {
  const file = lockfilePath(dir);
  const bad = (what: string): CrossrootError => new CrossrootError('ELOCKFILE', `${file} ${what}`, {
    fix: `delete ${file} and run \`crossroot lock\` to write it again`,
  });
  let text: string;
  try {
    text = readSmallFile(file, MAX_LOCKFILE_BYTES).toString('utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (e instanceof SmallFileError) throw bad(e.message);
    throw new CrossrootError('ELOCKFILE', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  return parseLockfile(text, file);
}

/** Validates lockfile text; `file` names it in errors. */
export function parseLockfile(text: string, file = LOCKFILE_NAME): Lockfile {
  const bad = (what: string): CrossrootError => new CrossrootError('ELOCKFILE', `${file}: ${what}`, {
    fix: `fix the file by hand, or delete it and run \`crossroot lock\` to resolve the images again`,
  });
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw bad(`not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(data)) throw bad('expected a JSON object');
  if (typeof data.lockfileVersion === 'number' && data.lockfileVersion > LOCKFILE_VERSION) {
    throw new CrossrootError('ELOCKFILE', `${file} has lockfileVersion ${data.lockfileVersion}; this Crossroot reads version ${LOCKFILE_VERSION}`, {
      fix: 'update Crossroot to the version that wrote this lockfile',
    });
  }
  if (data.lockfileVersion !== LOCKFILE_VERSION) throw bad(`"lockfileVersion" must be ${LOCKFILE_VERSION}`);
  const images = data.images ?? {};
  if (!isObject(images)) throw bad('"images" must be an object');
  for (const [ref, arches] of Object.entries(images)) {
    if (!isObject(arches)) throw bad(`images["${ref}"] must be an object of arches`);
    for (const [arch, e] of Object.entries(arches)) {
      const where = `images["${ref}"]["${arch}"]`;
      if (!isObject(e)) throw bad(`${where} must be an object`);
      for (const k of ['manifest', 'config'] as const) {
        if (typeof e[k] !== 'string' || !DIGEST.test(e[k])) throw bad(`${where}.${k} must be a sha256:<64 hex> digest`);
      }
      if (e.index !== undefined && (typeof e.index !== 'string' || !DIGEST.test(e.index))) throw bad(`${where}.index must be a sha256:<64 hex> digest`);
      if (typeof e.platform !== 'string' || !e.platform) throw bad(`${where}.platform must be a string like "linux/arm64/v8"`);
    }
  }
  const features = data.features ?? {};
  if (!isObject(features)) throw bad('"features" must be an object');
  for (const [ref, e] of Object.entries(features)) {
    const where = `features["${ref}"]`;
    if (!isObject(e)) throw bad(`${where} must be an object`);
    if (typeof e.resolved !== 'string' || !e.resolved) throw bad(`${where}.resolved must be a reference or URL`);
    if (typeof e.integrity !== 'string' || !DIGEST.test(e.integrity)) throw bad(`${where}.integrity must be a sha256:<64 hex> digest`);
    if (/^[a-z]+:\/\//i.test(e.resolved) ? false : !/@sha256:[0-9a-f]{64}$/.test(e.resolved)) throw bad(`${where}.resolved must end in @sha256:<64 hex>`);
    if (e.version !== undefined && typeof e.version !== 'string') throw bad(`${where}.version must be a string`);
  }
  return { ...data, lockfileVersion: 1, images: images as Lockfile['images'], ...(data.features !== undefined ? { features: features as Lockfile['features'] } : {}) };
}

/** The canonical text: fixed key order, two-space indent, trailing newline, so diffs stay small. */
export function formatLockfile(lock: Lockfile): string {
  const { lockfileVersion, images, ...rest } = lock;
  const sortedImages: Record<string, Record<string, unknown>> = {};
  for (const ref of Object.keys(images).sort()) {
    const arches: Record<string, unknown> = {};
    for (const arch of Object.keys(images[ref]!).sort()) arches[arch] = ordered(images[ref]![arch] as unknown as Record<string, unknown>, ENTRY_ORDER);
    sortedImages[ref] = arches;
  }
  const out: Record<string, unknown> = { lockfileVersion, images: sortedImages };
  for (const k of Object.keys(rest).sort()) out[k] = sortDeep(rest[k]);
  return JSON.stringify(out, null, 2) + '\n';
}

/** Writes `crossroot.lock` in `dir` atomically: a reader sees the old or the new file, never half. */
export function writeLockfile(dir: string, lock: Lockfile): string {
  const file = lockfilePath(dir);
  const tmp = path.join(dir, `.${LOCKFILE_NAME}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, formatLockfile(lock));
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new CrossrootError('ELOCKFILE', `cannot write ${file}: ${(e as Error).message}`, {
      fix: 'check that the env folder is writable', cause: e,
    });
  }
  return file;
}

/** The locked entry of `ref` for `arch`, if any. */
export function lockedImage(lock: Lockfile | undefined, ref: string, arch: string): LockedImage | undefined {
  return lock?.images[ref]?.[arch];
}

/** The locked manifest digest of `ref` for `arch`, if any. */
export function lockedDigest(lock: Lockfile | undefined, ref: string, arch: string): string | undefined {
  return lockedImage(lock, ref, arch)?.manifest;
}

/** The locked resolution of a Feature reference, if any. */
export function lockedFeature(lock: Lockfile | undefined, ref: string): FeatureLock | undefined {
  return lock?.features?.[ref];
}

/** Returns a copy of `lock` with the Feature `ref` set to `entry`. */
export function withLockedFeature(lock: Lockfile | undefined, ref: string, entry: FeatureLock): Lockfile {
  const base = lock ?? emptyLockfile();
  const clean: FeatureLock = { ...(entry.version ? { version: entry.version } : {}), resolved: entry.resolved, integrity: entry.integrity };
  return { ...base, features: { ...base.features, [ref]: clean } };
}

/** Returns a copy of `lock` with `ref`/`arch` set to `entry`. */
export function withLockedImage(lock: Lockfile | undefined, ref: string, arch: string, entry: LockedImage): Lockfile {
  const base = lock ?? emptyLockfile();
  const clean: LockedImage = { manifest: entry.manifest, platform: entry.platform, config: entry.config };
  if (entry.index) clean.index = entry.index;
  return { ...base, images: { ...base.images, [ref]: { ...base.images[ref], [arch]: clean } } };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function ordered(o: Record<string, unknown>, first: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of first) if (o[k] !== undefined) out[k] = o[k];
  for (const k of Object.keys(o).sort()) if (!first.includes(k)) out[k] = sortDeep(o[k]);
  return out;
}

function sortDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortDeep);
  if (isObject(v)) return ordered(v, []);
  return v;
}
