// `crossroot lsp --stdio`: the env file language server, over stdin/stdout: the VS Code extension
// starts this very command of its bundled CLI, other editors start `crossroot lsp --stdio`.
import { parseArgs } from 'node:util';
import type { Command } from '../command';
import { CrossrootError } from '../../core/errors';

export const lsp: Command = {
  name: 'lsp',
  usage: [
    'usage: crossroot lsp --stdio [--clientProcessId PID]',
    '',
    'Speaks the Language Server Protocol on stdin/stdout: diagnostics, completion, hover,',
    'formatting, quick fixes and symbols for crossroot.toml and devcontainer.json.',
    '--clientProcessId (added by VS Code\'s language client): the server exits when that process is gone.',
    'Example (Neovim): vim.lsp.start({ name = "crossroot", cmd = { "crossroot", "lsp", "--stdio" } })',
  ].join('\n'),
  async run(argv) {
    // vscode-languageclient appends `--stdio --clientProcessId=PID` to the arguments it is given;
    // refusing the second left VS Code's server a process that never answered (issue 8).
    const { values } = parseArgs({ args: argv, options: { stdio: { type: 'boolean' }, clientProcessId: { type: 'string' } }, strict: true });
    if (!values.stdio) throw new CrossrootError('EUSAGE', 'only the stdio transport is supported', { fix: 'run `crossroot lsp --stdio`' });
    if (values.clientProcessId !== undefined && !/^[1-9]\d*$/.test(values.clientProcessId)) {
      throw new CrossrootError('EUSAGE', `--clientProcessId must be a process id, not "${values.clientProcessId}"`, { fix: 'pass the editor\'s pid, or leave the option out' });
    }
    // Loaded only now: on load vscode-languageserver/node reads --clientProcessId from argv and
    // starts the timer that ends the server with its client, which would also keep a process
    // that just printed a usage error alive.
    const [{ createConnection, ProposedFeatures }, { startServer }] = await Promise.all([import('vscode-languageserver/node'), import('../../server/server')]);
    startServer(createConnection(ProposedFeatures.all, process.stdin, process.stdout));
    // The connection ends the process on the client's `exit` notification.
    return new Promise<number>(() => {});
  },
};
