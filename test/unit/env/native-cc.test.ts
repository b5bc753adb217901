import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { includeList, removeMountPoints } from '../../../src/core/env/native-cc';
import { tempDir } from '../../lib/harness';

test('the include search list is read from gcc -v output as the env\'s gcc prints it', () => {
  const out = [
    'ignoring nonexistent directory "/usr/local/include/aarch64-linux-gnu"',
    '#include "..." search starts here:',
    '#include <...> search starts here:',
    ' /usr/include/c++/12',
    ' /usr/include/aarch64-linux-gnu/c++/12',
    ' /usr/lib/gcc/aarch64-linux-gnu/12/../../../../include/c++/12/backward',
    ' /usr/lib/gcc/aarch64-linux-gnu/12/include',
    ' /usr/include',
    'End of search list.',
    ' /not/a/dir',
  ].join('\n');
  assert.deepEqual(includeList(out), ['/usr/include/c++/12', '/usr/include/aarch64-linux-gnu/c++/12', '/usr/include/c++/12/backward', '/usr/lib/gcc/aarch64-linux-gnu/12/include', '/usr/include']);
  assert.deepEqual(includeList('gcc: error: no input files'), []);
});

test('mount points leave the writable layer while empty; the env\'s own files and shared dirs stay', (t) => {
  const upper = tempDir(t);
  const file = (p: string, text = '') => { mkdirSync(path.dirname(path.join(upper, p)), { recursive: true }); writeFileSync(path.join(upper, p), text); };
  file('usr/local/bin/gcc');
  file('usr/local/bin/mytool', '#!/bin/sh\n'); // the env's own: not a mount point
  file('usr/lib/crossroot/host/usr/bin/aarch64-linux-gnu-gcc-12');
  file('usr/lib/x86_64-linux-gnu/libc.so.6');
  file('lib64/ld-linux-x86-64.so.2');
  file('usr/lib/crossroot/cc.conf', 'tool gcc /x\n'); // written to after the bind: not empty, kept
  removeMountPoints(upper, ['/usr/local/bin/gcc', '/usr/lib/crossroot/host/usr/bin/aarch64-linux-gnu-gcc-12', '/usr/lib/x86_64-linux-gnu/libc.so.6',
    '/lib64/ld-linux-x86-64.so.2', '/usr/lib/crossroot/cc.conf', '/usr/local/bin/missing']);
  assert.deepEqual(readdirSync(path.join(upper, 'usr/local/bin')), ['mytool']);
  assert.ok(!existsSync(path.join(upper, 'lib64')) && !existsSync(path.join(upper, 'usr/lib/x86_64-linux-gnu')) && !existsSync(path.join(upper, 'usr/lib/crossroot/host')));
  assert.deepEqual(readdirSync(path.join(upper, 'usr/lib/crossroot')), ['cc.conf']);
});
