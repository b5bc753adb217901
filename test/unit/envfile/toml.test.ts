import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readEnvToml } from '../../../src/core/envfile/toml';
import { Code } from '../../../src/core/envfile/diagnostics';
import { ROOT, tempDir } from '../../lib/harness';
import { findEnvFile, loadEnvSpec } from '../../../src/core/envfile/load';
import type { CrossrootError } from '../../../src/core/errors';
import { at, fakeHost } from './fake-host';

const FILE = '/home/user/proj/crossroot.toml';
const read = (text: string, machine = {}) => readEnvToml(text, { file: FILE, host: fakeHost(machine) });
const codes = (text: string, machine = {}) => read(text, machine).diagnostics.map((d) => [d.code, at(text, d)]);

test('a complete env file becomes an EnvSpec with defaults filled in', () => {
  const text = [
    'name = "firmware"', 'arch = "arm64"', 'image = "debian:bookworm"',
    '[setup]', 'packages = ["cmake"]', 'run = ["echo hi"]',
    '[env]', 'CC = "gcc"', 'HOMEDIR = "${localEnv:HOME}"', 'WS = "${workspaceFolderBasename}"',
    '[[mount]]', 'source = "~/.ccache"', 'target = "/root/.ccache/"',
    '[[mount]]', 'source = "data"', 'target = "/data"', 'readonly = true',
    '[shell]', 'path = "/bin/bash"', 'user = "dev"',
    '[network]', 'mode = "host"',
    '[limits]', 'memory = "1.5g"', 'pids = 100',
  ].join('\n');
  const r = read(text, { env: { HOME: '/home/user' }, paths: { '/home/user/.ccache': 'dir', '/home/user/proj/data': 'dir' } });
  assert.deepEqual(r.diagnostics, []);
  const s = r.spec!;
  assert.equal(s.name, 'firmware');
  assert.equal(s.arch, 'arm64');
  assert.deepEqual(s.source, { kind: 'image', ref: 'debian:bookworm' });
  assert.deepEqual(s.setup, { packages: ['cmake'], run: ['echo hi'] });
  assert.deepEqual(s.env, { CC: 'gcc', HOMEDIR: '/home/user', WS: 'proj' });
  assert.deepEqual(s.mounts, [
    { source: '/home/user/.ccache', target: '/root/.ccache', readonly: false },
    { source: '/home/user/proj/data', target: '/data', readonly: true },
  ]);
  assert.deepEqual(s.shell, { path: '/bin/bash', user: 'dev' });
  assert.deepEqual(s.limits, { memoryBytes: 1.5 * 1024 ** 3, pids: 100 });
  assert.equal(s.workspace.path, '/workspace');
  assert.equal(s.workspaceFolder, '/home/user/proj');
});

test('a minimal file defaults name to the folder and arch to the host', () => {
  const r = read('image = "alpine"\n', { native: 'arm64' });
  assert.equal(r.spec?.name, 'proj');
  assert.equal(r.spec?.arch, 'arm64');
  assert.equal(r.spec?.shell.path, undefined);
  assert.equal(r.spec?.shell.user, 'root');
  assert.equal(r.spec?.network.mode, 'host');
});

test('TOML syntax errors point at the offending character', () => {
  const text = 'name = "x"\narch = \n';
  const r = read(text);
  assert.equal(r.spec, undefined);
  assert.equal(r.diagnostics.length, 1);
  assert.equal(r.diagnostics[0]!.code, Code.TomlSyntax);
  assert.equal(at(text, r.diagnostics[0]!), ' ', 'the gap after "arch =", where the value is missing');
});

test('a misspelt key is reported on the key with a did-you-mean fix', () => {
  const text = 'image = "alpine"\n[setup]\npakages = ["gcc"]\n';
  const [d] = read(text).diagnostics;
  assert.equal(d?.code, Code.UnknownKey);
  assert.equal(at(text, d!), 'pakages');
  assert.match(d!.message, /did you mean "packages"/);
  assert.deepEqual(d!.fix, { title: 'Change to "packages"', text: 'packages' });
});

test('an unknown key far from any known one lists the known keys', () => {
  const [d] = read('image = "alpine"\nfrobnicate = 1\n').diagnostics;
  assert.match(d!.message, /known keys: name, arch, image/);
  assert.equal(d!.fix, undefined);
});

test('wrong types are reported on the value', () => {
  const text = 'image = "alpine"\narch = 64\n[setup]\npackages = "gcc"\nrun = ["ok", 3]\n[[mount]]\nsource = "/x"\ntarget = "/y"\nreadonly = "yes"\n[env]\nDEBUG = 1\n';
  assert.deepEqual(codes(text, { paths: { '/x': 'dir' } }), [
    [Code.WrongType, '64'], [Code.WrongType, '"gcc"'], [Code.WrongType, '3'], [Code.WrongType, '"yes"'], [Code.WrongType, '1'],
  ]);
  const env = read(text, { paths: { '/x': 'dir' } }).diagnostics.at(-1)!;
  assert.deepEqual(env.fix, { title: 'Quote the value', text: '"1"' });
});

test('[mount] written as a plain table asks for [[mount]]', () => {
  const text = 'image = "alpine"\n[mount]\nsource = "/x"\ntarget = "/y"\n';
  const [d] = read(text).diagnostics;
  assert.equal(d?.code, Code.WrongType);
  assert.equal(at(text, d!), 'mount');
  assert.match(d!.message, /write \[\[mount\]\]/);
});

test('unknown arch lists the valid names and suggests the closest', () => {
  const text = 'image = "alpine"\narch = "arm46"\n';
  const [d] = read(text).diagnostics;
  assert.equal(d?.code, Code.UnknownArch);
  assert.equal(at(text, d!), '"arm46"');
  assert.match(d!.message, /valid: amd64, arm64, armhf, riscv64, ppc64el, s390x, i386/);
  assert.match(d!.message, /did you mean "arm64"/);
});

test('an arch alias works and gets an info with a rewrite', () => {
  const r = read('image = "alpine"\narch = "aarch64"\n');
  assert.equal(r.spec?.arch, 'arm64');
  assert.equal(r.diagnostics[0]?.code, Code.ArchAlias);
  assert.equal(r.diagnostics[0]?.severity, 'info');
  assert.equal(r.diagnostics[0]?.fix?.text, '"arm64"');
});

test('a foreign arch without qemu names the package to install', () => {
  const text = 'image = "alpine"\narch = "riscv64"\n';
  const without = read(text, { qemu: [] }).diagnostics;
  assert.deepEqual(without.map((d) => [d.code, d.severity, at(text, d)]), [[Code.NoQemu, 'warning', '"riscv64"']]);
  assert.match(without[0]!.message, /qemu-riscv64-static.*apt-get install qemu-user-static/);
  assert.deepEqual(read(text, { qemu: ['riscv64'] }).diagnostics, []);
  assert.deepEqual(read('image = "alpine"\narch = "i386"\n', { qemu: [] }).diagnostics, [], 'i386 runs natively on amd64');
});

test('bad image references say what is wrong', () => {
  for (const [ref, why] of [['Debian:12', /lowercase/], ['debian:', /tag after ":" is empty/], ['x@sha256:abc', /not a valid digest/], ['a//b', /empty path component/]] as const) {
    const text = `image = "${ref}"\n`;
    const [d] = read(text).diagnostics;
    assert.equal(d?.code, Code.BadImageRef, ref);
    assert.equal(at(text, d!), `"${ref}"`);
    assert.match(d!.message, why);
  }
  assert.deepEqual(read('image = "localhost:5000/a/b:1.0@sha256:' + 'a'.repeat(64) + '"\n').diagnostics, []);
});

test('local sources resolve against the env file folder and must exist as the right kind', () => {
  const ok = read('[source]\nkind = "rootfs-tar"\npath = "rootfs.tar.zst"\n', { paths: { '/home/user/proj/rootfs.tar.zst': 'file' } });
  assert.deepEqual(ok.spec?.source, { kind: 'rootfs-tar', path: '/home/user/proj/rootfs.tar.zst' });
  const text = '[source]\nkind = "dir"\npath = "~/trees/arm64"\n';
  const [missing] = read(text).diagnostics;
  assert.equal(missing?.code, Code.PathNotFound);
  assert.equal(at(text, missing!), '"~/trees/arm64"');
  assert.match(missing!.message, /\/home\/user\/trees\/arm64 does not exist/);
  const [wrong] = read(text, { paths: { '/home/user/trees/arm64': 'file' } }).diagnostics;
  assert.match(wrong!.message, /is a file, but kind "dir" needs a directory/);
});

test('[source] keys are checked against the kind', () => {
  const text = '[source]\nkind = "debian"\npath = "x"\n';
  assert.deepEqual(codes(text), [[Code.MissingKey, 'source'], [Code.KeyNotForKind, 'path']]);
  const kindTypo = '[source]\nkind = "debain"\nsuite = "sid"\n';
  const [d] = read(kindTypo).diagnostics;
  assert.equal(d?.code, Code.NotAllowedValue);
  assert.match(d!.message, /did you mean "debian"/);
  assert.deepEqual(codes('[source]\nsuite = "sid"\n'), [[Code.MissingKey, 'source']]);
});

test('debian source values that mmdebstrap would read as options are errors at their range', () => {
  const text = [
    '[source]', 'kind = "debian"', 'suite = "--setup-hook=touch /tmp/x"', 'mirror = "--customize-hook=id"',
    'packages = ["git", "-oAPT::x", "a,--setup-hook=id"]',
  ].join('\n');
  assert.deepEqual(codes(text), [
    [Code.BadFormat, '"--setup-hook=touch /tmp/x"'], [Code.BadFormat, '"--customize-hook=id"'],
    [Code.BadFormat, '"-oAPT::x"'], [Code.BadFormat, '"a,--setup-hook=id"'],
  ]);
  assert.equal(read(text).spec, undefined);
  assert.match(read(text).diagnostics[0]!.message, /"source.suite" must be a suite name such as "bookworm"/);
  assert.deepEqual(codes('[source]\nkind = "debian"\nsuite = "bookworm-backports"\npackages = ["g++", "libc6:arm64", "hello=2.10-3", "curl/bookworm-backports"]\n'), []);
});

test('a debian source carries suite, variant, snapshot and packages', () => {
  const r = read('[source]\nkind = "debian"\nsuite = "trixie"\nvariant = "buildd"\nsnapshot = "20250101T000000Z"\npackages = ["git"]\n');
  assert.deepEqual(r.spec?.source, { kind: 'debian', suite: 'trixie', variant: 'buildd', snapshot: '20250101T000000Z', packages: ['git'] });
  assert.deepEqual(codes('[source]\nkind = "debian"\nsuite = "sid"\nsnapshot = "yesterday"\n'), [[Code.BadFormat, '"yesterday"']]);
});

test('image and [source] together are refused on the image key', () => {
  const text = 'image = "alpine"\n[source]\nkind = "dir"\npath = "/"\n';
  assert.deepEqual(codes(text, { paths: { '/': 'dir' } }), [[Code.ImageAndSource, 'image']]);
});

test('an env without any source says how to add one', () => {
  const text = 'name = "x"\narch = "arm64"\n';
  const [d] = read(text).diagnostics;
  assert.equal(d?.code, Code.NoSource);
  assert.equal(at(text, d!), 'name = "x"');
});

test('mount targets must be absolute and distinct', () => {
  const text = 'image = "alpine"\n[[mount]]\nsource = "/a"\ntarget = "data"\n[[mount]]\nsource = "/a"\ntarget = "/d"\n[[mount]]\nsource = "/a"\ntarget = "/d/"\n[[mount]]\ntarget = "/e"\n';
  assert.deepEqual(codes(text, { paths: { '/a': 'dir' } }), [
    [Code.RelativeMountTarget, '"data"'], [Code.DuplicateMountTarget, '"/d/"'], [Code.MissingKey, 'mount'],
  ]);
});

test('a mount over the workspace and a missing mount source are warnings', () => {
  const text = 'image = "alpine"\n[[mount]]\nsource = "/nope"\ntarget = "/workspace"\n';
  assert.deepEqual(read(text).diagnostics.map((d) => [d.code, d.severity, at(text, d)]), [
    [Code.PathNotFound, 'warning', '"/nope"'], [Code.MountHidesWorkspace, 'warning', '"/workspace"'],
  ]);
});

test('network none with setup packages warns that apt will be offline', () => {
  const text = 'image = "alpine"\n[setup]\npackages = ["gcc"]\n[network]\nmode = "none"\n';
  const r = read(text);
  assert.deepEqual(r.diagnostics.map((d) => [d.code, d.severity, at(text, d)]), [[Code.OfflineSetup, 'warning', 'packages']]);
  assert.equal(r.spec?.network.mode, 'none', 'a warning does not block the env');
});

test('variables: unknown ones stay as written with a note, unset localEnv warns and offers defaults', () => {
  const text = 'image = "alpine"\n[env]\nA = "[${foo}]"\nB = "${localEnv:NOPE}"\nC = "${localEnv:NOPE:fallback}"\n';
  const r = read(text);
  assert.deepEqual(r.diagnostics.map((d) => [d.code, d.severity, at(text, d)]), [[Code.UnknownVariable, 'info', '"[${foo}]"'], [Code.UnsetLocalEnv, 'warning', '"${localEnv:NOPE}"']]);
  assert.equal(r.spec?.env.A, '[${foo}]');
  const ok = read('image = "alpine"\n[env]\nC = "${localEnv:NOPE:fallback}"\nW = "${workspaceFolder}"\n');
  assert.deepEqual(ok.spec?.env, { C: 'fallback', W: '/home/user/proj' });
});

test('inside paths must be absolute; sizes and pids are checked', () => {
  const text = 'image = "alpine"\n[workspace]\npath = "ws"\n[shell]\npath = "bash"\n[limits]\nmemory = "lots"\npids = 0\n';
  assert.deepEqual(codes(text), [[Code.RelativeInsidePath, '"ws"'], [Code.RelativeInsidePath, '"bash"'], [Code.BadFormat, '"lots"'], [Code.BadFormat, '0']]);
});

test('dotted keys and inline tables are read like tables', () => {
  const r = read('image = "alpine"\nnetwork.mode = "none"\nshell = { path = "/bin/sh" }\nmount = [{ source = "/", target = "/host" }]\n', { paths: { '/': 'dir' } });
  assert.deepEqual(r.diagnostics, []);
  assert.equal(r.spec?.network.mode, 'none');
  assert.equal(r.spec?.shell.path, '/bin/sh');
  assert.deepEqual(r.spec?.mounts, [{ source: '/', target: '/host', readonly: false }]);
});

test('the example env files are valid', () => {
  for (const [dir, arch, suite] of [['arm64-c', 'arm64', 'bookworm'], ['riscv64-c', 'riscv64', 'trixie']] as const) {
    const file = path.join(ROOT, 'examples', dir, 'crossroot.toml');
    const r = readEnvToml(readFileSync(file, 'utf8'), { file, host: fakeHost() });
    assert.deepEqual(r.diagnostics, [], dir);
    assert.equal(r.spec?.arch, arch);
    assert.deepEqual(r.spec?.source, { kind: 'debian', suite, variant: 'minbase' });
    assert.deepEqual(r.spec?.setup.packages, ['gcc', 'libc6-dev', 'make']);
  }
});

test('odd environment variable names get a warning on the key', () => {
  const text = 'image = "alpine"\n[env]\n"MY-VAR" = "1"\nOK_1 = "2"\n';
  assert.deepEqual(read(text).diagnostics.map((d) => [d.code, d.severity, at(text, d)]), [[Code.BadEnvName, 'warning', '"MY-VAR"']]);
});

test('loadEnvSpec returns the spec, or throws EENVFILE listing each error with its line', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'crossroot.toml');
  writeFileSync(file, 'image = "alpine"\n');
  assert.deepEqual(loadEnvSpec(file, fakeHost()).source, { kind: 'image', ref: 'alpine' });
  writeFileSync(file, 'image = "alpine"\narch = "sparc"\n[setup]\nrun = 1\n');
  assert.throws(() => loadEnvSpec(file, fakeHost()), (e: CrossrootError) => {
    assert.equal(e.code, 'EENVFILE');
    assert.match(e.message, /has 2 errors:\n.*crossroot\.toml:2:8: error 3001: unknown arch "sparc".*\n.*crossroot\.toml:4:7: error 2002: "setup\.run" must be an array of strings/);
    assert.match(e.fix!, /crossroot lint/);
    return true;
  });
  assert.throws(() => loadEnvSpec(path.join(dir, 'nope.toml')), /cannot read/);
  assert.equal(findEnvFile(dir, fakeHost({ paths: { [path.join(dir, '.devcontainer.json')]: 'file' } })), path.join(dir, '.devcontainer.json'));
});

test('mount targets and the workspace cannot cover /, /proc, /sys or /dev', () => {
  const text = 'image = "alpine"\n[workspace]\npath = "/proc/"\n[[mount]]\nsource = "/a"\ntarget = "/"\n[[mount]]\nsource = "/a"\ntarget = "//dev"\n';
  assert.deepEqual(codes(text, { paths: { '/a': 'dir' } }), [[Code.ReservedTarget, '"/proc/"'], [Code.ReservedTarget, '"/"'], [Code.ReservedTarget, '"//dev"']]);
});

test('a debian source for riscv64 needs trixie or later', () => {
  const text = 'arch = "riscv64"\n[source]\nkind = "debian"\nsuite = "bookworm"\n';
  const [d] = read(text).diagnostics;
  assert.equal(d?.code, Code.SuiteLacksArch);
  assert.equal(at(text, d!), '"bookworm"');
  assert.deepEqual(d!.fix, { title: 'Change to "trixie"', text: '"trixie"' });
  assert.deepEqual(read('arch = "riscv64"\n[source]\nkind = "debian"\nsuite = "trixie"\n').diagnostics, []);
  assert.deepEqual(read('arch = "arm64"\n[source]\nkind = "debian"\nsuite = "bookworm"\n').diagnostics, []);
});

test('mount problems are reported even when the source is broken too', () => {
  const text = 'name = "x"\n[[mount]]\nsource = "/a"\ntarget = "rel"\n';
  assert.deepEqual(codes(text, { paths: { '/a': 'dir' } }), [[Code.NoSource, 'name = "x"'], [Code.RelativeMountTarget, '"rel"']]);
});

test('env names are folder- and hostname-safe; a default from an odd folder name is cleaned', () => {
  assert.deepEqual(codes('name = "my env/1"\nimage = "alpine"\n'), [[Code.BadFormat, '"my env/1"']]);
  const r = readEnvToml('image = "alpine"\n', { file: '/home/user/My Project (2)/crossroot.toml', host: fakeHost() });
  assert.equal(r.spec?.name, 'My-Project-2');
});

test('[instance] idle-timeout takes s, m, h or never, and flags anything else at its value', () => {
  assert.equal(read('image = "alpine"\n[instance]\nidle-timeout = "2h"\n').spec?.idleTimeout, 7200);
  assert.equal(read('image = "alpine"\n[instance]\nidle-timeout = "never"\n').spec?.idleTimeout, 0);
  assert.equal(read('image = "alpine"\n').spec?.idleTimeout, undefined);
  const text = 'image = "alpine"\n[instance]\nidle-timeout = "soon"\n';
  assert.deepEqual(read(text).diagnostics.map((d) => [d.severity, at(text, d)]), [['error', '"soon"']]);
});

// Issue 10 item 11: lint output of untrusted PRs lands in CI logs; messages must not carry the
// values of the variables the file names.
test('messages name values as written, never what ${localEnv:…} expanded to', () => {
  const secret = 'ghp_0123456789abcdefSECRET';
  const text = [
    '[source]', 'kind = "dir"', 'path = "${localEnv:TOKEN}/rootfs"',
    '[workspace]', 'path = "${localEnv:TOKEN}"',
    '[[mount]]', 'source = "${localEnv:TOKEN}/cache"', 'target = "${localEnv:TOKEN}"',
    '[[mount]]', 'source = "/data"', 'target = "/m/${localEnv:TOKEN}"',
    '[[mount]]', 'source = "/data"', 'target = "/m/${localEnv:TOKEN}"',
  ].join('\n');
  const r = read(text, { env: { TOKEN: secret }, paths: { '/data': 'dir' } });
  const messages = r.diagnostics.map((d) => d.message);
  assert.equal(messages.length, 5, messages.join('\n'));
  for (const m of messages) assert.ok(!m.includes(secret), `leaks the secret: ${m}`);
  assert.deepEqual(messages.sort(), [
    '"${localEnv:TOKEN}/rootfs" does not exist (relative paths start at the env file\'s folder)',
    'mount source "${localEnv:TOKEN}/cache" does not exist on this machine; create it, or the env will not start',
    'mount target "${localEnv:TOKEN}" must be an absolute path inside the env, such as "/…"',
    'two mounts have target "/m/${localEnv:TOKEN}"; the second would hide the first',
    'workspace.path "${localEnv:TOKEN}" must be an absolute path inside the env, such as "/workspace"',
  ]);
  // Without variables the expanded path says more, and there is nothing to hide.
  assert.match(read('image = "alpine"\n[[mount]]\nsource = "data"\ntarget = "/d"\n').diagnostics[0]!.message, /^mount source \/home\/user\/proj\/data does not exist/);
});

test('a UTF-8 BOM (as Windows editors write) is accepted, and ranges stay the editor\'s', () => {
  const text = '\ufeffimage = "alpine"\nname = 5\n';
  const r = read(text);
  assert.deepEqual(r.diagnostics.map((d) => [d.code, at(text, d)]), [[Code.WrongType, '5']]);
  assert.deepEqual(read('\ufeffimage = "alpine"\n').spec?.source, { kind: 'image', ref: 'alpine' });
});
