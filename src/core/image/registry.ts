// The Distribution API v2 client: resolves a reference to the manifest and config for an arch,
// and downloads blobs to a path given by the caller, verified while they stream, resumable.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, open, rename, rm, stat } from 'node:fs/promises';
import type { ArchInfo } from '../arch';
import { CrossrootError } from '../errors';
import { type BearerToken, type Challenge, type Credentials, authFailure, basicAuthHeader, fetchBearerToken, findCredentials, parseWwwAuthenticate } from './auth';
import {
  type FetchFn, Http, type RetryPolicy, backoffDelay, describeNetworkError, isLoopbackHost, isNotTlsError, isTlsError, isTransientError, responseUrl, sleep,
} from './http';
import {
  type Descriptor, type ImageConfig, type Manifest, MANIFEST_ACCEPT, MediaType, checkDigest, parseImageConfig, parseManifestOrIndex, sha256Digest,
} from './oci';
import { inParallel } from './parallel';
import { checkImageArch, listPlatforms, selectManifest } from './platform';
import { DOCKER_HUB, type ImageRef } from './ref';

export type ProgressEvent = { kind: 'download'; digest: string; done: number; total: number };

export interface RegistryClientOptions {
  /** An auth.json to read first (like podman's --authfile). */
  authFile?: string;
  userAgent?: string;
  fetch?: FetchFn;
  retry?: Partial<RetryPolicy>;
  /** Waiting for response headers, or for the next bytes of a body, longer than this is a dropped connection. */
  timeoutMs?: number;
  /** Environment for finding auth files and credential helpers (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface ResolvedImage {
  /** Set when the reference named a multi-arch index. */
  indexDigest?: string;
  manifestDigest: string;
  manifest: Manifest;
  config: ImageConfig;
  configDigest: string;
  /** The config's bytes as fetched (verified against configDigest), so a pull need not ask again. */
  configBytes: Uint8Array;
  /** The platforms of the index (`linux/arm64/v8`, …), when there was one. */
  platforms?: string[];
}

export interface BlobDownload {
  desc: Descriptor;
  dest: string;
}

export interface FetchOptions {
  onProgress?: (e: ProgressEvent) => void;
  signal?: AbortSignal;
}

export interface BlobFetchOptions extends FetchOptions {
  /** Where the blob grows until verified (default `DEST.partial`); the store names its own (Store.partialBlobPath). */
  partial?: string;
}

/** Distribution's own limit; a bigger "manifest" is not one. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
/** An error body is only shown: the first 64 KiB are plenty, the rest is never read. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** How much of a registry's own error text reaches a message. */
const MAX_ERROR_TEXT_CHARS = 300;
const WRITE_BATCH_BYTES = 1 << 20;

interface Endpoint {
  /** `https://host` or, for loopback only, `http://host`. */
  base: string;
  challenge: Challenge | undefined;
}

/** Docker Hub's API lives on another host than its name. */
function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
}

/** Of the challenges a registry offers, the one to answer: Bearer over Basic over anything else. */
function pickChallenge(header: string | null): Challenge | undefined {
  const all = parseWwwAuthenticate(header ?? '');
  return all.find((c) => c.scheme === 'bearer') ?? all.find((c) => c.scheme === 'basic') ?? all[0];
}

/**
 * The message of a registry's JSON error body (`{"errors":[{"code","message"}]}`), if it has one:
 * from the first 64 KiB only, and cut short and stripped of control characters, since it goes to
 * a terminal.
 */
async function registryErrorText(http: Http, res: Response): Promise<string> {
  try {
    const text = (await http.readBody(res, MAX_ERROR_BODY_BYTES, () => new Error('unreachable'), { truncate: true })).toString('utf8');
    const v = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const errs = (v.errors ?? []).map((e) => [e.code, e.message].filter((x) => typeof x === 'string' && x).join(': ')).filter(Boolean);
    if (!errs.length) return `HTTP ${res.status}`;
    const clean = errs.join('; ').replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
    return clean.length > MAX_ERROR_TEXT_CHARS ? `${clean.slice(0, MAX_ERROR_TEXT_CHARS)}…` : clean;
  } catch {
    return `HTTP ${res.status}`;
  }
}

/** The final error for a registry that could not be reached after the retries. */
function networkError(registry: string, e: unknown): CrossrootError {
  if (e instanceof CrossrootError && e.code !== 'ETIMEOUT') return e;
  if (isTlsError(e)) {
    return new CrossrootError('ETLS', `cannot reach registry ${registry} over https: ${describeNetworkError(e)}`, {
      cause: e, fix: 'if the registry uses a certificate of your own CA, point NODE_EXTRA_CA_CERTS at that CA\'s PEM file; Crossroot never falls back to plain http on a certificate error',
    });
  }
  return new CrossrootError('ENETWORK', `cannot reach registry ${registry}: ${describeNetworkError(e)}`, {
    cause: e, fix: 'check the registry name and port and your network connection (HTTP(S)_PROXY is not used yet)',
  });
}

function digestMismatch(what: string, want: string, got: string): CrossrootError {
  return new CrossrootError('EDIGEST', `${what} does not match its digest: expected ${want}, got ${got}`, {
    fix: 'the registry or something between it and you altered the data; try again, and report it to the registry owner if it persists',
  });
}

export class RegistryClient {
  private readonly http: Http;
  private readonly opts: RegistryClientOptions;
  private readonly endpoints = new Map<string, Promise<Endpoint>>();
  /** Authorization per registry+repository (bearer tokens are scoped to one repository). */
  private readonly auth = new Map<string, BearerToken>();
  private readonly creds = new Map<string, Credentials | undefined>();

  constructor(opts: RegistryClientOptions = {}) {
    this.opts = opts;
    this.http = new Http({ fetch: opts.fetch, userAgent: opts.userAgent ?? 'crossroot', retry: opts.retry, timeoutMs: opts.timeoutMs });
  }

  /**
   * This client for a question whose answer is only news (has a locked tag moved?): one try,
   * answered within 5 s or not at all, so an offline build with crossroot.lock goes on at once
   * instead of waiting out the retries a download deserves.
   */
  oneShot(): RegistryClient {
    return new RegistryClient({ ...this.opts, retry: { attempts: 1 }, timeoutMs: 5_000 });
  }

  /**
   * The manifest and config an env of `arch` runs for `ref`. A multi-arch index is narrowed to
   * the arch (ENOPLATFORM lists what it has); a single manifest must be for the arch.
   */
  async resolve(ref: ImageRef, arch: ArchInfo, opts: { signal?: AbortSignal } = {}): Promise<ResolvedImage> {
    const top = await this.fetchManifest(ref, ref.reference, opts.signal);
    let manifest: Manifest;
    let manifestDigest = top.digest;
    let indexDigest: string | undefined;
    let platforms: string[] | undefined;
    if (top.doc.kind === 'index') {
      indexDigest = top.digest;
      platforms = listPlatforms(top.doc.index);
      const chosen = selectManifest(top.doc.index, arch, ref.familiar());
      const m = await this.fetchManifest(ref, chosen.digest, opts.signal);
      if (m.doc.kind !== 'manifest') {
        throw new CrossrootError('EMANIFEST', `${ref.familiar()}: the ${arch.name} entry of the index is not an image manifest`);
      }
      manifest = m.doc.manifest;
      manifestDigest = m.digest;
    } else {
      manifest = top.doc.manifest;
    }
    if (manifest.config.mediaType !== MediaType.ociConfig && manifest.config.mediaType !== MediaType.dockerConfig) {
      throw new CrossrootError('EMANIFEST', `${ref.familiar()} is not a container image (its config is ${manifest.config.mediaType})`, {
        fix: 'use an image that docker or podman can run; OCI artifacts (charts, signatures, …) have no root filesystem',
      });
    }
    const configBytes = await this.fetchBlobBytes(ref, manifest.config, MAX_CONFIG_BYTES, opts.signal);
    const config = parseImageConfig(configBytes, manifest, `image config of ${ref.familiar()}`);
    if (!indexDigest) checkImageArch(config, arch, ref.familiar());
    const out: ResolvedImage = { manifestDigest, manifest, config, configDigest: manifest.config.digest, configBytes };
    if (indexDigest) out.indexDigest = indexDigest;
    if (platforms) out.platforms = platforms;
    return out;
  }

  /**
   * A manifest or index by tag or digest. Fetched by digest, the bytes must hash to it; by tag,
   * the digest is computed from the bytes (and must agree with Docker-Content-Digest when sent).
   */
  async fetchManifest(ref: ImageRef, reference: string, signal?: AbortSignal): Promise<{ digest: string; bytes: Buffer; doc: ReturnType<typeof parseManifestOrIndex> }> {
    const byDigest = reference.includes(':');
    const what = `manifest ${ref.name}@${reference}`;
    const { bytes, res } = await this.getBytes(ref, `manifests/${reference}`, { accept: MANIFEST_ACCEPT }, MAX_MANIFEST_BYTES, signal,
      (r) => this.manifestNotFound(ref, byDigest, r));
    const digest = sha256Digest(bytes);
    if (byDigest && digest !== reference) throw digestMismatch(what, reference, digest);
    const header = res.headers.get('docker-content-digest');
    if (!byDigest && header?.startsWith('sha256:') && header !== digest) throw digestMismatch(what, header, digest);
    return { digest, bytes, doc: parseManifestOrIndex(bytes, res.headers.get('content-type') ?? undefined, what) };
  }

  /**
   * The digest a tag points at now, from a HEAD request (which Docker Hub does not count
   * against pull rate limits); falls back to fetching the manifest when the registry sends no
   * Docker-Content-Digest.
   */
  async manifestDigest(ref: ImageRef, reference: string, signal?: AbortSignal): Promise<string> {
    const byDigest = reference.includes(':');
    const res = await this.send(ref, `manifests/${reference}`, { accept: MANIFEST_ACCEPT }, signal, (r) => this.manifestNotFound(ref, byDigest, r), 'HEAD');
    await res.body?.cancel();
    const header = res.headers.get('docker-content-digest');
    if (header?.startsWith('sha256:')) return checkDigest(header, `digest of ${ref.familiar()}`);
    return (await this.fetchManifest(ref, reference, signal)).digest;
  }

  /** A small blob (an image config) in memory, verified against its descriptor. */
  async fetchBlobBytes(ref: ImageRef, desc: Descriptor, maxBytes: number, signal?: AbortSignal): Promise<Buffer> {
    checkDigest(desc.digest, `blob of ${ref.familiar()}`);
    if (desc.size > maxBytes) throw new CrossrootError('EMANIFEST', `blob ${desc.digest} of ${ref.familiar()} is ${desc.size} bytes, more than the ${maxBytes} allowed here`);
    // Its descriptor says how long it is: not a byte more is read.
    const { bytes } = await this.getBytes(ref, `blobs/${desc.digest}`, {}, desc.size, signal, (r) => this.blobNotFound(ref, desc, r));
    const got = sha256Digest(bytes);
    if (got !== desc.digest) throw digestMismatch(`blob of ${ref.familiar()}`, desc.digest, got);
    return bytes;
  }

  /**
   * Downloads one blob to `dest`: streams into a partial file while hashing, resumes a partial
   * left by an earlier try with a Range request (re-hashing what is there first), and renames to
   * `dest` only when the sha256 matches. A mismatch deletes the partial and throws EDIGEST.
   * The caller makes sure no one else writes the same dest at the same time (the store's lock).
   */
  async fetchBlob(ref: ImageRef, desc: Descriptor, dest: string, opts: BlobFetchOptions = {}): Promise<void> {
    checkDigest(desc.digest, `layer of ${ref.familiar()}`);
    const partial = opts.partial ?? `${dest}.partial`;
    // A resumed download that ends in a mismatch (a stale partial, a server whose bytes changed
    // between requests) or that the server cannot resume gets one clean start over.
    for (let fresh = false; ; fresh = true) {
      let result: { digest: string; resumed: boolean };
      try {
        result = await this.downloadToPartial(ref, desc, partial, opts);
      } catch (e) {
        if (!(e instanceof CrossrootError && e.code === 'ERESTART')) throw e;
        await rm(partial, { force: true });
        if (!fresh) continue;
        throw new CrossrootError('ENETWORK', `${ref.registry} keeps breaking off the download of ${desc.digest} and cannot resume it (${e.message})`, {
          fix: 'try again later',
        });
      }
      if (result.digest === desc.digest) {
        await appendFile(partial, ''); // an empty blob never opened its partial
        await rename(partial, dest);
        return;
      }
      await rm(partial, { force: true });
      if (!result.resumed || fresh) throw digestMismatch(`layer ${desc.digest} of ${ref.familiar()}`, desc.digest, result.digest);
    }
  }

  /** Several blobs at once, at most `concurrency` (default 3) in flight; the first failure cancels the rest. */
  fetchBlobs(ref: ImageRef, items: BlobDownload[], opts: FetchOptions & { concurrency?: number } = {}): Promise<void> {
    return inParallel(items, opts.concurrency ?? 3,
      (item, signal) => this.fetchBlob(ref, item.desc, item.dest, { signal, onProgress: opts.onProgress }), opts.signal);
  }

  // --- internals ---------------------------------------------------------------------------

  /**
   * Brings `partial` to the blob's full size: re-hashes what an earlier try left, then GETs the
   * rest, resuming after every break. Returns the sha256 of the whole and whether any of it was
   * resumed. Throws ERESTART when the server cannot resume, EDIGEST (partial removed) when the
   * body is longer than the descriptor says.
   */
  private async downloadToPartial(ref: ImageRef, desc: Descriptor, partial: string, opts: FetchOptions): Promise<{ digest: string; resumed: boolean }> {
    const hash = createHash('sha256');
    // What is in the partial file and in the hash; a try that fails midway has still advanced it.
    const state = { done: await this.hashExisting(partial, hash, desc.size) };
    let resumed = state.done > 0;
    const policy = this.http.retry;
    const report = () => opts.onProgress?.({ kind: 'download', digest: desc.digest, done: state.done, total: desc.size });
    report();
    for (let attempt = 1; state.done < desc.size; attempt++) {
      resumed ||= state.done > 0;
      try {
        await this.downloadFrom(ref, desc, partial, hash, state, opts.signal, report);
      } catch (e) {
        if (opts.signal?.aborted) throw e;
        if (e instanceof CrossrootError && e.code === 'EDIGEST') {
          await rm(partial, { force: true });
          throw e;
        }
        // ERESTART, and errors that are not the network's (a full disk), go up as they are.
        if (!isTransientError(e)) throw e;
        if (attempt >= policy.attempts) throw networkError(ref.registry, e);
        await sleep(backoffDelay(policy, attempt - 1), opts.signal);
        continue;
      }
      // A body that ended cleanly but short (a proxy that closed early): resume from there too.
      if (state.done < desc.size && attempt >= policy.attempts) {
        throw new CrossrootError('ENETWORK', `download of ${desc.digest} from ${ref.registry} kept ending early (${state.done} of ${desc.size} bytes)`);
      }
    }
    return { digest: 'sha256:' + hash.digest('hex'), resumed };
  }

  private async manifestNotFound(ref: ImageRef, byDigest: boolean, r: Response): Promise<CrossrootError> {
    const text = await registryErrorText(this.http, r);
    return new CrossrootError('ENOTFOUND', `${ref.familiar()} was not found in ${ref.registry} (${text})`, {
      fix: byDigest ? 'check the digest; the registry may have garbage-collected it' : 'check the image name and tag',
    });
  }

  private blobNotFound(ref: ImageRef, desc: Descriptor, r: Response): Promise<CrossrootError> {
    return registryErrorText(this.http, r).then((text) => new CrossrootError('ENOTFOUND',
      `blob ${desc.digest} of ${ref.familiar()} is missing from ${ref.registry} (${text})`, {
        fix: 'the image in the registry is incomplete; push it again',
      }));
  }

  /** Re-hashes a partial file from an earlier try; returns its length (0 when absent or unusable). */
  private async hashExisting(partial: string, hash: Hash, size: number): Promise<number> {
    let have: number;
    try {
      have = (await stat(partial)).size;
    } catch {
      return 0;
    }
    if (have > size) {
      await rm(partial, { force: true });
      return 0;
    }
    for await (const chunk of createReadStream(partial)) hash.update(chunk as Buffer);
    return have;
  }

  /**
   * One GET of the blob from `state.done`, appending to `partial` and advancing `state.done` with
   * every chunk written and hashed. Throws ERESTART when the server cannot resume where we are
   * (the caller starts over).
   */
  private async downloadFrom(
    ref: ImageRef, desc: Descriptor, partial: string, hash: Hash, state: { done: number },
    signal: AbortSignal | undefined, report: () => void,
  ): Promise<void> {
    const offset = state.done;
    const stall = new AbortController();
    const both = signal ? AbortSignal.any([signal, stall.signal]) : stall.signal;
    const headers: Record<string, string> = {};
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const res = await this.send(ref, `blobs/${desc.digest}`, headers, both, (r) => this.blobNotFound(ref, desc, r));
    if (res.status === 416 && offset > 0) {
      await res.body?.cancel();
      throw new CrossrootError('ERESTART', 'range not satisfiable');
    }
    if (offset > 0 && res.status === 200) {
      // The server ignored Range: hashing and writing must start from byte 0 again.
      await res.body?.cancel();
      throw new CrossrootError('ERESTART', 'server does not resume');
    }
    if (offset > 0) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
      if (res.status !== 206 || !m || Number(m[1]) !== offset) {
        await res.body?.cancel();
        throw new CrossrootError('ERESTART', `unexpected Content-Range ${res.headers.get('content-range')}`);
      }
    }
    if (!res.body) throw new CrossrootError('ENETWORK', `${ref.registry} sent no body for blob ${desc.digest}`);
    const fh = await open(partial, offset > 0 ? 'r+' : 'w', 0o644);
    let timer: NodeJS.Timeout | undefined;
    const idle = () => {
      clearTimeout(timer);
      timer = setTimeout(() => stall.abort(new CrossrootError('ETIMEOUT', `download of ${desc.digest} stalled for ${this.http.timeoutMs / 1000} s`)), this.http.timeoutMs);
    };
    // Chunks are written, hashed and counted in batches of about 1 MiB (fewer writes); what
    // arrived before a connection broke or the user cancelled is still kept for the resume.
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      if (pendingBytes === 0) return;
      const buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
      await fh.write(buf, 0, buf.byteLength, state.done);
      hash.update(buf);
      state.done += buf.byteLength;
      pending = [];
      pendingBytes = 0;
      report();
    };
    try {
      idle();
      for await (const chunk of res.body) {
        idle();
        if (state.done + pendingBytes + chunk.byteLength > desc.size) {
          throw new CrossrootError('EDIGEST', `blob ${desc.digest} of ${ref.familiar()} is larger than the ${desc.size} bytes its manifest says`, {
            fix: 'the image in the registry is inconsistent; push it again',
          });
        }
        pending.push(chunk);
        pendingBytes += chunk.byteLength;
        if (pendingBytes >= WRITE_BATCH_BYTES) await flush();
      }
      await flush();
      // Durable before the rename makes it look whole (containerd's content store does the same).
      await fh.sync();
    } catch (e) {
      if (!(e instanceof CrossrootError && e.code === 'EDIGEST')) await flush();
      throw stall.signal.aborted && !signal?.aborted ? stall.signal.reason : e;
    } finally {
      clearTimeout(timer);
      await fh.close();
    }
  }

  /** GET a small document fully, retrying the whole exchange when the body is cut short. */
  private async getBytes(
    ref: ImageRef, path: string, extra: { accept?: string }, maxBytes: number, signal: AbortSignal | undefined,
    notFound: (r: Response) => Promise<CrossrootError>,
  ): Promise<{ bytes: Buffer; res: Response }> {
    const headers: Record<string, string> = extra.accept ? { accept: extra.accept } : {};
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.send(ref, path, headers, signal, notFound);
        const bytes = await this.http.readBody(res, maxBytes, () => new CrossrootError('EMANIFEST',
          `${ref.registry} sent more than ${maxBytes} bytes for ${path} of ${ref.repository}, the most it may be; Crossroot stopped reading`, {
            fix: 'check that the image reference names a container image in a working registry',
          }), { signal });
        return { bytes, res };
      } catch (e) {
        if (signal?.aborted) throw e;
        if (!isTransientError(e)) throw e;
        if (attempt >= this.http.retry.attempts) throw networkError(ref.registry, e);
        await sleep(backoffDelay(this.http.retry, attempt - 1), signal);
      }
    }
  }

  /**
   * One authorized request under /v2/<repository>/. Authorization is attached up front when the
   * registry's challenge is known; a 401 gets a fresh token (or the Basic credentials) and one
   * more try. Error statuses become CrossrootErrors; 2xx and 416 are returned.
   */
  private async send(
    ref: ImageRef, path: string, headers: Record<string, string>, signal: AbortSignal | undefined,
    notFound: (r: Response) => Promise<CrossrootError>, method: 'GET' | 'HEAD' = 'GET',
  ): Promise<Response> {
    let ep: Endpoint;
    try {
      ep = await this.endpoint(ref.registry, signal);
    } catch (e) {
      throw networkError(ref.registry, e);
    }
    const url = `${ep.base}/v2/${ref.repository}/${path}`;
    const key = `${ref.registry}/${ref.repository}`;
    let authHeader = ep.challenge ? await this.authorize(ref, ep, ep.challenge, false, signal) : undefined;
    for (let fresh = false; ; fresh = true) {
      const h = authHeader ? { ...headers, authorization: authHeader } : headers;
      let res: Response;
      try {
        res = await this.http.request(url, { method, headers: h, signal });
      } catch (e) {
        // request() has already retried; what is left is final.
        throw signal?.aborted ? e : networkError(ref.registry, e);
      }
      if (res.ok || res.status === 416) return res;
      if ((res.status === 401 || res.status === 403) && responseUrl(res)?.origin !== new URL(ep.base).origin) {
        // Only the registry itself may ask for its logins. A 401 from where it redirected to (blob
        // storage, a CDN) is not its challenge: answering it would send the user's credentials to
        // a realm that host names.
        await res.body?.cancel();
        throw new CrossrootError('EREGISTRY', `${ref.registry} redirected ${path} of ${ref.repository} to ${responseUrl(res)?.host ?? 'another host'}, which refused access (HTTP ${res.status}); the registry's credentials are never sent there`, {
          fix: 'try again (signed storage links expire); if it persists, report it to the registry owner',
        });
      }
      if (res.status === 401 && !fresh) {
        await res.body?.cancel();
        const challenge = pickChallenge(res.headers.get('www-authenticate'));
        if (!challenge) throw new CrossrootError('EAUTH', `${ref.registry} refused access (401) without saying how to log in`);
        ep.challenge = challenge;
        this.auth.delete(key);
        authHeader = await this.authorize(ref, ep, challenge, true, signal);
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        const text = await registryErrorText(this.http, res);
        throw authFailure(ref.registry, this.credentials(ref), `${res.status} for ${ref.repository}: ${text}`);
      }
      if (res.status === 404) throw await notFound(res);
      const text = await registryErrorText(this.http, res);
      throw new CrossrootError('EREGISTRY', `${ref.registry} failed on ${path} of ${ref.repository}: ${text}`, {
        fix: res.status === 429 ? 'the registry is rate limiting; try again later (logging in raises Docker Hub limits)' : 'try again later',
      });
    }
  }

  /** The Authorization header for a challenge: Basic credentials, or a (cached) bearer token for the repository. */
  private async authorize(ref: ImageRef, ep: Endpoint, challenge: Challenge, fresh: boolean, signal?: AbortSignal): Promise<string | undefined> {
    const creds = this.credentials(ref);
    if (challenge.scheme === 'basic') {
      if (!creds) throw authFailure(ref.registry, undefined, 'it asks for a username and password');
      return basicAuthHeader(creds);
    }
    if (challenge.scheme !== 'bearer') {
      throw new CrossrootError('EAUTH', `${ref.registry} asks for "${challenge.scheme}" authentication, which Crossroot does not support (only Basic and Bearer)`);
    }
    const key = `${ref.registry}/${ref.repository}`;
    const cached = this.auth.get(key);
    if (cached && !fresh && cached.expiresAt > Date.now()) return cached.header;
    // Pull only, whatever the challenge names (it may ask for push, or for other repositories):
    // a token that can do more than Crossroot does is a bigger secret to hold.
    const scope = `repository:${ref.repository}:pull`;
    const token = await fetchBearerToken(this.http, ref.registry, challenge, scope, creds, { signal, allowHttp: ep.base.startsWith('http:') })
      .catch((e: unknown) => { throw e instanceof CrossrootError ? e : networkError(ref.registry, e); });
    this.auth.set(key, token);
    return token.header;
  }

  private credentials(ref: ImageRef): Credentials | undefined {
    const key = `${ref.registry}/${ref.repository}`;
    if (!this.creds.has(key)) {
      this.creds.set(key, findCredentials(ref.registry, ref.repository, { authFile: this.opts.authFile, env: this.opts.env }));
    }
    return this.creds.get(key);
  }

  /**
   * Pings /v2/ once per registry: learns the scheme (loopback registries that do not speak TLS
   * get plain http, nothing else ever does) and the auth challenge, so later requests carry auth
   * up front.
   */
  private endpoint(registry: string, signal?: AbortSignal): Promise<Endpoint> {
    let ep = this.endpoints.get(registry);
    if (!ep) {
      ep = this.ping(registry, signal);
      this.endpoints.set(registry, ep);
      ep.catch(() => this.endpoints.delete(registry));
    }
    return ep;
  }

  private async ping(registry: string, signal?: AbortSignal): Promise<Endpoint> {
    const host = apiHost(registry);
    let base = `https://${host}`;
    let res: Response;
    try {
      res = await this.http.request(`${base}/v2/`, { signal });
    } catch (e) {
      // Plain http only when the server answered the TLS handshake with something that is not
      // TLS. A certificate the client cannot verify is exactly when TLS matters: no fallback,
      // else whoever holds the port would get the logins in the clear.
      if (signal?.aborted || !isLoopbackHost(host) || !isNotTlsError(e)) throw e;
      base = `http://${host}`;
      res = await this.http.request(`${base}/v2/`, { signal });
    }
    await res.body?.cancel();
    if (res.status === 401) {
      const from = responseUrl(res);
      if (from?.origin !== new URL(base).origin) {
        throw new CrossrootError('EREGISTRY', `${registry} redirected GET /v2/ to ${from?.host ?? 'another host'}, which asks for a login; the registry's credentials are never sent there`, {
          fix: 'check the registry host name and port',
        });
      }
      return { base, challenge: pickChallenge(res.headers.get('www-authenticate')) };
    }
    if (!res.ok) {
      throw new CrossrootError('EREGISTRY', `${registry} does not answer like an image registry (GET /v2/ gave HTTP ${res.status})`, {
        fix: 'check the registry host name and port',
      });
    }
    return { base, challenge: undefined };
  }
}
