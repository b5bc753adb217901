// Runs `crossroot-helper unpack` (the C extractor, inside a user namespace) on layer blobs and
// turns its JSON status lines into progress and its error event into a CrossrootError.
import type { Readable } from 'node:stream';
import { CrossrootError } from '../errors';
import { callHelper } from '../sandbox/client';

export type IdMapMode = 'auto' | 'single' | 'full' | 'none';

export interface UnpackOptions {
  idmap?: IdMapMode;
  /** Compressed bytes read so far of layer `layer` (0-based), and when a layer is finished. */
  onLayer?: (layer: number, bytesIn: number, finished: boolean) => void;
  signal?: AbortSignal;
  /** Descriptors the helper inherits (as fd 4, 5, …): the store locks, so they stay held while it runs. */
  keepFds?: number[];
  /** Called once the helper finished, with what it skipped (device nodes, xattrs…). */
  onDone?: (r: UnpackResult) => void;
}

export interface UnpackResult {
  /** The id map the helper used: 'full' keeps every owner; 'single' records them in an xattr. */
  idmap: string;
  entries: number;
  skipped: Record<string, number>;
}

/** The helper argv for unpacking `layers` (in order, lowest first) into `target`; the client adds the status fd. */
function unpackArgv(target: string, layers: string[], idmap: IdMapMode = 'auto'): string[] {
  return ['unpack', '--target', target, ...layers.flatMap((l) => ['--layer', l]), '--idmap', idmap];
}

/**
 * Applies the layers onto `target` (created by the helper if missing): blob files in order, or
 * one layer's bytes as a stream (a download still in progress), which goes to the helper's stdin.
 * A stream that fails stops the helper, and its error is what this rejects with.
 */
export async function unpackLayers(helper: string, target: string, layers: string[] | Readable, o: UnpackOptions = {}): Promise<UnpackResult> {
  const streamed = !Array.isArray(layers);
  let result: UnpackResult | undefined;
  try {
    await callHelper(helper, {
      argv: unpackArgv(target, streamed ? ['-'] : layers, o.idmap),
      stdin: streamed ? layers : 'ignore',
      ...(o.keepFds ? { fds: o.keepFds } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      onEvent: (e) => {
        if (e.event === 'progress' || e.event === 'layer-done') o.onLayer?.(e.layer, e.bytesIn, e.event === 'layer-done');
        else if (e.event === 'done') result = { idmap: e.idmap ?? 'unknown', entries: e.entries ?? 0, skipped: { ...e.skipped } };
      },
    });
  } catch (e) {
    if (e instanceof CrossrootError && e.code !== 'ENOHELPER') throw new CrossrootError(e.code, `unpacking failed: ${e.message}`, { fix: e.fix, cause: e });
    throw e;
  } finally {
    if (streamed) layers.destroy();
  }
  if (!result) throw new CrossrootError('EUNPACK', 'unpacking failed: the helper ended without reporting its result');
  o.onDone?.(result);
  return result;
}
