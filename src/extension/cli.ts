// How terminals and tasks start the bundled `crossroot` CLI as a process of its own: with the
// extension host's node (process.execPath with ELECTRON_RUN_AS_NODE=1, as other extensions do),
// so no node on PATH is needed. The lifecycle lives in the CLI and src/core, never here.
import path from 'node:path';

export interface CliCommand {
  /** The node binary. */
  command: string;
  /** [dist/cli.cjs]; the subcommand and its options follow. */
  args: string[];
  /** Added to the process environment. */
  env: Record<string, string>;
  /** Env options every env command takes (--idle-timeout). */
  options: string[];
}

export interface CliSettings {
  helper?: string;
  store?: string;
  idleTimeout?: number;
}

export function cliCommand(extensionPath: string, execPath: string, s: CliSettings = {}): CliCommand {
  const env: Record<string, string> = { ELECTRON_RUN_AS_NODE: '1' };
  // The CLI reads the helper and store from its environment, as the in-process core does, so a
  // terminal and the status bar see the same env.
  if (s.helper) env.CROSSROOT_HELPER = s.helper;
  if (s.store) env.CROSSROOT_STORE = s.store;
  const options = s.idleTimeout !== undefined ? ['--idle-timeout', String(s.idleTimeout)] : [];
  return { command: execPath, args: [path.join(extensionPath, 'dist', 'cli.cjs')], env, options };
}

/**
 * `crossroot shell --file F`: joins (or builds and starts) the env, progress in the terminal
 * itself. The terminal's cwd (a host folder) maps to the same place under the workspace path.
 */
export function shellArgs(cli: CliCommand, envFile: string): string[] {
  return [...cli.args, 'shell', '--file', envFile, ...cli.options];
}

/** `crossroot exec --file F -- CMD…`: one command in the env (cwd mapped from the process's), exit code passed through. */
export function execArgs(cli: CliCommand, envFile: string, command: string[]): string[] {
  return [...cli.args, 'exec', '--file', envFile, ...cli.options, '--', ...command];
}

/** Single-quotes a word for /bin/sh. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * A /bin/sh script that runs a shell inside the env: the automation profile for shell tasks
 * (VS Code appends `-c COMMANDLINE`, which reaches the env's /bin/sh). The task's cwd maps in.
 */
export function taskShellScript(cli: CliCommand, envFile: string): string {
  const env = Object.entries(cli.env).map(([k, v]) => `${k}=${shQuote(v)}`).join(' ');
  const argv = [cli.command, ...execArgs(cli, envFile, ['/bin/sh'])].map(shQuote).join(' ');
  return `#!/bin/sh\n# Written by the Crossroot extension: runs shell tasks inside the env of ${envFile}.\nexec env ${env} ${argv} "$@"\n`;
}
