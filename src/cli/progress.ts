// How the CLI shows pull progress on stderr (never stdout, which belongs to the command or to
// --json): on a terminal, one bar per layer from cli-progress, redrawn in place; otherwise one
// plain line whenever a layer changes phase, so CI logs stay readable.
import { MultiBar, type SingleBar } from 'cli-progress';
import type { BlobInfo, ProgressListener, PullProgress } from '../core/image/progress';

export function mb(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
}

function short(digest: string | undefined): string {
  return digest ? digest.slice('sha256:'.length, 'sha256:'.length + 12) : '';
}

/** "layer 2/3 e086c0742014", "config 89f1c87fc8ec", "blobs/sha256/… (archive entry)". */
function subject(b: BlobInfo): string {
  if (b.layer) return `layer ${b.layer}/${b.layers ?? '?'} ${short(b.digest)}`;
  return [b.name, short(b.digest)].filter(Boolean).join(' ') || 'blob';
}

function amount(done: number, size: number | undefined): string {
  return size ? `${mb(done)} / ${mb(size)}` : mb(done);
}

/** Which line (or bar) an event belongs to. */
function keyOf(e: PullProgress): string {
  switch (e.phase) {
    case 'download': case 'verify': return e.blob.layer ? `layer-${e.blob.layer}` : e.blob.digest ?? e.blob.name ?? 'blob';
    case 'unpack': return `layer-${e.layer}`;
    case 'wait': return `wait-${e.digest}`;
    default: return e.phase;
  }
}

/** One line of text for an event. */
export function describe(e: PullProgress): string {
  switch (e.phase) {
    case 'resolve': return `resolving ${e.source}`;
    case 'moved': return `warning: ${e.source} now points at ${e.current}; crossroot.lock keeps ${e.locked} (run \`crossroot lock --update\` to move it)`;
    case 'wait': return `waiting: ${e.message}`;
    case 'download': return `${subject(e.blob)}  downloading ${amount(e.done, e.blob.size)}`;
    case 'verify': return `${subject(e.blob)}  ${e.cached ? 'already here' : 'verified'}`;
    case 'unpack': return `layer ${e.layer}/${e.layers} ${short(e.digest)}  unpacking ${amount(e.done, e.size)}`;
    case 'bootstrap': return `building ${e.what} with mmdebstrap (about a minute)`;
    case 'note': return e.message;
    case 'done': return `${e.cached ? 'up to date' : 'ready'}: ${e.source}`;
  }
}

/** Real work (not a cached image's resolve/verify/done): the point where a quiet renderer starts talking. */
function isWork(e: PullProgress): boolean {
  return e.phase === 'download' || e.phase === 'unpack' || e.phase === 'wait' || e.phase === 'bootstrap' || e.phase === 'moved' || (e.phase === 'verify' && !e.cached);
}

export interface Renderer {
  listener: ProgressListener;
  /** Ends the bars (idempotent); lines printed after it land below them. */
  finish(): void;
}

/**
 * Renders progress on `out`. With `quietIfCached`, nothing is shown for an image that is already
 * in the store: events are held back until there is real work.
 */
export function progressRenderer(out: NodeJS.WriteStream = process.stderr, o: { quietIfCached?: boolean } = {}): Renderer {
  const r = out.isTTY ? barRenderer(out) : lineRenderer(out);
  if (!o.quietIfCached) return r;
  let held: PullProgress[] | undefined = [];
  return {
    listener: (e) => {
      if (held && isWork(e)) {
        for (const h of held) r.listener(h);
        held = undefined;
      }
      if (held) held.push(e);
      else r.listener(e);
    },
    finish: () => r.finish(),
  };
}

/** Without a terminal: a line when a layer (or the image) enters a phase, not one per chunk. */
function lineRenderer(out: NodeJS.WritableStream): Renderer {
  const seen = new Set<string>();
  return {
    listener: (e) => {
      const key = `${keyOf(e)} ${e.phase}`;
      if (seen.has(key) && e.phase !== 'resolve' && e.phase !== 'wait' && e.phase !== 'note') return;
      seen.add(key);
      out.write(describe(e) + '\n');
    },
    finish: () => {},
  };
}

/**
 * On a terminal: one bar per layer. Layers download and unpack at the same time, so a layer's
 * bar follows its download, then its unpacking, and its text says both; other events are lines
 * above the bars.
 */
function barRenderer(out: NodeJS.WriteStream): Renderer {
  let bars: MultiBar | undefined;
  const rows = new Map<string, { bar: SingleBar; fetch: string; unpack: string; fetched: number; unpacked?: number }>();
  const multi = () => bars ??= new MultiBar({
    stream: out, format: '{subject} {bar} {status}', barsize: 24, hideCursor: true, clearOnComplete: false,
    autopadding: true, fps: 10, linewrap: false, barCompleteChar: '█', barIncompleteChar: '░',
    // Never touch the process's signal handlers: the CLI forwards signals to the env.
    gracefulExit: false,
  });
  const row = (key: string, what: string, total: number) => {
    let r = rows.get(key);
    if (!r) {
      r = { bar: multi().create(Math.max(total, 1), 0, { subject: what, status: '' }), fetch: '', unpack: '', fetched: 0 };
      rows.set(key, r);
    }
    return r;
  };
  const finish = () => {
    // A final redraw first: lines logged since the last frame are written by it, not by stop().
    bars?.update();
    bars?.stop();
    bars = undefined;
    rows.clear();
  };
  return {
    listener: (e) => {
      switch (e.phase) {
        case 'download': case 'verify': case 'unpack': {
          const size = e.phase === 'unpack' ? e.size : e.blob.size;
          const r = row(keyOf(e), e.phase === 'unpack' ? `layer ${e.layer}/${e.layers} ${short(e.digest)}` : subject(e.blob), size ?? 0);
          if (e.phase === 'download') { r.fetch = `downloading ${amount(e.done, size)}`; r.fetched = e.done; }
          else if (e.phase === 'verify') { r.fetch = e.cached ? 'already here' : 'verified'; r.fetched = size ?? r.fetched; }
          else { r.unpack = `unpacking ${amount(e.done, size)}`; r.unpacked = e.done; }
          // The bar follows the download, then (once unpacking has begun) the unpacking.
          const value = r.unpacked ?? r.fetched;
          if (size) r.bar.setTotal(size);
          r.bar.update(size ? Math.min(value, size) : value, { status: [r.fetch, r.unpack].filter(Boolean).join('  ') });
          break;
        }
        case 'done':
          finish();
          out.write(describe(e) + '\n');
          break;
        default:
          if (bars) bars.log(describe(e) + '\n');
          else out.write(describe(e) + '\n');
      }
    },
    finish,
  };
}
