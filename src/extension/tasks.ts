// `crossroot` tasks: a command run inside the env by the bundled CLI as a ProcessExecution, so
// colours and problem matchers work (`$crossroot-gcc` maps /workspace/… paths back to the folder).
// Pure: the TaskProvider in ctx.ts turns this into a vscode.Task.
import path from 'node:path';
import { CrossrootError } from '../core/errors';
import { execArgs, type CliCommand } from './cli';

export const TASK_TYPE = 'crossroot';

/** A task of type `crossroot` as tasks.json writes it (see taskDefinitions in package.json). */
export interface CrossrootTaskDefinition {
  type: typeof TASK_TYPE;
  command: string;
  args?: string[];
  /** Env file relative to the workspace folder. */
  envFile?: string;
  /** Working directory relative to the workspace folder (mapped into the env). */
  cwd?: string;
}

export interface TaskProcess {
  process: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
}

/** Checks a definition from tasks.json and says what is wrong in the user's terms. */
export function checkDefinition(def: Record<string, unknown>): CrossrootTaskDefinition {
  if (typeof def.command !== 'string' || def.command === '') {
    throw new CrossrootError('ETASK', 'a crossroot task needs "command": the program to run inside the env', { fix: 'e.g. { "type": "crossroot", "command": "make", "args": ["all"] }' });
  }
  if (def.args !== undefined && !(Array.isArray(def.args) && def.args.every((a) => typeof a === 'string'))) {
    throw new CrossrootError('ETASK', 'a crossroot task\'s "args" must be a list of strings');
  }
  return def as unknown as CrossrootTaskDefinition;
}

export function taskProcess(cli: CliCommand, def: CrossrootTaskDefinition, folder: string, defaultEnvFile: string | undefined): TaskProcess {
  const envFile = def.envFile ? path.resolve(folder, def.envFile) : defaultEnvFile;
  if (!envFile) {
    throw new CrossrootError('ETASK', `no env file for the crossroot task in ${folder}`, { fix: 'add crossroot.toml to the folder, or set "envFile" in the task' });
  }
  const cwd = def.cwd ? path.resolve(folder, def.cwd) : folder;
  return { process: cli.command, args: execArgs(cli, envFile, [def.command, ...(def.args ?? [])]), cwd, env: cli.env };
}
