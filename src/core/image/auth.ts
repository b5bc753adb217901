// Registry credentials the way podman and docker users already have them (containers auth.json,
// ~/.docker/config.json, credential helpers), and the WWW-Authenticate challenges registries send.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CrossrootError } from '../errors';
import { type Http, isLoopbackHost } from './http';
import { DOCKER_HUB } from './ref';

export interface Credentials {
  username: string;
  password: string;
  /** Docker's "identity token" (OAuth2 refresh token), sent as a refresh_token grant. */
  identityToken?: string;
  /** Where they came from, for error messages: a file path or `docker-credential-X`. */
  source: string;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a WWW-Authenticate header (RFC 7235): one or more challenges, each a scheme followed by
 * auth-params whose quoted values may hold commas (`scope="repository:a:pull,push"`). A
 * challenge that names a parameter twice or leaves a quote open is dropped: which realm it means
 * would be a guess, and a guess decides where credentials go.
 */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const out: Array<Challenge & { malformed?: boolean }> = [];
  // A word followed by "=" is a param of the current challenge; any other word starts a new one.
  const re = /[\s,]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s"]*))?/y;
  while (re.lastIndex < header.length) {
    const m = re.exec(header);
    if (!m) break; // no token where one must be: the rest cannot be read reliably
    const [, word, raw] = m as unknown as [string, string, string | undefined];
    const current = out.at(-1);
    if (raw === undefined || !current) {
      out.push({ scheme: word.toLowerCase(), params: {} });
      continue;
    }
    const name = word.toLowerCase();
    if (raw === '' && header[re.lastIndex] === '"') { current.malformed = true; break; } // a quote never closed
    if (Object.hasOwn(current.params, name)) current.malformed = true;
    current.params[name] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
  }
  return out.filter((c) => !c.malformed).map(({ scheme, params }) => ({ scheme, params }));
}

/** `https://index.docker.io/v1/`, `registry-1.docker.io` → `docker.io`; scheme and trailing slash dropped. */
export function normalizeAuthKey(key: string): string {
  let k = key.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
  if (/^(index|registry-1)\.docker\.io(\/v1)?$/.test(k) || k === 'docker.io/v1') k = DOCKER_HUB;
  return k;
}

/** The auth files searched, in containers-auth.json(5) order; an explicit file replaces the primary one. */
export function authFileCandidates(env: NodeJS.ProcessEnv = process.env, explicit?: string): string[] {
  const home = env.HOME ?? os.homedir();
  const files: string[] = [];
  const primary = explicit ?? env.REGISTRY_AUTH_FILE ?? (env.XDG_RUNTIME_DIR ? path.join(env.XDG_RUNTIME_DIR, 'containers/auth.json') : undefined);
  if (primary) files.push(primary);
  files.push(path.join(env.XDG_CONFIG_HOME ?? path.join(home, '.config'), 'containers/auth.json'));
  files.push(path.join(env.DOCKER_CONFIG ?? path.join(home, '.docker'), 'config.json'));
  return [...new Set(files)];
}

interface AuthEntry { auth?: string; username?: string; password?: string; identitytoken?: string }
interface AuthFile { auths?: Record<string, AuthEntry>; credHelpers?: Record<string, string>; credsStore?: string }

function readAuthFile(file: string): AuthFile | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new CrossrootError('EAUTHFILE', `cannot read registry credentials from ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as AuthFile;
  } catch (e) {
    throw new CrossrootError('EAUTHFILE', `${file} is not valid JSON: ${(e as Error).message}`, {
      cause: e, fix: `fix or remove ${file} (podman login / docker login rewrite it)`,
    });
  }
}

function decodeEntry(entry: AuthEntry, key: string, file: string): Credentials | undefined {
  let username = entry.username ?? '';
  let password = entry.password ?? '';
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) {
      throw new CrossrootError('EAUTHFILE', `the "auth" value for ${key} in ${file} is not base64 of "user:password"`, {
        fix: `log in again: podman login ${key}`,
      });
    }
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  const creds: Credentials = { username, password, source: file };
  if (entry.identitytoken) creds.identityToken = entry.identitytoken;
  return username || password || creds.identityToken ? creds : undefined;
}

/** Keys tried for one image, most specific first: host/ns/repo, host/ns, host. */
function lookupKeys(registry: string, repository?: string): string[] {
  const keys: string[] = [];
  if (repository) {
    const parts = repository.split('/');
    for (let i = parts.length; i > 0; i--) keys.push(`${registry}/${parts.slice(0, i).join('/')}`);
  }
  keys.push(registry);
  return keys;
}

/** Runs `docker-credential-NAME get` the way docker does; undefined when it has nothing for the host. */
function fromCredentialHelper(name: string, registry: string, file: string, env: NodeJS.ProcessEnv): Credentials | undefined {
  // A helper is named, never pathed: with a "/" in it, exec would look relative to the cwd (a
  // workspace) instead of in PATH.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new CrossrootError('ECREDHELPER', `${file} names the credential helper ${JSON.stringify(name)} for ${registry}; a helper name is letters, digits, ".", "_" or "-"`, {
      fix: `fix credHelpers/credsStore in ${file}`,
    });
  }
  const bin = `docker-credential-${name}`;
  const found = (env.PATH ?? '/usr/bin:/bin').split(':').some((d) => {
    try { accessSync(path.join(d, bin), constants.X_OK); return true; } catch { return false; }
  });
  if (!found) {
    throw new CrossrootError('ECREDHELPER', `${file} says credentials for ${registry} are kept by ${bin}, which is not installed`, {
      fix: `install ${bin}, or log in with "podman login ${registry}" so the credentials are in an auth.json`,
    });
  }
  const serverUrl = registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;
  let out: string;
  try {
    out = execFileSync(bin, ['get'], { input: serverUrl, encoding: 'utf8', env, timeout: 30_000, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    const msg = String((e as { stdout?: string }).stdout ?? '') + String((e as { stderr?: string }).stderr ?? '');
    if (/credentials not found/i.test(msg)) return undefined;
    throw new CrossrootError('ECREDHELPER', `${bin} get failed for ${registry}: ${msg.trim() || (e as Error).message}`, { cause: e });
  }
  let v: { Username?: string; Secret?: string };
  try {
    v = JSON.parse(out) as typeof v;
  } catch (e) {
    throw new CrossrootError('ECREDHELPER', `${bin} get printed something that is not JSON for ${registry}`, { cause: e });
  }
  if (!v.Secret) return undefined;
  // Docker's convention: the username "<token>" marks an identity token.
  if (v.Username === '<token>') return { username: '', password: '', identityToken: v.Secret, source: bin };
  return { username: v.Username ?? '', password: v.Secret, source: bin };
}

export interface CredentialLookup {
  /** An explicit auth.json (like podman's --authfile); searched first. */
  authFile?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

/**
 * Credentials for an image's registry, or undefined for anonymous access. Files are read in
 * containers-auth.json(5) order; in each, `credHelpers` for the host wins over `auths`, and a
 * global `credsStore` is asked only when the file has an `auths` entry for the host (that is what
 * `docker login` leaves behind), so an unrelated credsStore never blocks public pulls.
 */
export function findCredentials(registry: string, repository: string | undefined, opts: CredentialLookup = {}): Credentials | undefined {
  const env = opts.env ?? process.env;
  const keys = lookupKeys(registry, repository);
  for (const file of authFileCandidates(env, opts.authFile)) {
    const cfg = readAuthFile(file);
    if (!cfg) continue;
    const helpers = Object.entries(cfg.credHelpers ?? {}).map(([k, v]) => [normalizeAuthKey(k), v] as const);
    const helper = helpers.find(([k]) => k === registry);
    if (helper) {
      const c = fromCredentialHelper(helper[1], registry, file, env);
      if (c) return c;
      continue;
    }
    const auths = Object.entries(cfg.auths ?? {}).map(([k, v]) => [normalizeAuthKey(k), v, k] as const);
    for (const key of keys) {
      const hit = auths.find(([k]) => k === key);
      if (!hit) continue;
      const c = decodeEntry(hit[1] ?? {}, hit[2], file);
      if (c) return c;
      if (cfg.credsStore) {
        const s = fromCredentialHelper(cfg.credsStore, registry, file, env);
        if (s) return s;
      }
    }
  }
  return undefined;
}

export function basicAuthHeader(c: Credentials): string {
  return 'Basic ' + Buffer.from(`${c.username}:${c.password}`).toString('base64');
}

export interface BearerToken {
  /** The full Authorization header value. */
  header: string;
  /** Epoch ms after which the token is not used again. */
  expiresAt: number;
}

/** Tokens are a few KiB; a token answer bigger than this is not read further. */
const MAX_TOKEN_BODY_BYTES = 1024 * 1024;
/** Tokens without expires_in live 60 s (token spec); renew a little early so a request never carries a stale one. */
const DEFAULT_TOKEN_LIFETIME_S = 60;
const EXPIRY_MARGIN_MS = 5_000;

export interface TokenRequestOptions {
  signal?: AbortSignal | undefined;
  /** The registry itself is spoken to over plain http (loopback without TLS), so a loopback http realm is allowed too. */
  allowHttp?: boolean;
}

/**
 * The bearer-token flow of the distribution token spec: ask the challenge's realm for a token
 * for `scope`, with Basic credentials (or an identity token as an OAuth2 refresh_token grant).
 * The realm must be https, unless the registry itself is a loopback one without TLS.
 */
export async function fetchBearerToken(
  http: Http, registry: string, challenge: Challenge, scope: string, creds: Credentials | undefined, opts: TokenRequestOptions = {},
): Promise<BearerToken> {
  const { signal } = opts;
  const realm = challenge.params.realm;
  if (!realm) throw new CrossrootError('EAUTH', `${registry} asked for a bearer token but named no realm to get it from`);
  let url: URL;
  try { url = new URL(realm); } catch { throw new CrossrootError('EAUTH', `${registry} named an invalid token realm "${realm}"`); }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && opts.allowHttp && isLoopbackHost(url.host))) {
    throw new CrossrootError('EAUTH', `${registry} sends logins to ${url.origin}, which is not https; refusing to send credentials there`);
  }
  const service = challenge.params.service;
  const started = Date.now();
  let res: Response;
  if (creds?.identityToken) {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'crossroot', scope });
    if (service) form.set('service', service);
    res = await http.request(url.href, {
      method: 'POST', body: form.toString(), signal,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  } else {
    if (service) url.searchParams.set('service', service);
    url.searchParams.append('scope', scope);
    const headers: Record<string, string> = {};
    if (creds) headers.authorization = basicAuthHeader(creds);
    res = await http.request(url.href, { headers, signal });
  }
  if (res.status === 401 || res.status === 403) {
    await res.body?.cancel();
    throw authFailure(registry, creds, `the token service at ${url.host} answered ${res.status}`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new CrossrootError('EAUTH', `the token service of ${registry} (${url.host}) failed with HTTP ${res.status}`, { fix: 'try again later' });
  }
  const bytes = await http.readBody(res, MAX_TOKEN_BODY_BYTES, () => new CrossrootError('EAUTH',
    `the token service of ${registry} (${url.host}) sent more than ${MAX_TOKEN_BODY_BYTES} bytes; a token is never that large, so Crossroot stopped reading`), { signal });
  let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
  try {
    body = JSON.parse(bytes.toString('utf8')) as typeof body;
    if (typeof body !== 'object' || body === null) throw new Error('not a JSON object');
  } catch (e) {
    throw new CrossrootError('EAUTH', `the token service of ${registry} (${url.host}) sent a response that is not JSON`, { cause: e });
  }
  const token = [body.token, body.access_token].find((t) => typeof t === 'string' && t);
  // The token becomes a header value: one with a line break or control character is not a token.
  if (typeof token !== 'string' || !/^[\x21-\x7e]+$/.test(token)) throw new CrossrootError('EAUTH', `the token service of ${registry} (${url.host}) sent no token`);
  const lifetime = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_LIFETIME_S;
  const issued = typeof body.issued_at === 'string' ? Date.parse(body.issued_at) : NaN;
  // Trust the server's issued_at only when it is no later than our own clock says we asked.
  const base = Number.isNaN(issued) ? started : Math.min(issued, started);
  return { header: `Bearer ${token}`, expiresAt: base + lifetime * 1000 - Math.min(EXPIRY_MARGIN_MS, lifetime * 500) };
}

/** The error for credentials a registry refused, or for no credentials where it wants some. */
export function authFailure(registry: string, creds: Credentials | undefined, detail: string): CrossrootError {
  if (creds) {
    const who = creds.identityToken ? 'the stored identity token' : `user "${creds.username}"`;
    return new CrossrootError('EAUTH', `${registry} rejected the credentials of ${who} from ${creds.source} (${detail})`, {
      fix: `log in again with "podman login ${registry}" or "docker login ${registry}"`,
    });
  }
  return new CrossrootError('EAUTH', `${registry} requires a login to pull this image (${detail})`, {
    fix: `log in with "podman login ${registry}" or "docker login ${registry}"; Crossroot reads containers auth.json and ~/.docker/config.json`,
  });
}
