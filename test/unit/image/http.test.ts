import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Http, backoffDelay, isLoopbackHost, isNotTlsError, isRetriableStatus, isTlsError, isTransientError, parseRetryAfter, responseUrl } from '../../../src/core/image/http';
import { CrossrootError } from '../../../src/core/errors';

test('only loopback hosts count as loopback (the only ones spoken to over plain http)', () => {
  for (const h of ['localhost', 'localhost:5000', 'LOCALHOST:1', '127.0.0.1', '127.0.0.1:5000', '127.255.0.9:80', '[::1]:5000', '::1']) {
    assert.ok(isLoopbackHost(h), h);
  }
  for (const h of ['localhost.example.com', '128.0.0.1', '127.0.0.256', '10.0.0.1:5000', '[::2]:5000', 'example.com', '127.0.0.1.nip.io']) {
    assert.ok(!isLoopbackHost(h), h);
  }
});

test('Retry-After is read as seconds or as an HTTP date', () => {
  assert.equal(parseRetryAfter('3'), 3000);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
  assert.equal(parseRetryAfter(null), undefined);
  assert.equal(parseRetryAfter('soon'), undefined);
});

test('backoff doubles with jitter, is capped, and honours Retry-After', () => {
  const p = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };
  for (let i = 0; i < 50; i++) {
    const d0 = backoffDelay(p, 0), d2 = backoffDelay(p, 2), d9 = backoffDelay(p, 9);
    assert.ok(d0 >= 50 && d0 <= 100, `first retry ${d0}`);
    assert.ok(d2 >= 200 && d2 <= 400, `third retry ${d2}`);
    assert.ok(d9 >= 500 && d9 <= 1000, `capped ${d9}`);
  }
  assert.equal(backoffDelay(p, 0, 2500), 2500);
});

test('which failures are worth another try', () => {
  for (const s of [429, 408, 500, 502, 503, 504]) assert.ok(isRetriableStatus(s), String(s));
  for (const s of [400, 401, 403, 404, 416, 501]) assert.ok(!isRetriableStatus(s), String(s));
  const reset = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) });
  assert.ok(isTransientError(reset));
  assert.ok(isTransientError(new TypeError('terminated')));
  assert.ok(isTransientError(new CrossrootError('ETIMEOUT', 'slow')));
  assert.ok(!isTransientError(new CrossrootError('EDIGEST', 'bad')));
  assert.ok(!isTransientError(Object.assign(new Error('disk full'), { code: 'ENOSPC' })));
  assert.ok(!isTransientError(new DOMException('aborted', 'AbortError')));
});

test('a redirect to another origin drops the Authorization header, and never downgrades to http', async () => {
  const calls: Array<{ url: string; auth: string | undefined }> = [];
  const fake = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    calls.push({ url, auth: (init?.headers as Record<string, string>).authorization });
    if (url === 'https://reg.example/v2/x/blobs/sha256:1') return new Response(null, { status: 307, headers: { location: 'https://reg.example/store/1' } });
    if (url === 'https://reg.example/store/1') return new Response(null, { status: 302, headers: { location: 'https://cdn.example/signed?sig=1' } });
    if (url === 'https://reg.example/v2/x/blobs/sha256:2') return new Response(null, { status: 307, headers: { location: 'http://cdn.example/plain' } });
    return new Response('ok');
  }) as typeof fetch;
  const http = new Http({ fetch: fake });
  const res = await http.once('https://reg.example/v2/x/blobs/sha256:1', { headers: { authorization: 'Bearer t' } });
  assert.equal(await res.text(), 'ok');
  assert.deepEqual(calls.map((c) => c.auth), ['Bearer t', 'Bearer t', undefined], 'same origin keeps it, the CDN never sees it');
  await assert.rejects(http.once('https://reg.example/v2/x/blobs/sha256:2'), /not https; refusing/);
});

type Call = { url: string; method: string; body: unknown; headers: Record<string, string> };

/** An Http whose network answers each URL from `routes`; every request is recorded. */
function httpOn(routes: Record<string, () => Response>) {
  const calls: Call[] = [];
  const fake = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    calls.push({ url, method: init?.method ?? 'GET', body: init?.body, headers: { ...(init?.headers as Record<string, string>) } });
    const route = routes[url];
    if (!route) throw new Error(`unexpected request to ${url}`);
    return route();
  }) as typeof fetch;
  return { http: new Http({ fetch: fake, timeoutMs: 200 }), calls };
}

const redirect = (status: number, location: string) => () => new Response(null, { status, headers: { location } });

test('a POST redirected with 301, 302 or 303 goes on as a GET without its body', async () => {
  for (const status of [301, 302, 303]) {
    const { http, calls } = httpOn({ 'https://auth.example/token': redirect(status, 'https://other.example/t'), 'https://other.example/t': () => new Response('ok') });
    const res = await http.once('https://auth.example/token', { method: 'POST', body: 'refresh_token=secret', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(await res.text(), 'ok');
    assert.deepEqual(calls.map((c) => [c.method, c.body, c.headers['content-type']]), [
      ['POST', 'refresh_token=secret', 'application/x-www-form-urlencoded'], ['GET', undefined, undefined],
    ], `HTTP ${status}`);
  }
});

test('a body goes on after 307 or 308 only on its own origin', async () => {
  for (const status of [307, 308]) {
    const same = httpOn({ 'https://auth.example/token': redirect(status, '/v2/token'), 'https://auth.example/v2/token': () => new Response('ok') });
    await same.http.once('https://auth.example/token', { method: 'POST', body: 'refresh_token=secret' });
    assert.deepEqual(same.calls.map((c) => [c.method, c.body]), [['POST', 'refresh_token=secret'], ['POST', 'refresh_token=secret']]);
    const other = httpOn({ 'https://auth.example/token': redirect(status, 'https://evil.example/token') });
    await assert.rejects(other.http.once('https://auth.example/token', { method: 'POST', body: 'refresh_token=secret' }),
      /auth\.example redirected a POST with a body to https:\/\/evil\.example; refusing to send it to another host/);
    assert.equal(other.calls.length, 1, `HTTP ${status}: evil.example was never asked`);
  }
});

test('https never redirects down to plain http, not even on loopback', async () => {
  const { http, calls } = httpOn({ 'https://127.0.0.1:5000/v2/': redirect(307, 'http://127.0.0.1:5000/v2/') });
  await assert.rejects(http.once('https://127.0.0.1:5000/v2/', { headers: { authorization: 'Basic c2VjcmV0' } }), /redirected to http:\/\/127\.0\.0\.1:5000, which is not https; refusing/);
  assert.equal(calls.length, 1);
  const plain = httpOn({ 'http://127.0.0.1:5000/a': redirect(302, 'http://localhost:5000/b'), 'http://localhost:5000/b': () => new Response('ok') });
  assert.equal(await (await plain.http.once('http://127.0.0.1:5000/a')).text(), 'ok', 'a loopback registry without TLS may redirect on loopback');
});

test('a response knows the URL it finally came from', async () => {
  const { http } = httpOn({ 'https://reg.example/v2/a/blobs/x': redirect(307, 'https://cdn.example/x?sig=1'), 'https://cdn.example/x?sig=1': () => new Response('', { status: 401 }) });
  const res = await http.once('https://reg.example/v2/a/blobs/x');
  assert.equal(responseUrl(res)?.origin, 'https://cdn.example');
});

/** A body of `total` bytes made on demand, counting how much was pulled and whether it was cancelled. */
function countingBody(total: number, chunk = 64 * 1024) {
  const state = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (state.pulled >= total) { c.close(); return; }
      state.pulled += chunk;
      c.enqueue(new Uint8Array(chunk));
    },
    cancel() { state.cancelled = true; },
  }, { highWaterMark: 0 });
  return { stream, state };
}

test('bodies are read with a limit while they stream: past it the rest is never pulled', async () => {
  const { http } = httpOn({});
  const endless = countingBody(Number.MAX_SAFE_INTEGER);
  await assert.rejects(http.readBody(new Response(endless.stream), 1 << 20, () => new CrossrootError('EMANIFEST', 'too big')), /too big/);
  assert.ok(endless.state.cancelled, 'the stream was cancelled');
  assert.ok(endless.state.pulled <= (1 << 20) + 64 * 1024, `pulled ${endless.state.pulled}`);

  const text = countingBody(Number.MAX_SAFE_INTEGER);
  const head = await http.readBody(new Response(text.stream), 1000, () => new Error('unused'), { truncate: true });
  assert.equal(head.length, 1000, 'truncate keeps the first bytes');
  assert.ok(text.state.cancelled);

  const declared = new Response('x'.repeat(10), { headers: { 'content-length': '10' } });
  await assert.rejects(http.readBody(declared, 5, () => new Error('declared too big')), /declared too big/);
  assert.deepEqual(await http.readBody(new Response('exact'), 5, () => new Error('no')), Buffer.from('exact'));
});

test('a body that stops arriving is a timeout, not a hang', async () => {
  const { http } = httpOn({});
  const silent = new ReadableStream<Uint8Array>({ start(c) { c.enqueue(new Uint8Array(10)); } });
  await assert.rejects(http.readBody(new Response(silent), 100, () => new Error('no')),
    (e: unknown) => e instanceof CrossrootError && e.code === 'ETIMEOUT' && isTransientError(e));
});

test('only a non-TLS answer to the handshake counts as "no TLS here"; certificate errors are TLS errors', () => {
  const fail = (code: string) => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(code), { code }) });
  for (const c of ['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG']) {
    assert.ok(isNotTlsError(fail(c)), c);
    assert.ok(!isTlsError(fail(c)), c);
  }
  for (const c of ['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE']) {
    assert.ok(!isNotTlsError(fail(c)), c);
    assert.ok(isTlsError(fail(c)), c);
  }
  assert.ok(!isNotTlsError(fail('ECONNREFUSED')) && !isTlsError(fail('ECONNREFUSED')));
});
