// The env file language client: starts dist/server.cjs over node IPC for crossroot.toml and
// devcontainer.json, and restarts it on request. The server does the work; this only connects.
import type * as vscode from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';

/** Which documents the server sees: by file name, whatever language mode they are in. */
export const ENV_FILE_SELECTOR = [
  { scheme: 'file', pattern: '**/crossroot.toml' },
  { scheme: 'untitled', pattern: '**/crossroot.toml' },
  { scheme: 'file', pattern: '**/.devcontainer/devcontainer.json' },
  { scheme: 'file', pattern: '**/.devcontainer.json' },
];

export function createLanguageClient(context: vscode.ExtensionContext): LanguageClient {
  const module = context.asAbsolutePath('dist/server.cjs');
  const serverOptions: ServerOptions = {
    run: { module, transport: TransportKind.ipc },
    debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6019'] } },
  };
  // No file watching: the server reads crossroot.lock afresh whenever it offers the pin action.
  const clientOptions: LanguageClientOptions = { documentSelector: ENV_FILE_SELECTOR };
  return new LanguageClient('crossroot', 'Crossroot env file', serverOptions, clientOptions);
}
