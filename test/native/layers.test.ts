import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import type { TestContext } from 'node:test';
import { busyboxRootfs, mmdebstrapAvailable, removeTree } from '../fixtures/rootfs';
import { need } from '../lib/harness';
import { run } from './sandbox';

/** overlayfs leaves a 000 `work/work` dir behind; the store's removal (through the helper) copes. */
function layerDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crossroot-layers-'));
  t.after(() => removeTree(dir));
  return dir;
}

// An env is its base image plus one read-only layer per setup step, with its own upper on top.
// These tests build layers the way the env lifecycle does: each step's upper becomes a --lower.
test('--lower layers stack on the rootfs in order; deletions in a layer hide lower files', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap)')) return;
  const rootfs = await busyboxRootfs('amd64');
  const dir = layerDir(t);
  const d = (...p: string[]) => path.join(dir, ...p);
  for (const n of ['l1', 'l2', 'w1', 'w2', 'up', 'wk']) mkdirSync(d(n));
  // Step 1 writes two files; step 2 overwrites one and deletes the other and a base file.
  let r = await run({ rootfs, upper: d('l1'), work: d('w1') }, ['sh', '-c', 'echo one > /a; echo one > /b']);
  assert.equal(r.code, 0, r.stderr);
  r = await run({ rootfs, lowers: [d('l1')], upper: d('l2'), work: d('w2') }, ['sh', '-c', 'echo two > /a; rm /b /bin/ls']);
  assert.equal(r.code, 0, r.stderr);
  r = await run({ rootfs, lowers: [d('l1'), d('l2')], upper: d('up'), work: d('wk') },
    ['sh', '-c', 'cat /a; test -e /b || echo no-b; test -e /bin/ls || echo no-ls; echo env > /c']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'two\nno-b\nno-ls\n');
  // Layers and base stay as they were; the env's own write lands in its upper only.
  assert.equal(readFileSync(d('l1', 'a'), 'utf8'), 'one\n');
  assert.ok(existsSync(path.join(rootfs, 'bin/ls')));
  assert.equal(readFileSync(d('up', 'c'), 'utf8'), 'env\n');
  assert.ok(!existsSync(d('l2', 'c')));
});

test('layers without an upper mount read-only, and a deep stack (60 layers) mounts', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap)')) return;
  const rootfs = await busyboxRootfs('amd64');
  const dir = layerDir(t);
  // Long paths: 60 of them exceed the 4 KiB option string mount(2) would take.
  const lowers = Array.from({ length: 60 }, (_, i) => {
    const l = path.join(dir, `layer-${'x'.repeat(60)}-${i}`);
    mkdirSync(l);
    writeFileSync(path.join(l, `f${i}`), `${i}\n`);
    writeFileSync(path.join(l, 'top'), `${i}\n`);
    return l;
  });
  const r = await run({ rootfs, lowers }, ['sh', '-c', 'cat /f0 /f59 /top; touch /x 2>/dev/null || echo read-only']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '0\n59\n59\nread-only\n');
});

test('a missing layer is refused before any namespace, with a fix', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap)')) return;
  const rootfs = await busyboxRootfs('amd64');
  const r = await run({ rootfs, lowers: ['/nonexistent-layer'] }, ['true']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /layer \/nonexistent-layer does not exist.*\n.*fix: rebuild the env/);
});
