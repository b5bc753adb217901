import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { progressRenderer } from '../../../src/cli/progress';
import type { PullProgress } from '../../../src/core/image/progress';

const D = 'sha256:e086c0742014aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const blob = { digest: D, layer: 1, layers: 1, size: 2_000_000 };
const PULL: PullProgress[] = [
  { phase: 'resolve', source: 'localhost:5000/tools:1' },
  { phase: 'verify', blob: { digest: 'sha256:89f1c87fc8ec', name: 'config', size: 500 }, cached: true },
  { phase: 'download', blob, done: 0 },
  { phase: 'download', blob, done: 1_000_000 },
  { phase: 'unpack', layer: 1, layers: 1, digest: D, done: 500_000, size: 2_000_000 },
  { phase: 'download', blob, done: 2_000_000 },
  { phase: 'verify', blob, cached: false },
  { phase: 'unpack', layer: 1, layers: 1, digest: D, done: 2_000_000, size: 2_000_000 },
  { phase: 'note', message: 'skipped 2 device nodes' },
  { phase: 'done', source: 'localhost:5000/tools:1', digest: D, cached: false },
];

function sink(tty: boolean): { out: NodeJS.WriteStream; text(): string } {
  let text = '';
  const w = new Writable({ write(chunk, _enc, cb) { text += String(chunk); cb(); } }) as unknown as NodeJS.WriteStream;
  Object.assign(w, { isTTY: tty, columns: 100, rows: 30, cursorTo: () => true, moveCursor: () => true, clearLine: () => true, clearScreenDown: () => true });
  return { out: w, text: () => text };
}

test('without a terminal, progress is one plain line per layer and phase, never a control sequence', () => {
  const s = sink(false);
  const r = progressRenderer(s.out);
  for (const e of PULL) r.listener(e);
  r.finish();
  assert.deepEqual(s.text().split('\n'), [
    'resolving localhost:5000/tools:1',
    'config 89f1c87fc8ec  already here',
    'layer 1/1 e086c0742014  downloading 0 B / 2.0 MB',
    'layer 1/1 e086c0742014  unpacking 500.0 kB / 2.0 MB',
    'layer 1/1 e086c0742014  verified',
    'skipped 2 device nodes',
    'ready: localhost:5000/tools:1',
    '',
  ]);
});

test('a cached image says nothing when asked to be quiet; real work brings the held lines out', () => {
  const cached = sink(false);
  const q = progressRenderer(cached.out, { quietIfCached: true });
  q.listener({ phase: 'resolve', source: 'x' });
  q.listener({ phase: 'verify', blob, cached: true });
  q.listener({ phase: 'done', source: 'x', cached: true });
  q.finish();
  assert.equal(cached.text(), '');
  const work = sink(false);
  const w = progressRenderer(work.out, { quietIfCached: true });
  for (const e of PULL) w.listener(e);
  assert.match(work.text(), /^resolving localhost:5000\/tools:1\n/);
});

test('on a terminal, each layer is a bar that ends full, with lines above it and the outcome below', () => {
  const s = sink(true);
  const r = progressRenderer(s.out);
  for (const e of PULL) r.listener(e);
  r.finish();
  const text = s.text();
  assert.match(text, /resolving localhost:5000\/tools:1/);
  // The layer's final state: a full bar, both halves of its work.
  assert.match(text, /layer 1\/1 e086c0742014 █{24} verified {2}unpacking 2\.0 MB \/ 2\.0 MB/);
  assert.match(text, /skipped 2 device nodes\n/);
  assert.match(text, /ready: localhost:5000\/tools:1\n$/);
});
