import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HELPER, tempDir } from '../lib/harness';

// `arches --json` says which cross compilers this host has per arch (Debian's gcc-N-TRIPLET:
// DIR/TRIPLET-gcc-N); CROSSROOT_CROSS_DIR replaces /usr/bin as the place to look.
interface Arch { name: string; triplet: string; cross: Array<{ major: number; gcc: string; gxx: string | null; cpp: string | null }> }

function arches(env: NodeJS.ProcessEnv): Arch[] {
  const r = spawnSync(HELPER, ['arches', '--json'], { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { arches: Arch[] }).arches;
}

test('arches --json lists the cross gcc majors of each foreign arch with their g++ and cpp, and none for the host\'s own arch', (t) => {
  const dir = tempDir(t);
  const tool = (name: string, mode = 0o755) => {
    writeFileSync(path.join(dir, name), '#!/bin/sh\n');
    chmodSync(path.join(dir, name), mode);
  };
  tool('aarch64-linux-gnu-gcc-14');
  tool('aarch64-linux-gnu-gcc-12');
  tool('aarch64-linux-gnu-g++-12');
  tool('aarch64-linux-gnu-cpp-14');
  tool('aarch64-linux-gnu-gcc-13', 0o644); // not executable: not a compiler
  tool('aarch64-linux-gnu-gcc-12.bak');
  tool('aarch64-linux-gnu-gcc');           // Debian's unversioned link: the majors are what counts
  mkdirSync(path.join(dir, 'riscv64-linux-gnu-gcc-14')); // a directory is not a compiler
  tool('x86_64-linux-gnu-gcc-12');
  const a = arches({ CROSSROOT_CROSS_DIR: dir });
  const arm64 = a.find((x) => x.name === 'arm64')!;
  assert.equal(arm64.triplet, 'aarch64-linux-gnu');
  assert.deepEqual(arm64.cross, [
    { major: 12, gcc: `${dir}/aarch64-linux-gnu-gcc-12`, gxx: `${dir}/aarch64-linux-gnu-g++-12`, cpp: null },
    { major: 14, gcc: `${dir}/aarch64-linux-gnu-gcc-14`, gxx: null, cpp: `${dir}/aarch64-linux-gnu-cpp-14` },
  ]);
  assert.deepEqual(a.find((x) => x.name === 'riscv64')!.cross, []);
  const host = a.find((x) => x.name === (process.arch === 'x64' ? 'amd64' : 'arm64'))!;
  assert.deepEqual(host.cross, [], 'the host\'s own arch needs no cross compiler');
});

test('arches --json reports no cross compilers when the directory is missing', () => {
  for (const a of arches({ CROSSROOT_CROSS_DIR: '/nonexistent' })) assert.deepEqual(a.cross, [], a.name);
});
