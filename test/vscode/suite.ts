// Extension-host tests: run inside VS Code with the extension under development, through
// code-server's test payload (test/e2e/extension-host.test.ts) or @vscode/test-electron
// (`npm run test:vscode`). The workspace is test/vscode/workspace-fixture (copied fresh).
// Each test waits on an event or state VS Code reports, never on time.
import assert from 'node:assert/strict';
import * as vscode from 'vscode';

type Case = [name: string, run: () => Promise<void>];

const EXT_ID = 'crossroot.crossroot';

function folder(): vscode.WorkspaceFolder {
  const f = vscode.workspace.workspaceFolders?.[0];
  assert.ok(f, 'the suite runs with the fixture folder open');
  return f;
}

/** Resolves with the diagnostics of `uri` once `accept` takes them (checked now, then on each change). */
function diagnosticsWhen(uri: vscode.Uri, accept: (d: readonly vscode.Diagnostic[]) => boolean): Promise<readonly vscode.Diagnostic[]> {
  return new Promise((resolve) => {
    const check = (): boolean => {
      const d = vscode.languages.getDiagnostics(uri);
      if (!accept(d)) return false;
      sub.dispose();
      resolve(d);
      return true;
    };
    const sub = vscode.languages.onDidChangeDiagnostics((e) => { if (e.uris.some((u) => u.toString() === uri.toString())) check(); });
    check();
  });
}

const cases: Case[] = [
  ['the extension is active in a folder with crossroot.toml, with every command registered', async () => {
    const ext = vscode.extensions.getExtension(EXT_ID);
    assert.ok(ext, `${EXT_ID} is installed`);
    await ext.activate();
    const commands = await vscode.commands.getCommands(true);
    const contributed = (ext.packageJSON.contributes.commands as { command: string }[]).map((c) => c.command);
    assert.ok(contributed.length >= 12);
    for (const c of contributed) assert.ok(commands.includes(c), `${c} is registered`);
  }],
  ['crossroot.toml opens in the crossroot-toml language', async () => {
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder().uri, 'crossroot.toml'));
    assert.equal(doc.languageId, 'crossroot-toml');
  }],
  ['a wrong arch gets a diagnostic on exactly its value, and fixing it clears it', async () => {
    const uri = vscode.Uri.joinPath(folder().uri, 'crossroot.toml');
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc);
    const line = doc.getText().split('\n').findIndex((l) => l.startsWith('arch = '));
    const value = new vscode.Range(line, 7, line, 14);
    assert.equal(doc.getText(value), '"arm64"');
    const broken = new vscode.WorkspaceEdit();
    broken.replace(uri, value, '"arm65"');
    assert.ok(await vscode.workspace.applyEdit(broken));
    const [d] = await diagnosticsWhen(uri, (ds) => ds.some((x) => String(x.message).includes('arm65')));
    assert.equal(d!.severity, vscode.DiagnosticSeverity.Error);
    assert.deepEqual([d!.range.start.line, d!.range.start.character, d!.range.end.line, d!.range.end.character], [line, 7, line, 14]);
    assert.equal(typeof d!.code === 'object' ? d!.code.value : d!.code, 3001);
    const fixed = new vscode.WorkspaceEdit();
    fixed.replace(uri, value, '"arm64"');
    assert.ok(await vscode.workspace.applyEdit(fixed));
    await diagnosticsWhen(uri, (ds) => ds.length === 0);
    await doc.save();
  }],
  ['a crossroot task from tasks.json runs `crossroot exec` of the bundled CLI with node as node', async () => {
    const tasks = await vscode.tasks.fetchTasks({ type: 'crossroot' });
    const task = tasks.find((t) => t.name === 'compile');
    assert.ok(task, `tasks: ${tasks.map((t) => t.name).join(', ')}`);
    const resolved = task.execution instanceof vscode.ProcessExecution ? task.execution : undefined;
    assert.ok(resolved, 'a ProcessExecution');
    assert.equal(resolved.process, process.execPath);
    const root = folder().uri.fsPath;
    const cli = resolved.args[0]!;
    assert.match(cli, /dist\/cli\.cjs$/);
    assert.deepEqual(resolved.args.slice(1), ['exec', '--file', `${root}/crossroot.toml`, '--idle-timeout', '900', '--', 'gcc', '-c', 'broken.c']);
    assert.equal(resolved.options?.cwd, root);
    assert.equal(resolved.options?.env?.ELECTRON_RUN_AS_NODE, '1');
  }],
];

/** Entry point VS Code calls with extensionTestsPath; rejects when a case failed. */
export async function run(): Promise<void> {
  let failed = 0;
  for (const [name, fn] of cases) {
    try {
      await fn();
      console.log(`crossroot-suite: ok - ${name}`);
    } catch (e) {
      failed++;
      console.log(`crossroot-suite: not ok - ${name}: ${(e as Error).stack ?? String(e)}`);
    }
  }
  console.log(`crossroot-suite: ${cases.length - failed} passed, ${failed} failed`);
  if (failed) throw new Error(`${failed} of ${cases.length} extension-host tests failed`);
}
