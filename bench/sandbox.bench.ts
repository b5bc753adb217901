// Starting commands in a sandbox and working inside an arm64 rootfs: crossroot-helper side by side
// with bwrap, direct qemu-user and proot -q, as an unprivileged user (re-run as one when root).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { busyboxRootfs, debianRootfs, qemuFor } from '../test/fixtures/rootfs';
import { HELPER } from '../test/lib/harness';
import { measure, runBench, type BenchResult, type Contender } from './lib';
import { fileURLToPath } from 'node:url';


type Result = BenchResult;

/** argv runs and exits 0 (probed once before timing); the output, or the reason it cannot run. */
function probe(argv: string[]): { ok: true; stdout: string } | { ok: false; why: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 120_000 });
  if (r.error) return { ok: false, why: r.error.message };
  if (r.status !== 0) return { ok: false, why: `exit ${r.status}: ${(r.stderr || '').trim().split('\n').slice(-2).join(' / ')}` };
  return { ok: true, stdout: r.stdout };
}

function version(argv: string[], re = /^(.*)$/m, prefix = ''): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  const m = re.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`.trim());
  return m ? `${prefix}${m[1]}` : `${path.basename(argv[0]!)} (version unknown)`;
}

async function bench(): Promise<Result> {
  const res: Result = { rows: [], notes: [] };
  const qemu = qemuFor('arm64') ?? 'qemu-aarch64-static';
  const amd64 = await busyboxRootfs('amd64');
  const arm64 = await busyboxRootfs('arm64');
  const helperRun = (rootfs: string, extra: string[], cmd: string[]) => [HELPER, 'run', '--rootfs', rootfs, ...extra, '--', ...cmd];
  const bwrap = (rootfs: string, cmd: string[]) => ['bwrap', '--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts',
    '--ro-bind', rootfs, '/', '--proc', '/proc', '--dev', '/dev', '--', ...cmd];
  const proot = (rootfs: string, cmd: string[]) => ['proot', '-q', qemu, '-r', rootfs, ...cmd];

  // Each row: both sides must run, else the row is replaced by a note saying why.
  const pair = (label: string, ours: Contender, peer: Contender, runs: number, target?: string, check?: (a: string, b: string) => string | undefined) => {
    const a = probe(ours.argv!), b = probe(peer.argv!);
    if (!a.ok || !b.ok) {
      res.notes.push(`${label}: not measured, ${!a.ok ? `${ours.name} failed (${a.why})` : `${peer.name} failed (${(b as { why: string }).why})`}`);
      return;
    }
    const problem = check?.(a.stdout, b.stdout);
    if (problem) {
      res.notes.push(`${label}: not measured, outputs differ: ${problem}`);
      return;
    }
    console.error(`sandbox bench: ${label}`);
    const [o, p] = measure([ours, peer], runs);
    res.rows.push({ label, ours: o!, peer: p!, target });
  };

  const bwrapTrue: Contender = { name: 'bwrap', argv: bwrap(amd64, ['/bin/true']) };
  pair('native cold start `true` (amd64 busybox)', { name: 'crossroot-helper run', argv: helperRun(amd64, [], ['/bin/true']) }, bwrapTrue, 200, '≤ 1.0×');
  pair('native cold start `true`, single-uid map', { name: 'crossroot-helper run --idmap single', argv: helperRun(amd64, ['--idmap', 'single'], ['/bin/true']) }, bwrapTrue, 200, '≤ 1.0×');

  const oursArm64True: Contender = { name: 'crossroot-helper run --arch arm64', argv: helperRun(arm64, ['--arch', 'arm64'], ['/bin/true']) };
  const directQemu: Contender = { name: 'qemu-aarch64-static -L (direct)', argv: [qemu, '-L', arm64, path.join(arm64, 'bin/true')] };
  pair('arm64 cold start `true` (busybox)', oursArm64True, directQemu, 100, '≤ 1.2×');
  pair('arm64 cold start `true`, single-uid map', { name: 'crossroot-helper run --arch arm64 --idmap single', argv: helperRun(arm64, ['--arch', 'arm64', '--idmap', 'single'], ['/bin/true']) }, directQemu, 100, '≤ 1.2×');
  pair('arm64 cold start `true` (busybox)', oursArm64True, { name: 'proot -q qemu-aarch64-static', argv: proot(arm64, ['/bin/true']) }, 50);

  // Join: one instance started up front; each timed run is a new process joining it.
  const state = mkdtempSync(path.join(os.tmpdir(), 'crossroot-bench-state-'));
  try {
    const started = probe([HELPER, 'start', '--state', state, '--rootfs', amd64]);
    if (!started.ok) res.notes.push(`join latency: not measured, crossroot-helper start failed (${started.why})`);
    else pair('join a running env, `true`', { name: 'crossroot-helper exec', argv: [HELPER, 'exec', '--state', state, '--', '/bin/true'] }, bwrapTrue, 200, '≤ 0.7× (vs bwrap cold)');
  } finally {
    spawnSync(HELPER, ['stop', '--state', state], { stdio: 'ignore' });
    rmSync(state, { recursive: true, force: true });
  }

  const debian = await debianRootfs();
  const same = (what: string) => (a: string, b: string) => (a.trim() === b.trim() ? undefined : `${what} ${a.trim()} (crossroot) vs ${b.trim()} (proot)`);
  for (const [label, script, runs] of [
    // `\|`: the labels go into a markdown table.
    ['arm64 `find /usr -type f \\| wc -l` (Debian minbase)', 'find /usr -type f | wc -l', 10],
    ['arm64 `tar -cf - /usr \\| wc -c` (Debian minbase)', 'tar -cf - /usr 2>/dev/null | wc -c', 5],
  ] as const) {
    const cmd = ['/bin/sh', '-c', script];
    pair(label, { name: 'crossroot-helper run --arch arm64', argv: helperRun(debian, ['--arch', 'arm64'], cmd) },
      { name: 'proot -q qemu-aarch64-static', argv: proot(debian, cmd) }, runs, '≤ 0.067× (15× faster)', same(script.startsWith('find') ? 'file count' : 'tar bytes'));
  }
  res.notes.push('The default id map (`--idmap auto`) is a full subuid map; the setuid newuidmap/newgidmap run once per user for the keeper (a small process holding a mapped user namespace, like podman\'s pause process) and later sandboxes nest inside it; `--idmap single` maps only the caller.');
  res.notes.push(`Peers: ${version(['bwrap', '--version'])}, ${version(['proot', '--version'], /(\d+\.\d+\.\d+)/, 'proot ')}, ${version([qemu, '--version'])}.`);
  res.notes.push(`${os.cpus().length} CPUs, Linux ${os.release()}, as uid ${process.getuid?.()} (unprivileged); medians of interleaved runs; rootfs trees from test/fixtures/rootfs.ts.`);
  return res;
}

await runBench('sandbox', 'Sandbox start and arm64 work (crossroot-helper vs bwrap, qemu-user, proot)', fileURLToPath(import.meta.url), bench);
