// `crossroot pull SOURCE [--arch A] [--json] [--store DIR]`: like `docker pull`, for registry
// images and local sources; also home of the progress renderer and options `run` shares.
import { parseArgs } from 'node:util';
import type { Command } from '../command';
import { type ArchInfo, hostArch, parseArch, ARCH_NAMES } from '../../core/arch';
import { CrossrootError } from '../../core/errors';
import { pull, sourceFromArgument, type PulledImage } from '../../core/image/pull';
import type { ProgressListener, PullProgress } from '../../core/image/progress';
import { Store, defaultStoreRoot } from '../../core/store/store';

/** `--store DIR` and `--shared-store`, for every command that opens the store. */
export const STORE_OPTIONS = {
  store: { type: 'string' },
  'shared-store': { type: 'boolean', default: false },
} as const;

export const IMAGE_OPTIONS = {
  arch: { type: 'string' },
  ...STORE_OPTIONS,
} as const;

export function archOption(value: string | undefined): ArchInfo {
  if (!value) return hostArch();
  const a = parseArch(value);
  if (!a) throw new CrossrootError('EUSAGE', `unknown architecture "${value}"`, { fix: `use one of ${ARCH_NAMES.join(', ')}` });
  return a;
}

/**
 * Opens the store the options name. A store other users can enter is refused unless
 * `--shared-store` or CROSSROOT_SHARED_STORE=1 says so; then what it exposes goes to stderr.
 */
export function storeOption(values: { store?: string | undefined; 'shared-store'?: boolean | undefined }): Store {
  const store = Store.open(values.store ?? defaultStoreRoot(), values['shared-store'] ? { shared: true } : {});
  if (store.sharedWarning) process.stderr.write(`warning: ${store.sharedWarning}\n`);
  return store;
}

function mb(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
}

function short(digest: string | undefined): string {
  return digest ? digest.slice('sha256:'.length, 'sha256:'.length + 12) : '';
}

function subject(e: PullProgress): string {
  if (e.layer) return `layer ${e.layer}/${e.layers ?? '?'} ${short(e.digest)}`;
  return [e.message, short(e.digest)].filter(Boolean).join(' ') || 'blob';
}

/** What is happening to one layer or blob: "downloading 12.3 MB / 63.1 MB", "verified". */
function status(e: PullProgress): string {
  const amount = e.total ? `${mb(e.done ?? 0)} / ${mb(e.total)}` : e.done !== undefined ? mb(e.done) : '';
  if (e.phase === 'download') return `downloading ${amount}`;
  if (e.phase === 'verify') return e.cached ? 'already here' : 'verified';
  return `unpacking ${amount}`;
}

/** One line of text for an event, as both renderers show it. */
function describe(e: PullProgress): string {
  switch (e.phase) {
    case 'resolve': return `resolving ${e.message ?? ''}`;
    case 'wait': return `waiting: ${e.message ?? ''}`;
    case 'done': return `${e.cached ? 'up to date' : 'ready'}: ${e.message ?? ''}`;
    case 'unpack': if (!e.layer) return e.message ?? `unpacking ${e.layers ?? ''} layer${e.layers === 1 ? '' : 's'}`;
  }
  return `${subject(e)}  ${status(e)}`;
}

/**
 * Renders progress on `out` (stderr): on a terminal, one line per layer redrawn in place (at
 * most 10 times a second); otherwise a plain line whenever a layer changes phase.
 */
export function progressRenderer(out: NodeJS.WriteStream = process.stderr, o: { quietIfCached?: boolean } = {}): { listener: ProgressListener; finish(): void } {
  const r = renderer(out);
  if (!o.quietIfCached) return r;
  // Hold events back until there is real work (a download, an unpack, a wait): a cached image says nothing.
  let held: PullProgress[] | undefined = [];
  return {
    listener: (e) => {
      if (held && (e.phase === 'download' || e.phase === 'unpack' || e.phase === 'wait' || (e.phase === 'verify' && !e.cached))) {
        for (const h of held) r.listener(h);
        held = undefined;
      }
      if (held) held.push(e);
      else r.listener(e);
    },
    finish: () => r.finish(),
  };
}

/**
 * Layers download and unpack at the same time, so on a terminal each layer's line shows both:
 * `layer 1/3 e086c0742014  downloading 40.1 MB / 63.1 MB  unpacking 12.0 MB / 63.1 MB`.
 */
function renderer(out: NodeJS.WriteStream): { listener: ProgressListener; finish(): void } {
  // A note (a skipped device node, a bootstrap under way) gets a line of its own.
  const keyOf = (e: PullProgress) => (e.layer ? `layer-${e.layer}` : e.phase === 'download' || e.phase === 'verify' ? e.digest ?? e.message ?? e.phase : e.phase === 'unpack' ? e.message ?? e.phase : e.phase);
  if (!out.isTTY) {
    const seen = new Set<string>();
    return {
      listener: (e) => {
        const key = `${keyOf(e)} ${e.phase}`;
        if (seen.has(key) && e.phase !== 'resolve' && e.phase !== 'wait') return;
        seen.add(key);
        out.write(describe(e) + '\n');
      },
      finish: () => {},
    };
  }
  const lines = new Map<string, { fetch?: string; unpack?: string; text?: string; subject: string }>();
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  const draw = () => {
    timer = undefined;
    const cols = out.columns || 80;
    let s = drawn ? `\x1b[${drawn}A` : '';
    for (const l of lines.values()) {
      const text = l.text ?? [l.subject, l.fetch, l.unpack].filter(Boolean).join('  ');
      s += `\x1b[2K${text.slice(0, cols - 1)}\n`;
    }
    drawn = lines.size;
    out.write(s);
  };
  return {
    listener: (e) => {
      const key = keyOf(e);
      const line = lines.get(key) ?? { subject: subject(e) };
      const perLayer = e.phase === 'download' || e.phase === 'verify' || (e.phase === 'unpack' && !!e.layer);
      const before = perLayer ? `${line.fetch?.split(' ')[0]}|${line.unpack?.split(' ')[0]}` : line.text;
      if (!perLayer) line.text = describe(e);
      else if (e.phase === 'unpack') line.unpack = status(e);
      else line.fetch = status(e);
      lines.set(key, line);
      const after = perLayer ? `${line.fetch?.split(' ')[0]}|${line.unpack?.split(' ')[0]}` : line.text;
      if (before !== after) { clearTimeout(timer); draw(); } else timer ??= setTimeout(draw, 100);
    },
    finish: () => { clearTimeout(timer); if (lines.size) draw(); },
  };
}

/**
 * Ends the process once stdout and stderr are written. fetch keeps idle keep-alive connections
 * to the registry open for a while after the last request, which would hold a finished
 * `crossroot pull` or `run` for a quarter of a second; a CLI that is done has no use for them.
 */
export async function exitWhenWritten(code: number): Promise<number> {
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((resolve) => s.write('', () => resolve()))));
  process.exit(code);
}

/** The --json object of `crossroot pull`. */
export function pulledJson(p: PulledImage): Record<string, unknown> {
  const { inUse: _held, ...rest } = p;
  return rest;
}

export const pullCommand: Command = {
  name: 'pull',
  usage: [
    'usage: crossroot pull [--arch ARCH] [--json] [--store DIR [--shared-store]] SOURCE',
    '',
    'SOURCE is an image reference (debian:bookworm, ghcr.io/org/img@sha256:…, localhost:5000/x:y)',
    'or a local path: an OCI layout dir, an oci-archive or docker-archive tar (`PATH:NAME` picks',
    'one image inside), a rootfs tarball (.tar, .tar.gz, .tar.zst) or a directory. A path starts',
    'with /, ./, ../ or ~/, or ends in .tar, .tar.gz, .tgz, .tar.zst (…); any other word is an',
    'image reference, even when the current folder has a file of that name (write ./NAME for it).',
    '',
    'The image for ARCH (default: this machine\'s) is downloaded, verified and unpacked once into',
    'the store ($CROSSROOT_STORE, else $XDG_CACHE_HOME/crossroot), shared by every env using it.',
    'The store is private to you (mode 0700); one other users can enter is refused unless',
    '--shared-store (or CROSSROOT_SHARED_STORE=1) accepts what that exposes.',
    'Plain http is used for loopback registries only; no --insecure flag is needed for them.',
    '',
    '  --json   print one object: {manifestDigest, indexDigest?, configDigest, platform, arch,',
    '           rootfs, digest, cached, …} instead of progress and a summary',
  ].join('\n'),
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: { ...IMAGE_OPTIONS, json: { type: 'boolean', default: false } },
    });
    if (positionals.length !== 1) throw new CrossrootError('EUSAGE', positionals.length ? 'pull takes one SOURCE' : 'SOURCE is missing', { fix: 'crossroot pull debian:bookworm' });
    const arch = archOption(values.arch);
    const store = storeOption(values);
    const source = await sourceFromArgument(positionals[0]!);
    const render = values.json ? undefined : progressRenderer();
    let pulled: PulledImage;
    try {
      pulled = await pull(source, { store, arch, onProgress: render?.listener });
    } finally {
      render?.finish();
    }
    if (values.json) {
      console.log(JSON.stringify(pulledJson(pulled), null, 2));
      return exitWhenWritten(0);
    }
    const lines = [
      pulled.manifestDigest ? `Digest: ${pulled.manifestDigest}` : undefined,
      pulled.indexDigest ? `Index: ${pulled.indexDigest}` : undefined,
      pulled.platform ? `Platform: ${pulled.platform}` : undefined,
      `Rootfs: ${pulled.rootfs}`,
      `Status: ${pulled.cached ? 'image is up to date' : 'downloaded and unpacked'} for ${pulled.source} (${arch.name})`,
    ];
    console.log(lines.filter(Boolean).join('\n'));
    return exitWhenWritten(0);
  },
};
