// Runs `crossroot-helper unpack` (the C extractor, inside a user namespace) on layer blobs and
// turns its JSON status lines into progress and its error event into a CrossrootError.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { CrossrootError } from '../errors';

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

interface StatusLine {
  event?: string;
  layer?: number;
  bytesIn?: number;
  entries?: number;
  idmap?: string;
  skipped?: Record<string, number>;
  code?: string;
  message?: string;
  fix?: string;
}

/** The helper argv for unpacking `layers` (in order, lowest first) into `target`. */
export function unpackArgv(target: string, layers: string[], idmap: IdMapMode = 'auto', statusFd = 3): string[] {
  return ['unpack', '--target', target, ...layers.flatMap((l) => ['--layer', l]), '--idmap', idmap, '--status-fd', String(statusFd)];
}

/**
 * Applies the layers onto `target` (created by the helper if missing): blob files in order, or
 * one layer's bytes as a stream (a download still in progress), which goes to the helper's stdin.
 * A stream that fails stops the helper, and its error is what this rejects with.
 */
export async function unpackLayers(helper: string, target: string, layers: string[] | Readable, o: UnpackOptions = {}): Promise<UnpackResult> {
  const streamed = !Array.isArray(layers);
  const child = spawn(helper, unpackArgv(target, streamed ? ['-'] : layers, o.idmap), {
    stdio: [streamed ? 'pipe' : 'ignore', 'ignore', 'pipe', 'pipe', ...(o.keepFds ?? [])], signal: o.signal,
  });
  let sourceError: unknown;
  if (streamed) {
    // The helper may stop reading at the end of the tar (before the stream's end): not an error.
    child.stdin!.on('error', () => {});
    layers.on('error', (e) => {
      sourceError ??= e;
      child.kill('SIGKILL');
    });
    layers.pipe(child.stdin!);
  }
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { if (stderr.length < 64 * 1024) stderr += s; });
  let error: StatusLine | undefined;
  let result: UnpackResult | undefined;
  const lines = createInterface({ input: child.stdio[3] as Readable });
  lines.on('line', (line) => {
    let ev: StatusLine;
    try {
      ev = JSON.parse(line) as StatusLine;
    } catch {
      return; // not ours to interpret; stderr carries the story
    }
    if (ev.event === 'progress' && typeof ev.layer === 'number') o.onLayer?.(ev.layer, ev.bytesIn ?? 0, false);
    else if (ev.event === 'layer-done' && typeof ev.layer === 'number') o.onLayer?.(ev.layer, ev.bytesIn ?? 0, true);
    else if (ev.event === 'error') error = ev;
    else if (ev.event === 'done') result = { idmap: ev.idmap ?? 'unknown', entries: ev.entries ?? 0, skipped: ev.skipped ?? {} };
  });
  const closed = new Promise<void>((resolve) => lines.once('close', resolve));
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, sig) => resolve(c ?? 128 + (sig === 'SIGKILL' ? 9 : 15)));
  }).catch((e: NodeJS.ErrnoException) => {
    if (e.name === 'AbortError') throw e;
    throw new CrossrootError('ENOHELPER', `cannot run ${helper}: ${e.message}`, { fix: 'build it with `make -C native`, or point CROSSROOT_HELPER at a built helper', cause: e });
  });
  await closed;
  if (streamed) layers.destroy();
  if (sourceError !== undefined) throw sourceError;
  if (code === 0 && result) {
    o.onDone?.(result);
    return result;
  }
  if (error?.message) {
    throw new CrossrootError(error.code ?? 'EUNPACK', `unpacking failed: ${error.message}`, error.fix ? { fix: error.fix } : {});
  }
  throw new CrossrootError('EUNPACK', `unpacking failed (helper exit ${code}): ${stderr.trim() || 'no message'}`);
}
