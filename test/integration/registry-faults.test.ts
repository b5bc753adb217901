import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ARCHES } from '../../src/core/arch';
import { CrossrootError } from '../../src/core/errors';
import type { Descriptor } from '../../src/core/image/oci';
import { parseImageRef } from '../../src/core/image/ref';
import { RegistryClient } from '../../src/core/image/registry';
import { imageToolsAvailable, multiArchImage } from '../fixtures/images';
import { htpasswdAvailable, pushImage, registryAvailable, startRegistry, writeAuthFile, type TestRegistry } from '../fixtures/registry';
import { passThrough, startProxy } from '../fixtures/registry-proxy';
import { need, tempDir } from '../lib/harness';

const ready = registryAvailable() && imageToolsAvailable() && htpasswdAvailable();
const why = 'needs docker-registry, apache2-utils, buildah, skopeo, umoci';

let reg: TestRegistry;
let layer: Descriptor;
before(async () => {
  if (!ready) return;
  reg = await startRegistry();
  const multi = await multiArchImage();
  pushImage(reg, `oci:${multi.layout}:multi`, 'busybox:multi', { all: true });
  const r = await new RegistryClient().resolve(parseImageRef(`${reg.host}/busybox:multi`), ARCHES.arm64);
  layer = r.manifest.layers[0]!;
});
after(async () => { await reg?.stop(); });

const fast = (extra: object = {}) => new RegistryClient({ retry: { baseDelayMs: 20 }, env: { HOME: '/nonexistent' }, ...extra });
const isLayerUrl = (u: string) => u.endsWith(`/blobs/${layer.digest}`);
const isLayer = (req: http.IncomingMessage) => isLayerUrl(req.url ?? '');
const sha256File = (f: string) => 'sha256:' + createHash('sha256').update(readFileSync(f)).digest('hex');

/** Sends the first half of the upstream answer, then breaks the connection (a dropped download). */
function dropHalfway(res: http.ServerResponse, up: { status: number; headers: http.OutgoingHttpHeaders; body: Buffer }): void {
  res.writeHead(up.status, up.headers);
  res.write(up.body.subarray(0, up.body.length >> 1), () => setTimeout(() => res.socket?.destroy(), 50));
}

test('a corrupted layer fails with EDIGEST and nothing is kept', async (t) => {
  if (!need(t, ready, why)) return;
  const proxy = await startProxy(t, reg.url, async (req, res, forward) => {
    const up = await forward();
    if (isLayer(req) && up.status < 300) up.body[1000] ^= 0x55;
    res.writeHead(up.status, up.headers).end(up.body);
  });
  const dest = path.join(tempDir(t), 'layer');
  await assert.rejects(fast().fetchBlob(parseImageRef(`${proxy.host}/busybox:multi`), layer, dest), (e: unknown) => {
    assert.ok(e instanceof CrossrootError);
    assert.equal(e.code, 'EDIGEST');
    assert.match(e.message, new RegExp(`expected ${layer.digest}, got sha256:`));
    return true;
  });
  assert.ok(!existsSync(dest) && !existsSync(`${dest}.partial`));
});

test('a layer longer than its descriptor says is refused and not kept', async (t) => {
  if (!need(t, ready, why)) return;
  const proxy = await startProxy(t, reg.url, async (req, res, forward) => {
    const up = await forward();
    if (isLayer(req)) up.body = Buffer.concat([up.body, Buffer.alloc(4096, 1)]);
    res.writeHead(up.status, { ...up.headers, 'content-length': String(up.body.length) }).end(up.body);
  });
  const dest = path.join(tempDir(t), 'layer');
  await assert.rejects(fast().fetchBlob(parseImageRef(`${proxy.host}/busybox:multi`), layer, dest),
    (e: unknown) => e instanceof CrossrootError && e.code === 'EDIGEST' && /larger than the \d+ bytes/.test(e.message));
  assert.ok(!existsSync(dest) && !existsSync(`${dest}.partial`));
});

test('a connection dropped mid-layer is resumed with a Range request', async (t) => {
  if (!need(t, ready, why)) return;
  let dropped = false;
  const proxy = await startProxy(t, reg.url, async (req, res, forward) => {
    const up = await forward();
    if (isLayer(req) && !dropped) {
      dropped = true;
      dropHalfway(res, up);
      return;
    }
    res.writeHead(up.status, up.headers).end(up.body);
  });
  const dest = path.join(tempDir(t), 'layer');
  await fast().fetchBlob(parseImageRef(`${proxy.host}/busybox:multi`), layer, dest);
  assert.equal(sha256File(dest), layer.digest);
  const gets = proxy.seen.filter((s) => isLayerUrl(s.url));
  assert.equal(gets.length, 2);
  const start = Number(/^bytes=(\d+)-$/.exec(String(gets[1]!.headers.range))?.[1]);
  assert.ok(start > 0 && start <= layer.size >> 1, `resumed from byte ${start} of ${layer.size}`);
});

test('a server that ignores Range after a drop makes the download start over, and it succeeds', async (t) => {
  if (!need(t, ready, why)) return;
  let dropped = false;
  const proxy = await startProxy(t, reg.url, async (req, res, forward) => {
    delete req.headers.range; // this "server" always answers with the whole blob
    const up = await forward();
    if (isLayer(req) && !dropped) {
      dropped = true;
      dropHalfway(res, up);
      return;
    }
    res.writeHead(up.status, up.headers).end(up.body);
  });
  const dest = path.join(tempDir(t), 'layer');
  await fast().fetchBlob(parseImageRef(`${proxy.host}/busybox:multi`), layer, dest);
  assert.equal(sha256File(dest), layer.digest);
  const gets = proxy.seen.filter((s) => isLayerUrl(s.url));
  assert.equal(gets.length, 3, 'broken, asked to resume (answered from byte 0), asked again from the start');
  assert.match(String(gets[1]!.headers.range), /^bytes=\d+-$/);
  assert.equal(gets[2]!.headers.range, undefined);
});

test('bytes that changed between a broken and a resumed request are caught, and a clean start fixes it', async (t) => {
  if (!need(t, ready, why)) return;
  let n = 0;
  const proxy = await startProxy(t, reg.url, async (req, res, forward) => {
    const up = await forward();
    if (!isLayer(req)) { res.writeHead(up.status, up.headers).end(up.body); return; }
    n++;
    if (n === 1) {
      dropHalfway(res, up);
      return;
    }
    if (n === 2) up.body[up.body.length - 10] ^= 0x01; // the resumed part is not what the first part belonged to
    res.writeHead(up.status, up.headers).end(up.body);
  });
  const dest = path.join(tempDir(t), 'layer');
  await fast().fetchBlob(parseImageRef(`${proxy.host}/busybox:multi`), layer, dest);
  assert.equal(sha256File(dest), layer.digest);
  assert.equal(n, 3);
});

test('a stalled layer download times out and resumes', async (t) => {
  if (!need(t, ready, why)) return;
  let stalled = false;
  const proxy = await startProxy(t, reg.url, async (req, res, forward) => {
    const up = await forward();
    if (isLayer(req) && !stalled) {
      stalled = true;
      res.writeHead(up.status, up.headers);
      res.write(up.body.subarray(0, 100_000)); // and then nothing: the socket stays open
      return;
    }
    res.writeHead(up.status, up.headers).end(up.body);
  });
  const dest = path.join(tempDir(t), 'layer');
  await fast({ timeoutMs: 700 }).fetchBlob(parseImageRef(`${proxy.host}/busybox:multi`), layer, dest);
  assert.equal(sha256File(dest), layer.digest);
  assert.match(String(proxy.seen.filter((s) => isLayerUrl(s.url)).at(-1)?.headers.range), /^bytes=\d+-$/);
});

test('a cancelled download stops at once and keeps its partial for the next try', async (t) => {
  if (!need(t, ready, why)) return;
  const abort = new AbortController();
  let stalled = false;
  const proxy = await startProxy(t, reg.url, async (req, res, forward) => {
    const up = await forward();
    if (isLayer(req) && !stalled) {
      stalled = true;
      res.writeHead(up.status, up.headers);
      // The user cancels once these bytes are on their way; the rest never comes.
      res.write(up.body.subarray(0, 200_000), () => setTimeout(() => abort.abort(new Error('user cancelled')), 300));
      return;
    }
    res.writeHead(up.status, up.headers).end(up.body);
  });
  const ref = parseImageRef(`${proxy.host}/busybox:multi`);
  const dest = path.join(tempDir(t), 'layer');
  const started = Date.now();
  await assert.rejects(fast().fetchBlobs(ref, [{ desc: layer, dest }], { signal: abort.signal }), /user cancelled/);
  assert.ok(Date.now() - started < 5000, 'did not wait for the stalled body');
  const kept = readFileSync(`${dest}.partial`).length;
  assert.equal(kept, 200_000, 'the partial keeps every byte that arrived');
  await fast().fetchBlob(ref, layer, dest);
  assert.equal(sha256File(dest), layer.digest);
  assert.match(String(proxy.seen.filter((s) => isLayerUrl(s.url)).at(-1)?.headers.range), new RegExp(`^bytes=${kept}-$`));
});

test('429 and 503 answers are retried, honouring Retry-After', async (t) => {
  if (!need(t, ready, why)) return;
  const refused = new Set<string>();
  const proxy = await startProxy(t, reg.url, async (req, res, forward) => {
    const key = `${req.method} ${req.url}`;
    if (req.url?.includes('/manifests/') && !refused.has(key)) {
      refused.add(key);
      res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' })
        .end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}');
      return;
    }
    if (isLayer(req) && !refused.has(key)) {
      refused.add(key);
      res.writeHead(503).end('busy');
      return;
    }
    await passThrough(req, res, forward, 0);
  });
  const client = fast();
  const ref = parseImageRef(`${proxy.host}/busybox:multi`);
  const started = Date.now();
  const r = await client.resolve(ref, ARCHES.arm64);
  assert.ok(Date.now() - started >= 1900, 'waited Retry-After (1 s) for the index and again for the manifest');
  const dest = path.join(tempDir(t), 'layer');
  await client.fetchBlob(ref, r.manifest.layers[0]!, dest);
  assert.equal(sha256File(dest), layer.digest);
  assert.equal(proxy.seen.filter((s) => isLayerUrl(s.url)).length, 2);
});

test('retries give up with a clear error when the registry stays broken', async (t) => {
  if (!need(t, ready, why)) return;
  const proxy = await startProxy(t, reg.url, async (req, res, forward) => {
    if (req.url?.includes('/manifests/')) { res.writeHead(502).end(); return; }
    await passThrough(req, res, forward, 0);
  });
  await assert.rejects(fast({ retry: { attempts: 3, baseDelayMs: 10 } }).resolve(parseImageRef(`${proxy.host}/busybox:multi`), ARCHES.arm64),
    (e: unknown) => e instanceof CrossrootError && e.code === 'EREGISTRY' && /HTTP 502/.test(e.message));
  assert.equal(proxy.seen.filter((s) => s.url.includes('/manifests/')).length, 3);
});

test('a registry that is not running is reported as unreachable', async (t) => {
  if (!need(t, ready, why)) return;
  const gone = await startProxy(t, reg.url, passThrough);
  // Take the port, then close it: nothing listens there any more.
  const port = gone.host.split(':')[1];
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  assert.notEqual(String(deadPort), port);
  await assert.rejects(fast({ retry: { attempts: 2, baseDelayMs: 10 } }).resolve(parseImageRef(`127.0.0.1:${deadPort}/busybox:multi`), ARCHES.arm64),
    (e: unknown) => e instanceof CrossrootError && e.code === 'ENETWORK' && /cannot reach registry 127\.0\.0\.1:\d+: .*ECONNREFUSED/.test(e.message));
});

test('a blob redirected to another host is fetched there without the registry login', async (t) => {
  if (!need(t, ready, why)) return;
  const secure = await startRegistry({ auth: 'htpasswd' });
  t.after(() => secure.stop());
  const multi = await multiArchImage();
  pushImage(secure, `oci:${multi.layout}:multi`, 'busybox:multi', { all: true });
  const basic = 'Basic ' + Buffer.from(`${secure.user.username}:${secure.user.password}`).toString('base64');
  // The "storage" host: serves blobs it fetches itself, and records what the client sent it.
  const storageSeen: http.IncomingHttpHeaders[] = [];
  const storage = http.createServer((req, res) => {
    storageSeen.push(req.headers);
    fetch(`${secure.url}/v2/busybox/blobs/${req.url!.slice(1)}`, { headers: { authorization: basic } })
      .then(async (r) => res.writeHead(r.status).end(Buffer.from(await r.arrayBuffer())))
      .catch(() => res.destroy());
  });
  await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => storage.close(() => r())));
  const storagePort = (storage.address() as AddressInfo).port;
  const proxy = await startProxy(t, secure.url, async (req, res, forward) => {
    if (req.url?.includes('/blobs/') && req.headers.authorization) {
      // "localhost" is another origin than the 127.0.0.1 the client talks to.
      res.writeHead(307, { location: `http://localhost:${storagePort}/${req.url.split('/blobs/')[1]}` }).end();
      return;
    }
    await passThrough(req, res, forward, 0);
  });
  const dir = tempDir(t);
  const file = writeAuthFile(path.join(dir, 'auth.json'), { ...secure, host: proxy.host });
  const client = fast({ authFile: file });
  const ref = parseImageRef(`${proxy.host}/busybox:multi`);
  const r = await client.resolve(ref, ARCHES.arm64);
  const dest = path.join(dir, 'layer');
  await client.fetchBlob(ref, r.manifest.layers[0]!, dest);
  assert.equal(sha256File(dest), r.manifest.layers[0]!.digest);
  assert.ok(storageSeen.length >= 2, 'config and layer came from the storage host');
  assert.ok(storageSeen.every((h) => h.authorization === undefined), 'no Authorization sent to the other host');
  assert.ok(proxy.seen.some((s) => s.headers.authorization === basic), 'the registry itself got the login');
});
