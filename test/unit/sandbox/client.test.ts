// The helper client against a fake helper (a shell script speaking the status-fd protocol), so
// each way a helper can end is produced on purpose: events, warnings, its own error with a fix,
// a failure without a word, death by a signal, an abort that has to escalate to SIGKILL.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, closeSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { callHelper, callHelperSync, parseEvent, signalExitCode, type HelperEvent } from '../../../src/core/sandbox/client';
import { CrossrootError } from '../../../src/core/errors';
import { tempDir } from '../../lib/harness';

// argv: SUBCOMMAND --status-fd 3 MODE (the client puts --status-fd right after the subcommand).
const FAKE = `#!/bin/sh
[ "$2" = --status-fd ] && [ "$3" = 3 ] || { echo "no status fd: $*" >&2; exit 99; }
case "$4" in
events)
  echo '{"event":"started","pid":42}' >&3
  echo '{"event":"note","message":"resolv.conf not bound"}' >&3
  echo '{"event":"warning","code":"ENOCGROUP","message":"limits not applied","fix":"use systemd-run"}' >&3
  echo 'not json' >&3
  echo '{"event":"from-the-future"}' >&3
  echo out1; echo err1 >&2; echo out2
  echo '{"event":"exited","code":7}' >&3
  exit 7;;
error)
  echo 'crossroot-helper: /x does not exist' >&2
  echo '{"event":"error","code":"ENOROOTFS","message":"/x does not exist","fix":"pull the image first"}' >&3
  exit 125;;
nocmd)
  echo '{"event":"error","code":"ENOCMD","message":"nope: not found","fix":""}' >&3
  echo '{"event":"exited","code":127}' >&3
  exit 127;;
quiet-fail) echo 'it broke' >&2; exit 3;;
signal) kill -USR1 $$;;
stdin) tr a-z A-Z;;
fd4) readlink /proc/$$/fd/4;;
hang) trap '' TERM; echo "{\\"event\\":\\"started\\",\\"pid\\":$$}" >&3; read _;;
quiet-events)
  echo '{"event":"joined","pid":42}' >&3
  echo '{"event":"warning","code":"EUSERMAP","message":"running as root","fix":"add a subuid range"}' >&3
  echo '{"event":"exited","code":7}' >&3
  exit 7;;
hang-quiet) trap '' TERM; echo "{\\"event\\":\\"started\\",\\"pid\\":$$}" >&3; exec 3>&-; while :; do sleep 1; done;;
esac
`;

function fake(t: TestContext): string {
  const file = path.join(tempDir(t), 'fake-helper');
  writeFileSync(file, FAKE);
  chmodSync(file, 0o755);
  return file;
}

test('events reach the caller in order, warnings and notes through their callbacks, the exit code is the command\'s', async (t) => {
  const helper = fake(t);
  const seen: HelperEvent[] = [], warnings: string[] = [], notes: string[] = [], out: string[] = [], err: string[] = [];
  const r = await callHelper(helper, {
    argv: ['run', 'events'],
    onEvent: (e) => seen.push(e), onWarning: (w) => warnings.push(`${w.code}: ${w.message} (${w.fix})`), onNote: (m) => notes.push(m),
    onStdout: (l) => out.push(l), onStderr: (l) => err.push(l),
  });
  assert.equal(r.code, 7);
  assert.deepEqual(r.events.map((e) => e.event), ['started', 'note', 'warning', 'exited']);
  assert.deepEqual(seen, r.events);
  assert.deepEqual(warnings, ['ENOCGROUP: limits not applied (use systemd-run)']);
  assert.deepEqual(notes, ['resolv.conf not bound']);
  assert.deepEqual(out, ['out1', 'out2']);
  assert.deepEqual(err, ['err1']);
  assert.deepEqual([...r.tail].sort(), ['err1', 'out1', 'out2']);
});

test('the helper\'s own error becomes a CrossrootError with its code, message and fix', async (t) => {
  const helper = fake(t);
  await assert.rejects(callHelper(helper, { argv: ['run', 'error'] }), (e: unknown) => {
    assert.ok(e instanceof CrossrootError);
    assert.equal(e.code, 'ENOROOTFS');
    assert.equal(e.message, '/x does not exist');
    assert.equal(e.fix, 'pull the image first');
    assert.equal(e.shown, false); // piped: the user has not seen the helper's stderr
    return true;
  });
  // On the user's terminal the helper has printed it already: the CLI must not say it twice.
  await assert.rejects(callHelper(helper, { argv: ['run', 'error'], stdio: 'inherit' }), (e: unknown) => e instanceof CrossrootError && e.shown);
  assert.throws(() => callHelperSync(helper, { argv: ['remove', 'error'] }), (e: unknown) => e instanceof CrossrootError && e.code === 'ENOROOTFS' && e.fix === 'pull the image first');
});

test('a command the sandbox cannot find is the command\'s failure (127), not the helper\'s', async (t) => {
  const r = await callHelper(fake(t), { argv: ['exec', 'nocmd'] });
  assert.equal(r.code, 127);
  assert.equal(r.events.find((e) => e.event === 'error')?.code, 'ENOCMD');
});

test('a helper that fails without an error event is reported with the last lines it printed', async (t) => {
  const helper = fake(t);
  await assert.rejects(callHelper(helper, { argv: ['start', 'quiet-fail'] }), (e: unknown) =>
    e instanceof CrossrootError && e.code === 'EHELPER' && /start exited with 3:\nit broke/.test(e.message));
  assert.throws(() => callHelperSync(helper, { argv: ['remove', 'quiet-fail'] }), /remove exited with 3:\nit broke/);
  // For a command, any code is an answer.
  assert.equal((await callHelper(helper, { argv: ['run', 'quiet-fail'] })).code, 3);
});

test('a helper killed by signal n exits 128+n', async (t) => {
  const helper = fake(t);
  assert.equal(signalExitCode('SIGUSR1'), 138);
  assert.equal((await callHelper(helper, { argv: ['run', 'signal'] })).code, 138);
  assert.equal((await callHelper(helper, { argv: ['exec', 'signal'], stdio: 'inherit' })).code, 138);
  await assert.rejects(callHelper(helper, { argv: ['stop', 'signal'] }), /stop was killed by SIGUSR1/);
});

test('stdin is fed from a string or a stream; fds are inherited from 4 on', async (t) => {
  const helper = fake(t);
  assert.deepEqual((await callHelper(helper, { argv: ['run', 'stdin'], stdin: 'abc\n' })).tail, ['ABC']);
  assert.equal((await callHelper(helper, { argv: ['run', 'stdin'], stdin: Readable.from(['de', 'f\n']) })).stdout, 'DEF\n');
  const file = path.join(tempDir(t), 'lock');
  const fd = openSync(file, 'w');
  try {
    assert.equal((await callHelper(helper, { argv: ['run', 'fd4'], fds: [fd] })).stdout, `${file}\n`);
  } finally {
    closeSync(fd);
  }
});

test('a failing stdin stream stops the helper and is what the call rejects with', async (t) => {
  const input = new PassThrough();
  const call = callHelper(fake(t), { argv: ['run', 'hang'], stdin: input, onEvent: (e) => { if (e.event === 'started') input.destroy(new Error('download failed')); } });
  await assert.rejects(call, /download failed/);
});

test('abort stops the helper: SIGTERM, then SIGKILL when it ignores that', async (t) => {
  const ac = new AbortController();
  let pid = 0;
  const call = callHelper(fake(t), {
    argv: ['run', 'hang'], stdin: new PassThrough(), signal: ac.signal, killAfterMs: 100,
    onEvent: (e) => { if (e.event === 'started') { pid = e.pid; ac.abort(new Error('user cancelled')); } },
  });
  await assert.rejects(call, /user cancelled/);
  assert.ok(pid > 0);
  assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
});

test('on the terminal (stdio inherit) the same events, warnings, exit codes and errors arrive', async (t) => {
  const helper = fake(t);
  const seen: string[] = [];
  const warnings: string[] = [];
  const r = await callHelper(helper, { argv: ['exec', 'quiet-events'], stdio: 'inherit', onEvent: (e) => seen.push(e.event), onWarning: (w) => warnings.push(w.code) });
  assert.equal(r.code, 7);
  assert.deepEqual(seen, ['joined', 'warning', 'exited']);
  assert.deepEqual(warnings, ['EUSERMAP']);
  assert.deepEqual(r.events.at(-1), { event: 'exited', code: 7 });
  assert.equal((await callHelper(helper, { argv: ['exec', 'nocmd'], stdio: 'inherit' })).code, 127);
  await assert.rejects(callHelper(path.join(tempDir(t), 'nope'), { argv: ['exec'], stdio: 'inherit' }), (e: unknown) => e instanceof CrossrootError && e.code === 'ENOHELPER');
});

test('abort stops a helper on the terminal too: SIGTERM, then SIGKILL', async (t) => {
  const ac = new AbortController();
  let pid = 0;
  const call = callHelper(fake(t), {
    argv: ['exec', 'hang-quiet'], stdio: 'inherit', signal: ac.signal, killAfterMs: 100,
    onEvent: (e) => { if (e.event === 'started') { pid = e.pid; ac.abort(new Error('user cancelled')); } },
  });
  await assert.rejects(call, /user cancelled/);
  assert.ok(pid > 0);
  assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
});

test('a missing helper binary says how to get one', async (t) => {
  const missing = path.join(tempDir(t), 'nope');
  await assert.rejects(callHelper(missing, { argv: ['run'] }), (e: unknown) => e instanceof CrossrootError && e.code === 'ENOHELPER' && /make -C native/.test(e.fix ?? ''));
  assert.throws(() => callHelperSync(missing, { argv: ['remove'] }), (e: unknown) => e instanceof CrossrootError && e.code === 'ENOHELPER');
});

test('status lines that are not events of the table are skipped', () => {
  assert.equal(parseEvent('nonsense'), undefined);
  assert.equal(parseEvent('{"event":"exited"}'), undefined); // no code
  assert.deepEqual(parseEvent('{"event":"error","code":"EFAIL","message":"m"}'), { event: 'error', code: 'EFAIL', message: 'm', fix: '' });
});
