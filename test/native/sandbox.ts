// Runs the built helper the way the TypeScript side does (argv from helper.ts) and collects
// exit code, output and status-fd events, for the native test files.
import { spawn } from 'node:child_process';
import { HELPER, PROBE } from '../lib/harness';
import { runArgv, type SandboxOptions } from '../../src/core/sandbox/helper';

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** JSON lines the helper wrote on its status fd (fd 3 of the helper). */
  events: Array<Record<string, unknown>>;
}

export interface HelperCall {
  helper?: string;
  env?: Record<string, string>;
  input?: string;
  /** Called with the child once it runs (to send signals). */
  onSpawn?: (pid: number, stdout: NodeJS.ReadableStream) => void;
}

/** Runs `crossroot-helper ...args` with a status pipe on fd 3. */
export function helper(args: string[], call: HelperCall = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = { ...process.env as Record<string, string>, ASAN_OPTIONS: 'detect_leaks=0', ...call.env };
    const child = spawn(call.helper ?? HELPER, args, { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], env });
    let stdout = '', stderr = '', status = '';
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => { stderr += d; });
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d) => { status += d; });
    // A helper that fails before reading stdin closes it; that is not the test's failure.
    child.stdin!.on('error', () => {});
    child.stdin!.end(call.input ?? '');
    child.on('error', reject);
    if (call.onSpawn && child.pid) call.onSpawn(child.pid, child.stdout!);
    child.on('close', (code, signal) => {
      const events = status.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, signal, stdout, stderr, events });
    });
  });
}

/** `run` in a sandbox with the probe bound at /probe and the status fd on 3. */
export function run(o: SandboxOptions, command: string[], call: HelperCall = {}): Promise<Result> {
  const opts = { ...o, statusFd: 3, binds: [{ source: PROBE, target: '/probe', readonly: true }, ...(o.binds ?? [])] };
  return helper(runArgv(opts, command), call);
}

/** Parses probe's `key=value` lines. */
export function facts(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}
