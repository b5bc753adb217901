import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../../lib/harness';
import { CrossrootError } from '../../../src/core/errors';
import { sourceFromArgument } from '../../../src/core/image/pull';

/** Runs `fn` with the working directory set to `dir` (SOURCE arguments are relative to it). */
async function inDir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const before = process.cwd();
  process.chdir(dir);
  try {
    return await fn();
  } finally {
    process.chdir(before);
  }
}

test('a bare name is an image reference even when a folder has that name', async (t) => {
  const dir = tempDir(t);
  mkdirSync(path.join(dir, 'debian'));
  await inDir(dir, async () => {
    assert.deepEqual(await sourceFromArgument('debian'), { kind: 'image', ref: 'debian' });
    assert.deepEqual(await sourceFromArgument('debian:bookworm'), { kind: 'image', ref: 'debian:bookworm' });
    assert.deepEqual(await sourceFromArgument('localhost:5000/x:y'), { kind: 'image', ref: 'localhost:5000/x:y' });
    assert.deepEqual(await sourceFromArgument('./debian'), { kind: 'dir', path: path.join(dir, 'debian') });
  });
});

// Issue 10 item 13: a file called like an image in the current folder used to shadow the image.
test('a bare name is an image reference even when a file or layout of that name is in the current folder', async (t) => {
  const dir = tempDir(t);
  const tree = path.join(dir, 'tree');
  mkdirSync(tree);
  execFileSync('tar', ['-C', tree, '-cf', path.join(dir, 'alpine'), '.']);
  mkdirSync(path.join(dir, 'busybox'));
  writeFileSync(path.join(dir, 'busybox', 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await inDir(dir, async () => {
    assert.deepEqual(await sourceFromArgument('alpine'), { kind: 'image', ref: 'alpine' });
    assert.deepEqual(await sourceFromArgument('alpine:3.20'), { kind: 'image', ref: 'alpine:3.20' });
    assert.deepEqual(await sourceFromArgument('busybox'), { kind: 'image', ref: 'busybox' });
    assert.deepEqual(await sourceFromArgument('./alpine'), { kind: 'rootfs-tar', path: path.join(dir, 'alpine') });
    assert.deepEqual(await sourceFromArgument('./busybox:v1'), { kind: 'oci-layout', path: path.join(dir, 'busybox'), ref: 'v1' });
  });
  mkdirSync(path.join(dir, 'My_Tree'));
  await inDir(dir, () => assert.rejects(sourceFromArgument('My_Tree'),
    (e: unknown) => e instanceof CrossrootError && e.code === 'EIMAGEREF' && /for the local path My_Tree, write \.\/My_Tree/.test(e.fix ?? '')));
});

test('a name with an archive extension is a local path, and PATH:NAME picks an image inside', async (t) => {
  const dir = tempDir(t);
  const tree = path.join(dir, 'tree');
  mkdirSync(path.join(tree, 'etc'), { recursive: true });
  writeFileSync(path.join(tree, 'etc', 'hostname'), 'x\n');
  execFileSync('tar', ['-C', tree, '-czf', path.join(dir, 'rootfs.tar.gz'), '.']);
  const layout = path.join(dir, 'layout');
  mkdirSync(layout);
  writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await inDir(dir, async () => {
    assert.deepEqual(await sourceFromArgument('rootfs.tar.gz'), { kind: 'rootfs-tar', path: path.join(dir, 'rootfs.tar.gz') });
    await assert.rejects(sourceFromArgument('missing.tar.zst'), (e: unknown) => e instanceof CrossrootError && e.code === 'ENOSOURCE');
    assert.deepEqual(await sourceFromArgument('./layout'), { kind: 'oci-layout', path: layout });
    assert.deepEqual(await sourceFromArgument('./layout:v1'), { kind: 'oci-layout', path: layout, ref: 'v1' });
    assert.deepEqual(await sourceFromArgument(`${layout}:v1`), { kind: 'oci-layout', path: layout, ref: 'v1' });
  });
});

test('a path that does not exist, or a reference that is not one, says what is wrong', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(sourceFromArgument(path.join(dir, 'missing.tar')), (e: unknown) => e instanceof CrossrootError && e.code === 'ENOSOURCE');
  await assert.rejects(sourceFromArgument('Debian:Bookworm'), (e: unknown) => e instanceof CrossrootError && e.code === 'EIMAGEREF');
});
