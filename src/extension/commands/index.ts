// Every `crossroot.*` command, registered through one factory (vscode-go style); each group of
// commands lives in its own file and acts on the Ctx.
import * as vscode from 'vscode';
import type { Ctx } from '../ctx';
import { envCommands } from './env';
import { fileCommands } from './files';
import { hostCommands } from './host';
import { terminalCommands } from './terminal';

export type CommandTable = Record<string, (ctx: Ctx) => Promise<unknown>>;

export function registerCommands(ctx: Ctx): void {
  const table: CommandTable = { ...envCommands, ...terminalCommands, ...hostCommands, ...fileCommands };
  for (const [name, run] of Object.entries(table)) {
    ctx.own(vscode.commands.registerCommand(`crossroot.${name}`, async () => {
      try {
        return await run(ctx);
      } catch (e) {
        await ctx.env.fail(`${name} failed`, e);
        return undefined;
      }
    }));
  }
}
