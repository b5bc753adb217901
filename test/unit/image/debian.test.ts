import { test } from 'node:test';
import assert from 'node:assert/strict';
import { debianBootstrapKey, debianMirror, debianSuite, mmdebstrapArgv, type DebianBootstrap } from '../../../src/core/image/debian';
import { CrossrootError } from '../../../src/core/errors';

test('a debian source defaults to the first suite that has the arch', () => {
  assert.equal(debianSuite({ arch: 'arm64' }), 'bookworm');
  assert.equal(debianSuite({ arch: 'riscv64' }), 'trixie');
  assert.equal(debianSuite({ arch: 'riscv64', suite: 'sid' }), 'sid');
});

test('a snapshot date pins the mirror to snapshot.debian.org', () => {
  assert.equal(debianMirror({ arch: 'arm64' }), 'http://deb.debian.org/debian');
  assert.equal(debianMirror({ arch: 'arm64', snapshot: '20240101T000000Z' }), 'http://snapshot.debian.org/archive/debian/20240101T000000Z/');
  assert.equal(debianMirror({ arch: 'arm64', mirror: 'http://mirror.example/debian', snapshot: '20240101T000000Z' }), 'http://mirror.example/debian');
});

test('the bootstrap key changes with every input but not with package order', () => {
  const base = debianBootstrapKey({ arch: 'arm64', include: ['hello', 'curl'] });
  assert.equal(debianBootstrapKey({ arch: 'arm64', suite: 'bookworm', variant: 'minbase', include: ['curl', 'hello'] }), base);
  for (const other of [
    { arch: 'armhf' as const, include: ['hello', 'curl'] },
    { arch: 'arm64' as const, suite: 'trixie', include: ['hello', 'curl'] },
    { arch: 'arm64' as const, variant: 'apt' as const, include: ['hello', 'curl'] },
    { arch: 'arm64' as const, include: ['hello'] },
    { arch: 'arm64' as const, include: ['hello', 'curl'], snapshot: '20240101T000000Z' },
  ]) assert.notEqual(debianBootstrapKey(other), base, JSON.stringify(other));
});

test('mmdebstrap gets -- before suite, target and mirror, and no env file value where it reads options', () => {
  assert.deepEqual(mmdebstrapArgv({ arch: 'arm64', include: ['git', 'libc6:arm64', 'hello=2.10-3', 'curl/bookworm-backports'] }, '/store/tmp/x'), [
    'mmdebstrap', '--mode=unshare', '--variant=minbase', '--arch=arm64', '--include=git,libc6:arm64,hello=2.10-3,curl/bookworm-backports',
    '--', 'bookworm', '/store/tmp/x', 'http://deb.debian.org/debian',
  ]);
  const hostile: Array<[Partial<DebianBootstrap>, RegExp]> = [
    [{ suite: '--setup-hook=touch /tmp/owned' }, /suite "--setup-hook=touch \/tmp\/owned"/],
    [{ suite: 'bookworm --customize-hook=x' }, /suite/],
    [{ include: ['--setup-hook=x'] }, /package "--setup-hook=x"/],
    [{ include: ['git,--setup-hook=x'] }, /package/],
    [{ include: ['-oAPT::Get::x'] }, /package/],
    [{ mirror: '--setup-hook=x' }, /mirror/],
    [{ mirror: 'http://deb.debian.org/debian --setup-hook=x' }, /mirror/],
    [{ mirror: '-' }, /mirror/],
    [{ snapshot: '--setup-hook=x' }, /snapshot/],
    [{ variant: '--setup-hook=x' as DebianBootstrap['variant'] }, /variant/],
  ];
  for (const [o, what] of hostile) {
    assert.throws(() => mmdebstrapArgv({ arch: 'arm64', ...o }, '/store/tmp/x'),
      (e: unknown) => e instanceof CrossrootError && e.code === 'EBADSOURCE' && what.test(e.message), JSON.stringify(o));
  }
});
