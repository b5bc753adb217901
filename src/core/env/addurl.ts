// `ADD https://…` of a Dockerfile: the download (through the registries' HTTP stack, with no
// credentials), kept in the store's blobs with what the server said about it, so a later build
// asks only "changed?" (ETag / Last-Modified) and a `--checksum` one asks nothing at all.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CrossrootError } from '../errors';
import { describeNetworkError, Http } from '../image/http';
import type { Store } from '../store/store';

/** What the last download of a URL gave; `cache/add-url/<sha256 of url>.json`. */
interface UrlRecord {
  url: string;
  digest: string;
  etag?: string;
  lastModified?: string;
}

export interface FetchedUrl {
  /** The blob holding the bytes (sha256:…), in the store. */
  digest: string;
  /** Seconds since 1970 from Last-Modified (Docker sets the file's mtime from it), if the server sent one. */
  mtime?: number;
}

/** `sha256:<64 hex>`, the only form BuildKit takes for `ADD --checksum`. */
export function checksumDigest(value: string): string | undefined {
  return /^sha256:[0-9a-f]{64}$/.test(value) ? value : undefined;
}

/**
 * The file name BuildKit gives a downloaded file: the last element of the URL's path, or
 * `__unnamed__` when the path has none (dockerfile2llb does not look at Content-Disposition).
 */
export function urlFileName(url: string): string {
  const base = path.posix.basename(new URL(url).pathname);
  return base && base !== '/' && base !== '.' ? decodeURIComponent(base) : '__unnamed__';
}

function recordPath(store: Store, url: string): string {
  return path.join(store.root, 'cache', 'add-url', `${createHash('sha256').update(url).digest('hex')}.json`);
}

function readRecord(store: Store, url: string): UrlRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(recordPath(store, url), 'utf8')) as UrlRecord;
    return r.url === url && typeof r.digest === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

function writeRecord(store: Store, r: UrlRecord): void {
  const file = recordPath(store, r.url);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(r), { mode: 0o600 });
  renameSync(tmp, file);
}

function mtimeOf(lastModified: string | undefined): number | undefined {
  const t = lastModified ? Date.parse(lastModified) : NaN;
  return Number.isFinite(t) ? Math.floor(t / 1000) : undefined;
}

/**
 * The URL's content in the store. Every build asks the server (If-None-Match / If-Modified-Since
 * with what the last download said, so an unchanged file costs one small 304), as BuildKit does:
 * the layer key is the content's digest, so a file that changed at the same URL rebuilds the step
 * and the ones after it. With `checksum` the content is known before any request: a blob with
 * that digest in the store is used as it is, and a download must match it (EDIGEST otherwise).
 * `fail(message, fix)` makes the error that names the Dockerfile line.
 */
export async function fetchUrl(store: Store, url: string, o: {
  checksum?: string; network: 'host' | 'none' | 'private'; signal?: AbortSignal;
  fail: (message: string, fix: string) => Error;
}): Promise<FetchedUrl> {
  const rec = readRecord(store, url);
  if (o.checksum && store.hasBlob(o.checksum)) {
    const mtime = rec?.digest === o.checksum ? mtimeOf(rec.lastModified) : undefined;
    return { digest: o.checksum, ...(mtime !== undefined ? { mtime } : {}) };
  }
  if (o.network === 'none') {
    throw o.fail(`ADD ${url} downloads a file, and the env's network mode is "none"`,
      'download the file into the build context and COPY it, or allow the network ("runArgs": ["--network=host"] / [network] mode = "host")');
  }
  // With a checksum the bytes we have are not the ones asked for: no conditional request.
  const known = !o.checksum && rec && store.hasBlob(rec.digest) ? rec : undefined;
  const headers: Record<string, string> = {};
  if (known?.etag) headers['if-none-match'] = known.etag;
  if (known?.lastModified) headers['if-modified-since'] = known.lastModified;
  // No credentials of any kind go with the download: the URL's host gets a plain GET.
  const http = new Http({});
  let res: Response;
  try {
    res = await http.request(url, { headers, ...(o.signal ? { signal: o.signal } : {}) });
  } catch (e) {
    if (o.signal?.aborted) throw e;
    if (e instanceof CrossrootError && e.code !== 'ENETWORK' && e.code !== 'ETIMEOUT') throw e;
    throw o.fail(`ADD could not download ${url}: ${describeNetworkError(e)}`, 'check the URL and that this machine can reach it');
  }
  if (res.status === 304 && known) {
    await res.body?.cancel();
    const mtime = mtimeOf(known.lastModified);
    return { digest: known.digest, ...(mtime !== undefined ? { mtime } : {}) };
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw o.fail(`ADD ${url}: the server answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`, 'check the URL');
  }
  let digest: string;
  try {
    ({ digest } = await store.writeBlob(res.body as unknown as AsyncIterable<Uint8Array>, { ...(o.checksum ? { digest: o.checksum } : { entry: `add-url ${url}` }), what: url }));
  } catch (e) {
    if (e instanceof CrossrootError && e.code === 'EDIGEST') {
      throw o.fail(`ADD --checksum=${o.checksum}: ${url} does not have that checksum (${e.message.replace(/^.*?got /, 'got ')})`,
        'the file at that URL changed or is not the one you meant; check it and update --checksum');
    }
    if (o.signal?.aborted) throw e;
    throw o.fail(`ADD could not download ${url}: ${describeNetworkError(e)}`, 'check the URL and that this machine can reach it');
  }
  const lastModified = res.headers.get('last-modified') ?? undefined;
  const etag = res.headers.get('etag') ?? undefined;
  writeRecord(store, { url, digest, ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}) });
  const mtime = mtimeOf(lastModified);
  return { digest, ...(mtime !== undefined ? { mtime } : {}) };
}
