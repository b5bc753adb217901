// `crossroot lsp --stdio`: the env file language server, over stdin/stdout: the VS Code extension
// starts this very command of its bundled CLI, other editors start `crossroot lsp --stdio`.
import { parseArgs } from 'node:util';
import { createConnection, ProposedFeatures } from 'vscode-languageserver/node';
import type { Command } from '../command';
import { CrossrootError } from '../../core/errors';
import { startServer } from '../../server/server';

export const lsp: Command = {
  name: 'lsp',
  usage: [
    'usage: crossroot lsp --stdio',
    '',
    'Speaks the Language Server Protocol on stdin/stdout: diagnostics, completion, hover,',
    'formatting, quick fixes and symbols for crossroot.toml and devcontainer.json.',
    'Example (Neovim): vim.lsp.start({ name = "crossroot", cmd = { "crossroot", "lsp", "--stdio" } })',
  ].join('\n'),
  run(argv) {
    const { values } = parseArgs({ args: argv, options: { stdio: { type: 'boolean' } }, strict: true });
    if (!values.stdio) throw new CrossrootError('EUSAGE', 'only the stdio transport is supported', { fix: 'run `crossroot lsp --stdio`' });
    startServer(createConnection(ProposedFeatures.all, process.stdin, process.stdout));
    // The connection ends the process on the client's `exit` notification.
    return new Promise<number>(() => {});
  },
};
