import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseImageRef } from '../../../src/core/image/ref';
import { CrossrootError } from '../../../src/core/errors';

const D = 'sha256:' + 'ab'.repeat(32);

test('Docker Hub short names get docker.io, library/ and :latest', () => {
  const cases: Array<[string, string, string, string | undefined, string | undefined, string]> = [
    // input, registry, repository, tag, digest, familiar
    ['debian', 'docker.io', 'library/debian', 'latest', undefined, 'debian:latest'],
    ['debian:bookworm', 'docker.io', 'library/debian', 'bookworm', undefined, 'debian:bookworm'],
    ['docker.io/library/debian:bookworm', 'docker.io', 'library/debian', 'bookworm', undefined, 'debian:bookworm'],
    ['index.docker.io/library/debian', 'docker.io', 'library/debian', 'latest', undefined, 'debian:latest'],
    ['library/debian:12', 'docker.io', 'library/debian', '12', undefined, 'debian:12'],
    ['bitnami/redis:7.2', 'docker.io', 'bitnami/redis', '7.2', undefined, 'bitnami/redis:7.2'],
    [`debian@${D}`, 'docker.io', 'library/debian', undefined, D, `debian@${D}`],
    [`debian:bookworm@${D}`, 'docker.io', 'library/debian', 'bookworm', D, `debian:bookworm@${D}`],
  ];
  for (const [input, registry, repository, tag, digest, familiar] of cases) {
    const r = parseImageRef(input);
    assert.deepEqual([r.registry, r.repository, r.tag, r.digest], [registry, repository, tag, digest], input);
    assert.equal(r.familiar(), familiar, input);
  }
});

test('registries with hosts, ports and IPs keep their names', () => {
  const cases: Array<[string, string, string, string]> = [
    ['localhost:5000/x:y', 'localhost:5000', 'x', 'localhost:5000/x:y'],
    ['localhost/x', 'localhost', 'x', 'localhost/x:latest'],
    ['127.0.0.1:40000/a/b/c:1', '127.0.0.1:40000', 'a/b/c', '127.0.0.1:40000/a/b/c:1'],
    ['[::1]:5000/img:t', '[::1]:5000', 'img', '[::1]:5000/img:t'],
    ['ghcr.io/org/img', 'ghcr.io', 'org/img', 'ghcr.io/org/img:latest'],
    ['Registry.Example.COM/org/img:v1', 'Registry.Example.COM', 'org/img', 'Registry.Example.COM/org/img:v1'],
    ['quay.io/a__b/c-d--e.f_g:v1.0-rc_1', 'quay.io', 'a__b/c-d--e.f_g', 'quay.io/a__b/c-d--e.f_g:v1.0-rc_1'],
  ];
  for (const [input, registry, repository, full] of cases) {
    const r = parseImageRef(input);
    assert.equal(r.registry, registry, input);
    assert.equal(r.repository, repository, input);
    assert.equal(r.toString(), full, input);
    assert.equal(parseImageRef(r.toString()).toString(), full, 'round trip ' + input);
  }
});

test('what the registry is asked for is the digest when pinned, else the tag', () => {
  assert.equal(parseImageRef('debian:12').reference, '12');
  assert.equal(parseImageRef(`debian:12@${D}`).reference, D);
  const pinned = parseImageRef('localhost:5000/x:y').withDigest(D);
  assert.equal(pinned.toString(), `localhost:5000/x:y@${D}`);
});

test('invalid references are rejected saying what is wrong', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    ['Debian', /must be lowercase/],
    ['docker.io/Library/debian', /must be lowercase/],
    ['debian:', /tag after ":" is empty/],
    ['debian:-x', /tag "-x"/],
    ['debian:' + 'a'.repeat(129), /longer than 128/],
    ['debian@sha256:abc', /not a valid digest/],
    ['debian@sha256:' + 'AB'.repeat(32), /lowercase hex/],
    ['debian@md5:' + 'ab'.repeat(16), /algorithm md5 is not supported/],
    ['ab'.repeat(32), /bare 64-hex/],
    ['a//b', /empty path component/],
    ['a/b/', /empty path component/],
    [':tag', /name is missing/],
    ['deb ian', /whitespace/],
    ['localhost:port/x', /port "port" is not a number/],
    ['-bad.io/x', /not a valid registry host/],
    ['ex.com/a_-b', /"a_-b" is not a valid name component/],
    ['ex.com/' + 'a'.repeat(250), /longer than 255/],
  ];
  for (const [input, re] of cases) {
    assert.throws(() => parseImageRef(input), (e: unknown) => {
      assert.ok(e instanceof CrossrootError, input);
      assert.equal(e.code, 'EIMAGEREF');
      assert.match(e.message, re, input);
      assert.ok(e.fix, 'has a fix-it');
      return true;
    }, input);
  }
});
