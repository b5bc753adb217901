import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { inParallel } from '../../../src/core/image/parallel';

test('work runs at most `limit` at a time and covers every item', async () => {
  let running = 0, peak = 0;
  const done: number[] = [];
  await inParallel([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
    running++; peak = Math.max(peak, running);
    await delay(5 + (n % 3) * 5);
    running--; done.push(n);
  });
  assert.equal(peak, 3);
  assert.deepEqual(done.sort(), [1, 2, 3, 4, 5, 6, 7]);
});

test('the first failure cancels the others and is what the caller gets', async () => {
  const started: number[] = [];
  const cancelled: number[] = [];
  await assert.rejects(inParallel([1, 2, 3, 4, 5], 2, async (n, signal) => {
    started.push(n);
    if (n === 1) { await delay(5); throw new Error('layer 1 broke'); }
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, 2000);
      signal.addEventListener('abort', () => { clearTimeout(t); cancelled.push(n); reject(new Error('cancelled')); });
    });
  }), /layer 1 broke/);
  assert.deepEqual(started, [1, 2], 'nothing new starts after a failure');
  assert.deepEqual(cancelled, [2]);
});

test('a cancelled caller stops the work', async () => {
  const abort = new AbortController();
  const started: number[] = [];
  setTimeout(() => abort.abort(new Error('user cancelled')), 10);
  await assert.rejects(inParallel([1, 2, 3, 4], 1, async (n, signal) => {
    started.push(n);
    await delay(30, undefined, { signal }).catch(() => { throw signal.reason; });
  }, abort.signal), /user cancelled/);
  assert.deepEqual(started, [1]);
});

test('no items is no work', async () => {
  await inParallel([], 3, async () => { throw new Error('never called'); });
});
