// The one door to crossroot-helper: every start of it in src/ goes through callHelper (or
// callHelperSync where the caller is synchronous). It owns the argv hand-off, the fds the helper
// inherits (fd 3: status events; 4, 5, …: locks), the status-fd JSON events as the one result
// channel (stderr is for humans and is never parsed), warnings and notes handed to the caller,
// one mapping of signals to exit codes (128+n) and the helper's errors as CrossrootError with its
// code and fix. The argv builders (helper.ts, instance.ts, check.ts, store/unpack.ts) stay pure.
import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { CrossrootError } from '../errors';
import { runArgv, type SandboxOptions } from './helper';

/** The descriptor the helper writes its JSON events to (native/README.md, "Status fd"). */
export const STATUS_FD = 3;

/** What the helper skipped while unpacking (device nodes, xattrs, foreign owners, other). */
export interface SkipCounts {
  devices: number;
  xattrs: number;
  owners: number;
  other: number;
}

/** One status-fd line, as native/README.md's table (run/start/exec/stop) and docs/unpack.md (unpack, remove) list them. */
export type HelperEvent =
  | { event: 'started'; pid: number }
  | { event: 'joined'; pid: number }
  | { event: 'exited'; code: number }
  | { event: 'stopped'; pid?: number; stale?: boolean }
  | { event: 'note'; message: string }
  | { event: 'warning'; code: string; message: string; fix: string }
  | { event: 'error'; code: string; message: string; fix: string }
  | { event: 'progress'; layer: number; bytesIn: number }
  | { event: 'layer-done'; layer: number; entries: number; bytesIn: number; compression: string; skipped: SkipCounts }
  | { event: 'done'; layers?: number; entries?: number; idmap?: string; skipped?: SkipCounts; compression?: string; bytesIn?: number; bytesOut?: number };

export type HelperWarning = Extract<HelperEvent, { event: 'warning' }>;

/** Where the helper's stdio goes. */
export type HelperStdio =
  /** The caller's terminal: a shell or a command run by the user (job control works). */
  | 'inherit'
  /** Streamed line by line to onStdout/onStderr; stdin from `stdin`. */
  | 'pipe';

export interface CallOptions {
  /** Subcommand and its options (from the argv builders); `--status-fd 3` is added unless `status` is false. */
  argv: string[];
  /** Default 'pipe'. */
  stdio?: HelperStdio;
  /** Pipe mode: what the helper reads (default 'ignore'); a stream that fails stops the helper and the call rejects with its error. */
  stdin?: 'ignore' | string | Readable;
  onStdout?: (line: string) => void;
  onStderr?: (line: string) => void;
  /** Descriptors of this process the helper inherits as fd 4, 5, … (store locks it must hold while it runs). */
  fds?: number[];
  /** Every status event, in order. */
  onEvent?: (e: HelperEvent) => void;
  onWarning?: (w: HelperWarning) => void;
  onNote?: (message: string) => void;
  /** Stops the helper (SIGTERM, SIGKILL after `killAfterMs`); the call then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Milliseconds between SIGTERM and SIGKILL when aborted; default 5000. */
  killAfterMs?: number;
  /** The helper's own environment (default: this process's); the command's is `--env` in the argv. */
  helperEnv?: NodeJS.ProcessEnv;
  /** False for commands without a status fd (check, --version). Default true. */
  status?: boolean;
  /**
   * 'command' (run, exec): the exit code is the command's and is returned whatever it is.
   * 'success': anything but exit 0 is a failure (CrossrootError). 'report': 0 and 1 are answers (check).
   * Default: 'command' for run/exec, 'success' otherwise.
   */
  expect?: 'command' | 'success' | 'report';
  /** Lines of output kept in `tail` (default 20). */
  tailLines?: number;
}

export interface HelperResult {
  /** The command's exit code (its `exited` event), else the helper's own; 128+n for signal n. */
  code: number;
  events: HelperEvent[];
  /** Pipe mode: the whole stdout (capped at 1 MiB), for commands that answer there (check). */
  stdout: string;
  /** Pipe mode: the last lines of stdout and stderr, interleaved as they came, for error messages. */
  tail: string[];
}

export const HELPER_FIX = 'build it with `make -C native`, or point CROSSROOT_HELPER at a built helper';
const STDOUT_CAP = 1 << 20;

/** 128+n for signal n, the shell's convention and the helper's (native/README.md, "Exit codes"). */
export function signalExitCode(signal: NodeJS.Signals | string): number {
  return 128 + (os.constants.signals[signal as NodeJS.Signals] ?? 0);
}

/** Parses one status line; undefined for anything that is not a known event (a newer helper's extra events are skipped). */
export function parseEvent(line: string): HelperEvent | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object') return undefined;
  const e = v as Record<string, unknown>;
  const num = (k: string) => typeof e[k] === 'number';
  const str = (k: string) => typeof e[k] === 'string';
  switch (e.event) {
    case 'started': case 'joined': return num('pid') ? e as HelperEvent : undefined;
    case 'exited': return num('code') ? e as HelperEvent : undefined;
    case 'stopped': case 'done': return e as HelperEvent;
    case 'note': return str('message') ? e as HelperEvent : undefined;
    case 'warning': case 'error':
      return str('code') && str('message') ? { ...e, fix: str('fix') ? e.fix : '' } as HelperEvent : undefined;
    case 'progress': return num('layer') ? { bytesIn: 0, ...e } as HelperEvent : undefined;
    case 'layer-done': return num('layer') ? { bytesIn: 0, entries: 0, compression: '', skipped: {}, ...e } as HelperEvent : undefined;
    default: return undefined;
  }
}

/** The argv with `--status-fd 3` after the subcommand (every subcommand takes it before `--`). */
function withStatusFd(argv: string[]): string[] {
  const dash = argv.indexOf('--');
  const opts = dash < 0 ? argv : argv.slice(0, dash);
  if (opts.includes('--status-fd')) return argv;
  return [argv[0]!, '--status-fd', String(STATUS_FD), ...argv.slice(1)];
}

function expectation(o: CallOptions): 'command' | 'success' | 'report' {
  return o.expect ?? (o.argv[0] === 'run' || o.argv[0] === 'exec' ? 'command' : 'success');
}

/** Collects events and hands each to the caller's callbacks. */
function eventSink(o: CallOptions) {
  const events: HelperEvent[] = [];
  return {
    events,
    line(line: string) {
      const e = parseEvent(line);
      if (!e) return;
      events.push(e);
      o.onEvent?.(e);
      if (e.event === 'warning') o.onWarning?.(e);
      else if (e.event === 'note') o.onNote?.(e.message);
    },
  };
}

/** Keeps the last n lines. */
function tailKeeper(n: number) {
  const tail: string[] = [];
  return { tail, push(line: string) { tail.push(line); if (tail.length > n) tail.shift(); } };
}

/**
 * Turns how the helper ended into the call's answer: the command's code when it reported one, a
 * CrossrootError when it reported its own failure (or failed without a word where success was expected).
 */
function settle(o: CallOptions, exit: { code?: number | undefined; signal?: string | undefined }, events: HelperEvent[], stdout: string, tail: string[]): HelperResult {
  const exited = events.find((e) => e.event === 'exited');
  const code = exited?.code ?? exit.code ?? (exit.signal ? signalExitCode(exit.signal) : 125);
  const result = { code, events, stdout, tail };
  if (exited) return result;
  const error = events.find((e): e is Extract<HelperEvent, { event: 'error' }> => e.event === 'error');
  if (error) {
    // In inherit mode the helper has already printed it on the user's terminal.
    throw new CrossrootError(error.code, error.message, { fix: error.fix || undefined, shown: o.stdio === 'inherit' });
  }
  const expect = expectation(o);
  if (expect === 'command' || code === 0 || (expect === 'report' && code === 1)) return result;
  const why = exit.signal ? `was killed by ${exit.signal}` : `exited with ${code}`;
  const said = tail.length ? `:\n${tail.join('\n')}` : '';
  throw new CrossrootError('EHELPER', `crossroot-helper ${o.argv[0]} ${why}${said}`, { shown: o.stdio === 'inherit' });
}

function spawnError(helper: string, e: unknown): CrossrootError {
  const msg = (e as { shortMessage?: string; message?: string }).message ?? String(e);
  return new CrossrootError('ENOHELPER', `cannot run ${helper}: ${msg}`, { fix: HELPER_FIX, cause: e });
}

/** Pipes `input` into the helper's stdin; a failing source kills the helper and is remembered as the call's error. */
function feedStdin(stdin: Writable, input: string | Readable, kill: () => void): { error(): unknown } {
  let sourceError: unknown;
  // The helper may stop reading before the end (unpack stops at the tar's end): not an error.
  stdin.on('error', () => {});
  if (typeof input === 'string') {
    stdin.end(input);
  } else {
    input.on('error', (e) => {
      sourceError ??= e;
      kill();
    });
    input.pipe(stdin);
  }
  return { error: () => sourceError };
}

/**
 * Starts the helper and resolves once it and everything holding its stdio have finished.
 * Rejects with a CrossrootError when the helper reports its own failure (status `error` without
 * an `exited`), with the signal's reason when aborted, with the stdin stream's error when that failed.
 */
export async function callHelper(helper: string, o: CallOptions): Promise<HelperResult> {
  if (o.stdio === 'inherit') return callHelperOnTerminal(helper, o);
  const { execa } = await import('execa');
  const sink = eventSink(o);
  const tail = tailKeeper(o.tailLines ?? 20);
  let stdout = '';
  const lines = (each: (line: string) => void) => [function* (line: unknown) { each(String(line)); }];
  const input = o.stdin ?? 'ignore';
  const stdio = [
    input === 'ignore' ? 'ignore' : 'pipe',
    lines((l) => { if (stdout.length < STDOUT_CAP) stdout += `${l}\n`; tail.push(l); o.onStdout?.(l); }),
    lines((l) => { tail.push(l); o.onStderr?.(l); }),
    o.status === false ? 'ignore' : lines(sink.line), ...(o.fds ?? []),
  ];
  const argv = o.status === false ? o.argv : withStatusFd(o.argv);
  let child;
  try {
    child = execa(helper, argv, {
      stdio: stdio as never, env: o.helperEnv ?? process.env, extendEnv: false, reject: false, cleanup: false, buffer: false,
      stripFinalNewline: false, ...(o.signal ? { cancelSignal: o.signal, forceKillAfterDelay: o.killAfterMs ?? 5000 } : {}),
    });
  } catch (e) {
    throw spawnError(helper, e);
  }
  const fed = input !== 'ignore' ? feedStdin(child.stdin!, input, () => child.kill('SIGKILL')) : undefined;
  const r = await child;
  if (typeof input !== 'string') input.unpipe(child.stdin!);
  if (fed?.error() !== undefined) throw fed.error();
  if (r.isCanceled || o.signal?.aborted) throw o.signal?.reason ?? new DOMException('the helper was stopped', 'AbortError');
  if (r.exitCode === undefined && r.signal === undefined) throw spawnError(helper, r.cause ?? r);
  return settle(o, { code: r.exitCode, signal: r.signal }, sink.events, stdout, tail.tail);
}

/**
 * The terminal path (a shell, `crossroot exec`, a task): the helper gets our stdio, so only the
 * status fd is read, and node:child_process does that without execa, whose loading and stream
 * plumbing were about a tenth of the CPU time of a cached `crossroot exec true` (issue 7's
 * benchmark holds it to `podman exec`). The pipe path above keeps execa for its line transforms
 * and stdin feeding. Same events, abort, exit codes and errors as that path.
 */
async function callHelperOnTerminal(helper: string, o: CallOptions): Promise<HelperResult> {
  const sink = eventSink(o);
  const argv = o.status === false ? o.argv : withStatusFd(o.argv);
  if (o.signal?.aborted) throw o.signal.reason ?? new DOMException('the helper was stopped', 'AbortError');
  const child = spawn(helper, argv, {
    stdio: ['inherit', 'inherit', 'inherit', o.status === false ? 'ignore' : 'pipe', ...(o.fds ?? [])],
    env: o.helperEnv ?? process.env,
  });
  const status = child.stdio[STATUS_FD] as Readable | null;
  let buf = '';
  status?.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) { sink.line(buf.slice(0, nl)); buf = buf.slice(nl + 1); }
  });
  let killer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    child.kill('SIGTERM');
    killer = setTimeout(() => child.kill('SIGKILL'), o.killAfterMs ?? 5000);
    killer.unref();
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const restore = forwardSignals((sig) => child.kill(sig));
  let exit: { code?: number; signal?: string };
  try {
    // 'close': the helper has exited and every holder of its status fd has let go of it.
    exit = await new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve({ ...(code !== null ? { code } : {}), ...(signal ? { signal } : {}) }));
    });
  } catch (e) {
    throw spawnError(helper, e);
  } finally {
    restore();
    o.signal?.removeEventListener('abort', onAbort);
    clearTimeout(killer);
  }
  if (buf) sink.line(buf);
  if (o.signal?.aborted) throw o.signal.reason ?? new DOMException('the helper was stopped', 'AbortError');
  return settle(o, exit, sink.events, '', []);
}

/**
 * While a helper runs on the user's terminal: ^C and ^\ reach it (and its command) from the
 * terminal directly, so we ignore them and outlive it (to clean up after it); SIGTERM and SIGHUP
 * sent to us are passed on. Returns the function that restores the previous handling.
 */
function forwardSignals(kill: (sig: NodeJS.Signals) => void): () => void {
  const ignore = () => {};
  const onTerm = () => kill('SIGTERM');
  const onHup = () => kill('SIGHUP');
  process.on('SIGINT', ignore);
  process.on('SIGQUIT', ignore);
  process.on('SIGTERM', onTerm);
  process.on('SIGHUP', onHup);
  return () => {
    process.off('SIGINT', ignore);
    process.off('SIGQUIT', ignore);
    process.off('SIGTERM', onTerm);
    process.off('SIGHUP', onHup);
  };
}

/**
 * The synchronous door, for callers that cannot wait (Store.removeTree runs in `finally` blocks
 * and on exit paths). Pipe mode only, no stdin; same events, errors and codes as callHelper. It
 * uses spawnSync rather than execaSync: loading execa synchronously would cost every process
 * that may remove a tree its load time (≈0.2 s), where callHelper loads it only when it runs.
 */
export function callHelperSync(helper: string, o: Omit<CallOptions, 'stdio' | 'stdin' | 'signal' | 'killAfterMs' | 'onStdout' | 'onStderr'>): HelperResult {
  const sink = eventSink(o);
  const argv = o.status === false ? o.argv : withStatusFd(o.argv);
  const r = spawnSync(helper, argv, {
    stdio: ['ignore', 'pipe', 'pipe', o.status === false ? 'ignore' : 'pipe', ...(o.fds ?? [])],
    env: o.helperEnv ?? process.env, encoding: 'utf8', maxBuffer: STDOUT_CAP,
  });
  if (r.error && r.status === null && r.signal === null) throw spawnError(helper, r.error);
  const out = (v: unknown) => (typeof v === 'string' ? v : '');
  for (const line of out(r.output[STATUS_FD]).split('\n')) if (line) sink.line(line);
  const tail = tailKeeper(o.tailLines ?? 20);
  for (const line of `${out(r.stdout)}${out(r.stderr)}`.split('\n')) if (line) tail.push(line);
  return settle(o, { code: r.status ?? undefined, signal: r.signal ?? undefined }, sink.events, out(r.stdout), tail.tail);
}

/** How `run` is driven: where stdio goes, callbacks, the locks the helper holds (`fds`), abort. */
export type RunOptions = Omit<CallOptions, 'argv' | 'status' | 'expect'>;

/**
 * `crossroot-helper run`: a throwaway sandbox running `command`. Resolves to the command's exit
 * code (128+n for signal n) with the events and, piped, the tail of its output; rejects with a
 * CrossrootError when the helper could not set the sandbox up (ENOROOTFS, ENOQEMU, …).
 */
export function runSandbox(helper: string, o: Omit<SandboxOptions, 'statusFd'>, command: string[], run: RunOptions = {}): Promise<HelperResult> {
  return callHelper(helper, { ...run, argv: runArgv(o, command) });
}
