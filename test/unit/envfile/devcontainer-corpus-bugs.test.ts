// The bugs `crossroot lint` met on real devcontainer.json files (issue 9): each as the file had it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { devcontainerId } from '../../../src/core/envfile/substitute';
import { readDevcontainer } from '../../../src/core/envfile/devcontainer';
import { findEnvFile, findEnvFiles, findEnvFileUpward } from '../../../src/core/envfile/load';
import { Code } from '../../../src/core/envfile/diagnostics';
import { devcontainerFiles } from '../../../src/extension/envFiles';
import { at, fakeHost, type FakeMachine } from './fake-host';

const FILE = '/home/user/proj/.devcontainer/devcontainer.json';
const read = (json: string, m: FakeMachine = {}, file = FILE) => readDevcontainer(json, { file, host: fakeHost({ paths: { '/tmp': 'dir', '/data': 'dir' }, ...m }) });
const findings = (json: string, m: FakeMachine = {}) => read(json, m).diagnostics.map((d) => [d.code, d.severity, at(json, d)]);

test('a mount object with a non-string field is a diagnostic at that value, not a crash', () => {
  const json = '{"image":"alpine","mounts":[{"source":5,"target":"/x","type":"bind"},{"source":"/data","target":["/x"],"type":"bind"},{"source":"/data","target":"/ro","readonly":"yes"}]}';
  assert.deepEqual(findings(json), [
    [Code.WrongType, 'error', '5'],
    [Code.WrongType, 'error', '["/x"]'],
    [Code.WrongType, 'error', '"yes"'],
  ]);
  assert.match(read(json).diagnostics[0]!.message, /"mounts\[0\]\.source" must be a string/);
});

test('a read-only -v mount stays read-only whatever other options it has; unknown options are reported and never widen access', () => {
  for (const opts of ['ro,z', 'z,ro', 'ro,cached', 'ro,Z', 'ro', 'readonly,delegated']) {
    const json = JSON.stringify({ image: 'alpine', runArgs: ['-v', `/tmp:/x:${opts}`] });
    const r = read(json);
    assert.deepEqual(r.diagnostics, [], opts);
    assert.deepEqual(r.spec!.mounts, [{ source: '/tmp', target: '/x', readonly: true }], opts);
  }
  for (const opts of ['z', 'rw,cached', 'Z']) {
    assert.equal(read(JSON.stringify({ image: 'alpine', runArgs: [`--volume=/tmp:/x:${opts}`] })).spec!.mounts[0]!.readonly, false, opts);
  }
  const bogus = JSON.stringify({ image: 'alpine', runArgs: ['-v', '/tmp:/x:bogus'] });
  const r = read(bogus);
  assert.deepEqual(r.diagnostics.map((d) => [d.code, d.severity, at(bogus, d)]), [[Code.DevcontainerMount, 'warning', '"/tmp:/x:bogus"']]);
  assert.match(r.diagnostics[0]!.message, /unknown option "bogus"; .* made read-only until that is fixed/);
  assert.equal(r.spec!.mounts[0]!.readonly, true, 'an option we cannot read never makes a mount writable');
  const both = JSON.stringify({ image: 'alpine', runArgs: ['-v', '/tmp:/x:rw,ro'] });
  assert.equal(read(both).spec!.mounts[0]!.readonly, true);
  assert.match(read(both).diagnostics[0]!.message, /both ro and rw; it is mounted read-only/);
});

test('a UTF-8 BOM is accepted in devcontainer.json, with ranges where the editor has them', () => {
  const json = '\ufeff{"image":"alpine","name":5}';
  assert.deepEqual(findings(json), [[Code.WrongType, 'error', '5']]);
  assert.equal(read('\ufeff{"image":"alpine"}').spec?.source.kind, 'image');
});

test('unknown ${…} stays as written with at most an info; the spec\'s variables are expanded', () => {
  const json = JSON.stringify({
    image: 'alpine',
    containerEnv: {
      LOG: '[${severity}] ${message}',
      ID: '${devcontainerId}',
      WS: '${containerWorkspaceFolder}',
      WSB: '${containerWorkspaceFolderBasename}',
      LB: '${localWorkspaceFolderBasename}',
      LF: '${localWorkspaceFolder}',
    },
    mounts: ['source=/data,target=/cache/${devcontainerId},type=bind'],
  });
  const r = read(json);
  assert.deepEqual(r.diagnostics.map((d) => [d.code, d.severity]), [[Code.UnknownVariable, 'info'], [Code.UnknownVariable, 'info']]);
  assert.match(r.diagnostics[0]!.message, /\$\{severity\} is not a variable Crossroot knows here, so it stays as written/);
  const id = devcontainerId('/home/user/proj', FILE);
  assert.match(id, /^[0-9a-v]{52}$/);
  assert.deepEqual(r.spec!.env, { LOG: '[${severity}] ${message}', ID: id, WS: '/workspaces/proj', WSB: 'proj', LB: 'proj', LF: '/home/user/proj' });
  assert.equal(r.spec!.mounts[0]!.target, `/cache/${id}`);
  // The spec's own example of the label-based computation.
  assert.equal(devcontainerId('/a', '/a/.devcontainer/devcontainer.json'), devcontainerId('/a', '/a/.devcontainer/devcontainer.json'));
  assert.notEqual(devcontainerId('/a', '/a/.devcontainer/devcontainer.json'), devcontainerId('/b', '/b/.devcontainer/devcontainer.json'));
});

test('${localEnv:HOME}${localEnv:USERPROFILE} does not warn when one of them is set; both unset still warns', () => {
  const json = JSON.stringify({ image: 'alpine', mounts: ['source=${localEnv:HOME}${localEnv:USERPROFILE}/.ssh,target=/root/.ssh,type=bind'] });
  assert.deepEqual(findings(json, { env: { HOME: '/home/user' }, paths: { '/home/user/.ssh': 'dir' } }), []);
  assert.deepEqual(findings(json, { env: {} }).map((f) => f[0]), [Code.PathNotFound, Code.UnsetLocalEnv, Code.UnsetLocalEnv]);
});

test('.devcontainer/NAME/devcontainer.json: the workspace folder is the project root', () => {
  const r = read('{"image":"alpine","containerEnv":{"W":"${localWorkspaceFolder}"}}', {}, '/home/user/proj/.devcontainer/python/devcontainer.json');
  assert.equal(r.spec!.workspaceFolder, '/home/user/proj');
  assert.equal(r.spec!.workspace.path, '/workspaces/proj');
  assert.equal(r.spec!.env.W, '/home/user/proj');
});

test('several .devcontainer/NAME configs are listed, and the CLI asks for --file naming them', (t) => {
  const w = mkdtempSync(path.join(os.tmpdir(), 'crossroot-multi-'));
  t.after(() => rmSync(w, { recursive: true, force: true }));
  for (const n of ['python', 'node']) {
    mkdirSync(path.join(w, '.devcontainer', n), { recursive: true });
    writeFileSync(path.join(w, '.devcontainer', n, 'devcontainer.json'), '{"image":"alpine"}');
  }
  const both = [path.join(w, '.devcontainer/node/devcontainer.json'), path.join(w, '.devcontainer/python/devcontainer.json')];
  assert.deepEqual(findEnvFiles(w), both);
  assert.deepEqual(devcontainerFiles([w]), both, 'the extension\'s quick pick offers them');
  assert.throws(() => findEnvFile(w), (e: Error & { code?: string; fix?: string }) => {
    assert.equal(e.code, 'EMANYENVFILES');
    assert.match(e.message, /has 2 dev container configs:\n {2}\.devcontainer\/node\/devcontainer\.json\n {2}\.devcontainer\/python\/devcontainer\.json/);
    assert.match(e.fix!, /pick one with --file/);
    return true;
  });
  assert.throws(() => findEnvFileUpward(path.join(w, '.devcontainer')), /EMANYENVFILES|dev container configs/);
  rmSync(path.join(w, '.devcontainer/node'), { recursive: true });
  assert.equal(findEnvFile(w), both[1], 'a single named config is used as it is');
  writeFileSync(path.join(w, '.devcontainer/devcontainer.json'), '{"image":"alpine"}');
  assert.equal(findEnvFile(w), path.join(w, '.devcontainer/devcontainer.json'), 'the default config comes first');
});

test('legacy top-level settings, extensions and devPort map into customizations.vscode', () => {
  const json = JSON.stringify({
    image: 'alpine',
    settings: { 'editor.tabSize': 4, 'files.eol': '\n' },
    extensions: ['dbaeumer.vscode-eslint'],
    devPort: 8000,
    customizations: { vscode: { settings: { 'editor.tabSize': 2 }, extensions: ['ms-python.python'] } },
  });
  const r = read(json);
  assert.deepEqual(r.diagnostics.map((d) => [d.code, d.severity, at(json, d)]), [[Code.DevcontainerUnsupported, 'info', '"devPort"']]);
  assert.deepEqual(r.spec!.settings, { 'editor.tabSize': 2, 'files.eol': '\n' }, 'customizations win over the legacy settings');
  assert.deepEqual(r.spec!.vscode!.extensions.map((e) => e.value), ['dbaeumer.vscode-eslint', 'ms-python.python']);
});

test('customizations.vscode of the wrong shape is a diagnostic at the value', () => {
  assert.deepEqual(findings('{"image":"alpine","customizations":{"vscode":"x"}}'), [[Code.WrongType, 'error', '"x"']]);
  assert.deepEqual(findings('{"image":"alpine","customizations":{"vscode":{"extensions":"ms-python.python"}}}'), [[Code.WrongType, 'error', '"ms-python.python"']]);
  assert.deepEqual(findings('{"image":"alpine","customizations":{"vscode":{"extensions":[5, "not an id"]}}}'), [[Code.WrongType, 'error', '5'], [Code.BadFormat, 'warning', '"not an id"']]);
});

test('runArgs --init and "init": true get the same info', () => {
  const a = read('{"image":"alpine","runArgs":["--init"]}').diagnostics;
  const b = read('{"image":"alpine","init":true}').diagnostics;
  assert.deepEqual([a.map((d) => d.severity), b.map((d) => d.severity)], [['info'], ['info']]);
  assert.match(a[0]!.message, /not needed: the env always has an init process/);
  assert.match(b[0]!.message, /not needed: the env always has an init process/);
});

test('the debugger idiom (SYS_PTRACE, seccomp=unconfined) says whether debuggers work: natively yes, under qemu through its gdbstub', () => {
  const forms = [
    '"runArgs":["--cap-add=SYS_PTRACE","--security-opt","seccomp=unconfined"]',
    '"capAdd":["SYS_PTRACE"],"securityOpt":["seccomp=unconfined"]',
  ];
  for (const f of forms) {
    const native = read(`{"image":"alpine",${f}}`).diagnostics;
    assert.deepEqual(native.map((d) => [d.code, d.severity]), [[Code.DevcontainerIgnored, 'info'], [Code.DevcontainerIgnored, 'info']], f);
    assert.match(native[0]!.message, /not needed for debugging: gdb and lldb can trace the env's processes/);
    const foreign = read(`{"image":"alpine","runArgs":["--platform=linux/arm64"],${f.replace('"runArgs":[', '"runArgs":["--platform=linux/arm64",').replace('"runArgs":["--platform=linux/arm64"],"runArgs"', '"runArgs"')}}`).diagnostics;
    assert.ok(foreign.length >= 2, f);
    for (const d of foreign) assert.match(d.message, /qemu-user, which cannot be traced with ptrace; debug through qemu's gdbstub .*QEMU_GDB=1234/, f);
  }
  // Other capabilities are still not possible.
  assert.deepEqual(findings('{"image":"alpine","capAdd":["NET_ADMIN"]}').map((f) => f.slice(0, 2)), [[Code.DevcontainerUnsupported, 'warning']]);
});
