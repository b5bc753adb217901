import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { openSync, readSync, closeSync, readlinkSync, readFileSync, realpathSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { ARCHES, type ArchName } from '../../src/core/arch';
import { busyboxRootfs, debianRootfs, mmdebstrapAvailable, qemuAvailable, qemuFor } from '../fixtures/rootfs';
import { need, tempDir } from '../lib/harness';

// e_machine values from the ELF specification.
const EM = { i386: 3, arm: 40, x86_64: 62, ppc64: 21, s390: 22, aarch64: 183, riscv: 243 } as const;

function elfHeader(file: string): { elfClass: number; bigEndian: boolean; machine: number } {
  const fd = openSync(file, 'r');
  try {
    const h = Buffer.alloc(20);
    readSync(fd, h, 0, 20, 0);
    assert.deepEqual([...h.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], `${file} is not an ELF file`);
    const bigEndian = h[5] === 2;
    return { elfClass: h[4]!, bigEndian, machine: bigEndian ? h.readUInt16BE(18) : h.readUInt16LE(18) };
  } finally {
    closeSync(fd);
  }
}

const cases: [ArchName, number, number, boolean][] = [
  ['arm64', EM.aarch64, 2, false], ['riscv64', EM.riscv, 2, false], ['armhf', EM.arm, 1, false], ['amd64', EM.x86_64, 2, false],
  ['i386', EM.i386, 1, false], ['ppc64el', EM.ppc64, 2, false], ['s390x', EM.s390, 2, true],
];
for (const [arch, machine, elfClass, bigEndian] of cases) {
  test(`busybox ${arch} rootfs has /bin/sh linked to a busybox built for ${arch}`, async (t) => {
    if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap)')) return;
    const root = await busyboxRootfs(arch);
    const sh = path.join(root, 'bin/sh');
    assert.equal(readlinkSync(sh), 'busybox');
    assert.deepEqual(elfHeader(realpathSync(sh)), { elfClass, bigEndian, machine });
    assert.match(readFileSync(path.join(root, 'etc/passwd'), 'utf8'), /^root:x:0:0:/);
    for (const d of ['proc', 'dev', 'sys', 'tmp']) assert.ok(existsSync(path.join(root, d)), `/${d} missing`);
  });

  test(`busybox ${arch} uname applet reports ${ARCHES[arch].uname} under qemu-user`, async (t) => {
    if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap)')) return;
    if (!need(t, qemuAvailable(arch), `no qemu-${ARCHES[arch].qemu}-static (apt-get install qemu-user-static)`)) return;
    const root = await busyboxRootfs(arch);
    // Straight through the interpreter: this checks the tree, not the sandbox.
    const qemu = qemuFor(arch);
    const argv = qemu ? [qemu, path.join(root, 'bin/busybox')] : [path.join(root, 'bin/busybox')];
    const r = spawnSync(argv[0]!, [...argv.slice(1), 'uname', '-m'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), ARCHES[arch].uname);
  });
}

test('two concurrent builds of one busybox rootfs give one whole tree and leave no temp dirs', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap)')) return;
  const cache = tempDir(t);
  const saved = process.env.CROSSROOT_TEST_CACHE;
  process.env.CROSSROOT_TEST_CACHE = cache;
  t.after(() => { if (saved === undefined) delete process.env.CROSSROOT_TEST_CACHE; else process.env.CROSSROOT_TEST_CACHE = saved; });
  const [a, b] = await Promise.all([busyboxRootfs('riscv64'), busyboxRootfs('riscv64')]);
  assert.equal(a, b);
  assert.ok(a.startsWith(cache));
  assert.equal(elfHeader(realpathSync(path.join(a, 'bin/sh'))).machine, EM.riscv);
  assert.deepEqual(readdirSync(path.join(cache, 'rootfs')).filter((n) => !n.endsWith('.lock')), [path.basename(a)]);
  assert.equal(await busyboxRootfs('riscv64'), a);
});

test('Debian arm64 minbase fixture is a bookworm tree of aarch64 binaries', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap)')) return;
  if (!need(t, qemuAvailable('arm64'), 'no qemu-aarch64-static (apt-get install qemu-user-static)')) return;
  const root = await debianRootfs();
  assert.match(readFileSync(path.join(root, 'etc/debian_version'), 'utf8'), /^12\./);
  assert.equal(elfHeader(realpathSync(path.join(root, 'usr/bin/dpkg'))).machine, EM.aarch64);
  // dpkg ran every maintainer script through the private binfmt registration: all configured.
  const status = readFileSync(path.join(root, 'var/lib/dpkg/status'), 'utf8');
  assert.match(status, /^Package: apt$/m);
  assert.doesNotMatch(status, /^Status: .* (unpacked|half-configured|half-installed)$/m);
});
