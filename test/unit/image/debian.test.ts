import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { ARCHES } from '../../../src/core/arch';
import { binfmtRegistration, debianBootstrapKey, debianMirror, debianSuite, mmdebstrapArgv, type DebianBootstrap } from '../../../src/core/image/debian';
import { CrossrootError } from '../../../src/core/errors';
import { need } from '../../lib/harness';

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

test('the private binfmt registration opens our qemu at once (flag F) with the distro magic', (t) => {
  if (!need(t, existsSync('/usr/lib/binfmt.d/qemu-aarch64.conf'), 'no /usr/lib/binfmt.d/qemu-aarch64.conf (apt-get install qemu-user-static)')) return;
  const line = binfmtRegistration(ARCHES.arm64, '/opt/qemu/qemu-aarch64-static');
  const [, name, type, offset, magic, mask, interpreter, flags] = line.split(':');
  assert.equal(name, 'crossroot-aarch64');
  assert.equal(type, 'M');
  assert.equal(offset, '');
  // ELF, 64-bit, little-endian, e_machine 183 (0xb7): AArch64.
  assert.ok(magic!.startsWith('\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01'), magic);
  assert.ok(magic!.endsWith('\\xb7\\x00'), magic);
  assert.ok(mask!.length > 0);
  assert.equal(interpreter, '/opt/qemu/qemu-aarch64-static');
  assert.ok(flags!.includes('F'), flags);
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
