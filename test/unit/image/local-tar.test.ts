import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../../lib/harness';
import { CrossrootError } from '../../../src/core/errors';
import { openTar, readTar } from '../../../src/core/image/tar';

/** Every regular file of a tar as name → content, read with readTar. */
async function contents(file: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  await readTar(openTar(file), (e) => {
    if (e.type !== '0') return undefined;
    const parts: Buffer[] = [];
    return { write: (c) => { parts.push(Buffer.from(c)); }, end: () => { out.set(e.name, Buffer.concat(parts).toString()); } };
  }, file);
  return out;
}

test('archive entries with long names (PAX and GNU) and bodies over many chunks read back whole', async (t) => {
  const dir = tempDir(t);
  const long = `${'deep/'.repeat(40)}name-${'x'.repeat(120)}.json`;
  mkdirSync(path.join(dir, 'src', path.dirname(long)), { recursive: true });
  writeFileSync(path.join(dir, 'src', long), 'long');
  const big = 'b'.repeat(3 * 1024 * 1024 + 17);
  writeFileSync(path.join(dir, 'src', 'big'), big);
  writeFileSync(path.join(dir, 'src', 'empty'), '');
  for (const format of ['posix', 'gnu']) {
    const tar = path.join(dir, `${format}.tar`);
    execFileSync('tar', ['-C', path.join(dir, 'src'), `--format=${format}`, '-cf', tar, '.']);
    const got = await contents(tar);
    assert.equal(got.get(long), 'long', `${format}: the long name survives`);
    assert.equal(got.get('big'), big, `${format}: a 3 MB body arrives intact`);
    assert.equal(got.get('empty'), '');
  }
  execFileSync('gzip', ['-k', path.join(dir, 'posix.tar')]);
  assert.equal((await contents(path.join(dir, 'posix.tar.gz'))).get(long), 'long', 'gzip archives are read too');
});

test('a damaged or truncated archive is an error, never a short read', async (t) => {
  const dir = tempDir(t);
  mkdirSync(path.join(dir, 'src'));
  writeFileSync(path.join(dir, 'src', 'f'), 'z'.repeat(100_000));
  const tar = path.join(dir, 'a.tar');
  execFileSync('tar', ['-C', path.join(dir, 'src'), '-cf', tar, 'f']);
  const bytes = readFileSync(tar);
  writeFileSync(path.join(dir, 'cut.tar'), bytes.subarray(0, 50_000));
  await assert.rejects(contents(path.join(dir, 'cut.tar')), (e: unknown) => e instanceof CrossrootError && /truncated/.test(e.message));
  const bad = Buffer.from(bytes);
  bad[0] = bad[0]! ^ 0xff; // the name changes, the checksum no longer matches
  writeFileSync(path.join(dir, 'bad.tar'), bad);
  await assert.rejects(contents(path.join(dir, 'bad.tar')), (e: unknown) => e instanceof CrossrootError && /checksum/.test(e.message));
});

test('zstd archives are refused with the command that makes them readable', (t) => {
  const dir = tempDir(t);
  const f = path.join(dir, 'x.tar.zst');
  writeFileSync(f, Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]));
  assert.throws(() => openTar(f), (e: unknown) => e instanceof CrossrootError && /zstd -d/.test(e.fix ?? ''));
});
