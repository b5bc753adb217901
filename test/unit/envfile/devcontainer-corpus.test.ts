// The sample corpus (test/fixtures/devcontainer/): every real-shaped devcontainer.json either
// loads or gives diagnostics with ranges inside its text; none crashes the reader or the
// language service. Some files also pin what a user sees for the fields issue 9 is about.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { readDevcontainer } from '../../../src/core/envfile/devcontainer';
import { Code } from '../../../src/core/envfile/diagnostics';
import { ROOT } from '../../lib/harness';
import { at, fakeHost } from './fake-host';

const DIR = path.join(ROOT, 'test/fixtures/devcontainer');
const files = readdirSync(DIR).filter((n) => n.endsWith('.json')).sort();
const host = fakeHost({ env: { HOME: '/home/user' }, paths: { '/tmp': 'dir', '/home/user/.ssh': 'dir' } });

function read(name: string) {
  const text = readFileSync(path.join(DIR, name), 'utf8');
  const multi = /\.multi-([\w-]+)\.json$/.exec(name);
  const file = multi ? `/home/user/proj/.devcontainer/${multi[1]}/devcontainer.json` : '/home/user/proj/.devcontainer/devcontainer.json';
  return { text, r: readDevcontainer(text, { file, host }) };
}

test('the corpus covers the fields of issue 9', () => {
  const all = files.map((f) => readFileSync(path.join(DIR, f), 'utf8')).join('\n');
  for (const field of ['"build"', '"dockerFile"', '"features"', '"overrideFeatureInstallOrder"', '"dockerComposeFile"', '"service"', '"extensions"', '"settings"', '"devPort"',
    '"mounts"', '"runArgs"', '${devcontainerId}', '${localEnv:HOME}${localEnv:USERPROFILE}', '"init"', 'SYS_PTRACE', 'seccomp=unconfined', ':ro,z', '"customizations"']) {
    assert.ok(all.includes(field), `no corpus file uses ${field}`);
  }
  assert.ok(files.length >= 15);
});

for (const name of files) {
  test(`corpus ${name}: loads, or every finding has a range in the file; no crash`, () => {
    const { text, r } = read(name);
    if (!r.spec) assert.ok(r.diagnostics.some((d) => d.severity === 'error'), 'no env and no error says why');
    for (const d of r.diagnostics) {
      assert.ok(d.start >= 0 && d.end <= text.length && d.start < d.end, `${d.code} ${d.message}: range ${d.start}-${d.end} of ${text.length}`);
      assert.ok(d.message.length > 10, `${d.code}: empty message`);
      assert.doesNotMatch(d.message, /internal error|TypeError|undefined/);
    }
  });
}

test('corpus: what users see on the issue\'s fields', () => {
  const codes = (name: string) => read(name).r.diagnostics.map((d) => [d.code, d.severity, at(read(name).text, d)]);
  // Legacy settings/extensions map into customizations.vscode; devPort gets an info.
  const legacy = read('legacy-dockerFile-settings.json').r;
  assert.ok(legacy.diagnostics.every((d) => d.code !== Code.DevcontainerUnknown), 'legacy properties are known');
  // The BOM file loads, with its extension listed.
  const bom = read('bom-windows.json').r;
  assert.deepEqual(bom.spec?.vscode?.extensions.map((e) => e.value), ['ms-dotnettools.csharp']);
  // runArgs: every ro variant stays read-only, :bogus is reported and read-only too.
  const ra = read('runargs-everything.json').r;
  assert.deepEqual(ra.spec!.mounts.map((m) => [m.target, m.readonly]), [['/x', true], ['/y', true], ['/z', true], ['/w', true], ['/b', true]]);
  assert.equal(ra.spec!.arch, 'arm64');
  assert.ok(codes('runargs-everything.json').some(([c, s, a]) => c === Code.DevcontainerIgnored && s === 'info' && a === '"--cap-add=SYS_PTRACE"'));
  // Unknown ${…} stays; devcontainerId expands; HOME/USERPROFILE does not warn.
  const v = read('variables.json').r;
  assert.equal(v.spec!.env.LOG_FORMAT, '[${severity}] ${message}');
  assert.match(v.spec!.env.DEVCONTAINER_ID!, /^[0-9a-v]{52}$/);
  assert.equal(v.spec!.env.HOST_HOME, '/home/user');
  assert.deepEqual(v.diagnostics.filter((d) => d.severity !== 'info').map((d) => [d.code, at(read('variables.json').text, d)]), [[Code.UnsetLocalEnv, '"${localEnv:SURELY_NOT_SET_ANYWHERE_12345}"']]);
  // Mount fields of the wrong type are errors at those values.
  assert.deepEqual(codes('mounts-mixed.json').filter(([c]) => c === Code.WrongType).map(([, , a]) => a), ['5', '["/y"]']);
  // customizations.vscode: "x" is an error at "x".
  assert.deepEqual(codes('customizations-wrong-shapes.json'), [[Code.WrongType, 'error', '"x"']]);
  // Features: OCI references load; the retired GitHub form and a missing local folder are errors at their keys.
  assert.deepEqual(read('features-oci.json').r.spec!.features!.list.map((f) => f.value), [
    'ghcr.io/devcontainers/features/common-utils:2', 'ghcr.io/devcontainers/features/node:1', 'ghcr.io/devcontainers/features/docker-in-docker:2', 'ghcr.io/devcontainers-contrib/features/poetry:2',
  ]);
  assert.deepEqual(codes('features-local-and-tarball.json').map(([c, , a]) => [c, a]), [
    [Code.FeatureRef, '"./local-features/hello"'], [Code.FeatureRef, '"devcontainers/features/go@v1.0.0"'], [Code.WrongType, '2'],
  ]);
  // A .devcontainer/NAME config has the project root as its workspace folder.
  assert.equal(read('python.multi-python.json').r.spec!.workspace.path, '/workspaces/proj');
});
