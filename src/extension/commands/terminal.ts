// Open Terminal, Run Command… and making the env the workspace's default terminal.
import path from 'node:path';
import * as vscode from 'vscode';
import type { CommandTable } from './index';

export const terminalCommands: CommandTable = {
  openTerminal: async (ctx) => {
    // Refused here with the one notification that says why (terminalOptions throws, for the
    // profile provider, whose error VS Code shows itself).
    if (!(await ctx.env.trusted('open a terminal in the env'))) return;
    const file = ctx.env.envFile;
    const terminal = vscode.window.createTerminal(await ctx.terminalOptions(ctx.folders[0] ?? (file && path.dirname(file))));
    terminal.show();
  },
  runCommand: async (ctx) => {
    if (!(await ctx.env.trusted('run a command in the env'))) return;
    const line = await ctx.ui.input('Command to run inside the env (with /bin/sh -c)', 'make -j2');
    if (!line) return;
    await ctx.runInEnv(line, ['/bin/sh', '-c', line], ['$crossroot-gcc', '$crossroot-gcc-relative']);
  },
  makeDefaultTerminal: async (ctx) => {
    if (!(await ctx.env.trusted('make the env the default terminal'))) return;
    await vscode.workspace.getConfiguration('crossroot').update('defaultTerminal', true, vscode.ConfigurationTarget.Workspace);
    await ctx.route();
    void ctx.ui.info('Crossroot: New Terminal now opens in the env in this workspace (setting crossroot.defaultTerminal).');
  },
};
