// Entry point of dist/server.cjs, the language server the extension starts (transport from argv:
// --node-ipc, --stdio or --socket, as vscode-languageclient passes it).
import { createConnection, ProposedFeatures } from 'vscode-languageserver/node';
import { startServer } from './server';

startServer(createConnection(ProposedFeatures.all));
