import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyContainerEnv, featureIdOf, optionEnv, optionVariable, parseFeatureMetadata, parseFeatureRef, runtimeNotes, substituteFeatureValue } from '../../../src/core/features/feature';
import { installOrder, withoutVersion, type OrderNode } from '../../../src/core/features/order';
import { formatLockfile, parseLockfile, withLockedFeature } from '../../../src/core/lockfile';
import { featureStep, planSteps } from '../../../src/core/env/steps';
import { layerKey } from '../../../src/core/env/layers';
import { readDevcontainer } from '../../../src/core/envfile/devcontainer';
import { Code } from '../../../src/core/envfile/diagnostics';
import { at, fakeHost } from '../envfile/fake-host';
import { wantedExtensions } from '../../../src/extension/recommend';

test('Feature references: OCI, ./local, https tarballs; the retired forms and plain http are refused with the fix', () => {
  const oci = parseFeatureRef('ghcr.io/devcontainers/features/node:1', '/p/.devcontainer');
  assert.equal(oci.kind, 'oci');
  assert.equal(oci.resource, 'ghcr.io/devcontainers/features/node');
  assert.equal(featureIdOf(oci), 'node');
  const local = parseFeatureRef('./tools', '/p/.devcontainer');
  assert.deepEqual([local.kind, local.resource], ['local', '/p/.devcontainer/tools']);
  const tgz = parseFeatureRef('https://example.com/x/devcontainer-feature-go.tgz', '/p');
  assert.deepEqual([tgz.kind, featureIdOf(tgz)], ['tarball', 'go']);
  assert.equal(parseFeatureRef('http://127.0.0.1:5000/f.tgz', '/p').kind, 'tarball', 'plain http only on loopback');
  assert.throws(() => parseFeatureRef('http://example.com/f.tgz', '/p'), /is not https/);
  assert.throws(() => parseFeatureRef('https://u:secret@example.com/f.tgz', '/p'), (e: Error) => !e.message.includes('secret') && /holds credentials/.test(e.message));
  assert.throws(() => parseFeatureRef('node', '/p'), (e: Error & { fix?: string }) => /retired/.test(e.message) && /ghcr\.io\/devcontainers\/features\/node:1/.test(e.fix!));
  assert.throws(() => parseFeatureRef('devcontainers/features/go@v1', '/p'), (e: Error & { fix?: string }) => /retired/.test(e.message) && /features\/go:1"/.test(e.fix!));
  assert.throws(() => parseFeatureRef('/abs/feature', '/p'), /relative to devcontainer\.json/);
});

const META = JSON.stringify({
  id: 'hello', version: '1.2.0',
  options: { greeting: { type: 'string', default: 'hi', enum: ['hi', 'hello'] }, 'install-extra': { type: 'boolean', default: false }, '2x': { type: 'string' } },
  containerEnv: { HELLO_HOME: '/opt/hello', PATH: '/opt/hello/bin:${PATH}' },
  dependsOn: { 'ghcr.io/x/common:1': { user: 'dev' }, 'ghcr.io/x/short:2': 'lts' },
  installsAfter: ['ghcr.io/x/node'],
  mounts: [],
});

test('devcontainer-feature.json: options become upper-case variables with defaults, problems are named', () => {
  const m = parseFeatureMetadata(META, 'x');
  assert.deepEqual(m.dependsOn, { 'ghcr.io/x/common:1': { user: 'dev' }, 'ghcr.io/x/short:2': { version: 'lts' } });
  assert.deepEqual(m.installsAfter, ['ghcr.io/x/node']);
  assert.deepEqual(m.mounts, []);
  assert.equal(optionVariable('install-extra'), 'INSTALL_EXTRA');
  assert.equal(optionVariable('nodeGypDependencies'), 'NODEGYPDEPENDENCIES');
  assert.equal(optionVariable('2x'), '_X');
  assert.deepEqual(optionEnv(m, {}), { env: { GREETING: 'hi', INSTALL_EXTRA: 'false' }, problems: [] });
  const r = optionEnv(m, { greeting: 'yo', 'install-extra': 'yes', colour: 'red' });
  assert.deepEqual(r.env, { GREETING: 'yo', INSTALL_EXTRA: 'yes', COLOUR: 'red' });
  assert.deepEqual(r.problems, [
    'option "greeting" of Feature hello must be one of "hi", "hello", not "yo"',
    'option "install-extra" of Feature hello is true or false, not "yes"',
    '"colour" is not an option of Feature hello; its options: greeting, install-extra, 2x',
  ]);
  assert.throws(() => parseFeatureMetadata('{"options":{}}', 'f/devcontainer-feature.json'), /f\/devcontainer-feature\.json: "id" must be/);
  assert.throws(() => parseFeatureMetadata('{"id":"a","options":{"x":{"type":"number"}}}', 'f'), /option "x" must have "type"/);
  assert.deepEqual(applyContainerEnv({ PATH: '/usr/bin' }, m.containerEnv), { PATH: '/opt/hello/bin:/usr/bin', HELLO_HOME: '/opt/hello' });
});

const node = (resource: string, o: Partial<OrderNode> = {}): OrderNode => ({
  key: resource, resource, written: `${resource}:1`, options: {}, canonical: `sha256:${resource}`, dependsOn: [], installsAfter: [], ...o,
});

test('install order: rounds by dependsOn and installsAfter, overrideFeatureInstallOrder first, ties sorted; a cycle is an error', () => {
  const names = (ns: OrderNode[]) => ns.map((n) => n.resource);
  const a = node('r/a');
  const b = node('r/b', { dependsOn: ['r/c'] });
  const c = node('r/c');
  const d = node('r/d', { installsAfter: ['r/a', 'r/absent'] });
  assert.deepEqual(names(installOrder([d, b, c, a])), ['r/a', 'r/c', 'r/b', 'r/d']);
  // Each round commits only its highest priority: c (1) goes alone before a (0); d (2) waits for a.
  assert.deepEqual(names(installOrder([d, b, c, a], ['r/d:1', 'r/c'])), ['r/c', 'r/a', 'r/b', 'r/d']);
  assert.deepEqual(names(installOrder([a, d, node('r/e')], ['r/e'])), ['r/e', 'r/a', 'r/d']);
  assert.throws(() => installOrder([node('r/x', { dependsOn: ['r/y'] }), node('r/y', { dependsOn: ['r/x'] })]), /depend on each other in a circle/);
  // Same resource: older tag first, then more options first.
  const v2 = node('r/t', { key: 't2', tag: '2' });
  const v10 = node('r/t', { key: 't10', tag: '10' });
  const latest = node('r/t', { key: 'tl', tag: 'latest' });
  assert.deepEqual(installOrder([latest, v10, v2]).map((n) => n.key), ['t2', 't10', 'tl']);
  assert.equal(withoutVersion('ghcr.io/x/y:1.2'), 'ghcr.io/x/y');
  assert.equal(withoutVersion('localhost:5000/x/y@sha256:abc'), 'localhost:5000/x/y');
  assert.equal(withoutVersion('localhost:5000/x/y'), 'localhost:5000/x/y');
});

test('crossroot.lock records Features as the Dev Containers lockfile does, and rejects damaged entries', () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  const lock = withLockedFeature(undefined, 'ghcr.io/x/hello:1', { version: '1.2.0', resolved: `ghcr.io/x/hello@${digest}`, integrity: digest });
  const text = formatLockfile(lock);
  assert.deepEqual(parseLockfile(text).features, { 'ghcr.io/x/hello:1': { integrity: digest, resolved: `ghcr.io/x/hello@${digest}`, version: '1.2.0' } });
  assert.throws(() => parseLockfile(JSON.stringify({ lockfileVersion: 1, images: {}, features: { f: { resolved: 'ghcr.io/x/hello:1', integrity: digest } } })), /resolved must end in @sha256/);
  assert.throws(() => parseLockfile(JSON.stringify({ lockfileVersion: 1, images: {}, features: { f: { resolved: 'https://x/f.tgz', integrity: 'md5:1' } } })), /integrity must be a sha256/);
});

test('a Feature step runs install.sh as root with its options and the users; its layer key follows digest and options', () => {
  const f = { ref: 'ghcr.io/x/hello:1', id: 'hello', digest: `sha256:${'b'.repeat(64)}`, dir: '/store/features/b/tree', options: { GREETING: 'hi' }, containerEnv: { HELLO_HOME: '/opt/hello' }, lifecycle: {} };
  const s = featureStep(f, 0, { PATH: '/usr/bin' }, { remote: 'dev', container: 'root' });
  assert.equal(s.label, 'feature ghcr.io/x/hello:1');
  assert.deepEqual(s.binds, [{ source: '/store/features/b/tree', target: '/tmp/build-features-src/hello', readonly: true }]);
  assert.deepEqual(s.env, { PATH: '/usr/bin', GREETING: 'hi', _REMOTE_USER: 'dev', _CONTAINER_USER: 'root' });
  assert.match(s.command[2]!, /\.\/install\.sh/);
  const key = (x: typeof s) => layerKey({ parent: 'p', kind: x.kind, text: x.text, arch: 'arm64', env: x.env });
  assert.notEqual(key(s), key(featureStep({ ...f, options: { GREETING: 'hello' } }, 0, { PATH: '/usr/bin' }, { remote: 'dev', container: 'root' })));
  assert.notEqual(key(s), key(featureStep({ ...f, digest: `sha256:${'c'.repeat(64)}` }, 0, { PATH: '/usr/bin' }, { remote: 'dev', container: 'root' })));
  // Features come first and their containerEnv reaches the later steps.
  const spec = readDevcontainer('{"image":"alpine","postCreateCommand":"make"}', { file: '/p/.devcontainer/devcontainer.json', host: fakeHost() }).spec!;
  const steps = planSteps({ spec, pm: 'apt', packageCache: '/c', env: { PATH: '/usr/bin' }, features: [f] });
  assert.deepEqual(steps.map((x) => x.kind), ['feature', 'postCreate']);
  assert.equal(steps[1]!.env.HELLO_HOME, '/opt/hello');
});

test('a Feature\'s mounts, runtime asks and vscode customizations are read; each runtime ask gets a note saying what Crossroot does instead', () => {
  const m = parseFeatureMetadata(JSON.stringify({
    id: 'dind', entrypoint: '/usr/local/share/docker-init.sh', privileged: true, init: true, capAdd: ['SYS_PTRACE', 'NET_ADMIN'], securityOpt: ['seccomp=unconfined'],
    mounts: [{ source: 'dind-var-lib-docker-${devcontainerId}', target: '/var/lib/docker', type: 'volume' }, 'source=/var/run/docker.sock,target=/var/run/docker-host.sock,type=bind,readonly'],
    customizations: { vscode: { extensions: ['ms-azuretools.vscode-docker'], settings: { 'docker.host': 'unix:///x' } }, other: {} },
  }), 'x');
  assert.deepEqual(m.mounts, [
    { type: 'volume', source: 'dind-var-lib-docker-${devcontainerId}', target: '/var/lib/docker', readonly: false },
    { type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker-host.sock', readonly: true },
  ]);
  assert.deepEqual(m.vscode, { extensions: ['ms-azuretools.vscode-docker'], settings: { 'docker.host': 'unix:///x' } });
  const notes = runtimeNotes(m, true);
  assert.deepEqual(notes.map((n) => [n.severity, n.message.split(' ').slice(0, 2).join(' ')]), [
    ['warning', '"privileged" cannot'], ['warning', '"capAdd" SYS_PTRACE,'], ['info', '"securityOpt" seccomp=unconfined'], ['info', '"init" is'], ['warning', 'its entrypoint'],
  ]);
  assert.match(notes[4]!.message, /add "postStartCommand": "\/usr\/local\/share\/docker-init\.sh true" to devcontainer\.json .*docker-in-docker's dockerd, still cannot run/);
  assert.match(runtimeNotes({ ...m, runtime: { ...m.runtime, capAdd: ['SYS_PTRACE'] } }, false).find((n) => n.message.startsWith('"capAdd"'))!.message, /gdbstub/);
  assert.deepEqual(runtimeNotes(parseFeatureMetadata('{"id":"plain"}', 'x'), true), [], 'nothing to say about a plain Feature');
  assert.throws(() => parseFeatureMetadata('{"id":"t","mounts":[{"type":"tmpfs","target":"/t"}]}', 'f'), /f: mounts\[0\] must be/);
  assert.throws(() => parseFeatureMetadata('{"id":"t","capAdd":"NET_ADMIN"}', 'f'), /"capAdd" must be an array of strings/);
});

test('a Feature\'s lifecycle commands: read in all three forms, and each moment\'s run before devcontainer.json\'s, in install order', () => {
  const m = parseFeatureMetadata(JSON.stringify({
    id: 'tool', onCreateCommand: 'echo a', updateContentCommand: ['make', 'deps'], postCreateCommand: { one: 'echo 1', two: ['echo', '2'] },
    postStartCommand: 'tool-daemon &', postAttachCommand: 'tool --hello',
  }), 'x');
  assert.deepEqual(m.lifecycle, {
    onCreate: [{ shell: 'echo a' }], updateContent: [{ argv: ['make', 'deps'] }], postCreate: [{ name: 'one', shell: 'echo 1' }, { name: 'two', argv: ['echo', '2'] }],
    postStart: [{ shell: 'tool-daemon &' }], postAttach: [{ shell: 'tool --hello' }],
  });
  assert.throws(() => parseFeatureMetadata('{"id":"t","postCreateCommand":42}', 'f'), /f: "postCreateCommand" must be a string, an array of strings, or an object of those/);
  assert.equal(substituteFeatureValue('cd ${containerWorkspaceFolder} && echo ${devcontainerId} ${localEnv:HOME} ${featureRoot}', { devcontainerId: 'ID', containerWorkspaceFolder: '/w', localWorkspaceFolder: '/h/p' }),
    'cd /w && echo ID ${localEnv:HOME} ${featureRoot}', 'no host environment for a Feature; unknown variables as written');

  const feature = (ref: string, lifecycle: object) => ({ ref, id: ref, digest: `sha256:${'b'.repeat(64)}`, dir: '/d', options: {}, containerEnv: {}, lifecycle });
  const spec = readDevcontainer(JSON.stringify({ image: 'alpine', onCreateCommand: 'dc-create', updateContentCommand: 'dc-update', postCreateCommand: 'dc-post' }), { file: '/p/.devcontainer/devcontainer.json', host: fakeHost() }).spec!;
  const steps = planSteps({
    spec, pm: 'apt', packageCache: '/c', env: {},
    features: [feature('./a', { postCreate: [{ shell: 'a-post' }], onCreate: [{ shell: 'a-create' }] }), feature('./b', { postCreate: [{ shell: 'b-post' }], updateContent: [{ shell: 'b-update' }] })],
  });
  assert.deepEqual(steps.filter((x) => x.kind !== 'feature').map((x) => x.label), [
    'onCreateCommand of Feature ./a: a-create', 'onCreateCommand: dc-create',
    'updateContentCommand of Feature ./b: b-update', 'updateContentCommand: dc-update',
    'postCreateCommand of Feature ./a: a-post', 'postCreateCommand of Feature ./b: b-post', 'postCreateCommand: dc-post',
  ]);
  assert.ok(steps.filter((x) => x.kind !== 'feature').every((x) => x.perEnv && x.cwd === '/workspaces/p'), 'in the workspace, once per env');
});

test('devcontainer.json features: references and options are read with their ranges; bad ones are diagnostics at them', () => {
  const FILE = '/p/.devcontainer/devcontainer.json';
  const meta = '{"id":"tools","options":{"flavour":{"type":"string","enum":["a","b"]},"fast":{"type":"boolean"}}}';
  const host = fakeHost({ paths: { '/p/.devcontainer/tools': 'dir', '/p/.devcontainer/tools/devcontainer-feature.json': 'file', '/p/.devcontainer/tools/install.sh': 'file' } });
  const withMeta = { ...host, readFile: (p: string) => (p.endsWith('tools/devcontainer-feature.json') ? meta : undefined) };
  const json = JSON.stringify({
    image: 'alpine', remoteUser: 'dev',
    features: { 'ghcr.io/devcontainers/features/node:1': 'lts', './tools': { flavour: 'c', fast: 'yes', extra: 1 }, node: {}, './missing': {} },
    overrideFeatureInstallOrder: ['./tools'],
  });
  const r = readDevcontainer(json, { file: FILE, host: withMeta });
  assert.deepEqual(r.diagnostics.map((d) => [d.code, d.severity, at(json, d)]), [
    [Code.FeatureOption, 'warning', '"c"'],
    [Code.FeatureOption, 'warning', '"yes"'],
    [Code.WrongType, 'error', '1'],
    [Code.FeatureRef, 'error', '"node"'],
    [Code.FeatureRef, 'error', '"./missing"'],
  ]);
  const ok = JSON.stringify({ image: 'alpine', remoteUser: 'dev', features: { 'ghcr.io/devcontainers/features/node:1': 'lts', './tools': { flavour: 'a' } }, overrideFeatureInstallOrder: ['./tools'] });
  const s = readDevcontainer(ok, { file: FILE, host: withMeta }).spec!;
  assert.deepEqual(s.features!.list.map((f) => [f.value, f.options, at(ok, f)]), [
    ['ghcr.io/devcontainers/features/node:1', { version: 'lts' }, '"ghcr.io/devcontainers/features/node:1"'],
    ['./tools', { flavour: 'a' }, '"./tools"'],
  ]);
  assert.deepEqual([s.features!.installOrder, s.features!.baseDir, s.features!.remoteUser], [['./tools'], '/p/.devcontainer', 'dev']);
});

test('options of an OCI Feature a build has fetched are checked in the editor too', () => {
  const FILE = '/p/.devcontainer/devcontainer.json';
  const meta = '{"id":"node","options":{"version":{"type":"string","proposals":["lts","20"]},"nvmInstallPath":{"type":"string"}}}';
  const host = { ...fakeHost(), featureMetadata: (ref: string) => (ref === 'ghcr.io/devcontainers/features/node:1' ? meta : undefined) };
  const json = JSON.stringify({ image: 'alpine', features: { 'ghcr.io/devcontainers/features/node:1': { version: 'lts', nvmPath: '/opt' }, 'ghcr.io/devcontainers/features/go:1': { anything: 'goes' } } });
  const r = readDevcontainer(json, { file: FILE, host });
  assert.deepEqual(r.diagnostics.map((d) => [d.code, d.severity, at(json, d), d.message]), [
    [Code.FeatureOption, 'warning', '"/opt"', '"nvmPath" is not an option of Feature node; its options: version, nvmInstallPath'],
  ]);
  assert.equal(r.spec?.features?.list.length, 2, 'a warning does not stop the env');
});

test('a Feature\'s customizations.vscode join the env\'s lists before devcontainer.json\'s: extensions add up, devcontainer.json\'s settings and "-id" win; runtime asks are diagnostics at the Feature', () => {
  const FILE = '/p/.devcontainer/devcontainer.json';
  const metas: Record<string, string> = {
    'ghcr.io/x/docker:2': JSON.stringify({
      id: 'docker', privileged: true, dependsOn: { 'ghcr.io/x/common:1': {} }, mounts: ['source=/var/run/docker.sock,target=/var/run/docker-host.sock,type=bind', 'source=d,target=/d,type=volume'],
      customizations: { vscode: { extensions: ['ms-azuretools.vscode-docker', 'not an id'], settings: { 'docker.host': 'feature', 'files.eol': '\n' } } },
    }),
    'ghcr.io/x/common:1': JSON.stringify({ id: 'common', customizations: { vscode: { extensions: ['editorconfig.editorconfig', 'ms-vscode.makefile-tools'] } } }),
  };
  const host = { ...fakeHost(), featureMetadata: (ref: string) => metas[ref] };
  const json = JSON.stringify({
    image: 'alpine', features: { 'ghcr.io/x/docker:2': {}, 'ghcr.io/x/unfetched:1': {} },
    customizations: { vscode: { extensions: ['ms-python.python', '-ms-vscode.makefile-tools'], settings: { 'docker.host': 'mine' } } },
  });
  const r = readDevcontainer(json, { file: FILE, host });
  const spec = r.spec!;
  assert.deepEqual(spec.vscode!.extensions.map((e) => [e.value, e.from, at(json, e)]), [
    ['editorconfig.editorconfig', 'ghcr.io/x/common:1', '"ghcr.io/x/docker:2"'],
    ['ms-vscode.makefile-tools', 'ghcr.io/x/common:1', '"ghcr.io/x/docker:2"'],
    ['ms-azuretools.vscode-docker', 'ghcr.io/x/docker:2', '"ghcr.io/x/docker:2"'],
    ['ms-python.python', undefined, '"ms-python.python"'],
    ['-ms-vscode.makefile-tools', undefined, '"-ms-vscode.makefile-tools"'],
  ], 'a dependency\'s first, then the Feature\'s, then the file\'s; each points where it comes from');
  assert.deepEqual(wantedExtensions(spec), ['editorconfig.editorconfig', 'ms-azuretools.vscode-docker', 'ms-python.python'], 'the install offer includes them, minus the removed one');
  assert.deepEqual(spec.settings, { 'files.eol': '\n', 'docker.host': 'mine' });
  assert.deepEqual(r.diagnostics.map((d) => [d.code, d.severity, at(json, d)]), [
    [Code.DevcontainerMount, 'warning', '"ghcr.io/x/docker:2"'], [Code.FeatureRuntime, 'warning', '"ghcr.io/x/docker:2"'],
  ]);
  assert.match(r.diagnostics[0]!.message, /^Feature ghcr\.io\/x\/docker:2: its bind mount of \/var\/run\/docker\.sock at \/var\/run\/docker-host\.sock is not made: only devcontainer\.json and local Features may bind/);
  assert.match(r.diagnostics[1]!.message, /^Feature ghcr\.io\/x\/docker:2: "privileged" cannot be given/);
});
