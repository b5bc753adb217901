import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../lib/harness';
import {
  readLockfile, writeLockfile, lockedDigest, withLockedImage, formatLockfile, parseLockfile, lockfilePath, MAX_LOCKFILE_BYTES,
  type Lockfile,
} from '../../src/core/lockfile';
import { CrossrootError } from '../../src/core/errors';

const d = (c: string): string => `sha256:${c.repeat(64)}`;

test('a missing lockfile reads as undefined and locks nothing', (t) => {
  const dir = tempDir(t);
  assert.equal(readLockfile(dir), undefined);
  assert.equal(lockedDigest(undefined, 'debian:bookworm', 'arm64'), undefined);
});

test('lockfile round-trips and answers the locked digest per image and arch', (t) => {
  const dir = tempDir(t);
  let lock = withLockedImage(undefined, 'debian:bookworm', 'arm64', { manifest: d('a'), index: d('b'), platform: 'linux/arm64/v8', config: d('c') });
  lock = withLockedImage(lock, 'debian:bookworm', 'amd64', { manifest: d('d'), platform: 'linux/amd64', config: d('e') });
  writeLockfile(dir, lock);
  const back = readLockfile(dir)!;
  assert.deepEqual(back, lock);
  assert.equal(lockedDigest(back, 'debian:bookworm', 'arm64'), d('a'));
  assert.equal(lockedDigest(back, 'debian:bookworm', 'amd64'), d('d'));
  assert.equal(lockedDigest(back, 'debian:bookworm', 'riscv64'), undefined);
  assert.equal(lockedDigest(back, 'debian:trixie', 'arm64'), undefined);
  // Only the lockfile itself is left in the folder (the temp name was renamed away).
  assert.deepEqual(readdirSync(dir), ['crossroot.lock']);
});

test('lockfile text is stable whatever order entries were added in', () => {
  const a1 = { manifest: d('1'), platform: 'linux/arm64/v8', config: d('2') };
  const a2 = { manifest: d('3'), platform: 'linux/amd64', config: d('4') };
  const x = withLockedImage(withLockedImage(withLockedImage(undefined, 'z:1', 'arm64', a1), 'a:1', 'amd64', a2), 'a:1', 'arm64', a1);
  const y = withLockedImage(withLockedImage(withLockedImage(undefined, 'a:1', 'arm64', a1), 'a:1', 'amd64', a2), 'z:1', 'arm64', a1);
  const text = formatLockfile(x);
  assert.equal(text, formatLockfile(y));
  assert.ok(text.endsWith('}\n') && !text.endsWith('\n\n'));
  assert.equal(text, [
    '{',
    '  "lockfileVersion": 1,',
    '  "images": {',
    '    "a:1": {',
    '      "amd64": {',
    `        "manifest": "${d('3')}",`,
    '        "platform": "linux/amd64",',
    `        "config": "${d('4')}"`,
    '      },',
    '      "arm64": {',
    `        "manifest": "${d('1')}",`,
    '        "platform": "linux/arm64/v8",',
    `        "config": "${d('2')}"`,
    '      }',
    '    },',
    '    "z:1": {',
    '      "arm64": {',
    `        "manifest": "${d('1')}",`,
    '        "platform": "linux/arm64/v8",',
    `        "config": "${d('2')}"`,
    '      }',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n'));
});

test('keys written by a newer part of Crossroot survive a rewrite', (t) => {
  const dir = tempDir(t);
  const text = JSON.stringify({ setup: { arm64: 'hash' }, lockfileVersion: 1, images: {} });
  writeFileSync(lockfilePath(dir), text);
  const lock = withLockedImage(readLockfile(dir), 'debian:bookworm', 'arm64', { manifest: d('a'), platform: 'linux/arm64/v8', config: d('c') });
  writeLockfile(dir, lock);
  const raw = JSON.parse(readFileSync(lockfilePath(dir), 'utf8')) as Lockfile;
  assert.deepEqual(raw.setup, { arm64: 'hash' });
  assert.deepEqual(Object.keys(raw), ['lockfileVersion', 'images', 'setup']);
});

test('a damaged lockfile is an error that names the file and says how to fix it', (t) => {
  const dir = tempDir(t);
  const cases: [string, RegExp][] = [
    ['{not json', /not valid JSON/],
    ['[]', /expected a JSON object/],
    ['{"images":{}}', /lockfileVersion/],
    [JSON.stringify({ lockfileVersion: 1, images: { 'x:1': { arm64: { manifest: 'sha256:abc', platform: 'linux/arm64', config: d('c') } } } }), /manifest must be a sha256/],
    [JSON.stringify({ lockfileVersion: 1, images: { 'x:1': { arm64: { manifest: d('a'), config: d('c') } } } }), /platform must be/],
  ];
  for (const [text, re] of cases) {
    writeFileSync(lockfilePath(dir), text);
    assert.throws(() => readLockfile(dir), (e: unknown) => {
      assert.ok(e instanceof CrossrootError);
      assert.equal(e.code, 'ELOCKFILE');
      assert.match(e.message, re);
      assert.match(e.message, /crossroot\.lock/);
      assert.ok(e.fix);
      return true;
    }, text);
  }
});

test('a lockfile from a newer Crossroot asks for an update instead of being rewritten', () => {
  assert.throws(() => parseLockfile('{"lockfileVersion":2,"images":{}}'), (e: unknown) => {
    assert.ok(e instanceof CrossrootError);
    assert.match(e.fix ?? '', /update Crossroot/);
    return true;
  });
});

test('writing into a folder that is not there fails with a fix-it', (t) => {
  const dir = path.join(tempDir(t), 'missing');
  assert.throws(() => writeLockfile(dir, withLockedImage(undefined, 'a:1', 'arm64', { manifest: d('a'), platform: 'linux/arm64/v8', config: d('c') })),
    (e: unknown) => e instanceof CrossrootError && e.code === 'ELOCKFILE' && /writable/.test(e.fix ?? ''));
});

test('a lockfile is read only as a regular file of bounded size', (t) => {
  const dir = tempDir(t);
  const file = lockfilePath(dir);
  const refused = (re: RegExp) => (e: unknown) => e instanceof CrossrootError && e.code === 'ELOCKFILE' && re.test(e.message) && /crossroot lock/.test(e.fix ?? '');
  // A link to an endless device must not be read: it would hang the language server and fill its memory.
  symlinkSync('/dev/zero', file);
  assert.throws(() => readLockfile(dir), refused(/crossroot\.lock is not a regular file/));
  rmSync(file);
  execFileSync('mkfifo', [file]); // opening it must not wait for a writer
  assert.throws(() => readLockfile(dir), refused(/is not a regular file/));
  rmSync(file);
  writeFileSync(file, formatLockfile({ lockfileVersion: 1, images: {} }) + ' '.repeat(MAX_LOCKFILE_BYTES));
  assert.throws(() => readLockfile(dir), refused(new RegExp(`crossroot\\.lock is ${MAX_LOCKFILE_BYTES + 43} bytes, more than the ${MAX_LOCKFILE_BYTES} allowed`)));
  // A link to a regular lockfile (kept elsewhere in the repository) is still read.
  const real = path.join(dir, 'shared.lock');
  writeFileSync(real, formatLockfile({ lockfileVersion: 1, images: {} }));
  rmSync(file);
  symlinkSync(real, file);
  assert.deepEqual(readLockfile(dir), { lockfileVersion: 1, images: {} });
});
