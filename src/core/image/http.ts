// HTTP for registries: which scheme a host gets (https; plain http only for loopback), retries
// with backoff and jitter on 429/5xx/dropped connections, redirects that never leak credentials,
// and bodies read with a size limit while they stream (a registry is not trusted to end them).
import { CrossrootError } from '../errors';

export type FetchFn = typeof fetch;

export interface RetryPolicy {
  /** Tries per request, the first included. */
  attempts: number;
  /** First backoff; doubles per retry, with jitter, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 300, maxDelayMs: 10_000 };

/** A Retry-After longer than this is not waited for: the error is reported instead. */
const MAX_RETRY_AFTER_MS = 60_000;
const MAX_REDIRECTS = 5;

/** localhost, 127.0.0.0/8 and ::1, with or without a port: the only hosts spoken to over plain http. */
export function isLoopbackHost(hostPort: string): boolean {
  let host = hostPort;
  if (host.startsWith('[')) host = host.slice(1, host.indexOf(']'));
  else if (host.includes(':') && host.indexOf(':') === host.lastIndexOf(':')) host = host.slice(0, host.indexOf(':'));
  host = host.toLowerCase();
  if (host === 'localhost' || host === '::1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return m !== null && m.slice(1).every((x) => Number(x) <= 255);
}

/** Error codes of a connection that failed or broke; worth another try. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENETUNREACH', 'EHOSTUNREACH', 'EAI_AGAIN',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE', 'EIDLE',
]);

/**
 * OpenSSL's words for a TLS handshake that got something other than TLS back: the server speaks
 * plain http (it answered the ClientHello with "HTTP/1.1 400 …"). Only this lets a loopback
 * registry fall back to http; a certificate error never does.
 */
const NOT_TLS_CODES = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_HTTP_REQUEST', 'ERR_SSL_UNKNOWN_PROTOCOL']);

export function isNotTlsError(e: unknown): boolean {
  const code = networkCode(e);
  return code !== undefined && NOT_TLS_CODES.has(code);
}

/** A TLS failure other than "not TLS at all": an untrusted, expired or mismatched certificate, or a failed handshake. */
export function isTlsError(e: unknown): boolean {
  const code = networkCode(e);
  return code !== undefined && !NOT_TLS_CODES.has(code)
    && /CERT|SELF_SIGNED|UNABLE_TO_(VERIFY|GET_ISSUER)|ALTNAME|^ERR_SSL_|^ERR_TLS_|HOSTNAME_MISMATCH/.test(code);
}

/** The low-level cause of a fetch failure (undici wraps it in a TypeError "fetch failed"). */
export function networkCode(e: unknown): string | undefined {
  for (let c: unknown = e, depth = 0; c && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

export function isTransientError(e: unknown): boolean {
  if (e instanceof CrossrootError) return e.code === 'ETIMEOUT';
  if ((e as Error)?.name === 'AbortError') return false;
  const code = networkCode(e);
  if (code) return TRANSIENT_CODES.has(code);
  // undici reports a body cut short as TypeError("terminated") without a code.
  return e instanceof TypeError && /terminated|fetch failed|other side closed/i.test(e.message);
}

export function isRetriableStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505);
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** Exponential backoff with jitter in [½, 1] of the step, so many clients do not retry in step. */
export function backoffDelay(policy: RetryPolicy, retry: number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, MAX_RETRY_AFTER_MS);
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.round(step / 2 + Math.random() * (step / 2));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(signal.reason); return; }
    const onAbort = () => { clearTimeout(timer); reject(signal?.reason); };
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RequestOptions {
  method?: 'GET' | 'HEAD' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal | undefined;
}

/** The URL a response finally came from (after redirects): whose answer it is. */
const finalUrls = new WeakMap<Response, URL>();

export function responseUrl(res: Response): URL | undefined {
  return finalUrls.get(res);
}

export interface HttpOptions {
  fetch?: FetchFn;
  userAgent?: string;
  retry?: Partial<RetryPolicy>;
  /** Waiting for response headers longer than this counts as a dropped connection. */
  timeoutMs?: number;
}

/**
 * One fetch with redirects followed by hand: a hop to another origin loses the Authorization
 * header (blob storage gets a signed URL and must never see registry credentials), a request
 * body is never re-sent to another origin (a token POST carries a refresh token), and https
 * never redirects down to plain http. responseUrl() tells whose answer a response is.
 */
export class Http {
  readonly retry: RetryPolicy;
  readonly timeoutMs: number;
  private readonly fetchFn: FetchFn;
  private readonly userAgent: string;

  constructor(opts: HttpOptions = {}) {
    this.fetchFn = opts.fetch ?? fetch;
    this.userAgent = opts.userAgent ?? 'crossroot';
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** A single attempt (redirects included). Network failures throw; every HTTP status returns. */
  async once(url: string, opts: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent, 'accept-encoding': 'identity', ...opts.headers };
    let current = new URL(url);
    let method = opts.method ?? 'GET';
    let body = opts.body;
    for (let hop = 0; ; hop++) {
      // The timeout covers waiting for headers only; a long body is the caller's to watch.
      const headerWait = new AbortController();
      const timer = setTimeout(() => headerWait.abort(), this.timeoutMs);
      const signal = opts.signal ? AbortSignal.any([opts.signal, headerWait.signal]) : headerWait.signal;
      let res: Response;
      try {
        res = await this.fetchFn(current, { method, headers, body, redirect: 'manual', signal });
      } catch (e) {
        if (opts.signal?.aborted) throw opts.signal.reason;
        if (headerWait.signal.aborted) throw new CrossrootError('ETIMEOUT', `no answer from ${current.host} within ${this.timeoutMs / 1000} s`, { cause: e });
        throw e;
      } finally {
        clearTimeout(timer);
      }
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || res.status === 304 || !location) {
        finalUrls.set(res, current);
        return res;
      }
      await res.body?.cancel();
      if (hop >= MAX_REDIRECTS) throw new CrossrootError('ENETWORK', `too many redirects fetching ${url}`);
      const next = new URL(location, current);
      // http only from http on loopback: what went to a server over TLS never continues in the clear.
      if (next.protocol !== 'https:' && !(next.protocol === 'http:' && current.protocol === 'http:' && isLoopbackHost(next.host))) {
        throw new CrossrootError('ENETWORK', `${current.host} redirected to ${next.protocol}//${next.host}, which is not https; refusing`);
      }
      // 301/302/303 turn a POST into a GET without its body, as browsers do; 307/308 keep both,
      // and a body (a token form holding a refresh token) goes only where it was sent.
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
        if (method !== 'HEAD') method = 'GET';
        body = undefined;
        delete headers['content-type'];
      } else if (body !== undefined && next.origin !== current.origin) {
        throw new CrossrootError('ENETWORK', `${current.host} redirected a ${method} with a body to ${next.origin}; refusing to send it to another host`);
      }
      if (next.origin !== current.origin) delete headers.authorization;
      current = next;
    }
  }

  /**
   * The body of `res`, at most `maxBytes` of it, read as it streams: past the limit the rest is
   * not read, the connection is dropped and `tooBig()` is thrown, so an endless body costs
   * `maxBytes` of memory and no more. No bytes for timeoutMs is a dropped connection (ETIMEOUT).
   * With `truncate`, what fits is returned instead (for error texts, which are only shown).
   */
  async readBody(res: Response, maxBytes: number, tooBig: () => Error, opts: { truncate?: boolean; signal?: AbortSignal | undefined } = {}): Promise<Buffer> {
    if (!res.body) return Buffer.alloc(0);
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > maxBytes && !opts.truncate) {
      await res.body.cancel();
      throw tooBig();
    }
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    let timer: NodeJS.Timeout | undefined;
    let failure: Error | undefined;
    const fail = (e: Error) => { failure ??= e; reader.cancel(e).catch(() => {}); };
    const idle = () => {
      clearTimeout(timer);
      timer = setTimeout(() => fail(new CrossrootError('ETIMEOUT', `no data from ${responseUrl(res)?.host ?? 'the server'} for ${this.timeoutMs / 1000} s`)), this.timeoutMs);
    };
    const onAbort = () => fail(opts.signal?.reason as Error);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (opts.signal?.aborted) throw opts.signal.reason;
      idle();
      for (;;) {
        const { done, value } = await reader.read();
        if (failure) throw failure;
        if (done) break;
        idle();
        if (size + value.byteLength > maxBytes) {
          if (opts.truncate) chunks.push(value.subarray(0, maxBytes - size));
          // cancel() drops the connection: the rest of an endless body is never read.
          await reader.cancel();
          if (opts.truncate) return Buffer.concat(chunks);
          throw tooBig();
        }
        chunks.push(value);
        size += value.byteLength;
      }
      return Buffer.concat(chunks, size);
    } catch (e) {
      throw failure ?? e;
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * once() with retries: on 429/5xx (honouring Retry-After) and on dropped or refused
   * connections. Other statuses are returned to the caller as they are.
   */
  async request(url: string, opts: RequestOptions = {}): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      let retryAfter: number | undefined;
      try {
        const res = await this.once(url, opts);
        if (!isRetriableStatus(res.status) || attempt >= this.retry.attempts) return res;
        retryAfter = parseRetryAfter(res.headers.get('retry-after'));
        await res.body?.cancel();
        if (retryAfter !== undefined && retryAfter > MAX_RETRY_AFTER_MS) {
          throw new CrossrootError('ERATELIMIT', `${new URL(url).host} asks to wait ${Math.round(retryAfter / 1000)} s before retrying (HTTP ${res.status})`, {
            fix: 'try again later; for Docker Hub, logging in raises the pull rate limit',
          });
        }
      } catch (e) {
        if (!isTransientError(e) || attempt >= this.retry.attempts) throw e;
      }
      await sleep(backoffDelay(this.retry, attempt - 1, retryAfter), opts.signal);
    }
  }
}

/** "connect ECONNREFUSED 127.0.0.1:5000" rather than undici's bare "fetch failed". */
export function describeNetworkError(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e, depth = 0; c && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    const m = (c as Error).message;
    if (m && !parts.includes(m)) parts.push(m);
  }
  return parts.filter((p) => p !== 'fetch failed').join(': ') || 'fetch failed';
}
