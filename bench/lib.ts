// Side-by-side timing for benchmarks: runs each contender interleaved (A B A B …) so machine
// noise hits all of them alike, and reports medians and ratios as a markdown table.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Contender {
  name: string;
  /** argv to time; or a function for work that is not one process. */
  argv?: string[];
  fn?: () => void;
  /** Runs before each timed run, untimed (e.g. make a fresh target dir). */
  before?: () => void;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface Row { name: string; medianMs: number; runs: number }

export function measure(contenders: Contender[], runs: number, warmup = 2): Row[] {
  const times = contenders.map(() => [] as number[]);
  for (let i = -warmup; i < runs; i++) {
    contenders.forEach((c, j) => {
      c.before?.();
      const t0 = process.hrtime.bigint();
      if (c.fn) c.fn();
      else {
        const r = spawnSync(c.argv![0]!, c.argv!.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: c.env ?? process.env, ...(c.cwd ? { cwd: c.cwd } : {}) });
        if (r.status !== 0) throw new Error(`${c.name} failed (${r.status}): ${r.stderr}`);
      }
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (i >= 0) times[j]!.push(ms);
    });
  }
  return contenders.map((c, j) => ({ name: c.name, medianMs: median(times[j]!), runs }));
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
}

/**
 * A target a row is held to: a ratio (ours / peer) or an absolute median. Rows with one say in
 * the table whether it was met, so a missed target is never hidden in the numbers.
 */
export interface Target {
  /** What the table shows, e.g. "≤ 1.0×" or "≥ 10× faster". */
  text: string;
  maxRatio?: number;
  maxMs?: number;
}

export interface ResultRow {
  label: string;
  ours: Row;
  /** Absent for rows held to an absolute target only. */
  peer?: Row;
  target?: string | Target;
}

/** "met" / "missed" for a structured target; undefined for a plain text one (or none). */
export function verdict(r: ResultRow): 'met' | 'missed' | undefined {
  if (!r.target || typeof r.target === 'string') return undefined;
  const { maxRatio, maxMs } = r.target;
  if (maxRatio !== undefined && (!r.peer || r.ours.medianMs / r.peer.medianMs > maxRatio)) return 'missed';
  if (maxMs !== undefined && r.ours.medianMs > maxMs) return 'missed';
  return 'met';
}

function targetCell(r: ResultRow): string {
  if (!r.target) return '';
  if (typeof r.target === 'string') return r.target;
  return `${r.target.text}: ${verdict(r) === 'met' ? 'met' : '**missed**'}`;
}

/** Writes bench/results/NAME.md: a heading, a table of rows with ratios to their peer, and notes. */
export function report(name: string, title: string, rows: ResultRow[], notes: string[] = []): void {
  const lines = [
    `### ${title}`, '',
    '| workload | crossroot | peer | median (ours / peer) | ratio | target |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => r.peer
      ? `| ${r.label} | ${r.ours.name} | ${r.peer.name} | ${fmtMs(r.ours.medianMs)} / ${fmtMs(r.peer.medianMs)} | ${(r.ours.medianMs / r.peer.medianMs).toFixed(2)}× | ${targetCell(r)} |`
      : `| ${r.label} | ${r.ours.name} | — | ${fmtMs(r.ours.medianMs)} | — | ${targetCell(r)} |`),
  ];
  if (notes.length) lines.push('', ...notes.map((n) => `- ${n}`));
  const text = lines.join('\n') + '\n';
  const dir = path.join(process.cwd(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${name}.md`), text);
  console.log(text);
}

export interface BenchResult {
  rows: ResultRow[];
  notes: string[];
}

/**
 * Entry point of every bench file: measures as an unprivileged user (what users are; as root,
 * re-runs `file` as the test user that `npm test` creates and reads its result back), then writes
 * the report. `file` is the bench's own path, so the re-run measures the same thing.
 */
export async function runBench(name: string, title: string, file: string, bench: () => Promise<BenchResult> | BenchResult): Promise<void> {
  const result = process.getuid?.() === 0 ? benchAsTestUser(file) : await bench();
  if (process.env.CROSSROOT_BENCH_RESULT) writeFileSync(process.env.CROSSROOT_BENCH_RESULT, JSON.stringify(result));
  else report(name, title, result.rows, result.notes);
}

function benchAsTestUser(file: string): BenchResult {
  const user = process.env.CROSSROOT_TEST_USER || 'crossroot-test';
  const home = spawnSync('getent', ['passwd', user], { encoding: 'utf8' }).stdout.split(':')[5];
  if (!home) throw new Error(`user ${user} does not exist; run npm test once as root (it creates it) or set CROSSROOT_TEST_USER`);
  const root = process.cwd();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crossroot-bench-'));
  chmodSync(dir, 0o777);
  const out = path.join(dir, 'result.json');
  const pass = ['CROSSROOT_BENCH_RUNS'].filter((k) => process.env[k]).map((k) => `${k}=${process.env[k]}`);
  try {
    const r = spawnSync('runuser', ['-u', user, '--', 'env', '-i', `HOME=${home}`, `USER=${user}`, `LOGNAME=${user}`,
      'PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', `CROSSROOT_ROOT=${root}`, `CROSSROOT_BENCH_RESULT=${out}`, ...pass,
      process.execPath, '--import', 'tsx', file], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`the benchmark failed as ${user} (exit ${r.status})`);
    return JSON.parse(readFileSync(out, 'utf8')) as BenchResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs argv and returns its stdout; throws with stderr when it exits with a code not in okCodes. */
export function sh(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; okCodes?: number[] } = {}): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status === null || !(opts.okCodes ?? [0]).includes(r.status)) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Deletes a tree that may hold subordinate-uid files (what the helper unpacked) via the helper. */
export function removeTree(helper: string, dir: string): void {
  if (existsSync(dir)) sh([helper, 'remove', '--target', dir]);
}

/** Entries under dir, counted as root in a user namespace (some dirs belong to subordinate ids). */
export function countEntries(dir: string): number {
  return Number(sh(['unshare', '--map-auto', '--map-root-user', 'sh', '-c', 'find "$0" -mindepth 1 | wc -l', dir]).trim());
}
