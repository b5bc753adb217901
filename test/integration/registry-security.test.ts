// The registry boundary (docs/security.md): credentials go only to their registry, bodies a
// registry sends are read with limits, and TLS failures never fall back to plain http. A real
// docker-registry behind a proxy, plus small in-test servers playing CDN, attacker and token front.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ARCHES } from '../../src/core/arch';
import { CrossrootError } from '../../src/core/errors';
import { parseImageRef } from '../../src/core/image/ref';
import { RegistryClient } from '../../src/core/image/registry';
import { imageToolsAvailable, multiArchImage } from '../fixtures/images';
import { htpasswdAvailable, pushImageAsync, registryAvailable, startRegistry, writeAuthFile, type TestRegistry } from '../fixtures/registry';
import { passThrough, startProxy, type Seen } from '../fixtures/registry-proxy';
import { need, tempDir } from '../lib/harness';

const ready = registryAvailable() && imageToolsAvailable() && htpasswdAvailable();
const why = 'needs docker-registry, apache2-utils (htpasswd), openssl, buildah, skopeo, umoci';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

/** A small http server on 127.0.0.1 that records every request (with its body) and answers with `handler`. */
async function startServer(t: TestContext, handler: Handler = (_q, res) => res.writeHead(404).end()) {
  const seen: Array<Seen & { body: string }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method ?? 'GET', url: req.url ?? '', headers: { ...req.headers }, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const port = (server.address() as AddressInfo).port;
  // "localhost" is another origin than the 127.0.0.1 the registry is reached at.
  return { port, origin: `http://localhost:${port}`, seen };
}

/**
 * Answers with a chunked body of `cap` bytes, written as fast as the client reads; `sent` is
 * what the client had taken when the connection ended, `cutOff` whether the client hung up first.
 */
function endlessBody(res: http.ServerResponse, status: number, headers: http.OutgoingHttpHeaders, cap: number, chunkByte = 0x20) {
  const out = { sent: 0, cutOff: false, closed: undefined as unknown as Promise<void> };
  const chunk = Buffer.alloc(64 * 1024, chunkByte);
  out.closed = new Promise<void>((resolve) => res.on('close', () => { out.cutOff = !res.writableFinished; resolve(); }));
  res.writeHead(status, headers);
  const pump = () => {
    while (out.sent < cap && !res.destroyed) {
      out.sent += chunk.length;
      if (!res.write(chunk)) { res.once('drain', pump); return; }
    }
    if (!res.destroyed) res.end();
  };
  pump();
  return out;
}

const MiB = 1024 * 1024;
/** What an endless body is capped at in these tests: far past every limit, so reading it whole shows. */
const ENDLESS = 64 * MiB;

function clientWith(dir: string, authFile?: string): RegistryClient {
  const env = { HOME: dir, PATH: process.env.PATH };
  return new RegistryClient({ retry: { attempts: 2, baseDelayMs: 10 }, env, ...(authFile ? { authFile } : {}) });
}

function fails(code: string, re: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof CrossrootError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  };
}

describe('credentials go only to their registry', () => {
  let reg: TestRegistry;
  before(async () => {
    if (!ready) return;
    reg = await startRegistry({ auth: 'htpasswd' });
    const multi = await multiArchImage();
    await pushImageAsync(reg, `oci:${multi.layout}:multi`, 'busybox:multi', { all: true });
  });
  after(async () => { await reg?.stop(); });

  test('a 401 from the host a blob was redirected to is not taken as the registry\'s challenge', async (t) => {
    if (!need(t, ready, why)) return;
    const evil = await startServer(t, (_q, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"stolen"}'));
    // The CDN the registry hands blobs to answers 401 and names a token realm of its own.
    const cdn = await startServer(t, (_q, res) => res.writeHead(401, {
      'www-authenticate': `Bearer realm="http://127.0.0.1:${evil.port}/token",service="cdn"`,
    }).end());
    const proxy = await startProxy(t, reg.url, async (req, res, forward) => {
      if (req.url?.includes('/blobs/')) {
        res.writeHead(307, { location: `${cdn.origin}/${req.url.split('/blobs/')[1]}` }).end();
        return;
      }
      await passThrough(req, res, forward, 0);
    });
    const dir = tempDir(t);
    const client = clientWith(dir, writeAuthFile(path.join(dir, 'auth.json'), { ...reg, host: proxy.host }));
    await assert.rejects(client.resolve(parseImageRef(`${proxy.host}/busybox:multi`), ARCHES.arm64),
      fails('EREGISTRY', /redirected blobs\/sha256:\w+ of busybox to localhost:\d+, which refused access \(HTTP 401\); the registry's credentials are never sent there/));
    assert.equal(cdn.seen.length, 1, 'the config was asked for at the CDN once');
    assert.equal(cdn.seen[0]!.headers.authorization, undefined, 'without the registry login');
    assert.deepEqual(evil.seen, [], 'the realm the CDN named was never contacted');
  });

  test('a 401 on /v2/ from another host it redirected to gets no login either', async (t) => {
    if (!need(t, ready, why)) return;
    const evil = await startServer(t, (_q, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"stolen"}'));
    const elsewhere = await startServer(t, (_q, res) => res.writeHead(401, {
      'www-authenticate': `Bearer realm="http://127.0.0.1:${evil.port}/token",service="x"`,
    }).end());
    const proxy = await startProxy(t, reg.url, async (req, res, forward) => {
      if (req.url === '/v2/') { res.writeHead(302, { location: `${elsewhere.origin}/v2/` }).end(); return; }
      await passThrough(req, res, forward, 0);
    });
    const dir = tempDir(t);
    const client = clientWith(dir, writeAuthFile(path.join(dir, 'auth.json'), { ...reg, host: proxy.host }));
    await assert.rejects(client.resolve(parseImageRef(`${proxy.host}/busybox:multi`), ARCHES.arm64),
      fails('EREGISTRY', /redirected GET \/v2\/ to localhost:\d+, which asks for a login/));
    assert.deepEqual(evil.seen, []);
    assert.ok(proxy.seen.every((s) => s.headers.authorization === undefined), 'no request carried the login');
  });
});

describe('the token request', () => {
  let reg: TestRegistry;
  before(async () => {
    if (!ready) return;
    reg = await startRegistry({ auth: 'token' });
    const multi = await multiArchImage();
    await pushImageAsync(reg, `oci:${multi.layout}:multi`, 'busybox:multi', { all: true });
  });
  after(async () => { await reg?.stop(); });

  /** A proxy that makes the registry name `realm` as its token realm. */
  async function realmedProxy(t: TestContext, realm: string) {
    return startProxy(t, reg.url, async (_req, res, forward) => {
      const up = await forward();
      const challenge = up.headers['www-authenticate'];
      if (challenge) up.headers['www-authenticate'] = challenge.replace(/realm="[^"]*"/, `realm="${realm}"`);
      res.writeHead(up.status, up.headers).end(up.body);
    });
  }

  /** A client whose only login is the Docker identity token (sent as a refresh-token POST). */
  function identityClient(dir: string, host: string): RegistryClient {
    mkdirSync(path.join(dir, '.docker'));
    writeFileSync(path.join(dir, '.docker/config.json'), JSON.stringify({ auths: { [host]: { auth: '', identitytoken: reg.user.identityToken } } }));
    return clientWith(dir);
  }

  test('a refresh token POST redirected with 307 is not re-sent to another host', async (t) => {
    if (!need(t, ready, why)) return;
    const evil = await startServer(t, (_q, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"x"}'));
    const front = await startServer(t, (_q, res) => res.writeHead(307, { location: `${evil.origin}/token` }).end());
    const proxy = await realmedProxy(t, `http://127.0.0.1:${front.port}/token`);
    const dir = tempDir(t);
    await assert.rejects(identityClient(dir, proxy.host).resolve(parseImageRef(`${proxy.host}/busybox:multi`), ARCHES.arm64),
      fails('ENETWORK', /127\.0\.0\.1:\d+ redirected a POST with a body to http:\/\/localhost:\d+; refusing to send it to another host/));
    assert.equal(front.seen.length, 1);
    assert.match(front.seen[0]!.body, /grant_type=refresh_token/, 'the realm the registry named got the POST');
    assert.deepEqual(evil.seen, [], 'the host it redirected to got nothing');
  });

  test('a token POST redirected within its own host is followed with its body', async (t) => {
    if (!need(t, ready, why)) return;
    // The front moves /token to /v2/token on the same origin and serves it from the real token server.
    const front = await startServer(t, (req, res, body) => {
      if (req.url === '/token') { res.writeHead(307, { location: '/v2/token' }).end(); return; }
      fetch(reg.token!.realm, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
        .then(async (r) => res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text()))
        .catch(() => res.destroy());
    });
    const proxy = await realmedProxy(t, `http://127.0.0.1:${front.port}/token`);
    const dir = tempDir(t);
    const r = await identityClient(dir, proxy.host).resolve(parseImageRef(`${proxy.host}/busybox:multi`), ARCHES.arm64);
    assert.equal(r.config.architecture, 'arm64');
    assert.deepEqual(front.seen.map((s) => [s.method, s.url, /refresh_token=it-/.test(s.body)]), [['POST', '/token', true], ['POST', '/v2/token', true]]);
  });

  test('an endless token answer is cut off at its limit', async (t) => {
    if (!need(t, ready, why)) return;
    let body: ReturnType<typeof endlessBody> | undefined;
    const front = await startServer(t, (_q, res) => { body = endlessBody(res, 200, { 'content-type': 'application/json' }, ENDLESS); });
    const proxy = await realmedProxy(t, `http://127.0.0.1:${front.port}/token`);
    const dir = tempDir(t);
    await assert.rejects(identityClient(dir, proxy.host).resolve(parseImageRef(`${proxy.host}/busybox:multi`), ARCHES.arm64),
      fails('EAUTH', /token service of 127\.0\.0\.1:\d+ \(127\.0\.0\.1:\d+\) sent more than 1048576 bytes/));
    await body!.closed;
    assert.ok(body!.cutOff, 'the client hung up before the end');
    assert.ok(body!.sent < ENDLESS / 2, `the client took ${body!.sent} bytes`);
  });
});

describe('bodies are read with limits while they stream', () => {
  let reg: TestRegistry;
  before(async () => {
    if (!ready) return;
    reg = await startRegistry();
    const multi = await multiArchImage();
    await pushImageAsync(reg, `oci:${multi.layout}:multi`, 'busybox:multi', { all: true });
  });
  after(async () => { await reg?.stop(); });

  const cases = [
    { what: 'an endless chunked manifest', path: /\/manifests\/multi$/, status: 200, code: 'EMANIFEST', re: /sent more than 4194304 bytes for manifests\/multi of busybox/ },
    { what: 'an endless 404 error body', path: /\/manifests\/multi$/, status: 404, code: 'ENOTFOUND', re: /busybox:multi was not found in 127\.0\.0\.1:\d+ \(HTTP 404\)/ },
    { what: 'an endless 500 error body', path: /\/manifests\/multi$/, status: 500, code: 'EREGISTRY', re: /failed on manifests\/multi of busybox: HTTP 500/ },
    { what: 'an endless image config', path: /\/blobs\//, status: 200, code: 'EMANIFEST', re: /sent more than \d+ bytes for blobs\/sha256:\w+ of busybox/ },
  ];
  for (const c of cases) {
    test(`${c.what} is cut off at its limit and the connection dropped`, async (t) => {
      if (!need(t, ready, why)) return;
      const bodies: Array<ReturnType<typeof endlessBody>> = [];
      const proxy = await startProxy(t, reg.url, async (req, res, forward) => {
        if (!c.path.test(req.url ?? '')) { await passThrough(req, res, forward, 0); return; }
        // The real headers (so the config's descriptor still matches), then bytes without end.
        const up = await forward();
        const { 'content-length': _len, ...headers } = up.headers;
        bodies.push(endlessBody(res, c.status, headers, ENDLESS));
      });
      const client = new RegistryClient({ retry: { attempts: 1 }, env: { HOME: '/nonexistent' } });
      await assert.rejects(client.resolve(parseImageRef(`${proxy.host}/busybox:multi`), ARCHES.arm64), fails(c.code, c.re));
      assert.ok(bodies.length >= 1);
      for (const b of bodies) {
        await b.closed;
        assert.ok(b.cutOff, 'the client hung up before the end');
        assert.ok(b.sent < ENDLESS / 2, `the client took ${b.sent} bytes`);
      }
    });
  }
});

describe('TLS on loopback registries', () => {
  /**
   * One port that speaks TLS (with a certificate nobody trusts) to TLS clients and plain http to
   * everyone else: what a process holding a loopback port can do to harvest logins.
   */
  async function startTwoFaced(t: TestContext) {
    const dir = tempDir(t);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'pipe' });
    const plainSeen: Seen[] = [];
    const tlsSeen: Seen[] = [];
    const challenge = { 'www-authenticate': 'Basic realm="registry"', 'docker-distribution-api-version': 'registry/2.0' };
    const plain = http.createServer((req, res) => {
      plainSeen.push({ method: req.method ?? 'GET', url: req.url ?? '', headers: { ...req.headers } });
      res.writeHead(401, challenge).end();
    });
    const secure = https.createServer({ key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) }, (req, res) => {
      tlsSeen.push({ method: req.method ?? 'GET', url: req.url ?? '', headers: { ...req.headers } });
      res.writeHead(401, challenge).end();
    });
    secure.on('tlsClientError', () => {}); // the client refusing the certificate
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => secure.listen(0, '127.0.0.1', r));
    // The first byte decides: 0x16 starts a TLS handshake record.
    const front = net.createServer((socket) => {
      socket.once('data', (first) => {
        const to = (first[0] === 0x16 ? secure : plain).address() as AddressInfo;
        const back = net.connect(to.port, '127.0.0.1');
        back.write(first);
        socket.pipe(back).pipe(socket);
        socket.on('error', () => back.destroy());
        back.on('error', () => socket.destroy());
      });
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    t.after(async () => {
      for (const s of [plain, secure]) s.closeAllConnections();
      await Promise.all([plain, secure, front].map((s) => new Promise<void>((r) => s.close(() => r()))));
    });
    return { host: `127.0.0.1:${(front.address() as AddressInfo).port}`, plainSeen, tlsSeen };
  }

  test('a certificate that does not verify is an error, never a fallback to http with the login', async (t) => {
    const server = await startTwoFaced(t);
    const dir = tempDir(t);
    const auth = Buffer.from('crossroot:secret').toString('base64');
    writeFileSync(path.join(dir, 'auth.json'), JSON.stringify({ auths: { [server.host]: { auth } } }));
    const client = clientWith(dir, path.join(dir, 'auth.json'));
    await assert.rejects(client.resolve(parseImageRef(`${server.host}/busybox:multi`), ARCHES.arm64), (e: unknown) => {
      fails('ETLS', /cannot reach registry 127\.0\.0\.1:\d+ over https: self-signed certificate/)(e);
      assert.match((e as CrossrootError).fix ?? '', /NODE_EXTRA_CA_CERTS/);
      return true;
    });
    assert.deepEqual(server.plainSeen, [], 'nothing was sent over plain http');
    assert.deepEqual(server.tlsSeen, [], 'no request was made over the unverified connection');
  });
});
