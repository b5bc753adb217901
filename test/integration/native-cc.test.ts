import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { busyboxRootfs, mmdebstrapAvailable, qemuAvailable } from '../fixtures/rootfs';
import { CLI, HELPER, ROOT, cacheDir, need, tempDir } from '../lib/harness';
import { crossroot, crossrootAsync } from './image-trees';

// Native compilers in foreign-arch Debian envs (issue 11). The test store is the one the examples
// use, and the first setup step is theirs (examples/arm64-c, examples/riscv64-c), so the gcc
// layers under qemu are made once per machine; one arm64 env serves every arm64 case.
const STORE = () => ({ CROSSROOT_STORE: cacheDir('store') });
const ARM64_PACKAGES = '[setup]\npackages = ["gcc", "libc6-dev", "make"]\n';
// g++ and the helper's own build dependencies, in a step of their own on top of the shared one.
const ARM64_EXTRA = 'run = ["apt-get install -y -q --no-install-recommends g++ libc6-dev zlib1g-dev libzstd-dev liblzma-dev libbz2-dev >/dev/null"]\n';

function toml(name: string, arch: string, suite: string, extra = ''): string {
  return `name = "${name}"\narch = "${arch}"\n[source]\nkind = "debian"\nsuite = "${suite}"\nvariant = "minbase"\n${ARM64_PACKAGES}${extra}[workspace]\npath = "/workspace"\n`;
}

const HELLO_C = '#include <stdio.h>\nint main(void) { printf("hello from C\\n"); return 0; }\n';
const HELLO_CXX = `#include <iostream>
#include <stdexcept>
#include <vector>
template <typename T> T sum(const std::vector<T>& v) { T s{}; for (const T& x : v) s += x; return s; }
int main() {
  try { throw std::runtime_error("caught"); } catch (const std::exception& e) { std::cout << e.what() << " " << sum(std::vector<int>{1, 2, 3}) << std::endl; }
  return 0;
}
`;
// An error at line 3, column 5: problem matchers map /workspace/x.c back to the workspace.
const BROKEN_C = 'int main(void)\n{\n    undeclared_name = 1;\n    return 0;\n}\n';
// The helper's own sources, built the way native/Makefile does, one object per file, so -j2 means something.
const PROJECT_MAKEFILE = `CFLAGS = -O2 -Wall -std=gnu11 -D_GNU_SOURCE -DCROSSROOT_VERSION='"native-cc"'
OBJS = $(patsubst %.c,%.o,$(wildcard src/*.c))
helper: $(OBJS)
\t$(CC) -o $@ $(OBJS) -lzstd -lz -llzma -lbz2
%.o: %.c $(wildcard src/*.h)
\t$(CC) $(CFLAGS) -c -o $@ $<
`;

test('native compilers in an arm64 Debian env: gcc and g++ run the host cross compiler against the env\'s sysroot', { timeout: 40 * 60_000 }, async (t) => {
  if (!need(t, existsSync(HELPER) && existsSync(CLI), 'the helper and CLI are not built (npm run build)')
    || !need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap arch-test)')
    || !need(t, qemuAvailable('arm64'), 'no qemu for arm64 (apt-get install qemu-user-static)')
    || !need(t, existsSync('/usr/bin/aarch64-linux-gnu-gcc-12') && existsSync('/usr/bin/aarch64-linux-gnu-g++-12'), 'no host cross compiler (apt-get install gcc-12-aarch64-linux-gnu g++-12-aarch64-linux-gnu)')) return;
  let work = '';
  t.after(() => { if (work) crossroot(['stop', '--file', path.join(work, 'crossroot.toml')], STORE(), '/'); });
  work = tempDir(t, 'crossroot-native-cc-');
  writeFileSync(path.join(work, 'crossroot.toml'), toml('native-cc', 'arm64', 'bookworm', ARM64_EXTRA));
  writeFileSync(path.join(work, 'hello.c'), HELLO_C);
  writeFileSync(path.join(work, 'hello.cpp'), HELLO_CXX);
  writeFileSync(path.join(work, 'x.c'), BROKEN_C);
  mkdirSync(path.join(work, 'project'));
  cpSync(path.join(ROOT, 'native', 'src'), path.join(work, 'project', 'src'), { recursive: true });
  writeFileSync(path.join(work, 'project', 'Makefile'), PROJECT_MAKEFILE);
  const sh = (script: string) => crossrootAsync(['exec', 'bash', '-c', `set -e; ${script}`], STORE(), work);

  await t.test('gcc is the wrapper running the host\'s cross cc1; /usr/bin/gcc stays the env\'s own', async () => {
    const r = await sh('command -v gcc g++ cc c++ cpp aarch64-linux-gnu-gcc; readlink -f /usr/bin/gcc; readelf -h "$(gcc -print-prog-name=cc1)" | grep Machine; readelf -h "$(readlink -f /usr/bin/gcc)" | grep Machine');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 6), ['/usr/local/bin/gcc', '/usr/local/bin/g++', '/usr/local/bin/cc', '/usr/local/bin/c++', '/usr/local/bin/cpp', '/usr/local/bin/aarch64-linux-gnu-gcc']);
    assert.equal(lines[6], '/usr/bin/aarch64-linux-gnu-gcc-12');
    assert.match(lines[7]!, /Machine:\s+Advanced Micro Devices X86-64/, 'cc1 is the host\'s');
    assert.match(lines[8]!, /Machine:\s+AArch64/, '/usr/bin/gcc is the env\'s own');
    const status = crossroot(['status', '--file', path.join(work, 'crossroot.toml')], STORE());
    assert.match(status.stdout, /compilers: native on: gcc, cc, g\+\+, c\+\+, cpp \(and their versioned and aarch64-linux-gnu- names\) run the host's aarch64-linux-gnu-gcc-12 natively against the env's own headers and libraries/);
  });

  await t.test('hello.c built natively is an AArch64 program and prints what the emulated gcc\'s build prints', async () => {
    const r = await sh('cd /workspace; gcc -O2 -o hello hello.c; /usr/bin/gcc -O2 -o hello-emu hello.c; readelf -h hello | grep Machine; ./hello; ./hello-emu');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Machine:\s+AArch64\nhello from C\nhello from C\n$/);
  });

  await t.test('a C++ program with iostream, exceptions and a template links the env\'s libstdc++ and runs', async () => {
    const r = await sh('cd /workspace; g++ -O2 -o hellocc hello.cpp; /usr/bin/g++ -O2 -o hellocc-emu hello.cpp; readelf -h hellocc | grep Machine; readelf -d hellocc | grep -o "libstdc++.so.6"; ./hellocc; ./hellocc-emu');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Machine:\s+AArch64\nlibstdc\+\+\.so\.6\ncaught 6\ncaught 6\n$/);
  });

  await t.test('make -j2 builds the helper\'s own sources against the env\'s zlib, zstd, liblzma and libbz2', async () => {
    const r = await sh('cd /workspace/project; make -j2 >/dev/null; readelf -h helper | grep Machine; ./helper --version');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Machine:\s+AArch64\ncrossroot-helper native-cc\n$/);
  });

  await t.test('a compile error names the file by its path in the env', async () => {
    const r = await sh('gcc -c -o /tmp/x.o /workspace/x.c');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^\/workspace\/x\.c:3:5: error: 'undeclared_name' undeclared/m);
  });

  await t.test('only the toolchain\'s closure of the host is there: not its /etc, not its /home', async () => {
    const r = await sh(`grep -c '^${process.env.USER ?? 'crossroot-test'}:' /etc/passwd || true; ls -A /home | wc -l; ls /usr/lib/x86_64-linux-gnu | grep -v '\\.so' || true; ls /usr/lib/x86_64-linux-gnu | wc -l; ls /lib64`);
    assert.equal(r.code, 0, r.stderr);
    const [users, home, ...rest] = r.stdout.trim().split('\n');
    assert.equal(users, '0', 'the host\'s /etc/passwd is not the env\'s');
    assert.equal(home, '0', 'the host\'s /home is not visible');
    assert.ok(Number(rest[0]) > 0 && Number(rest[0]) < 40, `only the libraries the toolchain loads: ${rest[0]}`);
    assert.deepEqual(rest.slice(1), ['ld-linux-x86-64.so.2']);
  });

  // A [setup] run step that records which cc1 compiled in it, and leaves no mount point in its layer.
  const STEP = `${ARM64_EXTRA.replace(/"\]\n$/, '", ')}"readelf -h \\"$(gcc -print-prog-name=cc1)\\" | grep Machine > /etc/step-cc1"]\n`;

  await t.test('setup steps compile with the host\'s compiler too, and their layer keeps no mount point', async () => {
    writeFileSync(path.join(work, 'crossroot.toml'), toml('native-cc', 'arm64', 'bookworm', STEP));
    const r = await sh('cat /etc/step-cc1');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Machine:\s+Advanced Micro Devices X86-64/);
  });

  await t.test('native-compilers = false: gcc is the env\'s own again, and status says why', async () => {
    writeFileSync(path.join(work, 'crossroot.toml'), toml('native-cc', 'arm64', 'bookworm', `${STEP}[tools]\nnative-compilers = false\n`));
    const r = await sh('command -v gcc; ls /usr/local/bin | wc -l; test ! -e /lib64 && echo no-lib64');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '/usr/bin/gcc\n0\nno-lib64\n', 'the wrappers\' mount points are gone too, from the env and from the step\'s layer');
    const status = crossroot(['status', '--file', path.join(work, 'crossroot.toml')], STORE());
    assert.match(status.stdout, /compilers: native off: turned off by \[tools\] native-compilers = false/);
  });
});

test('native compilers in a riscv64 Debian trixie env: gcc 14 vs the host\'s gcc-12 cross falls back to the env\'s gcc, naming the package', { timeout: 40 * 60_000 }, async (t) => {
  if (!need(t, existsSync(HELPER) && existsSync(CLI), 'the helper and CLI are not built (npm run build)')
    || !need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap arch-test)')
    || !need(t, qemuAvailable('riscv64'), 'no qemu for riscv64 (apt-get install qemu-user-static)')
    || !need(t, existsSync('/usr/bin/riscv64-linux-gnu-gcc-12'), 'no host riscv64 cross compiler (apt-get install gcc-12-riscv64-linux-gnu)')) return;
  let work = '';
  t.after(() => { if (work) crossroot(['stop', '--file', path.join(work, 'crossroot.toml')], STORE(), '/'); });
  work = tempDir(t, 'crossroot-native-cc-');
  writeFileSync(path.join(work, 'crossroot.toml'), toml('native-cc-rv', 'riscv64', 'trixie'));
  writeFileSync(path.join(work, 'hello.c'), HELLO_C);
  const r = await crossrootAsync(['exec', 'bash', '-c', 'command -v gcc; ls /usr/local/bin | wc -l; gcc -o hello hello.c && ./hello'], STORE(), work);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '/usr/bin/gcc\n0\nhello from C\n');
  const status = crossroot(['status', '--file', path.join(work, 'crossroot.toml')], STORE());
  assert.match(status.stdout, /compilers: native off: the env's gcc is 14 and this host has gcc-12-riscv64-linux-gnu; the versions must match/);
  assert.match(status.stdout, /fix: install gcc-14-riscv64-linux-gnu g\+\+-14-riscv64-linux-gnu on the host/);
});

test('a non-Debian arm64 env keeps its own tools, and status says why', { timeout: 10 * 60_000 }, async (t) => {
  if (!need(t, existsSync(HELPER) && existsSync(CLI), 'the helper and CLI are not built (npm run build)')
    || !need(t, qemuAvailable('arm64'), 'no qemu for arm64 (apt-get install qemu-user-static)')) return;
  const rootfs = await busyboxRootfs('arm64');
  let work = '';
  const env = { CROSSROOT_STORE: '' };
  t.after(() => { if (work) crossroot(['stop', '--file', path.join(work, 'crossroot.toml')], env, '/'); });
  env.CROSSROOT_STORE = tempDir(t, 'crossroot-store-');
  work = tempDir(t, 'crossroot-native-cc-');
  writeFileSync(path.join(work, 'crossroot.toml'), `name = "bb"\narch = "arm64"\n[source]\nkind = "dir"\npath = ${JSON.stringify(rootfs)}\n`);
  const r = await crossrootAsync(['exec', 'sh', '-c', 'ls /usr/local/bin 2>/dev/null | wc -l; test ! -e /lib64 && echo no-lib64'], env, work);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.replace(/^ +/, ''), '0\nno-lib64\n');
  const status = crossroot(['status', '--file', path.join(work, 'crossroot.toml')], env);
  assert.match(status.stdout, /compilers: native off: not a Debian env: native compilers need Debian's multiarch layout, so the env's own compilers run \(emulated\)/);
});

test('crossroot check --arch arm64 reports the host\'s native compilers for arm64 envs', (t) => {
  if (!need(t, existsSync(HELPER) && existsSync(CLI), 'the helper and CLI are not built (npm run build)')
    || !need(t, existsSync('/usr/bin/aarch64-linux-gnu-gcc-12'), 'no host cross compiler (apt-get install gcc-12-aarch64-linux-gnu)')) return;
  const r = crossroot(['check', '--arch', 'arm64']);
  assert.match(r.stdout, /^ok +compilers +native compilers for arm64 envs whose gcc is 12: \/usr\/bin\/aarch64-linux-gnu-gcc-12 \(\+ aarch64-linux-gnu-g\+\+-12\)$/m);
  const none = crossroot(['check', '--arch', 'arm64'], { CROSSROOT_CROSS_DIR: tempDir(t) });
  assert.match(none.stdout, /^note +compilers +no cross gcc for arm64 on this host: gcc in arm64 envs runs emulated\n +fix: install the cross compiler matching the env's gcc, e\.g\. apt-get install gcc-12-aarch64-linux-gnu/m);
});
