import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../../lib/harness';
import { sourceFromArgument } from '../../../src/core/image/pull';

test('ARCHIVE:NAME picks an image whose name has colons itself (docker save tags are repo:tag)', async (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'manifest.json'), '[]');
  writeFileSync(path.join(dir, 'repositories'), '{}');
  const archive = path.join(dir, 'img.tar');
  execFileSync('tar', ['-C', dir, '-cf', archive, 'manifest.json', 'repositories']);
  const before = process.cwd();
  process.chdir(dir);
  t.after(() => process.chdir(before));
  const want = { kind: 'docker-archive', path: archive, ref: 'localhost/tools:1.0' };
  assert.deepEqual(await sourceFromArgument(`${archive}:localhost/tools:1.0`), want);
  assert.deepEqual(await sourceFromArgument('./img.tar:localhost/tools:1.0'), want);
  assert.deepEqual(await sourceFromArgument('img.tar:localhost/tools:1.0'), want);
  assert.deepEqual(await sourceFromArgument('img.tar:tools'), { ...want, ref: 'tools' });
  // Nothing named like the part before the first colon exists here: a registry reference.
  assert.deepEqual(await sourceFromArgument('localhost:5000/tools:1.0'), { kind: 'image', ref: 'localhost:5000/tools:1.0' });
});
