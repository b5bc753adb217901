import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { CLI, HELPER, need, tempDir } from '../lib/harness';
import { busyboxRootfs } from '../fixtures/rootfs';
import { crossroot, crossrootAsync, storeDir } from './image-trees';

function ready(t: Parameters<typeof need>[0]): boolean {
  return need(t, existsSync(HELPER), 'the helper is not built (make -C native)');
}

async function waitFor(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('--workspace runs the command in the current folder, bound at /workspace', async (t) => {
  if (!ready(t)) return;
  const tree = await busyboxRootfs('amd64');
  const work = tempDir(t);
  const r = crossroot(['run', '--arch', 'amd64', '--store', storeDir(t), '--workspace', '--env', 'GREETING=hello there', tree, '--',
    'sh', '-c', 'pwd; echo "$GREETING" > note.txt'], {}, work);
  assert.deepEqual([r.code, r.stdout], [0, '/workspace\n'], r.stderr);
  assert.equal(readFileSync(path.join(work, 'note.txt'), 'utf8'), 'hello there\n', 'the file landed in the host folder');
});

test('SIGTERM to crossroot run reaches the command and the throwaway layer is still removed', async (t) => {
  if (!ready(t)) return;
  const tree = await busyboxRootfs('amd64');
  const store = storeDir(t);
  const mark = tempDir(t);
  const child = spawn(process.execPath, [CLI, 'run', '--arch', 'amd64', '--store', store, '--bind', `${mark}:/mark`, tree, '--',
    'sh', '-c', 'touch /mark/started; exec sleep 30'], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await waitFor('the command to start', () => existsSync(path.join(mark, 'started')));
  child.kill('SIGTERM');
  assert.equal(await exited, 143, 'killed by SIGTERM: 128 + 15');
  assert.deepEqual(readdirSync(path.join(store, 'tmp')), []);
});

test('gc keeps an image while a command runs in it, and removes it afterwards', async (t) => {
  if (!ready(t)) return;
  const tree = await busyboxRootfs('amd64');
  const tarball = path.join(tempDir(t), 'rootfs.tar.gz');
  execFileSync('tar', ['-C', tree, '--owner=0', '--group=0', '--numeric-owner', '-czf', tarball, '.']);
  const store = storeDir(t);
  const child = spawn(process.execPath, [CLI, 'run', '--arch', 'amd64', '--store', store, tarball, '--', 'sleep', '30'], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await waitFor('the throwaway layer', () => existsSync(path.join(store, 'tmp')) && readdirSync(path.join(store, 'tmp')).some((n) => n.startsWith('run-')));

  const during = await crossrootAsync(['gc', '--force', '--json', '--store', store]);
  assert.equal(during.code, 0, during.stderr);
  const r1 = JSON.parse(during.stdout) as { remove: { kind: string }[]; inUse: string[] };
  assert.equal(r1.inUse.length, 1, 'the running command\'s image is in use');
  assert.deepEqual(r1.remove.filter((i) => i.kind !== 'temp'), [], 'nothing it needs is removed');
  assert.equal(readdirSync(path.join(store, 'images')).length, 1);
  assert.equal(readdirSync(path.join(store, 'tmp')).filter((n) => n.startsWith('run-')).length, 1, 'its writable layer stays');

  child.kill('SIGTERM');
  await exited;
  const after = await crossrootAsync(['gc', '--force', '--json', '--store', store]);
  const r2 = JSON.parse(after.stdout) as { remove: { kind: string }[]; inUse: string[] };
  assert.deepEqual(r2.inUse, []);
  assert.deepEqual(r2.remove.map((i) => i.kind).sort(), ['blob', 'image']);
  assert.deepEqual(readdirSync(path.join(store, 'images')), []);
});

test('a sandbox that outlives a killed crossroot run keeps its layer and image safe from gc', async (t) => {
  if (!ready(t)) return;
  const tree = await busyboxRootfs('amd64');
  const tarball = path.join(tempDir(t), 'rootfs.tar.gz');
  execFileSync('tar', ['-C', tree, '--owner=0', '--group=0', '--numeric-owner', '-czf', tarball, '.']);
  const store = storeDir(t);
  // The command runs until the test writes to the fifo: no guess at how long gc takes.
  const mark = tempDir(t);
  execFileSync('mkfifo', [path.join(mark, 'go')]);
  const child = spawn(process.execPath, [CLI, 'run', '--arch', 'amd64', '--store', store, '--bind', `${mark}:/mark`, tarball, '--',
    'sh', '-c', 'touch /mark/started; read _ < /mark/go'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  await waitFor('the command to start', () => existsSync(path.join(mark, 'started')));
  child.kill('SIGKILL');
  await exited;
  const during = JSON.parse((await crossrootAsync(['gc', '--force', '--json', '--store', store])).stdout) as { inUse: string[] };
  assert.equal(during.inUse.length, 1, 'the orphaned sandbox still holds its image');
  assert.equal(readdirSync(path.join(store, 'tmp')).filter((n) => n.startsWith('run-')).length, 1, 'and its layer');
  execFileSync('sh', ['-c', 'echo go > "$1"', 'sh', path.join(mark, 'go')]);
  await waitFor('the sandbox to end', () => {
    const r = JSON.parse(crossroot(['gc', '--force', '--json', '--store', store]).stdout) as { inUse: string[] };
    return r.inUse.length === 0;
  });
  assert.deepEqual(readdirSync(path.join(store, 'tmp')), [], 'once it ended, gc clears its layer');
});

test('run without a command is a usage error that shows the form', (t) => {
  const r = crossroot(['run', '--store', path.join(tempDir(t), 'store'), 'debian:bookworm']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /the command to run is missing\n {2}fix: crossroot run debian:bookworm -- uname -m/);
});
