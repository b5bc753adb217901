// Deep trees made inside an env must not break cleanup: `crossroot run` removes its writable
// layer whatever the command left in it, and `gc --force` removes a killed run's deep leftover
// even with few open files allowed (the removal walks any depth with a bounded number of fds).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { CLI, HELPER, need } from '../lib/harness';
import { makeDeepTree } from '../lib/deep';
import { busyboxRootfs } from '../fixtures/rootfs';
import { crossroot, storeDir } from './image-trees';

test('a command that makes 5000 nested directories in crossroot run gets its exit code and leaves no tmp/run-*', async (t) => {
  if (!need(t, existsSync(HELPER), 'the helper is not built (make -C native)')) return;
  const tree = await busyboxRootfs('amd64');
  const store = storeDir(t);
  // 50 chains of 100 directories, each moved into the next: no path the shell uses is long.
  const script = [
    'cd /root', 'p=$(printf "d/%.0s" $(seq 100))', 'mkdir -p c/$p', 'i=1',
    'while [ $i -lt 50 ]; do mkdir -p n/$p && mv c n/$p/c && mv n c || exit 3; i=$((i+1)); done',
    'echo made', 'exit 7',
  ].join('\n');
  const r = crossroot(['run', '--arch', 'amd64', '--store', store, tree, '--', 'sh', '-c', script]);
  assert.equal(r.stdout, 'made\n', r.stderr);
  assert.equal(r.code, 7, `the command's own exit code (stderr: ${r.stderr})`);
  assert.doesNotMatch(r.stderr, /internal error|RangeError/);
  assert.deepEqual(readdirSync(path.join(store, 'tmp')), [], 'the writable layer is removed');
  const gc = crossroot(['gc', '--force', '--store', store]);
  assert.equal(gc.code, 0, gc.stderr);
});

test('gc --force removes a killed run\'s 5000-deep leftover with 64 open files allowed, and the next gc finds nothing', async (t) => {
  if (!need(t, existsSync(HELPER), 'the helper is not built (make -C native)')) return;
  const store = storeDir(t);
  assert.equal(crossroot(['gc', '--store', store]).code, 0, 'the store exists');
  // What a crossroot run killed with SIGKILL leaves: its layer in tmp/, no live lock holder.
  const leftover = path.join(store, 'tmp', 'run-0123456789ab.4242.deadbeef');
  mkdirSync(leftover);
  makeDeepTree(path.join(leftover, 'upper'), 5000);
  mkdirSync(path.join(leftover, 'work'));

  const gc = spawnSync('prlimit', ['--nofile=64:64', process.execPath, CLI, 'gc', '--force', '--json', '--store', store], { encoding: 'utf8' });
  assert.equal(gc.status, 0, gc.stderr);
  const result = JSON.parse(gc.stdout) as { remove: Array<{ kind: string; id: string }> };
  assert.deepEqual(result.remove.map((i) => [i.kind, path.basename(i.id)]), [['temp', path.basename(leftover)]]);
  assert.deepEqual(readdirSync(path.join(store, 'tmp')), [], 'the leftover is gone');
  const again = crossroot(['gc', '--force', '--json', '--store', store]);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual((JSON.parse(again.stdout) as { remove: unknown[] }).remove, []);
});
