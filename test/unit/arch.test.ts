import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArch, ARCH_NAMES, ARCHES } from '../../src/core/arch';

test('arch aliases resolve to Crossroot names', () => {
  assert.equal(parseArch('aarch64')?.name, 'arm64');
  assert.equal(parseArch('x86_64')?.name, 'amd64');
  assert.equal(parseArch('linux/arm/v7')?.name, 'armhf');
  assert.equal(parseArch('PPC64LE')?.name, 'ppc64el');
  assert.equal(parseArch('i686')?.name, 'i386');
  assert.equal(parseArch('sparc'), undefined);
});

test('every arch resolves from its own name, uname and OCI platform', () => {
  for (const name of ARCH_NAMES) {
    const a = ARCHES[name];
    assert.equal(parseArch(name)?.name, name);
    assert.equal(parseArch(a.uname)?.name, name);
    const plat = `linux/${a.oci.architecture}${a.oci.variant ? '/' + a.oci.variant : ''}`;
    assert.equal(parseArch(plat)?.name, name, plat);
  }
});
