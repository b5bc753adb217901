// Dead code is a cost: knip (knip.json) finds files nothing imports, exports nothing uses and
// dependencies nothing needs, across src/, test/, bench/ and scripts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../lib/harness';

test('no unused files, exports, types or dependencies (knip)', { timeout: 5 * 60_000 }, () => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/knip/bin/knip.js'), '--no-progress', '--reporter', 'compact'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, `knip found what nothing uses (remove it, or say in knip.json why it stays):\n${r.stdout}${r.stderr}`);
});
