// Extension entry: only activates. Ctx owns everything; an activation failure is shown with
// "Show Log", never swallowed. Activation registers things and reads no env file: the env's core
// (heavy.ts, a bundle of its own) is loaded when the status is first read, just after.
import * as vscode from 'vscode';
import type { EnvBackend } from './backend';
import { registerCommands } from './commands/index';
import { Ctx } from './ctx';
import { heavy } from './lazy';

let ctx: Ctx | undefined;

/** The lifecycle backend, made on first use. */
function lazyBackend(c: Ctx): EnvBackend {
  let backend: EnvBackend | undefined;
  const get = (): EnvBackend => backend ??= heavy().lifecycleBackend({
    helper: () => c.helper(),
    store: () => c.ws.setting('storeDir', '') || undefined,
    idleTimeout: () => c.ws.setting('idleTimeout', 900),
  });
  return {
    describe: (file) => get().describe(file),
    status: (file) => get().status(file),
    build: (file, o) => get().build(file, o),
    stop: (file) => get().stop(file),
  };
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  ctx = new Ctx(context, lazyBackend);
  context.subscriptions.push(ctx);
  registerCommands(ctx);
  try {
    ctx.start();
  } catch (e) {
    await ctx.env.fail('the extension did not start', e);
  }
}

export async function deactivate(): Promise<void> {
  await ctx?.client?.stop();
  ctx = undefined;
}
