import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Code } from '../../../src/core/envfile/diagnostics';
import { readDevcontainer } from '../../../src/core/envfile/devcontainer';
import { readEnvToml } from '../../../src/core/envfile/toml';
import { at, fakeHost } from './fake-host';

test('a ${…} variable in an image reference is reported as not expanded, on the value', () => {
  const toml = 'image = "${localEnv:REGISTRY:localhost:5000}/tools:1"\n';
  const t = readEnvToml(toml, { file: '/home/user/proj/crossroot.toml', host: fakeHost() });
  assert.deepEqual(t.diagnostics.map((d) => [d.code, at(toml, d)]), [[Code.BadImageRef, '"${localEnv:REGISTRY:localhost:5000}/tools:1"']]);
  assert.match(t.diagnostics[0]!.message, /^variables are not expanded in an image reference/);

  const json = '{ "image": "debian:${localEnv:SUITE}" }';
  const d = readDevcontainer(json, { file: '/home/user/proj/.devcontainer/devcontainer.json', host: fakeHost() });
  const bad = d.diagnostics.filter((x) => x.code === Code.BadImageRef);
  assert.deepEqual(bad.map((x) => at(json, x)), ['"debian:${localEnv:SUITE}"']);
  assert.match(bad[0]!.message, /variables are not expanded/);
});
