// `crossroot-helper pack` (COPY --from reads a stage with it): the archive GNU tar reads back with
// every kind of entry, long names through PAX, hardlinks as links, and a named symlink followed
// (to a file already in the archive: a hardlink to it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HELPER, HELPER_ASAN, need } from '../lib/harness';
import { helper } from './sandbox';
import { scratch } from './unpack-fixtures';

for (const bin of [HELPER, HELPER_ASAN]) {
  test(`pack (${path.basename(bin)}) writes files, dirs, symlinks, hardlinks, fifos and long names that GNU tar reads back`, async (t) => {
    if (!need(t, existsSync(bin), 'the helper is not built (make -C native)')) return;
    const dir = scratch(t);
    const src = path.join(dir, 'src');
    const long = `${'d'.repeat(80)}/${'f'.repeat(90)}`;
    mkdirSync(path.join(src, 'sub', 'd'.repeat(80)), { recursive: true });
    writeFileSync(path.join(src, 'sub/file'), 'content\n');
    linkSync(path.join(src, 'sub/file'), path.join(src, 'sub/hard'));
    symlinkSync('file', path.join(src, 'sub/link'));
    writeFileSync(path.join(src, 'sub', long), 'deep\n');
    assert.equal(spawnSync('mkfifo', [path.join(src, 'sub/fifo')]).status, 0);
    symlinkSync('sub/file', path.join(src, 'named-link'));
    const out = path.join(dir, 'out.tar');
    const r = await helper(['pack', '--output', out, '--status-fd', '3', '--', path.join(src, 'sub'), path.join(src, 'named-link')], { helper: bin });
    assert.equal(r.code, 0, r.stderr);
    const base = src.replace(/^\//, '');
    const list = spawnSync('tar', ['-tvf', out], { encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    const entries = list.stdout.trim().split('\n').map((l) => l.replace(/^(\S)\S+\s+\S+\s+\d+\s+\S+\s+\S+\s+/, '$1 ').replace(`${base}/`, ''));
    assert.deepEqual(entries, [
      'd sub', `d sub/${'d'.repeat(80)}`, `- sub/${long}`, 'p sub/fifo', '- sub/file', `h sub/hard link to ${base}/sub/file`, 'l sub/link -> file',
      `h named-link link to ${base}/sub/file`,
    ]);
    assert.equal(r.events.at(-1)?.event, 'done');
    const x = path.join(dir, 'x');
    mkdirSync(x);
    assert.equal(spawnSync('tar', ['-xf', out, '-C', x]).status, 0);
    assert.equal(readFileSync(path.join(x, base, 'sub', long), 'utf8'), 'deep\n');
    assert.equal(readFileSync(path.join(x, base, 'named-link'), 'utf8'), 'content\n');
  });
}

test('pack refuses a missing path and never writes over a file', async (t) => {
  if (!need(t, existsSync(HELPER), 'the helper is not built')) return;
  const dir = scratch(t);
  const missing = await helper(['pack', '--output', path.join(dir, 'a.tar'), '--status-fd', '3', '--', path.join(dir, 'nothing')]);
  assert.equal(missing.code, 125);
  assert.match(missing.stderr, /pack: .*nothing: No such file or directory/);
  writeFileSync(path.join(dir, 'there'), 'keep');
  const over = await helper(['pack', '--output', path.join(dir, 'there'), '--', dir]);
  assert.notEqual(over.code, 0);
  assert.equal(readFileSync(path.join(dir, 'there'), 'utf8'), 'keep');
});
