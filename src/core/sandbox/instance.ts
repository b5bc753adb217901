// A long-lived env instance through the helper: `start` (PID 1 of the env, state in a dir),
// `exec` (join it), `stop` (kill its whole pid namespace). See native/README.md for the protocol.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CrossrootError } from '../errors';
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
  return ['start', '--state', stateDir, ...idle, ...sandboxArgs({ ...o, cwd: undefined, env: undefined, keepFds: undefined })];
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

function helperCall(helper: string, argv: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(helper, argv, { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve({ stdout, stderr });
      const fix = /fix: (.*)/.exec(stderr)?.[1];
      const message = stderr.split('\n').find((l) => l && !l.includes('fix: '))?.replace(/^crossroot-helper: /, '');
      reject(new CrossrootError('EINSTANCE', message ?? `crossroot-helper ${argv[0]} failed`, { fix, cause: err }));
    });
  });
}

/**
 * Starts the instance and resolves once its root is set up. The helper's warnings (e.g. limits
 * that could not be applied) go to `onWarning`, so the CLI and the extension can show them.
 */
export async function startInstance(helper: string, o: StartOptions, stateDir: string,
  onWarning: (message: string) => void = () => {}): Promise<InstanceState> {
  const { stderr } = await helperCall(helper, startArgv(o, stateDir));
  for (const m of stderr.matchAll(/^crossroot-helper: warning: (.*)$/gm)) onWarning(m[1]!);
  const state = readInstance(stateDir);
  if (!state) throw new CrossrootError('EINSTANCE', `the instance in ${stateDir} exited right after starting`);
  return state;
}

/** Stops the instance (every process in it); a stale or missing one is not an error. */
export async function stopInstance(helper: string, stateDir: string): Promise<void> {
  await helperCall(helper, stopArgv(stateDir));
}
