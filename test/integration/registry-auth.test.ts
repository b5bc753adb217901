import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ARCHES } from '../../src/core/arch';
import { CrossrootError } from '../../src/core/errors';
import { parseImageRef } from '../../src/core/image/ref';
import { RegistryClient } from '../../src/core/image/registry';
import { imageToolsAvailable, multiArchImage } from '../fixtures/images';
import { htpasswdAvailable, pushImageAsync, registryAvailable, startRegistry, writeAuthFile, type TestRegistry } from '../fixtures/registry';
import { need, tempDir } from '../lib/harness';

const ready = registryAvailable() && imageToolsAvailable() && htpasswdAvailable();
const why = 'needs docker-registry, apache2-utils (htpasswd), openssl, buildah, skopeo, umoci';

function authError(re: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof CrossrootError, String(e));
    assert.equal(e.code, 'EAUTH');
    assert.match(e.message, re);
    assert.match(e.fix ?? '', /podman login 127\.0\.0\.1:\d+/);
    return true;
  };
}

/** A client that sees only the given auth.json (no auth files of the user running the tests). */
function clientWith(dir: string, authFile?: string): RegistryClient {
  const env = { HOME: dir, PATH: process.env.PATH };
  return new RegistryClient(authFile ? { authFile, env } : { env });
}

async function pullAll(client: RegistryClient, reg: TestRegistry, dir: string) {
  const ref = parseImageRef(`${reg.host}/busybox:multi`);
  const r = await client.resolve(ref, ARCHES.arm64);
  await client.fetchBlobs(ref, r.manifest.layers.map((desc, i) => ({ desc, dest: path.join(dir, `l${i}`) })));
  return r;
}

describe('registry with htpasswd basic auth', () => {
  let reg: TestRegistry;
  before(async () => {
    if (!ready) return;
    reg = await startRegistry({ auth: 'htpasswd' });
    const multi = await multiArchImage();
    await pushImageAsync(reg, `oci:${multi.layout}:multi`, 'busybox:multi', { all: true });
  });
  after(async () => { await reg?.stop(); });

  test('pulls with the login from a containers auth.json', async (t) => {
    if (!need(t, ready, why)) return;
    const dir = tempDir(t);
    const r = await pullAll(clientWith(dir, writeAuthFile(path.join(dir, 'auth.json'), reg)), reg, dir);
    assert.equal(r.config.architecture, 'arm64');
  });

  test('pulls with the login from ~/.docker/config.json (username and password fields)', async (t) => {
    if (!need(t, ready, why)) return;
    const dir = tempDir(t);
    mkdirSync(path.join(dir, '.docker'));
    writeFileSync(path.join(dir, '.docker/config.json'), JSON.stringify({
      auths: { [`http://${reg.host}`]: { username: reg.user.username, password: reg.user.password } },
    }));
    const r = await pullAll(clientWith(dir), reg, dir);
    assert.equal(r.config.architecture, 'arm64');
  });

  test('without a login the error says to log in', async (t) => {
    if (!need(t, ready, why)) return;
    const dir = tempDir(t);
    await assert.rejects(pullAll(clientWith(dir), reg, dir), authError(/requires a login/));
  });

  test('a wrong password is rejected naming the user and the file it came from', async (t) => {
    if (!need(t, ready, why)) return;
    const dir = tempDir(t);
    const file = writeAuthFile(path.join(dir, 'auth.json'), reg, 'wrong-password');
    await assert.rejects(pullAll(clientWith(dir, file), reg, dir),
      authError(new RegExp(`rejected the credentials of user "crossroot" from ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`)));
  });
});

describe('registry with bearer tokens from a token service', () => {
  let reg: TestRegistry;
  before(async () => {
    if (!ready) return;
    reg = await startRegistry({ auth: 'token' });
    const multi = await multiArchImage();
    await pushImageAsync(reg, `oci:${multi.layout}:multi`, 'busybox:multi', { all: true });
  });
  after(async () => { await reg?.stop(); });

  test('pulls with a token for the repository, asked for once and reused', async (t) => {
    if (!need(t, ready, why)) return;
    const dir = tempDir(t);
    const before = reg.token!.requests.length;
    const client = clientWith(dir, writeAuthFile(path.join(dir, 'auth.json'), reg));
    const r = await pullAll(client, reg, dir);
    assert.equal(r.config.architecture, 'arm64');
    const asked = reg.token!.requests.slice(before);
    assert.deepEqual(asked, [{ user: 'crossroot', scopes: ['repository:busybox:pull'], ok: true }],
      'one token for index, manifest, config and layer');
  });

  test('pulls with a Docker identity token, exchanged as an OAuth2 refresh token', async (t) => {
    if (!need(t, ready, why)) return;
    const dir = tempDir(t);
    mkdirSync(path.join(dir, '.docker'));
    writeFileSync(path.join(dir, '.docker/config.json'), JSON.stringify({ auths: { [reg.host]: { auth: '', identitytoken: reg.user.identityToken } } }));
    const before = reg.token!.requests.length;
    const r = await pullAll(clientWith(dir), reg, dir);
    assert.equal(r.config.architecture, 'arm64');
    assert.deepEqual(reg.token!.requests.slice(before), [{ user: 'crossroot', scopes: ['repository:busybox:pull'], ok: true }]);
  });

  test('a wrong password is refused by the token service with a clear error', async (t) => {
    if (!need(t, ready, why)) return;
    const dir = tempDir(t);
    const file = writeAuthFile(path.join(dir, 'auth.json'), reg, 'wrong-password');
    await assert.rejects(pullAll(clientWith(dir, file), reg, dir),
      authError(/rejected the credentials of user "crossroot" .*token service at 127\.0\.0\.1:\d+ answered 401/));
  });

  test('an anonymous token without pull access is reported as needing a login', async (t) => {
    if (!need(t, ready, why)) return;
    const dir = tempDir(t);
    await assert.rejects(pullAll(clientWith(dir), reg, dir), authError(/requires a login to pull this image \(401 for busybox/));
  });
});
