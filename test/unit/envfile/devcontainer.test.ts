import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readDevcontainer } from '../../../src/core/envfile/devcontainer';
import { readEnvFile } from '../../../src/core/envfile/load';
import { Code } from '../../../src/core/envfile/diagnostics';
import { at, fakeHost, type FakeMachine } from './fake-host';

const FILE = '/home/user/proj/.devcontainer/devcontainer.json';
const read = (json: string, m: FakeMachine = {}) => readDevcontainer(json, { file: FILE, host: fakeHost(m) });
const findings = (json: string, m: FakeMachine = {}) => read(json, m).diagnostics.map((d) => [d.code, d.severity, at(json, d)]);

test('name, image, users and workspace folder are honoured; comments and trailing commas are fine', () => {
  const json = `{
    // the usual header
    "name": "web",
    "image": "mcr.microsoft.com/devcontainers/base:bookworm",
    "containerUser": "vscode",
    "workspaceFolder": "/workspaces/\${localWorkspaceFolderBasename}",
  }`;
  const r = read(json);
  assert.deepEqual(r.diagnostics, []);
  const s = r.spec!;
  assert.equal(s.name, 'web');
  assert.deepEqual(s.source, { kind: 'image', ref: 'mcr.microsoft.com/devcontainers/base:bookworm' });
  assert.equal(s.shell.user, 'vscode');
  assert.equal(s.workspace.path, '/workspaces/proj');
  assert.equal(s.workspaceFolder, '/home/user/proj', 'the folder above .devcontainer/');
  assert.equal(s.arch, 'amd64');
  assert.equal(read('{"image":"alpine","remoteUser":"dev","containerUser":"root"}').spec?.shell.user, 'dev', 'remoteUser wins for terminals');
  assert.equal(read('{"image":"alpine","name":"Python 3 (dev)"}').spec?.name, 'Python-3-dev', 'display names become env names');
});

test('readEnvFile picks the devcontainer reader by file name', () => {
  assert.equal(readEnvFile('{"image":"alpine"}', '/p/.devcontainer.json', fakeHost()).spec?.workspaceFolder, '/p');
});

test('containerEnv and remoteEnv: localEnv expands, remoteEnv sees containerEnv, image vars stay for later', () => {
  const json = JSON.stringify({
    image: 'alpine',
    containerEnv: { TOOLS: '/opt/tools', HOST_USER: '${localEnv:USER}' },
    remoteEnv: { PATH: '${containerEnv:PATH}:${containerEnv:TOOLS}/bin', WS: '${containerWorkspaceFolder}', HOST_USER: null },
  });
  const r = read(json, { env: { USER: 'ann' } });
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(r.spec!.env, { TOOLS: '/opt/tools', PATH: '${containerEnv:PATH}:/opt/tools/bin', WS: '/workspaces/proj' }, 'the Dev Containers default workspace folder');
});

test('mounts of type bind (string and object forms), volumes and workspaceMount', () => {
  const json = JSON.stringify({
    image: 'alpine',
    workspaceMount: 'source=${localWorkspaceFolder},target=/src,type=bind,consistency=cached',
    mounts: [
      'source=${localEnv:HOME}/.ssh,target=/root/.ssh,type=bind,readonly',
      { source: '/data', target: '/data', type: 'bind' },
      { source: 'cache', target: '/cache', type: 'volume' },
      'source=${localWorkspaceFolderBasename}-node_modules,target=${containerWorkspaceFolder}/node_modules,type=volume',
      { source: 'x', target: '/t', type: 'tmpfs' },
    ],
  });
  const r = read(json, { env: { HOME: '/home/user' }, paths: { '/home/user/.ssh': 'dir', '/data': 'dir' } });
  assert.deepEqual(r.diagnostics.map((d) => [d.code, d.severity]), [[Code.DevcontainerMount, 'warning']]);
  assert.match(r.diagnostics[0]!.message, /type "tmpfs" is not supported: Crossroot makes bind mounts of host folders \(type=bind\) and volumes \(type=volume\)/);
  assert.equal(r.spec!.workspace.path, '/src');
  assert.deepEqual(r.spec!.mounts, [
    { source: '/home/user/.ssh', target: '/root/.ssh', readonly: true },
    { source: '/data', target: '/data', readonly: false },
    { source: '', target: '/cache', readonly: false, volume: 'cache' },
    { source: '', target: '/src/node_modules', readonly: false, volume: 'proj-node_modules' },
  ]);
});

test('lifecycle commands in string, array and object forms; initializeCommand is marked as host-side', () => {
  const json = JSON.stringify({
    image: 'alpine',
    initializeCommand: 'git submodule update --init',
    onCreateCommand: ['apt-get', 'install', '-y', 'git'],
    updateContentCommand: 'make deps',
    postCreateCommand: { deps: 'npm ci', build: ['make', '-j2'] },
    postStartCommand: 'echo started',
    postAttachCommand: 'echo attached',
  });
  const r = read(json);
  assert.deepEqual(r.diagnostics.map((d) => [d.code, d.severity, at(json, d)]), [[Code.DevcontainerHostCommand, 'info', '"initializeCommand"']]);
  assert.deepEqual(r.spec!.lifecycle, {
    initialize: [{ shell: 'git submodule update --init' }],
    onCreate: [{ argv: ['apt-get', 'install', '-y', 'git'] }],
    updateContent: [{ shell: 'make deps' }],
    postCreate: [{ name: 'deps', shell: 'npm ci' }, { name: 'build', argv: ['make', '-j2'] }],
    postStart: [{ shell: 'echo started' }],
    postAttach: [{ shell: 'echo attached' }],
  });
  const bad = '{"image":"alpine","postCreateCommand": 42}';
  assert.deepEqual(findings(bad), [[Code.WrongType, 'error', '42']]);
});

test('runArgs: --platform sets the arch, -e and -v are honoured, other flags are reported with their reason', () => {
  const json = JSON.stringify({ image: 'alpine', runArgs: ['--platform=linux/arm64', '-e', 'A=1', '--env=B=${localEnv:X}', '-v', '/srv:/srv:ro', '--cap-add', 'NET_ADMIN', '--network=host', '-v', 'named:/n', '-v', '/anon', '-v', 'a:b:c:d'] });
  const r = read(json, { env: { X: 'x' }, paths: { '/srv': 'dir' } });
  assert.deepEqual(r.diagnostics.map((d) => [d.code, at(json, d)]), [
    [Code.DevcontainerRunArg, '"--cap-add"'], [Code.DevcontainerRunArg, '"--network=host"'], [Code.DevcontainerMount, '"a:b:c:d"'],
  ]);
  assert.match(r.diagnostics[0]!.message, /"--cap-add NET_ADMIN" is not supported: the env runs as your own user/);
  assert.match(r.diagnostics[1]!.message, /honours only --platform, -e\/--env and -v\/--volume/);
  assert.equal(r.spec!.arch, 'arm64');
  assert.deepEqual(r.spec!.env, { A: '1', B: 'x' });
  assert.deepEqual(r.spec!.mounts, [
    { source: '/srv', target: '/srv', readonly: true }, { source: '', target: '/n', readonly: false, volume: 'named' },
    { source: '', target: '/anon', readonly: false, volume: `anonymous-${createHash('sha256').update('/anon').digest('hex').slice(0, 12)}` },
  ]);
  assert.deepEqual(findings('{"image":"alpine","runArgs":["--platform","linux/sparc"]}').map((f) => f.slice(0, 2)), [[Code.UnknownArch, 'error']]);
});

test('customizations: vscode settings and extensions are carried with their positions, crossroot.arch picks the arch', () => {
  const json = JSON.stringify({ image: 'alpine', customizations: { vscode: { settings: { 'editor.tabSize': 2 }, extensions: ['ms-python.python', '-ms-vscode.cpptools'] }, crossroot: { arch: 'riscv64' }, codespaces: {} } });
  const r = read(json, { qemu: [] });
  assert.deepEqual(r.diagnostics.map((d) => [d.code, d.severity, at(json, d)]), [[Code.NoQemu, 'warning', '"riscv64"']]);
  assert.equal(r.spec!.arch, 'riscv64');
  assert.deepEqual(r.spec!.settings, { 'editor.tabSize': 2 });
  assert.deepEqual(r.spec!.vscode!.extensions.map((e) => [e.value, at(json, e)]), [['ms-python.python', '"ms-python.python"'], ['-ms-vscode.cpptools', '"-ms-vscode.cpptools"']]);
  assert.deepEqual(r.spec!.vscode!.settings.map((e) => [e.key, e.value, at(json, e)]), [['editor.tabSize', 2, '"editor.tabSize":2']]);
});

test('unsupported properties say why, by how much they matter', () => {
  const json = JSON.stringify({ image: 'alpine', privileged: true, capAdd: ['NET_ADMIN'], forwardPorts: [3000] });
  const r = read(json);
  assert.deepEqual(r.diagnostics.map((d) => [d.code, d.severity, at(json, d)]), [
    [Code.DevcontainerUnsupported, 'warning', '"privileged"'],
    [Code.DevcontainerUnsupported, 'warning', '"capAdd"'],
    [Code.DevcontainerUnsupported, 'info', '"forwardPorts"'],
  ]);
  assert.match(r.diagnostics[0]!.message, /user namespace/);
  assert.match(r.diagnostics[2]!.message, /shares the host network/);
});

test('a misspelt property gets a did-you-mean; a missing image and JSON errors are errors', () => {
  const json = '{"imgae": "alpine"}';
  assert.deepEqual(findings(json), [[Code.NoSource, 'error', '{'], [Code.DevcontainerUnknown, 'warning', '"imgae"']]);
  assert.equal(read(json).diagnostics[1]!.fix?.text, '"image"');
  const broken = '{"image": "alpine" "name": "x"}';
  const [d] = read(broken).diagnostics;
  assert.equal(d?.code, Code.JsonSyntax);
  assert.equal(at(broken, d!), '"name"');
  assert.deepEqual(findings('[]'), [[Code.WrongType, 'error', '[]']]);
  assert.deepEqual(findings('{"image": "Alpine"}').map((f) => f[0]), [Code.BadImageRef]);
});

test('every property Crossroot cannot honour gets 4001 with its reason; honoured ones stay quiet', () => {
  const unsupported = ['runServices',
    'privileged', 'capAdd', 'securityOpt', 'init', 'forwardPorts', 'appPort', 'portsAttributes', 'otherPortsAttributes',
    'overrideCommand', 'updateRemoteUserUID', 'userEnvProbe', 'waitFor', 'hostRequirements', 'secrets'];
  for (const name of unsupported) {
    const json = JSON.stringify({ image: 'alpine', [name]: true });
    const d = read(json).diagnostics.find((x) => x.code === Code.DevcontainerUnsupported);
    assert.ok(d, name);
    assert.equal(at(json, d), JSON.stringify(name));
    assert.match(d.message, new RegExp(`^"${name}" is not supported: \\S.{20,}`), name);
  }
  const honoured = { $schema: 'https://x', name: 'n', image: 'alpine', containerEnv: {}, remoteEnv: {}, remoteUser: 'u', containerUser: 'u', workspaceFolder: '/w', workspaceMount: 'source=${localWorkspaceFolder},target=/w,type=bind', mounts: [], runArgs: [], customizations: {}, onCreateCommand: 'a', updateContentCommand: 'b', postCreateCommand: 'c', postStartCommand: 'd', postAttachCommand: 'e' };
  assert.deepEqual(read(JSON.stringify(honoured)).diagnostics, []);
});

test('shutdownAction "none" keeps the env running (idle timeout never); other values keep the default', () => {
  assert.equal(read('{"image": "alpine", "shutdownAction": "none"}').spec?.idleTimeout, 0);
  assert.equal(read('{"image": "alpine", "shutdownAction": "stopContainer"}').spec?.idleTimeout, undefined);
});

test('devcontainer.json messages name values as written, never what ${localEnv:…} expanded to', () => {
  const secret = 'ghp_0123456789abcdefSECRET';
  const json = JSON.stringify({
    image: 'debian:bookworm',
    workspaceFolder: '${localEnv:TOKEN}',
    mounts: ['source=${localEnv:TOKEN}/x,target=/x,type=bind', { source: '/data', target: '${localEnv:TOKEN}', type: 'bind' }],
  });
  const r = read(json, { env: { TOKEN: secret }, paths: { '/data': 'dir' } });
  const messages = r.diagnostics.map((d) => d.message);
  assert.equal(messages.length, 3, messages.join('\n'));
  for (const m of messages) assert.ok(!m.includes(secret), `leaks the secret: ${m}`);
  assert.ok(messages.includes('the workspace folder "${localEnv:TOKEN}" must be an absolute path inside the env'), messages.join('\n'));
  assert.ok(messages.includes('mount source "${localEnv:TOKEN}/x" does not exist on this machine; create it, or the env will not start'), messages.join('\n'));
  assert.ok(messages.includes('mount target "${localEnv:TOKEN}" must be an absolute path inside the env, such as "/…"'), messages.join('\n'));
});
