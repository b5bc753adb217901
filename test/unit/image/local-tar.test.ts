import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createGzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tempDir } from '../../lib/harness';
import { CrossrootError } from '../../../src/core/errors';
import { firstEntries, openTar, readTar, sniffCompression } from '../../../src/core/image/tar';
import { detectLocalSource } from '../../../src/core/image/local';
import { tarArchive, tarMember } from '../../fixtures/hostile';

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

test('a PAX record larger than 16 MiB is refused while streaming, before memory holds it', async (t) => {
  const dir = tempDir(t);
  // 64 MiB of one byte gzips to about 64 KB: a small file that declares a huge record. Written
  // as a stream, so this process never holds the record either.
  const file = path.join(dir, 'bomb.tar.gz');
  const size = 64 << 20;
  async function* bomb() {
    yield rawHeader('PaxHeaders/x', 'x', size);
    const chunk = Buffer.alloc(1 << 20, 0x61);
    for (let n = 0; n < size; n += chunk.length) yield chunk;
    yield tarArchive([{ name: 'after', data: 'x' }]);
  }
  await pipeline(Readable.from(bomb()), createGzip({ level: 1 }), createWriteStream(file));
  const before = process.resourceUsage().maxRSS;
  await assert.rejects(firstEntries(file, 8), (e: unknown) => e instanceof CrossrootError && e.code === 'ETOOBIG'
    && /a PAX record of 67108864 bytes is larger than the 16 MiB allowed/.test(e.message) && /do not use it/.test(e.fix ?? ''));
  const grewKiB = process.resourceUsage().maxRSS - before;
  assert.ok(grewKiB < 48 * 1024, `peak RSS grew by ${grewKiB} KiB while reading it`);
  await assert.rejects(detectLocalSource(file), (e: unknown) => e instanceof CrossrootError && e.code === 'ETOOBIG');
});

test('a GNU long name over 16 MiB is refused the same way', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'long.tar');
  const body = Buffer.alloc((16 << 20) + 1, 0x62);
  writeFileSync(file, Buffer.concat([rawHeader('././@LongLink', 'L', body.length), body, Buffer.alloc((512 - (body.length % 512)) % 512), Buffer.alloc(1024)]));
  await assert.rejects(firstEntries(file, 8), (e: unknown) => e instanceof CrossrootError && /GNU long-name record of 16777217 bytes/.test(e.message));
});

test('lz4, lzip, lzop, lzma and compress (.Z) files are named for what they are; a tar named like a magic is a tar', (t) => {
  const dir = tempDir(t);
  const cases: Array<[string, Buffer]> = [
    ['lz4', Buffer.from([0x04, 0x22, 0x4d, 0x18, 1, 2])], ['lz4', Buffer.from([0x02, 0x21, 0x4c, 0x18, 1])],
    ['lzip', Buffer.from('LZIP\x01\x0c', 'latin1')], ['lzop', Buffer.from('\x89LZO\x00\r\n\x1a\n\x10', 'latin1')],
    ['lzma', Buffer.from([0x5d, 0, 0, 0x80, 0])], ['compress', Buffer.from([0x1f, 0x9d, 0x90])],
    ['xz', Buffer.from('\xfd7zXZ\x00\x00', 'latin1')], ['bzip2', Buffer.from('BZh91AY', 'latin1')],
    ['none', tarArchive([{ name: 'LZIP-but-a-tar', data: 'x' }])], ['none', tarArchive([{ name: 'BZh', data: 'x' }])],
  ];
  for (const [i, [want, bytes]] of cases.entries()) {
    const f = path.join(dir, `f${i}`);
    writeFileSync(f, bytes);
    assert.equal(sniffCompression(f), want, `case ${i}`);
  }
  const lz4 = path.join(dir, 'rootfs.tar.lz4');
  writeFileSync(lz4, cases[0]![1]);
  assert.throws(() => openTar(lz4), (e: unknown) => e instanceof CrossrootError && /lz4-compressed/.test(e.message) && /lz4 -dc/.test(e.fix ?? ''));
});

function rawHeader(name: string, type: string, size: number): Buffer {
  const h = tarMember({ name, data: Buffer.alloc(0) }).subarray(0, 512);
  h.write(type, 156, 'latin1');
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}
