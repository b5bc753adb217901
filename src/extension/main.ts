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
    idleTimeout: () => c.ws.setting<number | null>('idleTimeout', null) ?? undefined,
  });
  return {
    describe: (file) => get().describe(file),
    status: (file) => get().status(file),
    build: (file, o) => get().build(file, o),
    stop: (file) => get().stop(file),
  };
}

/**
 * What activate() returns to other extensions (`getExtension(...).exports`): what the status bar
 * shows, and when it changes. The extension-host suite (test/vscode/suite.ts) reads it.
 */
export interface CrossrootApi {
  statusBarText(): string;
  onDidChangeStatus(listener: (text: string) => void): vscode.Disposable;
}

export async function activate(context: vscode.ExtensionContext): Promise<CrossrootApi> {
  const c = ctx = new Ctx(context, lazyBackend);
  context.subscriptions.push(c);
  registerCommands(c);
  try {
    c.start();
  } catch (e) {
    await c.env.fail('the extension did not start', e);
  }
  return {
    statusBarText: () => c.statusItem.text,
    // Registered after the status item's own listener, so the text is already the new one.
    onDidChangeStatus: (listener) => c.env.onDidChange(() => listener(c.statusItem.text)),
  };
}

export async function deactivate(): Promise<void> {
  await ctx?.client?.stop();
  ctx = undefined;
}
