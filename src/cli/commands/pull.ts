// `crossroot pull SOURCE [--arch A] [--json] [--store DIR]`: like `docker pull`, for registry
// images and local sources; also home of the store and arch options other commands share.
import { parseArgs } from 'node:util';
import type { Command } from '../command';
import { type ArchInfo, hostArch, parseArch, ARCH_NAMES } from '../../core/arch';
import { CrossrootError } from '../../core/errors';
import { pull, sourceFromArgument, type PulledImage } from '../../core/image/pull';
import { progressRenderer } from '../progress';
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
