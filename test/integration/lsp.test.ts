import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import {
  CodeActionRequest, CompletionRequest, DidChangeTextDocumentNotification, DidOpenTextDocumentNotification, DocumentDiagnosticRequest,
  DocumentFormattingRequest, ExitNotification, HoverRequest, InitializedNotification, InitializeRequest,
  PublishDiagnosticsNotification, ShutdownRequest, type CodeAction, type CompletionList, type FullDocumentDiagnosticReport,
  type PublishDiagnosticsParams,
} from 'vscode-languageserver-protocol';
import { CLI, tempDir } from '../lib/harness';

/**
 * `crossroot lsp --stdio` (or another server command) with a real JSON-RPC client on its pipes.
 * `forked`: started as VS Code's language client starts a server module (TransportKind.stdio):
 * child_process.fork, silent, with `--stdio --clientProcessId=PID` appended to the arguments.
 */
function startServer(t: TestContext, argv = [CLI, 'lsp', '--stdio'], forked?: { clientPid: number }) {
  assert.ok(existsSync(argv[0]!), `${argv[0]} missing: run node scripts/build.mjs`);
  const child: ChildProcess = forked
    ? fork(argv[0]!, [...argv.slice(1), `--clientProcessId=${forked.clientPid}`], { silent: true })
    : spawn(process.execPath, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
  if (forked) child.stderr!.pipe(process.stderr);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const conn = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  t.after(() => conn.dispose());
  const published: PublishDiagnosticsParams[] = [];
  const waiters: (() => void)[] = [];
  conn.onNotification(PublishDiagnosticsNotification.type, (p) => { published.push(p); waiters.splice(0).forEach((w) => w()); });
  conn.listen();
  const nextPublish = async (count: number): Promise<PublishDiagnosticsParams> => {
    while (published.length < count) await new Promise<void>((r) => waiters.push(r));
    return published[count - 1]!;
  };
  return { conn, exited, published, nextPublish };
}

test('crossroot lsp --stdio serves diagnostics, completion and hover to a real client', async (t) => {
  const dir = tempDir(t);
  const uri = pathToFileURL(path.join(dir, 'crossroot.toml')).href;
  const { conn, exited, nextPublish } = startServer(t);

  const init = await conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: pathToFileURL(dir).href, capabilities: {}, workspaceFolders: null });
  assert.equal(init.serverInfo?.name, 'crossroot');
  assert.ok(init.capabilities.hoverProvider && init.capabilities.completionProvider && init.capabilities.diagnosticProvider);
  await conn.sendNotification(InitializedNotification.type, {});

  const text = 'image = "debian:bookworm"\narch = "arm46"\n';
  await conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'toml', version: 1, text } });
  const pushed = await nextPublish(1);
  assert.equal(pushed.uri, uri);
  assert.deepEqual(pushed.diagnostics.map((d) => [d.code, d.source, d.range]), [[3001, 'crossroot', { start: { line: 1, character: 7 }, end: { line: 1, character: 14 } }]]);

  const pulled = await conn.sendRequest(DocumentDiagnosticRequest.type, { textDocument: { uri } }) as FullDocumentDiagnosticReport;
  assert.equal(pulled.kind, 'full');
  assert.deepEqual(pulled.items, pushed.diagnostics);

  const completion = await conn.sendRequest(CompletionRequest.type, { textDocument: { uri }, position: { line: 1, character: 9 } }) as CompletionList;
  assert.ok(completion.items.some((i) => i.label === 'arm64'), completion.items.map((i) => i.label).join());

  const hover = await conn.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 0, character: 2 } });
  assert.match((hover!.contents as { value: string }).value, /^\*\*image\*\* · a string/);

  await conn.sendNotification(DidChangeTextDocumentNotification.type, {
    textDocument: { uri, version: 2 },
    contentChanges: [{ range: { start: { line: 1, character: 7 }, end: { line: 1, character: 14 } }, text: '"arm64"' }],
  });
  const fixed = await nextPublish(2);
  assert.equal(fixed.version, 2);
  assert.deepEqual(fixed.diagnostics.filter((d) => d.severity === 1), [], 'no errors after the fix');

  const edits = await conn.sendRequest(DocumentFormattingRequest.type, { textDocument: { uri }, options: { tabSize: 2, insertSpaces: true } });
  assert.deepEqual(edits, [], 'already formatted');

  await conn.sendRequest(ShutdownRequest.type);
  await conn.sendNotification(ExitNotification.type);
  assert.equal(await exited, 0);
});

test('a client that pulls diagnostics gets them on request only, not pushed a second time', async (t) => {
  const dir = tempDir(t);
  const uri = pathToFileURL(path.join(dir, '.devcontainer', 'devcontainer.json')).href;
  const { conn, exited, published } = startServer(t);
  await conn.sendRequest(InitializeRequest.type, {
    processId: process.pid, rootUri: pathToFileURL(dir).href, workspaceFolders: null,
    capabilities: { textDocument: { diagnostic: { dynamicRegistration: false } } },
  });
  await conn.sendNotification(InitializedNotification.type, {});
  await conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'jsonc', version: 1, text: '{ "image": "alpine", "privileged": true }' } });
  const pulled = await conn.sendRequest(DocumentDiagnosticRequest.type, { textDocument: { uri } }) as FullDocumentDiagnosticReport;
  assert.deepEqual(pulled.items.map((d) => [d.code, d.range.start.character]), [[4001, 21]]);
  await conn.sendRequest(ShutdownRequest.type);
  await conn.sendNotification(ExitNotification.type);
  assert.equal(await exited, 0);
  assert.deepEqual(published, [], 'nothing was pushed');
});

test('a crossroot.lock linked to /dev/zero does not hang the server: the pin action says there is nothing locked', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'crossroot.toml');
  const text = 'arch = "arm64"\nimage = "debian:bookworm"\n';
  writeFileSync(file, text);
  symlinkSync('/dev/zero', path.join(dir, 'crossroot.lock'));
  const uri = pathToFileURL(file).href;
  const { conn, exited } = startServer(t);
  await conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: pathToFileURL(dir).href, capabilities: {}, workspaceFolders: null });
  await conn.sendNotification(InitializedNotification.type, {});
  await conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'toml', version: 1, text } });
  const actions = await conn.sendRequest(CodeActionRequest.type, {
    textDocument: { uri }, range: { start: { line: 1, character: 10 }, end: { line: 1, character: 10 } }, context: { diagnostics: [] },
  }) as CodeAction[];
  const pin = actions.find((a) => a.title.startsWith('Pin image to its digest'));
  assert.match(pin?.disabled?.reason ?? '', /crossroot\.lock has no arm64 entry for debian:bookworm/);
  await conn.sendRequest(ShutdownRequest.type);
  await conn.sendNotification(ExitNotification.type);
  assert.equal(await exited, 0);
});

test('started as VS Code\'s language client starts it (forked, --stdio --clientProcessId=PID), the server answers and pushes diagnostics', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const uri = pathToFileURL(path.join(dir, 'crossroot.toml')).href;
  const { conn, exited, nextPublish } = startServer(t, [CLI, 'lsp', '--stdio'], { clientPid: process.pid });
  const init = await conn.sendRequest(InitializeRequest.type, { processId: process.pid, rootUri: pathToFileURL(dir).href, capabilities: {}, workspaceFolders: null });
  assert.equal(init.serverInfo?.name, 'crossroot');
  await conn.sendNotification(InitializedNotification.type, {});
  await conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'crossroot-toml', version: 1, text: 'image = "debian:bookworm"\narch = "arm65"\n' } });
  const pushed = await nextPublish(1);
  assert.deepEqual(pushed.diagnostics.map((d) => [d.code, d.message.split(';')[0]]), [[3001, 'unknown arch "arm65"']]);
  await conn.sendRequest(ShutdownRequest.type);
  await conn.sendNotification(ExitNotification.type);
  assert.equal(await exited, 0);
});

test('the server ends when the client process it was given is gone', { timeout: 60_000 }, async (t) => {
  // A stand-in for the editor: the server watches its pid (vscode-languageserver checks every 3 s).
  const editor = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
  t.after(() => { if (editor.exitCode === null) editor.kill('SIGKILL'); });
  const { conn, exited } = startServer(t, [CLI, 'lsp', '--stdio'], { clientPid: editor.pid! });
  await conn.sendRequest(InitializeRequest.type, { processId: editor.pid!, rootUri: null, capabilities: {}, workspaceFolders: null });
  editor.kill('SIGKILL');
  assert.equal(await exited, 1, 'ended without a shutdown request');
});

test('a server given an option it does not know exits with the usage error instead of hanging on', { timeout: 60_000 }, async (t) => {
  // Forked with --clientProcessId, as VS Code starts it: the usage error must still end the process.
  const { exited } = startServer(t, [CLI, 'lsp', '--stdio', '--socket=5007'], { clientPid: process.pid });
  assert.equal(await exited, 2);
});
