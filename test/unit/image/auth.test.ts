import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CrossrootError } from '../../../src/core/errors';
import { authFileCandidates, findCredentials, normalizeAuthKey, parseWwwAuthenticate } from '../../../src/core/image/auth';
import { tempDir } from '../../lib/harness';

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('bearer challenges parse with quoted commas and escapes', () => {
  assert.deepEqual(parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull,push"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/debian:pull,push' } },
  ]);
  assert.deepEqual(parseWwwAuthenticate('Basic realm="Registry \\"Realm\\""'), [{ scheme: 'basic', params: { realm: 'Registry "Realm"' } }]);
  assert.deepEqual(parseWwwAuthenticate('bearer  realm = http://127.0.0.1:5001/token , error=invalid_token'), [
    { scheme: 'bearer', params: { realm: 'http://127.0.0.1:5001/token', error: 'invalid_token' } },
  ]);
  assert.deepEqual(parseWwwAuthenticate('Basic realm="a", Bearer realm="b",service="s"').map((c) => [c.scheme, c.params.realm]), [['basic', 'a'], ['bearer', 'b']]);
  assert.deepEqual(parseWwwAuthenticate(''), []);
});

test('a challenge that names a parameter twice or leaves a quote open is dropped, not guessed at', () => {
  // Which realm would count is up to each parser; a guess here decides where a login goes.
  assert.deepEqual(parseWwwAuthenticate('Bearer realm="https://good.example/token",realm="https://evil.example/token"'), []);
  assert.deepEqual(parseWwwAuthenticate('Bearer realm="https://good.example/token",REALM="https://evil.example/token", Basic realm="r"'), [{ scheme: 'basic', params: { realm: 'r' } }]);
  assert.deepEqual(parseWwwAuthenticate('Bearer realm="https://evil.example/tok'), []);
  assert.deepEqual(parseWwwAuthenticate('Basic realm="r", Bearer service="s",realm="https://a.example/t'), [{ scheme: 'basic', params: { realm: 'r' } }]);
});

test('docker config keys name registries the way refs do', () => {
  assert.equal(normalizeAuthKey('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(normalizeAuthKey('registry-1.docker.io'), 'docker.io');
  assert.equal(normalizeAuthKey('http://localhost:5000'), 'localhost:5000');
  assert.equal(normalizeAuthKey('quay.io/org/repo'), 'quay.io/org/repo');
});

test('auth files are searched in containers-auth.json order', () => {
  const env = { HOME: '/h', XDG_RUNTIME_DIR: '/run/user/1', XDG_CONFIG_HOME: '/cfg' };
  assert.deepEqual(authFileCandidates(env), ['/run/user/1/containers/auth.json', '/cfg/containers/auth.json', '/h/.docker/config.json']);
  assert.deepEqual(authFileCandidates({ ...env, REGISTRY_AUTH_FILE: '/x/auth.json' })[0], '/x/auth.json');
  assert.deepEqual(authFileCandidates({ HOME: '/h', DOCKER_CONFIG: '/d' }, '/explicit.json'), ['/explicit.json', '/h/.config/containers/auth.json', '/d/config.json']);
});

test('credentials come from the first file that has the registry, most specific key first', (t) => {
  const dir = tempDir(t);
  const runtime = path.join(dir, 'run');
  mkdirSync(path.join(runtime, 'containers'), { recursive: true });
  mkdirSync(path.join(dir, '.docker'));
  writeFileSync(path.join(runtime, 'containers/auth.json'), JSON.stringify({ auths: {
    'quay.io': { auth: b64('host-user:host-pw') },
    'quay.io/team': { auth: b64('team-user:team:pw') },
  } }));
  writeFileSync(path.join(dir, '.docker/config.json'), JSON.stringify({ auths: {
    'https://index.docker.io/v1/': { auth: b64('hub:hubpw') },
    'quay.io': { auth: b64('docker-quay:x') },
    'ghcr.io': { username: 'gh', password: 'token' },
  } }));
  const env = { HOME: dir, XDG_RUNTIME_DIR: runtime, PATH: '/nonexistent' };
  const c = (reg: string, repo?: string) => {
    const x = findCredentials(reg, repo, { env });
    return x && [x.username, x.password, path.relative(dir, x.source)];
  };
  assert.deepEqual(c('quay.io', 'team/app'), ['team-user', 'team:pw', 'run/containers/auth.json'], 'namespace key wins; password may hold ":"');
  assert.deepEqual(c('quay.io', 'other/app'), ['host-user', 'host-pw', 'run/containers/auth.json']);
  assert.deepEqual(c('docker.io', 'library/debian'), ['hub', 'hubpw', '.docker/config.json']);
  assert.deepEqual(c('ghcr.io', 'o/i'), ['gh', 'token', '.docker/config.json']);
  assert.equal(c('localhost:5000', 'x'), undefined, 'anonymous when no file knows the registry');
});

test('credential helpers are run like docker does, and a missing one is a clear error', (t) => {
  const dir = tempDir(t);
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  const helper = path.join(bin, 'docker-credential-crtest');
  writeFileSync(helper, '#!/bin/sh\nread host\nif [ "$host" = "reg.example" ]; then echo \'{"ServerURL":"reg.example","Username":"helped","Secret":"s3"}\'; else echo "credentials not found in native keychain"; exit 1; fi\n');
  chmodSync(helper, 0o755);
  mkdirSync(path.join(dir, '.docker'));
  writeFileSync(path.join(dir, '.docker/config.json'), JSON.stringify({
    credHelpers: { 'reg.example': 'crtest', 'other.example': 'crtest', 'gone.example': 'notinstalled' },
  }));
  const env = { HOME: dir, PATH: `${bin}:/usr/bin:/bin` };
  const c = findCredentials('reg.example', 'a/b', { env });
  assert.equal(c?.username, 'helped');
  assert.equal(c?.password, 's3');
  assert.equal(c?.source, 'docker-credential-crtest');
  assert.equal(findCredentials('other.example', 'a', { env }), undefined, 'helper has nothing for this host');
  assert.throws(() => findCredentials('gone.example', 'a', { env }), (e: unknown) => {
    assert.ok(e instanceof CrossrootError);
    assert.equal(e.code, 'ECREDHELPER');
    assert.match(e.message, /docker-credential-notinstalled, which is not installed/);
    assert.match(e.fix ?? '', /podman login gone\.example/);
    return true;
  });
});

test('a credential helper name with a path in it is refused, never run from the current folder', (t) => {
  const dir = tempDir(t);
  const bin = path.join(dir, 'bin');
  // What `docker-credential-../x/y` would reach if it were exec'd relative to the cwd.
  mkdirSync(path.join(dir, 'docker-credential-..', 'x'), { recursive: true });
  const planted = path.join(dir, 'docker-credential-..', 'x', 'y');
  writeFileSync(planted, `#!/bin/sh\ntouch ${path.join(dir, 'ran')}\necho '{"Username":"u","Secret":"s"}'\n`);
  chmodSync(planted, 0o755);
  mkdirSync(path.join(bin, 'docker-credential-..', 'x'), { recursive: true });
  writeFileSync(path.join(bin, 'docker-credential-..', 'x', 'y'), '');
  chmodSync(path.join(bin, 'docker-credential-..', 'x', 'y'), 0o755);
  mkdirSync(path.join(dir, '.docker'));
  writeFileSync(path.join(dir, '.docker/config.json'), JSON.stringify({ credHelpers: { 'reg.example': '../x/y' } }));
  const before = process.cwd();
  process.chdir(dir);
  try {
    assert.throws(() => findCredentials('reg.example', 'a', { env: { HOME: dir, PATH: `${bin}:/usr/bin:/bin` } }),
      (e: unknown) => e instanceof CrossrootError && e.code === 'ECREDHELPER' && /a helper name is letters/.test(e.message));
  } finally {
    process.chdir(before);
  }
  assert.equal(existsSync(path.join(dir, 'ran')), false);
});

test('broken auth files are reported with the file to fix', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'auth.json');
  writeFileSync(file, '{"auths": {');
  assert.throws(() => findCredentials('quay.io', 'a', { authFile: file, env: { HOME: dir } }),
    (e: unknown) => e instanceof CrossrootError && e.code === 'EAUTHFILE' && e.message.includes(file) && /not valid JSON/.test(e.message));
  writeFileSync(file, JSON.stringify({ auths: { 'quay.io': { auth: b64('no-colon') } } }));
  assert.throws(() => findCredentials('quay.io', 'a', { authFile: file, env: { HOME: dir } }), /not base64 of "user:password"/);
});
