// A long-lived env instance through the helper: `start` (PID 1 of the env, state in a dir),
// `exec` (join it), `stop` (kill its whole pid namespace). See native/README.md for the protocol.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CrossrootError } from '../errors';
import { callHelper, type CallOptions, type HelperResult } from './client';
import { processArgs, sandboxArgs, type SandboxOptions } from './helper';

/** What `start` records in `<stateDir>/instance.json`. */
export interface InstanceState {
  pid: number;
  /** /proc/PID/stat field 22: tells this process apart from a later one with the same pid. */
  starttime: number;
  arch: string;
  rootfs: string;
  /** The instance's own cgroup v2 directory when its [limits] were applied (exec joins it). */
  cgroup?: string;
}

export interface ProcessOptions {
  cwd?: string;
  /** `UID[:GID]` or `NAME[:GROUP]` inside the env (see SandboxOptions.user). */
  user?: string;
  env?: Record<string, string>;
  statusFd?: number;
  keepFds?: number[];
}

export interface StartOptions extends SandboxOptions {
  /** Seconds with no process in the env (besides its PID 1) after which the instance exits. */
  idleExit?: number;
}

/** The instance runs no command of its own, so the process options (cwd, env, fds) belong to exec. */
export function startArgv(o: StartOptions, stateDir: string): string[] {
  const idle = o.idleExit ? ['--idle-exit', String(o.idleExit)] : [];
  return ['start', '--state', stateDir, ...idle, ...sandboxArgs({ ...o, cwd: undefined, user: undefined, env: undefined, keepFds: undefined })];
}

export function execArgv(stateDir: string, command: string[], o: ProcessOptions = {}): string[] {
  return ['exec', '--state', stateDir, ...processArgs(o), '--', ...command];
}

export function stopArgv(stateDir: string): string[] {
  return ['stop', '--state', stateDir];
}

/** The recorded instance when its PID 1 is still that very process, alive; undefined otherwise. */
export function readInstance(stateDir: string): InstanceState | undefined {
  let state: InstanceState;
  try {
    state = JSON.parse(readFileSync(path.join(stateDir, 'instance.json'), 'utf8')) as InstanceState;
  } catch {
    return undefined;
  }
  const proc = processStat(state.pid);
  return proc && proc.starttime === state.starttime && proc.state !== 'Z' && proc.state !== 'X' ? state : undefined;
}

/** State letter and start time (field 22) from /proc/PID/stat. */
export function processStat(pid: number): { state: string; starttime: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, starttime: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

/**
 * Starts the instance and resolves once its root is set up. The helper's warnings (e.g. limits
 * that could not be applied) and notes go to the callbacks, so the CLI and the extension can show them.
 */
export async function startInstance(helper: string, o: StartOptions, stateDir: string,
  io: Pick<CallOptions, 'onWarning' | 'onNote' | 'onEvent' | 'fds' | 'signal' | 'helperEnv'> = {}): Promise<InstanceState> {
  await callHelper(helper, { ...io, argv: startArgv(o, stateDir) });
  const state = readInstance(stateDir);
  if (!state) throw new CrossrootError('EINSTANCE', `the instance in ${stateDir} exited right after starting`);
  return state;
}

/** How a command joins: the process options plus where its stdio goes (the status fd is the client's). */
export type ExecOptions = Omit<ProcessOptions, 'statusFd'> & Omit<CallOptions, 'argv' | 'status' | 'expect'>;

/**
 * Runs `command` in the running instance: on the user's terminal (`stdio: 'inherit'`) or with
 * its output streamed to callbacks (`'pipe'`). Resolves to its exit code (128+n for signal n), the
 * events and, piped, the tail of its output; rejects with the helper's error (e.g. ENOINSTANCE).
 */
export function execInInstance(helper: string, stateDir: string, command: string[], o: ExecOptions = {}): Promise<HelperResult> {
  const { cwd, user, env, keepFds, ...io } = o;
  return callHelper(helper, { ...io, argv: execArgv(stateDir, command, { cwd, user, env, keepFds }) });
}

/** Stops the instance (every process in it); a stale or missing one is not an error (`stale: true`). */
export async function stopInstance(helper: string, stateDir: string, io: Pick<CallOptions, 'signal' | 'helperEnv'> = {}): Promise<{ pid?: number; stale: boolean }> {
  const r = await callHelper(helper, { ...io, argv: stopArgv(stateDir) });
  const stopped = r.events.find((e) => e.event === 'stopped');
  return { ...(stopped?.pid !== undefined ? { pid: stopped.pid } : {}), stale: stopped?.stale ?? false };
}
