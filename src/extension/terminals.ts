// The Crossroot terminal: a process of the bundled CLI (`crossroot shell --file F`) that joins the
// env's one running instance, building and starting it first when needed, with its progress
// shown in the terminal itself. Pure: ctx.ts hands these options to VS Code.
import type { EnvStatus } from './backend';
import { shellArgs, type CliCommand } from './cli';

export const PROFILE_ID = 'crossroot.env';
export const PROFILE_TITLE = 'Crossroot';

export interface TerminalSpec {
  name: string;
  shellPath: string;
  shellArgs: string[];
  env: Record<string, string>;
  /**
   * Host folder; the CLI maps it to the same place under the env's workspace path. Absent: the
   * one VS Code asks for (a folder's "Open in Integrated Terminal", a split's), else its default.
   */
  cwd?: string;
}

/** "arm64 · firmware": the arch first, since that is what differs from a host terminal. */
export function terminalName(s: Pick<EnvStatus, 'name' | 'arch'>): string {
  return `${s.arch} · ${s.name}`;
}

export function terminalSpec(cli: CliCommand, envFile: string, env: Pick<EnvStatus, 'name' | 'arch'>, cwd: string | undefined): TerminalSpec {
  return { name: terminalName(env), shellPath: cli.command, shellArgs: shellArgs(cli, envFile), env: cli.env, ...(cwd ? { cwd } : {}) };
}
