// Extension entry: activates the env file language client and its restart command.
// Activation failures are shown to the user, never swallowed.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { createLanguageClient } from './languageClient';

let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  client = createLanguageClient(context);
  context.subscriptions.push(
    vscode.commands.registerCommand('crossroot.restartLanguageServer', async () => {
      await client?.restart();
    }),
  );
  try {
    await client.start();
  } catch (e) {
    void vscode.window.showErrorMessage(`Crossroot: the env file language server did not start: ${(e as Error).message}`);
  }
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}
