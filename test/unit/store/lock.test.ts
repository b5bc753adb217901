import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, tempDir } from '../../lib/harness';
import { flockHeld, lockFile, waitForLock } from '../../../src/core/store/lock';

/** Runs a TypeScript snippet in a child node that can import the store modules. */
function child(dir: string, name: string, body: string): ReturnType<typeof spawn> {
  const file = path.join(dir, `${name}.mts`);
  writeFileSync(file, `import { waitForLock } from ${JSON.stringify(path.join(ROOT, 'src/core/store/lock.ts'))};\n${body}\n`);
  return spawn(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
}

function exited(p: ReturnType<typeof spawn>): Promise<number | null> {
  return new Promise((resolve) => p.on('close', (c) => resolve(c)));
}

test('eight processes incrementing one counter under the lock lose no update', async (t) => {
  const dir = tempDir(t);
  const counter = path.join(dir, 'counter');
  writeFileSync(counter, '0');
  // Read, pause, write: without mutual exclusion the processes overwrite each other's counts.
  const body = `
import { readFileSync, writeFileSync } from 'node:fs';
for (let i = 0; i < 3; i++) {
  const l = await waitForLock(${JSON.stringify(path.join(dir, 'x.lock'))});
  const n = Number(readFileSync(${JSON.stringify(counter)}, 'utf8'));
  await new Promise((r) => setTimeout(r, 20));
  writeFileSync(${JSON.stringify(counter)}, String(n + 1));
  l.release();
}`;
  const kids = Array.from({ length: 8 }, (_, i) => child(dir, `k${i}`, body));
  const codes = await Promise.all(kids.map(exited));
  assert.deepEqual(codes, Array(8).fill(0));
  assert.equal(readFileSync(counter, 'utf8'), '24');
});

test('a lock held by a process killed with SIGKILL is free again', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'x.lock');
  const holder = child(dir, 'holder', `await waitForLock(${JSON.stringify(file)}); console.log('held'); setInterval(() => {}, 1000);`);
  const holderGone = exited(holder);
  await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
  assert.equal(await lockFile(file, { noWait: true }), undefined, 'the live holder keeps others out');
  let waitedFor: number | undefined;
  const pending = waitForLock(file, { onWait: (pid) => { waitedFor = pid; } });
  await new Promise((r) => setTimeout(r, 300));
  holder.kill('SIGKILL');
  const l = await pending;
  assert.equal(waitedFor, holder.pid, 'the waiter is told which process holds the lock');
  l.release();
  assert.equal(await holderGone, null);
});

test('shared holders coexist and keep an exclusive locker out', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'store.lock');
  const a = await waitForLock(file, { shared: true });
  const b = await lockFile(file, { shared: true, noWait: true });
  assert.ok(b, 'a second shared lock is granted');
  assert.equal(await lockFile(file, { noWait: true }), undefined, 'exclusive must wait for shared holders');
  a.release();
  b.release();
  const x = await lockFile(file, { noWait: true });
  assert.ok(x, 'exclusive is granted once the shared holders are gone');
  x.release();
  x.release(); // releasing twice is harmless
});

test('flockHeld sees a held exclusive lock through /proc/locks, and not a shared or released one', async (t) => {
  const file = path.join(tempDir(t), 'env-x.lock');
  assert.equal(flockHeld(file), false, 'no file, no lock');
  const held = (await lockFile(file))!;
  assert.equal(flockHeld(file), true);
  // Another file on the same device is not this one.
  writeFileSync(path.join(path.dirname(file), 'other.lock'), '');
  assert.equal(flockHeld(path.join(path.dirname(file), 'other.lock')), false);
  held.release();
  assert.equal(flockHeld(file), false);
  const shared = (await lockFile(file, { shared: true }))!;
  assert.equal(flockHeld(file), false, 'a reader (the extension waiting for the end) is not a holder');
  shared.release();
});
