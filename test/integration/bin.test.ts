// bin/crossroot, the command users run (npm link, a global install): a shim that loads the
// bundled CLI. It must run every command with its exit code, also when called through a link.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { CLI, ROOT, need, tempDir } from '../lib/harness';

const BIN = path.join(ROOT, 'bin/crossroot.cjs');

function run(bin: string, args: string[], cwd?: string) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', ...(cwd ? { cwd } : {}) });
}

test('bin/crossroot runs the CLI, directly and through a link, with its exit codes', (t) => {
  if (!need(t, existsSync(CLI), 'the CLI is not built (npm run build)')) return;
  let r = run(BIN, ['--version']);
  assert.deepEqual([r.status, r.stdout], [0, 'crossroot 0.1.0\n'], r.stderr);
  r = run(BIN, ['no-such-command']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command 'no-such-command'/);
  // npm link and global installs put a symlink to bin/crossroot on PATH.
  const dir = tempDir(t);
  const link = path.join(dir, 'crossroot');
  symlinkSync(BIN, link);
  r = run(link, ['exec'], dir);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /the command to run is missing/);
});
