import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execArgv, startInstance, stopInstance } from '../../src/core/sandbox/instance';
import { busyboxRootfs, mmdebstrapAvailable } from '../fixtures/rootfs';
import { HELPER, PROBE, need, waitForExit } from '../lib/harness';
import { facts, helper, run } from './sandbox';

/** The host's first IPv4 address that is not loopback: a server there is "outside" for the env. */
function hostAddress(): string | undefined {
  return Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
}

function slirpUsable(): boolean {
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
    return existsSync('/usr/bin/slirp4netns');
  } catch { return false; }
}

async function listen(t: TestContext, host: string): Promise<number> {
  const server: Server = createServer((_req, res) => res.end('hello\n'));
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  t.after(() => server.close());
  return (server.address() as { port: number }).port;
}

/**
 * What a host offers on its network namespace: an HTTP server on every address, one on loopback
 * only (as IDE and database servers often are), and an abstract unix socket (as X11 and some
 * D-Bus and IDE sockets are), served by the probe once it says it listens.
 */
async function hostServices(t: TestContext): Promise<{ abstract: string; outside: string; loopback: number }> {
  const abstract = `crossroot-test-${randomBytes(6).toString('hex')}`;
  const server = spawn(PROBE, ['serve-abstract', abstract], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => server.kill('SIGKILL'));
  await new Promise((resolve) => server.stdout.once('data', resolve));
  const outside = `${hostAddress()}:${await listen(t, '0.0.0.0')}`;
  return { abstract, outside, loopback: await listen(t, '127.0.0.1') };
}

/** Host pids of slirp4netns processes attached to the sandbox whose PID 1 has this host pid. */
function slirpFor(init: number): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return argv[0]!.endsWith('slirp4netns') && argv.includes(String(init)) && stat[stat.lastIndexOf(')') + 2] !== 'Z';
    } catch { return false; }
  });
}

const PROBES = (s: { abstract: string; outside: string; loopback: number }) =>
  `/probe connect abstract:${s.abstract}; /probe connect tcp:${s.outside}; /probe connect tcp:10.0.2.2:${s.loopback}; /probe connect tcp:127.0.0.1:${s.loopback}; head -1 /etc/resolv.conf`;

test('network "host" reaches the host\'s abstract unix sockets; "private" does not, yet reaches a server outside through slirp4netns', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  if (!need(t, !!hostAddress(), 'the host has no non-loopback IPv4 address to serve from')) return;
  if (!need(t, slirpUsable(), 'slirp4netns is not installed or /dev/net/tun is not open to users (npm test fixes both as root)')) return;
  const rootfs = await busyboxRootfs('amd64');
  const s = await hostServices(t);
  const lines = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('connect='));

  // host: the abstract socket answers: code in the env connects to it as the user.
  const shared = await run({ rootfs, network: 'host' }, ['sh', '-c', PROBES(s)]);
  assert.equal(shared.code, 0, shared.stderr);
  assert.equal(lines(shared.stdout)[0], 'connect=ok');
  assert.equal(lines(shared.stdout)[1], 'connect=HTTP/1.1 200 OK');
  assert.equal(lines(shared.stdout)[3], 'connect=HTTP/1.1 200 OK', 'the host\'s loopback server too');

  // private: its own network namespace, so no abstract socket and no host loopback (neither as
  // its own 127.0.0.1 nor through slirp4netns's gateway), but the server outside answers, and
  // names resolve through slirp4netns's DNS.
  const own = await run({ rootfs, network: 'private' }, ['sh', '-c', PROBES(s)]);
  assert.equal(own.code, 0, own.stderr);
  const [abstract, outside, gateway, loopback] = lines(own.stdout);
  assert.equal(abstract, 'connect=Connection refused');
  assert.equal(outside, 'connect=HTTP/1.1 200 OK', own.stdout);
  assert.match(gateway!, /^connect=(Network is unreachable|Connection refused)$/);
  assert.equal(loopback, 'connect=Connection refused');
  assert.match(own.stdout, /^nameserver 10\.0\.2\.3$/m);
  // slirp4netns lived as long as the sandbox, and `run` returned only after it was gone.
  const init = Number(own.events.find((e) => e.event === 'started')?.pid);
  assert.ok(init > 0);
  assert.deepEqual(slirpFor(init), []);

  // none: nothing outside.
  const none = await run({ rootfs, network: 'none' }, ['sh', '-c', PROBES(s)]);
  assert.deepEqual(lines(none.stdout).slice(0, 2), ['connect=Connection refused', 'connect=Network is unreachable']);
});

test('an instance with a private network keeps slirp4netns while it runs, every exec shares that network, and stop ends it', { timeout: 5 * 60_000 }, async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  if (!need(t, !!hostAddress(), 'the host has no non-loopback IPv4 address to serve from')) return;
  if (!need(t, slirpUsable(), 'slirp4netns is not installed or /dev/net/tun is not open to users (npm test fixes both as root)')) return;
  const rootfs = await busyboxRootfs('amd64');
  const s = await hostServices(t);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crossroot-instance-'));
  const state = path.join(dir, 'state');
  t.after(async () => {
    await stopInstance(HELPER, state);
    rmSync(dir, { recursive: true, force: true });
  });
  // The start resolves once the helper exits: a slirp4netns holding its pipes would hang it here.
  const inst = await startInstance(HELPER, { rootfs, network: 'private', binds: [{ source: PROBE, target: '/probe', readonly: true }] }, state);
  assert.equal(slirpFor(inst.pid).length, 1);
  for (let i = 0; i < 2; i++) {
    const r = await helper(execArgv(state, ['sh', '-c', `${PROBES(s)}; echo $$`]));
    assert.equal(r.code, 0, r.stderr);
    const f = r.stdout.split('\n');
    assert.deepEqual([f[0], f[1]], ['connect=Connection refused', 'connect=HTTP/1.1 200 OK'], r.stdout);
  }
  assert.equal(facts((await helper(execArgv(state, ['/probe', 'connect', `tcp:${s.outside}`]))).stdout).connect, 'HTTP/1.1 200 OK');
  await stopInstance(HELPER, state);
  // slirp4netns exits once PID 1's end of its --exit-fd pipe closes, a moment after PID 1.
  for (const pid of slirpFor(inst.pid)) await waitForExit(pid);
  assert.deepEqual(slirpFor(inst.pid), []);
});

test('an unknown network mode is a usage error that names the three, and nothing runs', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')) return;
  const rootfs = await busyboxRootfs('amd64');
  const bad = await helper(['run', '--status-fd', '3', '--rootfs', rootfs, '--network', 'slirp', '--', 'echo', 'ran']);
  assert.equal(bad.code, 125);
  assert.equal(bad.stdout, '');
  assert.equal(bad.events.find((e) => e.event === 'error')?.code, 'EUSAGE');
  assert.match(bad.stderr, /unknown network mode 'slirp'\n.*fix: use --network host, none or private/);
});
