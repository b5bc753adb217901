// Fetches the Features an env asks for (and what they dependsOn), each into a read-only folder
// in the store, and puts them in install order. OCI Features come through our registry client
// (credentials only for their registry), tarballs over https without any, local ones as they are.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CrossrootError } from '../errors';
import { Http } from '../image/http';
import type { RegistryClient } from '../image/registry';
import { type FeatureLock, type Lockfile, lockedFeature } from '../lockfile';
import { unpackLayers } from '../store/unpack';
import type { Store } from '../store/store';
import {
  FEATURE_LAYER_MEDIA_TYPE, featureRefFile, unpackedFeatureDir, type FeatureMetadata, type FeatureOptions, type FeatureSource, optionEnv, parseFeatureMetadata, parseFeatureRef,
} from './feature';
import { type OrderNode, installOrder } from './order';

/** Far more than a Feature's scripts need; a bigger one is not read. */
const MAX_FEATURE_BYTES = 64 << 20;
const MAX_METADATA_BYTES = 1 << 20;

export interface FeatureRequest {
  /** The reference as written in `features` (or a Feature's dependsOn). */
  ref: string;
  options: FeatureOptions;
}

export interface ResolvedFeature {
  source: FeatureSource;
  /** OCI: the manifest digest; tarball: its sha256; local: a hash of the folder's files. */
  digest: string;
  /** The Feature's folder (devcontainer-feature.json, install.sh, …); never written to. */
  dir: string;
  meta: FeatureMetadata;
  options: FeatureOptions;
  /** The options as env vars (declared ones with their defaults). */
  env: Record<string, string>;
  /** Option values that do not fit the Feature's declaration, for warnings. */
  problems: string[];
  /** The Feature that asked for this one through dependsOn; undefined for the user's own. */
  requiredBy?: string;
  /** What crossroot.lock records for it (OCI and tarball Features). */
  lock?: FeatureLock;
}

export interface ResolveOptions {
  store: Store;
  helper: string;
  /** The folder of devcontainer.json: local references are relative to it. */
  baseDir: string;
  lock?: Lockfile | undefined;
  /** Ask registries what a tag names now, even when crossroot.lock pins it (`crossroot lock --update`). */
  ignoreLock?: boolean;
  /**
   * Without a lock entry: 'missing' (default) uses what the reference gave last time when that
   * Feature is still in the store, so a warm build needs no network; 'always' asks again.
   */
  policy?: 'missing' | 'always';
  registry: () => Promise<RegistryClient>;
  signal?: AbortSignal;
  onNote?: (message: string) => void;
}

/** The user's Features and their dependencies, fetched, in the order they install. */
export async function resolveFeatures(requests: FeatureRequest[], override: string[], o: ResolveOptions): Promise<ResolvedFeature[]> {
  const nodes = new Map<string, { f: ResolvedFeature; node: OrderNode }>();
  const work: Array<FeatureRequest & { requiredBy?: string; parentKey?: string; fromRemote?: boolean }> = [...requests];
  while (work.length) {
    const req = work.shift()!;
    const source = parseFeatureRef(req.ref, o.baseDir);
    // Only the user's own files may name folders on this machine: a fetched Feature that
    // dependsOn "./x" would get a folder of the user's bound into the env.
    if (source.kind === 'local' && req.fromRemote) {
      throw new CrossrootError('EFEATUREREF', `Feature ${req.requiredBy} depends on the local folder ${req.ref}; only devcontainer.json and local Features may name local folders`, {
        fix: `tell the author of ${req.requiredBy}, or pick another version`,
      });
    }
    const f = await fetchFeature(source, req, o);
    if (req.requiredBy) f.requiredBy = req.requiredBy;
    // Equal Features (same digest and options) install once; local ones are each their own.
    const key = source.kind === 'local' ? `local\0${source.path}\0${stableJson(req.options)}` : `${f.digest}\0${stableJson(req.options)}`;
    if (req.parentKey) nodes.get(req.parentKey)!.node.dependsOn.push(key);
    if (nodes.has(key)) continue;
    nodes.set(key, {
      f,
      node: {
        key, resource: source.resource, written: req.ref, options: req.options, canonical: f.digest, dependsOn: [], installsAfter: f.meta.installsAfter,
        ...(source.kind === 'oci' && source.ref.tag ? { tag: source.ref.tag } : {}),
      },
    });
    for (const [ref, options] of Object.entries(f.meta.dependsOn)) work.push({ ref, options, requiredBy: req.ref, parentKey: key, fromRemote: req.fromRemote || source.kind !== 'local' });
  }
  const byKey = new Map([...nodes.values()].map((n) => [n.node.key, n.f]));
  return installOrder([...nodes.values()].map((n) => n.node), override).map((n) => byKey.get(n.key)!);
}

async function fetchFeature(source: FeatureSource, req: FeatureRequest, o: ResolveOptions): Promise<ResolvedFeature> {
  let got: { digest: string; dir: string; lock?: FeatureLock };
  switch (source.kind) {
    case 'local': got = localFeature(source.path, source.written); break;
    case 'oci': got = await ociFeature(source, o); break;
    case 'tarball': got = await tarballFeature(source, o); break;
  }
  const metaFile = path.join(got.dir, 'devcontainer-feature.json');
  const what = `Feature ${source.written}`;
  if (!isRegularFile(metaFile)) throw new CrossrootError('EFEATURE', `${what} has no devcontainer-feature.json`, { fix: 'check the reference; a Feature is a folder with devcontainer-feature.json and install.sh' });
  if (!isRegularFile(path.join(got.dir, 'install.sh'))) throw new CrossrootError('EFEATURE', `${what} has no install.sh`, { fix: 'check the reference; a Feature is a folder with devcontainer-feature.json and install.sh' });
  if (lstatSync(metaFile).size > MAX_METADATA_BYTES) throw new CrossrootError('EFEATURE', `${what}: devcontainer-feature.json is bigger than 1 MiB`);
  const meta = parseFeatureMetadata(readFileSync(metaFile, 'utf8'), `${what}: devcontainer-feature.json`);
  const { env, problems } = optionEnv(meta, req.options);
  return { source, digest: got.digest, dir: got.dir, meta, options: req.options, env, problems, ...(got.lock ? { lock: got.lock } : {}) };
}

function isRegularFile(p: string): boolean {
  try {
    return lstatSync(p).isFile();
  } catch {
    return false;
  }
}

/** A local Feature: used in place; its digest hashes every file, so an edit rebuilds its layer. */
function localFeature(dir: string, written: string): { digest: string; dir: string } {
  if (!existsSync(dir) || !lstatSync(dir).isDirectory()) {
    throw new CrossrootError('EFEATURE', `local Feature ${written} is not a folder (${dir})`, { fix: 'create the folder with devcontainer-feature.json and install.sh, or fix the path (it is relative to devcontainer.json)' });
  }
  const h = createHash('sha256');
  const walk = (rel: string): void => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const r = path.posix.join(rel, name);
      const st = lstatSync(path.join(dir, r));
      h.update(`${r}\0${st.mode}\0`);
      if (st.isDirectory()) walk(r);
      else if (st.isSymbolicLink()) h.update(readlinkSync(path.join(dir, r)));
      else if (st.isFile()) h.update(readFileSync(path.join(dir, r)));
      h.update('\0');
    }
  };
  walk('');
  return { digest: `sha256:${h.digest('hex')}`, dir };
}

function remembered(o: ResolveOptions, written: string): FeatureLock | undefined {
  if (o.policy === 'always') return undefined;
  try {
    const r = JSON.parse(readFileSync(featureRefFile(o.store.root, written), 'utf8')) as FeatureLock & { ref: string };
    return r.ref === written ? { ...(r.version ? { version: r.version } : {}), resolved: r.resolved, integrity: r.integrity } : undefined;
  } catch {
    return undefined;
  }
}

function remember(o: ResolveOptions, written: string, lock: FeatureLock): void {
  const file = featureRefFile(o.store.root, written);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = o.store.tempPath('feature-ref');
  writeFileSync(tmp, JSON.stringify({ ref: written, ...lock }) + '\n');
  renameSync(tmp, file);
}

async function ociFeature(source: Extract<FeatureSource, { kind: 'oci' }>, o: ResolveOptions): Promise<{ digest: string; dir: string; lock: FeatureLock }> {
  const locked = o.ignoreLock ? undefined : lockedFeature(o.lock, source.written);
  // Pinned (by crossroot.lock, or by the last fetch) and unpacked already: no network at all.
  const pin = locked ?? remembered(o, source.written);
  const have = pin && unpackedFeatureDir(o.store.root, pin.integrity);
  if (pin && have) return { digest: pin.resolved.slice(pin.resolved.lastIndexOf('@') + 1), dir: have, lock: pin };
  const client = await o.registry();
  const ref = source.ref;
  const reference = locked ? locked.resolved.slice(locked.resolved.lastIndexOf('@') + 1) : ref.reference;
  const m = await client.fetchManifest(ref, reference, o.signal);
  if (m.doc.kind !== 'manifest') throw new CrossrootError('EFEATURE', `${source.written} is an image index, not a Feature`, { fix: 'check the reference: a Feature is an OCI artifact with one application/vnd.devcontainers.layer.v1+tar layer' });
  const layers = m.doc.manifest.layers;
  const layer = layers.find((l) => l.mediaType === FEATURE_LAYER_MEDIA_TYPE) ?? (layers.length === 1 ? layers[0] : undefined);
  if (!layer) throw new CrossrootError('EFEATURE', `${source.written} has no ${FEATURE_LAYER_MEDIA_TYPE} layer`, { fix: 'check the reference: is it a Feature or a container image?' });
  if (locked && locked.integrity !== layer.digest) {
    throw new CrossrootError('EDIGEST', `${source.written}: its layer is ${layer.digest}, crossroot.lock has ${locked.integrity}`, { fix: 'the registry serves other bytes for the locked digest; run `crossroot lock --update` if you trust the new ones' });
  }
  if (layer.size > MAX_FEATURE_BYTES) throw new CrossrootError('EFEATURE', `${source.written} is ${layer.size} bytes, more than the ${MAX_FEATURE_BYTES} a Feature may have`);
  const dir = await extracted(o, layer.digest, async () => o.store.putBlob(await client.fetchBlobBytes(ref, layer, MAX_FEATURE_BYTES, o.signal)));
  const version = readVersion(dir);
  const lock: FeatureLock = { ...(version ? { version } : {}), resolved: `${ref.name}@${m.digest}`, integrity: layer.digest };
  remember(o, source.written, lock);
  return { digest: m.digest, dir, lock };
}

async function tarballFeature(source: Extract<FeatureSource, { kind: 'tarball' }>, o: ResolveOptions): Promise<{ digest: string; dir: string; lock: FeatureLock }> {
  const locked = o.ignoreLock ? undefined : lockedFeature(o.lock, source.written);
  const pin = locked ?? remembered(o, source.written);
  // Unpacked already (gc removes the downloaded tarball, never a Feature an env stands on): no network.
  const have = pin && unpackedFeatureDir(o.store.root, pin.integrity);
  if (pin && have) return { digest: pin.integrity, dir: have, lock: pin };
  if (pin && o.store.hasBlob(pin.integrity)) {
    const dir = await extracted(o, pin.integrity, async () => pin.integrity);
    return { digest: pin.integrity, dir, lock: pin };
  }
  // No credentials of any kind go with a tarball download: the URL's host gets a plain GET.
  const http = new Http({});
  const res = await http.request(source.url, o.signal ? { signal: o.signal } : {});
  if (!res.ok) {
    await res.body?.cancel();
    throw new CrossrootError('EFEATURE', `downloading Feature ${source.url} failed: HTTP ${res.status}`, { fix: 'check the URL' });
  }
  const bytes = await http.readBody(res, MAX_FEATURE_BYTES, () => new CrossrootError('EFEATURE', `Feature ${source.url} is bigger than ${MAX_FEATURE_BYTES} bytes`), o.signal ? { signal: o.signal } : {});
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (locked && locked.integrity !== digest) {
    throw new CrossrootError('EDIGEST', `Feature ${source.url} is now ${digest}, crossroot.lock has ${locked.integrity}`, { fix: 'the file at that URL changed; run `crossroot lock --update` if you trust the new one' });
  }
  const dir = await extracted(o, digest, async () => o.store.putBlob(bytes));
  const version = readVersion(dir);
  const lock: FeatureLock = { ...(version ? { version } : {}), resolved: source.url, integrity: digest };
  remember(o, source.written, lock);
  return { digest, dir, lock };
}

function readVersion(dir: string): string | undefined {
  try {
    const v = (JSON.parse(readFileSync(path.join(dir, 'devcontainer-feature.json'), 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The tarball `digest` unpacked in the store (`features/<hex>`), made once: the helper's
 * extractor (user namespace, openat2 RESOLVE_IN_ROOT) writes nothing outside the new folder
 * whatever the archive holds, into tmp/ first and renamed into place.
 */
async function extracted(o: ResolveOptions, digest: string, blob: () => Promise<string>): Promise<string> {
  const hex = digest.replace(/^sha256:/, '');
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new CrossrootError('EFEATURE', `bad Feature digest ${digest}`);
  const dir = path.join(o.store.root, 'features', hex);
  if (existsSync(path.join(dir, '.complete'))) return path.join(dir, 'tree');
  const lock = await o.store.lock(`feature-${hex}`);
  try {
    if (existsSync(path.join(dir, '.complete'))) return path.join(dir, 'tree');
    await blob();
    o.store.clearTemp(`feature-${hex}`);
    const tmp = o.store.tempPath(`feature-${hex}`);
    mkdirSync(tmp, { mode: 0o700 });
    await unpackLayers(o.helper, path.join(tmp, 'tree'), [o.store.blobPath(digest)], { idmap: 'single', keepFds: [lock.fd], ...(o.signal ? { signal: o.signal } : {}) });
    writeFileSync(path.join(tmp, '.complete'), '');
    mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
    o.store.commit(tmp, dir);
    return path.join(dir, 'tree');
  } finally {
    lock.release();
  }
}

function stableJson(v: FeatureOptions): string {
  return JSON.stringify(Object.keys(v).sort().map((k) => [k, v[k]]));
}
