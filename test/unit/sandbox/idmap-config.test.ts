import { test } from 'node:test';
import assert from 'node:assert/strict';
import { APT_SANDBOX_ROOT, idmapConfigFiles } from '../../../src/core/sandbox/idmap-config';

test('a single-id map gives an env with apt the root sandbox user; a full map or a distro without apt gets nothing', () => {
  const withApt = (p: string) => p === 'etc/apt/apt.conf.d';
  assert.deepEqual(idmapConfigFiles('single', withApt), [APT_SANDBOX_ROOT]);
  assert.match(APT_SANDBOX_ROOT.content, /^APT::Sandbox::User "root";$/m);
  assert.deepEqual(idmapConfigFiles('full', withApt), []);
  assert.deepEqual(idmapConfigFiles('single', () => false), []);
});
