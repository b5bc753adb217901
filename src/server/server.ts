// The env file language server: wires LSP requests on a connection to the language service.
// Used by the VS Code extension and other editors alike, as `crossroot lsp --stdio` (src/cli/commands/lsp.ts).
import {
  CodeActionKind, DocumentDiagnosticReportKind, TextDocuments, TextDocumentSyncKind, type Connection, type InitializeResult,
} from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { askNodeHost } from '../core/envfile/host';
import { envFileKind } from '../core/envfile/load';
import { isDockerfileName } from '../core/envfile/dockerfile';
import { createLanguageService, documentPath, type LanguageServiceOptions } from '../core/lang/service';

export const SERVER_NAME = 'crossroot';

export function startServer(connection: Connection, opts: LanguageServiceOptions = {}): void {
  const service = createLanguageService(opts);
  const documents = new TextDocuments(TextDocument);
  // Editors may send every .toml/.json; only env files are ours.
  const ours = (uri: string): TextDocument | undefined => {
    const doc = documents.get(uri);
    return doc && envFileKind(documentPath(uri)) ? doc : undefined;
  };

  // Clients that pull diagnostics (VS Code) would show pushed ones a second time.
  let push = true;
  let refreshSupported = false;
  connection.onInitialize((params): InitializeResult => {
    push = !params.capabilities.textDocument?.diagnostic;
    refreshSupported = params.capabilities.workspace?.diagnostics?.refreshSupport === true;
    return {
      capabilities: {
        textDocumentSync: TextDocumentSyncKind.Incremental,
        completionProvider: { triggerCharacters: ['"', '[', '.'] },
        hoverProvider: true,
        documentFormattingProvider: true,
        documentSymbolProvider: true,
        codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix, CodeActionKind.RefactorRewrite] },
        diagnosticProvider: { interFileDependencies: false, workspaceDiagnostics: false },
      },
      serverInfo: { name: SERVER_NAME, version: '0.1.0' },
    };
  });

  // A Dockerfile a devcontainer.json builds gets diagnostics only (no completion, hover or format).
  const validated = (uri: string): TextDocument | undefined => ours(uri) ?? (isDockerfileName(documentPath(uri)) ? documents.get(uri) : undefined);

  // Diagnostics are pushed to clients without pull and answered on pull; both from one cached validation.
  const publish = (doc: TextDocument): void => {
    if (!push || !validated(doc.uri)) return;
    void connection.sendDiagnostics({ uri: doc.uri, version: doc.version, diagnostics: service.validate(doc) });
  };
  // Fires on open as well as on every change.
  documents.onDidChangeContent((e) => publish(e.document));
  documents.onDidClose((e) => { if (push) void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] }); });

  connection.languages.diagnostics.on((p) => {
    const doc = validated(p.textDocument.uri);
    return { kind: DocumentDiagnosticReportKind.Full, items: doc ? service.validate(doc) : [] };
  });
  connection.onCompletion((p) => {
    const doc = ours(p.textDocument.uri);
    return doc ? service.complete(doc, p.position) : null;
  });
  connection.onHover((p) => {
    const doc = ours(p.textDocument.uri);
    return doc ? service.hover(doc, p.position) : null;
  });
  connection.onDocumentFormatting((p) => {
    const doc = ours(p.textDocument.uri);
    return doc ? service.format(doc) : [];
  });
  connection.onCodeAction((p) => {
    const doc = ours(p.textDocument.uri);
    return doc ? service.codeActions(doc, p.range) : [];
  });
  connection.onDocumentSymbol((p) => {
    const doc = ours(p.textDocument.uri);
    return doc ? service.symbols(doc) : [];
  });

  // What this host runs is the helper's answer, asked once in the background so no request waits
  // on it; until it is here the env file checks make no claim about qemu. Then every open file
  // is validated anew: pushed, or re-pulled through a refresh where the client supports it.
  if (!opts.host) {
    void askNodeHost().then((answer) => {
      if (!answer) return;
      service.hostChanged();
      for (const doc of documents.all()) publish(doc);
      if (!push && refreshSupported) connection.languages.diagnostics.refresh();
    });
  }

  documents.listen(connection);
  connection.listen();
}
