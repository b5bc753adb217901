// Setup-step layers in the store: `layers/<key>/diff` is what one step changed (an overlay upper,
// used read-only as a lower by every later step and env), `layer.json` says what made it.
// Keys are content hashes of (parent, step, arch, env), so envs with the same prefix share layers.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CrossrootError } from '../errors';
import type { HeldLock } from '../store/lock';
import type { Store } from '../store/store';

const KEY = /^[0-9a-f]{64}$/;

/** What `layers/<key>/layer.json` records. */
export interface LayerRecord {
  key: string;
  /** The key of the layer below, or the base image's store digest for the first step. */
  parent: string;
  /** The step as the user wrote it, for `crossroot status` and gc listings. */
  step: string;
  arch: string;
  created: string;
}

/** sha256 over the parts that decide a step's result; a change in any of them is a new layer. */
export function layerKey(parts: { parent: string; kind: string; text: string; arch: string; env: Record<string, string>; extra?: string }): string {
  const env = Object.keys(parts.env).sort().map((k) => `${k}=${parts.env[k]}`);
  return createHash('sha256').update(JSON.stringify([1, parts.parent, parts.kind, parts.text, parts.arch, env, parts.extra ?? ''])).digest('hex');
}

export class LayerStore {
  constructor(readonly store: Store) {
    mkdirSync(path.join(store.root, 'layers'), { recursive: true, mode: 0o700 });
  }

  dir(key: string): string {
    if (!KEY.test(key)) throw new CrossrootError('ELAYER', `invalid layer key ${JSON.stringify(key)}`);
    return path.join(this.store.root, 'layers', key);
  }

  /** The read-only tree of a layer, as an overlay lower. */
  diff(key: string): string {
    return path.join(this.dir(key), 'diff');
  }

  get(key: string): LayerRecord | undefined {
    try {
      return JSON.parse(readFileSync(path.join(this.dir(key), 'layer.json'), 'utf8')) as LayerRecord;
    } catch {
      return undefined;
    }
  }

  has(key: string): boolean {
    return existsSync(path.join(this.dir(key), 'layer.json'));
  }

  keys(): string[] {
    return readdirSync(path.join(this.store.root, 'layers')).filter((n) => KEY.test(n) && this.has(n));
  }

  /**
   * The layer `key`, made by `build` when missing. `build(upper, work, lock)` fills `upper` (an
   * empty dir on the store's filesystem) by running the step over the layers below; `work` is the
   * overlay's work dir. Under the layer's lock, so concurrent builds of one env make it once; made
   * in tmp/ and renamed into place (Store.ensureEntry), so a failed or killed step (even kill -9)
   * leaves no layer.
   */
  async ensure(key: string, record: Omit<LayerRecord, 'key' | 'created'>,
    build: (upper: string, work: string, lock: HeldLock) => Promise<void>,
    onWait?: (pid: number | undefined) => void): Promise<{ record: LayerRecord; cached: boolean }> {
    const { value, cached } = await this.store.ensureEntry(`layer-${key}`, {
      get: () => this.get(key),
      make: async (tmp, lock) => {
        mkdirSync(path.join(tmp, 'diff'));
        mkdirSync(path.join(tmp, 'work'));
        await build(path.join(tmp, 'diff'), path.join(tmp, 'work'), lock);
        // overlayfs leaves its work dir with a mode-000 subdir; it is not part of the layer.
        this.store.removeTree(path.join(tmp, 'work'));
        return { key, ...record, created: new Date().toISOString() };
      },
      place: (tmp, full) => {
        writeFileSync(path.join(tmp, 'layer.json'), JSON.stringify(full, null, 2) + '\n');
        this.store.commit(tmp, this.dir(key));
      },
      ...(onWait ? { onWait } : {}),
    });
    return { record: value, cached };
  }

  /** Marks a layer in use (an env's overlay lower) until released; gc skips it. */
  use(key: string): Promise<HeldLock> {
    return this.store.lock(`use-layer-${key}`, { shared: true });
  }

  remove(key: string): void {
    this.store.removeTree(this.dir(key));
  }
}
