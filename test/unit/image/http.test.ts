import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Http, backoffDelay, isLoopbackHost, isRetriableStatus, isTransientError, parseRetryAfter } from '../../../src/core/image/http';
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
