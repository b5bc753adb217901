// `crossroot-helper decompress`: a Dockerfile ADD archive to a plain file, by content (gzip, zstd,
// xz, bzip2 or none), with the static zlib/libzstd/liblzma/libbz2 the helper links; the ASan
// build runs the same cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tarArchive } from '../fixtures/hostile';
import { HELPER, HELPER_ASAN, need } from '../lib/harness';
import { helper } from './sandbox';
import { scratch } from './unpack-fixtures';

const has = (tool: string) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;

for (const bin of [HELPER, HELPER_ASAN]) {
  test(`decompress (${path.basename(bin)}) gives the same tar from gzip, zstd, xz (two streams), bzip2 (two streams) and plain input`, async (t) => {
    if (!need(t, existsSync(bin), 'the helper is not built (make -C native)') || !need(t, has('xz') && has('bzip2') && has('zstd'), 'apt-get install xz-utils bzip2 zstd')) return;
    const dir = scratch(t);
    const tar = tarArchive([{ name: 'dir/file', data: 'payload '.repeat(50_000) }]);
    writeFileSync(path.join(dir, 'a.tar'), tar);
    const made = spawnSync('sh', ['-c', 'gzip -kc a.tar > a.gz && zstd -q a.tar -o a.zst && (xz -c a.tar; xz -c a.tar) > a.xz && (bzip2 -c a.tar; bzip2 -c a.tar) > a.bz2'], { cwd: dir });
    assert.equal(made.status, 0, String(made.stderr));
    for (const [name, kind, copies] of [['a.tar', 'none', 1], ['a.gz', 'gzip', 1], ['a.zst', 'zstd', 1], ['a.xz', 'xz', 2], ['a.bz2', 'bzip2', 2]] as const) {
      const out = path.join(dir, `${name}.out`);
      const r = await helper(['decompress', '--input', path.join(dir, name), '--output', out, '--status-fd', '3'], { helper: bin });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.events.at(-1), { event: 'done', compression: kind, bytesIn: readFileSync(path.join(dir, name)).length, bytesOut: tar.length * copies });
      assert.ok(readFileSync(out).equals(Buffer.concat(Array(copies).fill(tar))), name);
    }
  });
}

test('decompress reports a truncated xz or bzip2 file, and never writes through a symlink or over a file', async (t) => {
  if (!need(t, existsSync(HELPER), 'the helper is not built') || !need(t, has('xz') && has('bzip2'), 'apt-get install xz-utils bzip2')) return;
  const dir = scratch(t);
  writeFileSync(path.join(dir, 'a.tar'), tarArchive([{ name: 'f', data: randomBytes(100_000).toString('base64') }]));
  assert.equal(spawnSync('sh', ['-c', 'xz -c a.tar | head -c 200 > cut.xz && bzip2 -c a.tar | head -c 200 > cut.bz2'], { cwd: dir }).status, 0);
  for (const [name, what] of [['cut.xz', 'xz'], ['cut.bz2', 'bzip2']]) {
    const r = await helper(['decompress', '--input', path.join(dir, name!), '--output', path.join(dir, `${name}.out`), '--status-fd', '3']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, new RegExp(`the ${what} stream is truncated`));
    assert.equal(r.events.find((e) => e.event === 'error')?.code, 'ETRUNCATED');
  }
  symlinkSync('/tmp/crossroot-never-written', path.join(dir, 'link'));
  const r = await helper(['decompress', '--input', path.join(dir, 'a.tar'), '--output', path.join(dir, 'link')]);
  assert.notEqual(r.code, 0);
  assert.equal(existsSync('/tmp/crossroot-never-written'), false);
});
