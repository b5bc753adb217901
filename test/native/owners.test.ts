// chown in a single-id map: to an id the map lacks it succeeds, and the owner is recorded in
// user.crossroot.owner (the record unpack writes), instead of failing with EINVAL; in a full
// map chown is real. See native/README.md, "chown in a single-id map".
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execArgv, startInstance, stopInstance } from '../../src/core/sandbox/instance';
import { busyboxRootfs, mmdebstrapAvailable, qemuAvailable, removeTree } from '../fixtures/rootfs';
import { HELPER, PROBE, need } from '../lib/harness';
import { facts, helper, run } from './sandbox';

process.env.ASAN_OPTIONS = 'detect_leaks=0';

function owner(file: string): string | undefined {
  const r = spawnSync('getfattr', ['--only-values', '-h', '-n', 'user.crossroot.owner', file], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : undefined;
}

/** An overlay upper/work pair, removed as the store removes trees (a full map leaves subuid files). */
function overlay(t: TestContext): { upper: string; work: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crossroot-owners-'));
  t.after(() => removeTree(dir));
  return { upper: path.join(dir, 'upper'), work: path.join(dir, 'work') };
}

const UNCHANGED = '4294967295'; // (uid_t)-1

test('single-id map: chown to ids the map lacks succeeds through every chown call, and user.crossroot.owner records the owner (and keeps the mode)', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const { upper, work } = overlay(t);
  const script = [
    'set -e',
    'touch /f-path /f-fd /f-empty /f-setuid /f-root /f-nocap; mkdir /d',
    '/probe chown path /f-path 0 4',
    '/probe chown fd /f-fd 42 42',
    `/probe chown empty /f-empty ${UNCHANGED} 8`,
    '/probe chown path /d 42 0',
    // a relative path from the cwd, through a symlink that the call follows
    'ln -s f-path /link; cd /d && /probe chown path ../link 0 12 && cd /',
    // lchown: the link itself (no user.* xattr on symlinks: succeeds, nothing to record)
    '/probe chown lpath /link 9 9',
    // chown clears setuid, as the kernel does for a real one
    'chmod 4755 /f-setuid; /probe chown path /f-setuid 1 1',
    // back to root:root: the record goes away
    '/probe chown path /f-root 5 5; /probe chown path /f-root 0 0',
    '/probe chown path /missing 1 1',
    // chmod after chown (as dpkg and apt do): the record keeps the file's mode; without a
    // record chmod is the kernel's as always
    'touch /f-mode /f-plain; /probe chown fd /f-mode 0 4; chmod 2640 /f-mode; chmod 600 /f-plain',
    // /proc/self means whoever resolves it: a path through a magic link goes back to the kernel
    // (EINVAL for the unmapped id); resolved by the supervisor it would name the supervisor's fd 0
    'cd /proc && /probe chown path self/fd/0 42 42 </dev/null && cd /',
    // without CAP_CHOWN the kernel answers (an unmapped id: EINVAL), not the supervisor
    '/probe chown nocap /f-nocap 1 1',
    'stat -c "%u:%g %a %n" /f-path /f-setuid /d /f-mode /f-plain',
  ].join('\n');
  const r = await run({ rootfs, idmap: 'single', upper, work }, ['sh', '-c', script]);
  assert.equal(r.code, 0, r.stderr);
  const results = r.stdout.split('\n').filter((l) => l.startsWith('chown='));
  assert.deepEqual(results, ['chown=ok', 'chown=ok', 'chown=ok', 'chown=ok', 'chown=ok', 'chown=ok', 'chown=ok', 'chown=ok', 'chown=ok',
    'chown=No such file or directory', 'chown=ok', 'chown=Invalid argument', 'chown=Invalid argument']);
  // Inside, a single map shows every file as root's: the owner lives in the record.
  assert.match(r.stdout, /^0:0 644 \/f-path\n0:0 755 \/f-setuid\n0:0 755 \/d\n0:0 2640 \/f-mode\n0:0 600 \/f-plain$/m);
  assert.equal(owner(path.join(upper, 'f-mode')), '0:4:2640');
  assert.equal(owner(path.join(upper, 'f-plain')), undefined);
  assert.equal(owner(path.join(upper, 'f-path')), '0:12:644', 'chown via ../link followed the link; merged with 0:4 before');
  assert.equal(owner(path.join(upper, 'f-fd')), '42:42:644');
  assert.equal(owner(path.join(upper, 'f-empty')), '0:8:644', '-1 keeps the uid');
  assert.equal(owner(path.join(upper, 'd')), '42:0:755');
  assert.equal(owner(path.join(upper, 'f-setuid')), '1:1:755');
  assert.equal(statSync(path.join(upper, 'f-setuid')).mode & 0o7777, 0o755, 'setuid cleared on the file itself');
  assert.equal(owner(path.join(upper, 'f-root')), undefined, 'root:root needs no record');
  assert.equal(owner(path.join(upper, 'f-nocap')), undefined);
  // Every file is still the caller's on the host.
  assert.equal(statSync(path.join(upper, 'f-fd')).uid, process.getuid!());
});

test('single-id map under qemu (arm64): the foreign binary\'s chown is recorded too; a full map chowns for real', async (t) => {
  if (!need(t, mmdebstrapAvailable() && qemuAvailable('arm64'), 'mmdebstrap or qemu-user-static missing')) return;
  const rootfs = await busyboxRootfs('arm64');
  const single = overlay(t);
  const r = await run({ rootfs, arch: 'arm64', idmap: 'single', ...single },
    ['sh', '-c', 'set -e; mkdir -p /var/log/x; touch /var/log/x/f; chown -R 0:4 /var/log/x; chmod 2750 /var/log/x; ls -ln /var/log/x']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^-rw-r--r-- +1 0 +0 .* f$/m);
  assert.equal(owner(path.join(single.upper, 'var/log/x')), '0:4:2750', 'the chmod after the chown is in the record');
  assert.equal(owner(path.join(single.upper, 'var/log/x/f')), '0:4:644');
  const full = overlay(t);
  const f = await run({ rootfs, arch: 'arm64', idmap: 'full', ...full }, ['sh', '-c', 'set -e; touch /f; chown 0:4 /f; ls -ln /f']);
  assert.equal(f.code, 0, f.stderr);
  assert.match(f.stdout, /^-rw-r--r-- +1 0 +4 .* \/f$/m);
  assert.equal(owner(path.join(full.upper, 'f')), undefined, 'a full map has the id: no record');
});

test('single-id map: an exec into a running instance gets its chowns recorded as well', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const { upper, work } = overlay(t);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crossroot-owners-state-'));
  const state = path.join(dir, 'state');
  t.after(async () => {
    await stopInstance(HELPER, state);
    rmSync(dir, { recursive: true, force: true });
  });
  await startInstance(HELPER, { rootfs, idmap: 'single', upper, work, binds: [{ source: PROBE, target: '/probe', readonly: true }] }, state);
  const r = await helper(execArgv(state, ['sh', '-c', 'cd /tmp && touch /e && /probe chown path ../e 0 4 && /probe chown fd /e 3 -1'], { statusFd: 3 }));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(facts(r.stdout).chown, 'ok');
  assert.equal(owner(path.join(upper, 'e')), '3:4:644');
});
