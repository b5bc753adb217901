import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readDevcontainer } from '../../../src/core/envfile/devcontainer';
import { DEFAULT_PATH, processEnv } from '../../../src/core/env/inside';
import type { ImageConfig } from '../../../src/core/image/oci';
import { fakeHost } from '../envfile/fake-host';

const root = { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' };

function spec(json: string) {
  const r = readDevcontainer(json, { file: '/home/user/proj/.devcontainer/devcontainer.json', host: fakeHost() });
  assert.ok(r.spec, JSON.stringify(r.diagnostics));
  return r.spec;
}

test('an image that sets no PATH gets Docker\'s default one, and ${containerEnv:PATH} resolves to it', () => {
  const s = spec('{ "image": "x", "remoteEnv": { "PATH": "${containerEnv:PATH}:/workspace/scripts" } }');
  const none = processEnv(s, { config: { Cmd: ['/bin/sh'] } } as ImageConfig, root, '/bin/sh', undefined);
  assert.equal(none.PATH, `${DEFAULT_PATH}:/workspace/scripts`);
  assert.equal(DEFAULT_PATH, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  // No config at all (a rootfs dir): the same.
  assert.equal(processEnv(s, undefined, root, '/bin/sh', undefined).PATH, `${DEFAULT_PATH}:/workspace/scripts`);
  // The image's own PATH wins over the default.
  const own = processEnv(s, { config: { Env: ['PATH=/opt/bin:/bin'] } } as ImageConfig, root, '/bin/sh', undefined);
  assert.equal(own.PATH, '/opt/bin:/bin:/workspace/scripts');
});
