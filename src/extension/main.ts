// Extension entry: only activates. Ctx owns everything; an activation failure is shown with
// "Show Log", never swallowed.
import * as vscode from 'vscode';
import { registerCommands } from './commands/index';
import { Ctx } from './ctx';
import { lifecycleBackend } from './lifecycle';

let ctx: Ctx | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  ctx = new Ctx(context, (c) => lifecycleBackend({
    helper: () => c.helper(),
    store: () => c.ws.setting('storeDir', '') || undefined,
    idleTimeout: () => c.ws.setting('idleTimeout', 900),
  }));
  context.subscriptions.push(ctx);
  registerCommands(ctx);
  try {
    await ctx.start();
  } catch (e) {
    await ctx.env.fail('the extension did not start', e);
  }
}

export async function deactivate(): Promise<void> {
  await ctx?.client?.stop();
  ctx = undefined;
}
