// The env file language client: runs the server as `crossroot lsp --stdio` of the bundled CLI
// (the one server for every editor, as taplo does), so the VSIX ships no second copy of it.
import type * as vscode from 'vscode';
import { ENV_FILE_SELECTOR } from './envFiles';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';

export function createLanguageClient(context: vscode.ExtensionContext): LanguageClient {
  const module = context.asAbsolutePath('dist/cli.cjs');
  // The client forks it with the extension host's node and appends `--stdio --clientProcessId=PID`
  // (the server ends with the extension host).
  const serverOptions: ServerOptions = {
    run: { module, args: ['lsp'], transport: TransportKind.stdio },
    debug: { module, args: ['lsp'], transport: TransportKind.stdio, options: { execArgv: ['--nolazy', '--inspect=6019'] } },
  };
  // No file watching: the server reads crossroot.lock afresh whenever it offers the pin action.
  const clientOptions: LanguageClientOptions = { documentSelector: ENV_FILE_SELECTOR };
  return new LanguageClient('crossroot', 'Crossroot env file', serverOptions, clientOptions);
}
