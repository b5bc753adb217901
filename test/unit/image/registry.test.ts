import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { ARCHES } from '../../../src/core/arch';
import { CrossrootError } from '../../../src/core/errors';
import { MediaType, sha256Digest } from '../../../src/core/image/oci';
import { parseImageRef } from '../../../src/core/image/ref';
import { RegistryClient } from '../../../src/core/image/registry';

type Handler = (url: URL, init: RequestInit) => Response | Promise<Response>;

/** A client whose network is `handler`; every URL asked for is recorded. */
function clientOn(handler: Handler, extra: object = {}) {
  const urls: string[] = [];
  const fake = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    urls.push(url.href);
    return handler(url, init ?? {});
  }) as typeof fetch;
  const client = new RegistryClient({ fetch: fake, retry: { attempts: 2, baseDelayMs: 1 }, env: { HOME: '/nonexistent' }, ...extra });
  return { client, urls };
}

const refused = () => { throw Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }); };
const json = (v: unknown, headers: Record<string, string> = {}) => new Response(JSON.stringify(v), { headers: { 'content-type': 'application/json', ...headers } });
const code = (c: string, re: RegExp) => (e: unknown) => { assert.ok(e instanceof CrossrootError, String(e)); assert.equal(e.code, c); assert.match(e.message, re); return true; };

const config = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: sha256Digest(config), size: config.length }, layers: [] }));

test('registries that are not loopback are never spoken to over plain http', async () => {
  const { client, urls } = clientOn(refused);
  await assert.rejects(client.resolve(parseImageRef('registry.example.com/a:1'), ARCHES.arm64), code('ENETWORK', /cannot reach registry registry\.example\.com: connect ECONNREFUSED/));
  assert.ok(urls.length > 0 && urls.every((u) => u.startsWith('https://')), urls.join(' '));
});

test('a loopback registry without TLS is spoken to over http, after one https try', async () => {
  const { client, urls } = clientOn((url) => {
    if (url.protocol === 'https:') throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ERR_SSL_WRONG_VERSION_NUMBER' } });
    if (url.pathname === '/v2/') return new Response('{}');
    if (url.pathname.includes('/manifests/')) return new Response(manifest, { headers: { 'content-type': MediaType.ociManifest } });
    return new Response(config);
  });
  const r = await client.resolve(parseImageRef('localhost:5000/a:1'), ARCHES.arm64);
  assert.equal(r.manifestDigest, sha256Digest(manifest));
  assert.deepEqual(urls.map((u) => u.replace(/sha256:\w+/, 'D')), [
    'https://localhost:5000/v2/', 'http://localhost:5000/v2/', 'http://localhost:5000/v2/a/manifests/1', 'http://localhost:5000/v2/a/blobs/D',
  ]);
});

test('Docker Hub names go to registry-1.docker.io', async () => {
  const { client, urls } = clientOn(() => new Response('', { status: 404 }));
  await assert.rejects(client.resolve(parseImageRef('debian:bookworm'), ARCHES.arm64), code('EREGISTRY', /docker\.io does not answer like an image registry/));
  assert.equal(urls[0], 'https://registry-1.docker.io/v2/');
});

test('manifests that do not match their digest are refused', async () => {
  const other = Buffer.from(manifest.toString().replace('"layers":[]', '"layers": []'));
  const { client } = clientOn((url) => {
    if (url.pathname === '/v2/') return new Response('{}');
    if (url.pathname.endsWith('/manifests/by-header')) return new Response(manifest, { headers: { 'docker-content-digest': sha256Digest(other) } });
    return new Response(other);
  });
  const ref = parseImageRef('127.0.0.1:5000/a:by-header');
  await assert.rejects(client.fetchManifest(ref, 'by-header'), code('EDIGEST', /does not match its digest/));
  await assert.rejects(client.fetchManifest(ref, sha256Digest(manifest)), code('EDIGEST', new RegExp(`expected ${sha256Digest(manifest)}, got ${sha256Digest(other)}`)));
});

test('schema 1 images and non-image artifacts get errors that say so', async () => {
  const artifact = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: sha256Digest(config), size: config.length }, layers: [] }));
  const { client } = clientOn((url) => {
    if (url.pathname === '/v2/') return new Response('{}');
    if (url.pathname.endsWith('/manifests/old')) return json({ schemaVersion: 1, name: 'a', tag: 'old', fsLayers: [] }, { 'content-type': MediaType.dockerSchema1Signed });
    return new Response(artifact);
  });
  await assert.rejects(client.resolve(parseImageRef('127.0.0.1:5000/a:old'), ARCHES.arm64), code('EMANIFEST', /schema 1 manifest/));
  await assert.rejects(client.resolve(parseImageRef('127.0.0.1:5000/a:chart'), ARCHES.arm64), code('EMANIFEST', /not a container image \(its config is application\/vnd\.cncf\.helm/));
});

test('bearer tokens are reused until they expire', async () => {
  for (const [expiresIn, wantTokens] of [[300, 1], [1, 3]] as const) {
    let tokens = 0;
    const { client } = clientOn((url, init) => {
      if (url.host === 'auth.example') { tokens++; return json({ token: `t${tokens}`, expires_in: expiresIn }); }
      const auth = (init.headers as Record<string, string>).authorization;
      if (!auth) return new Response('', { status: 401, headers: { 'www-authenticate': 'Bearer realm="https://auth.example/token",service="reg"' } });
      return new Response(manifest, { headers: { 'content-type': MediaType.ociManifest } });
    });
    const ref = parseImageRef('reg.example/a:1');
    for (let i = 0; i < 3; i++) {
      await client.fetchManifest(ref, '1');
      if (expiresIn === 1) await delay(600); // a 1 s token is renewed after half its life
    }
    assert.equal(tokens, wantTokens, `expires_in ${expiresIn}`);
  }
});

test('a token realm that is not https is refused before any login is sent', async () => {
  const { client, urls } = clientOn((url) => new Response('', { status: 401, headers: { 'www-authenticate': `Bearer realm="http://evil.example/token",service="${url.host}"` } }));
  await assert.rejects(client.fetchManifest(parseImageRef('reg.example/a:1'), '1'), code('EAUTH', /not https; refusing to send credentials/));
  assert.ok(!urls.some((u) => u.includes('evil.example')));
});

test('a Retry-After longer than a minute is reported instead of waited for', async () => {
  const { client } = clientOn(() => new Response('', { status: 429, headers: { 'retry-after': '3600' } }));
  await assert.rejects(client.fetchManifest(parseImageRef('reg.example/a:1'), '1'), code('ERATELIMIT', /asks to wait 3600 s/));
});

test('of Basic and Bearer offered together, the token flow is used', async () => {
  let tokens = 0;
  const { client } = clientOn((url, init) => {
    if (url.host === 'auth.example') { tokens++; return json({ access_token: 'tok' }); }
    if ((init.headers as Record<string, string>).authorization === 'Bearer tok') return new Response(manifest, { headers: { 'content-type': MediaType.ociManifest } });
    return new Response('', { status: 401, headers: { 'www-authenticate': 'Basic realm="reg", Bearer realm="https://auth.example/token",service="reg"' } });
  });
  const m = await client.fetchManifest(parseImageRef('reg.example/a:1'), '1');
  assert.equal(m.digest, sha256Digest(manifest));
  assert.equal(tokens, 1);
});

const tlsFailure = (code: string) => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(code.toLowerCase()), { code }) });

test('a loopback registry whose certificate does not verify is an error, never retried over http', async () => {
  const { client, urls } = clientOn((url) => { if (url.protocol === 'https:') throw tlsFailure('DEPTH_ZERO_SELF_SIGNED_CERT'); return new Response('{}'); });
  await assert.rejects(client.resolve(parseImageRef('127.0.0.1:5000/a:1'), ARCHES.arm64), (e: unknown) => {
    code('ETLS', /cannot reach registry 127\.0\.0\.1:5000 over https: depth_zero_self_signed_cert/)(e);
    assert.match((e as CrossrootError).fix ?? '', /NODE_EXTRA_CA_CERTS.*never falls back to plain http/);
    return true;
  });
  assert.deepEqual(urls, ['https://127.0.0.1:5000/v2/']);
});

test('logins go to a plain-http token realm only when the registry itself is plain http on loopback', async () => {
  const challenge = { status: 401, headers: { 'www-authenticate': 'Bearer realm="http://127.0.0.1:5001/token",service="reg"' } };
  // An https registry on loopback: its realm must be https too.
  const tls = clientOn(() => new Response('', challenge));
  await assert.rejects(tls.client.fetchManifest(parseImageRef('127.0.0.1:5000/a:1'), '1'), code('EAUTH', /sends logins to http:\/\/127\.0\.0\.1:5001, which is not https/));
  assert.ok(!tls.urls.some((u) => u.includes(':5001')));
  // The same realm for a loopback registry without TLS is asked.
  const plain = clientOn((url) => {
    if (url.protocol === 'https:') throw tlsFailure('ERR_SSL_WRONG_VERSION_NUMBER');
    if (url.port === '5001') return json({ token: 'tok' });
    return new Response('', challenge);
  });
  await assert.rejects(plain.client.fetchManifest(parseImageRef('127.0.0.1:5000/a:1'), '1'), code('EAUTH', /401 for a/));
  assert.ok(plain.urls.some((u) => u.startsWith('http://127.0.0.1:5001/token')));
});

test('a bearer token is asked for pull only, whatever scope the challenge names', async () => {
  const scopes: string[] = [];
  const { client } = clientOn((url, init) => {
    if (url.host === 'auth.example') { scopes.push(...url.searchParams.getAll('scope')); return json({ token: 'tok' }); }
    if ((init.headers as Record<string, string>).authorization === 'Bearer tok') return new Response(manifest, { headers: { 'content-type': MediaType.ociManifest } });
    return new Response('', { status: 401, headers: { 'www-authenticate': 'Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull,push,delete"' } });
  });
  await client.fetchManifest(parseImageRef('reg.example/a:1'), '1');
  assert.deepEqual(scopes, ['repository:a:pull']);
});

test('a registry\'s error text reaches the message cut short and without control characters', async () => {
  const message = '\u001b]0;owned\u0007\u001b[2Jnot found' + 'x'.repeat(5000);
  const { client } = clientOn((url) => url.pathname === '/v2/' ? new Response('{}') : new Response(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message }] }), { status: 404 }));
  await assert.rejects(client.fetchManifest(parseImageRef('reg.example/a:1'), '1'), (e: unknown) => {
    code('ENOTFOUND', /\(MANIFEST_UNKNOWN: /)(e);
    const msg = (e as CrossrootError).message;
    assert.doesNotMatch(msg, /[\u0000-\u001f\u007f]/);
    assert.ok(msg.length < 500, `${msg.length} characters`);
    return true;
  });
});
