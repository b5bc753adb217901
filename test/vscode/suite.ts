// Extension-host tests (mocha): run inside VS Code with the extension under development, through
// code-server's test payload (test/e2e/extension-host.test.ts) or @vscode/test-electron
// (`npm run test:vscode`). The workspace is test/vscode/workspace-fixture (copied fresh; the
// code-server run points its crossroot.toml at a local arm64 tree). The scenarios:
// in a trusted folder the terminal (aarch64), a task's errors in Problems, the env file's
// diagnostics, the status bar and Stop; in an untrusted one (a second run) nothing runs.
// Each test waits on an event or state VS Code reports, never on time.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Mocha from 'mocha';
import * as vscode from 'vscode';
import type { CrossrootApi } from '../../src/extension/main';

type Case = [name: string, run: () => Promise<void>];

const EXT_ID = 'crossroot.crossroot';

function folder(): vscode.WorkspaceFolder {
  const f = vscode.workspace.workspaceFolders?.[0];
  assert.ok(f, 'the suite runs with the fixture folder open');
  return f;
}

async function api(): Promise<CrossrootApi> {
  const ext = vscode.extensions.getExtension<CrossrootApi>(EXT_ID);
  assert.ok(ext, `${EXT_ID} is installed`);
  return ext.activate();
}

/** Resolves with the status bar text once it matches `re` (checked now, then on each change). */
async function statusShows(re: RegExp): Promise<string> {
  const a = await api();
  return new Promise((resolve) => {
    let sub: vscode.Disposable | undefined;
    const check = (text: string): boolean => {
      if (!re.test(text)) return false;
      sub?.dispose();
      resolve(text);
      return true;
    };
    if (!check(a.statusBarText())) sub = a.onDidChangeStatus(check);
  });
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

/** The store the extension uses (the setting, else the default), where an env's processes name their state. */
function storeDir(): string {
  const set = vscode.workspace.getConfiguration('crossroot').get<string>('storeDir', '');
  return set || process.env.CROSSROOT_STORE || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'crossroot');
}

/** Command lines of processes that contain `needle`. */
function processesWith(needle: string): string[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).flatMap((pid) => {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      return cmd.includes(needle) ? [`${pid}: ${cmd}`] : [];
    } catch { return []; }
  });
}

const trusted: Case[] = [
  ['the extension is active in a folder with crossroot.toml, with every command registered', async () => {
    const ext = vscode.extensions.getExtension(EXT_ID)!;
    await api();
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
    assert.deepEqual(resolved.args.slice(1), ['exec', '--file', `${root}/crossroot.toml`, '--', 'gcc', '-c', 'broken.c']);
    assert.equal(resolved.options?.cwd, root);
    assert.equal(resolved.options?.env?.ELECTRON_RUN_AS_NODE, '1');
  }],
  ['the Crossroot terminal "arm64 · demo" is an arm64 shell, and the status bar shows the env running', async () => {
    await statusShows(/arm64 · demo: (not built|ready)/);
    const opened = new Promise<vscode.Terminal>((resolve) => {
      const sub = vscode.window.onDidOpenTerminal((t) => { sub.dispose(); resolve(t); });
    });
    await vscode.commands.executeCommand('crossroot.openTerminal');
    const terminal = await opened;
    assert.equal(terminal.name, 'arm64 · demo');
    // The terminal's own CLI builds and starts the env, out of the extension's process: the
    // status follows it through the env's state dirs.
    await statusShows(/arm64 · demo: running/);
    const closed = new Promise<void>((resolve) => {
      const sub = vscode.window.onDidCloseTerminal((t) => { if (t === terminal) { sub.dispose(); resolve(); } });
    });
    // Typed input waits in the terminal until the env's shell reads it; the cwd is the folder's
    // place in the env, so the file lands in the workspace folder.
    terminal.sendText('uname -m > uname.txt; exit');
    await closed;
    assert.equal(terminal.exitStatus?.code, 0);
    assert.equal(readFileSync(path.join(folder().uri.fsPath, 'uname.txt'), 'utf8'), 'aarch64\n');
  }],
  ['Make Crossroot the Default Terminal: a plain New Terminal opens "arm64 · demo"', async () => {
    await vscode.commands.executeCommand('crossroot.makeDefaultTerminal');
    const profile = vscode.workspace.getConfiguration('terminal.integrated').inspect('defaultProfile.linux');
    assert.equal(profile?.workspaceValue, 'Crossroot');
    const opened = new Promise<vscode.Terminal>((resolve) => {
      const sub = vscode.window.onDidOpenTerminal((t) => { sub.dispose(); resolve(t); });
    });
    // VS Code 1.100's New Terminal rejects when the default profile is an extension's (it reads
    // the instance it expected back) after asking that extension for the terminal, which opens.
    await vscode.commands.executeCommand('workbench.action.terminal.new').then(undefined, () => undefined);
    const terminal = await opened;
    assert.equal(terminal.name, 'arm64 · demo');
    const closed = new Promise<void>((resolve) => {
      const sub = vscode.window.onDidCloseTerminal((t) => { if (t === terminal) { sub.dispose(); resolve(); } });
    });
    // VS Code's own cwd (the folder) reaches the CLI, which maps it to the env's /workspace.
    terminal.sendText('pwd > pwd.txt; exit');
    await closed;
    assert.equal(terminal.exitStatus?.code, 0);
    assert.equal(readFileSync(path.join(folder().uri.fsPath, 'pwd.txt'), 'utf8'), '/workspace\n');
  }],
  ['crossroot.routeTasks runs a plain shell task inside the env (automation profile)', async () => {
    const routed = new Promise<void>((resolve) => {
      const sub = vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('terminal.integrated.automationProfile.linux')) { sub.dispose(); resolve(); }
      });
    });
    await vscode.workspace.getConfiguration('crossroot').update('routeTasks', true, vscode.ConfigurationTarget.Workspace);
    await routed;
    // tasks.json's own tasks come with the unfiltered list.
    const tasks = await vscode.tasks.fetchTasks();
    const task = tasks.find((t) => t.name === 'routed');
    assert.ok(task, `tasks: ${tasks.map((t) => t.name).join(', ')}`);
    const ended = new Promise<number | undefined>((resolve) => {
      const sub = vscode.tasks.onDidEndTaskProcess((e) => { if (e.execution.task.name === 'routed') { sub.dispose(); resolve(e.exitCode); } });
    });
    await vscode.tasks.executeTask(task);
    assert.equal(await ended, 0);
    // Only inside the env is the folder at /workspace (the task fails on the host), and it is arm64.
    assert.equal(readFileSync(path.join(folder().uri.fsPath, 'routed.txt'), 'utf8'), 'aarch64\n');
    await vscode.workspace.getConfiguration('crossroot').update('routeTasks', false, vscode.ConfigurationTarget.Workspace);
  }],
  ['a crossroot task\'s compiler-style errors from inside the env land in Problems at their file and line', async () => {
    const tasks = await vscode.tasks.fetchTasks({ type: 'crossroot' });
    const task = tasks.find((t) => t.name === 'diagnose');
    assert.ok(task, `tasks: ${tasks.map((t) => t.name).join(', ')}`);
    const ended = new Promise<number | undefined>((resolve) => {
      const sub = vscode.tasks.onDidEndTaskProcess((e) => { if (e.execution.task.name === 'diagnose') { sub.dispose(); resolve(e.exitCode); } });
    });
    await vscode.tasks.executeTask(task);
    assert.equal(await ended, 1);
    // One path relative to the task's cwd, one absolute under the env's /workspace: both map to broken.c.
    const uri = vscode.Uri.joinPath(folder().uri, 'broken.c');
    const ds = await diagnosticsWhen(uri, (d) => d.length >= 2);
    const seen = ds.map((d) => [d.severity, d.range.start.line, d.range.start.character, d.message]).sort();
    assert.deepEqual(seen, [
      [vscode.DiagnosticSeverity.Error, 3, 16, 'expected \';\' before \'return\''],
      [vscode.DiagnosticSeverity.Warning, 1, 4, 'unused variable \'x\''],
    ].sort());
  }],
  ['Stop ends every process of the env and the status bar says ready', async () => {
    await statusShows(/arm64 · demo: running/);
    const store = storeDir();
    assert.ok(processesWith(store).length >= 1, 'the env\'s instance runs (so the check below can fail)');
    await vscode.commands.executeCommand('crossroot.stop');
    await statusShows(/arm64 · demo: ready/);
    // The helper's stop returns once the instance's PID 1 has exited, which the kernel allows
    // only after every process of its pid namespace is gone.
    assert.deepEqual(processesWith(store), []);
  }],
];

const untrusted: Case[] = [
  ['an untrusted folder builds and runs nothing, and the status bar says so', async () => {
    assert.equal(vscode.workspace.isTrusted, false, 'this run opens the folder in Restricted Mode');
    await statusShows(/arm64 · demo: untrusted/);
    const terminals: vscode.Terminal[] = [];
    const sub = vscode.window.onDidOpenTerminal((t) => terminals.push(t));
    for (const c of ['crossroot.build', 'crossroot.rebuild', 'crossroot.openTerminal', 'crossroot.runCommand', 'crossroot.pinImage']) {
      await vscode.commands.executeCommand(c);
    }
    sub.dispose();
    assert.deepEqual(terminals.map((t) => t.name), []);
    assert.equal(existsSync(storeDir()), false, `${storeDir()} was not created`);
    assert.deepEqual(processesWith(storeDir()), []);
    assert.match((await api()).statusBarText(), /arm64 · demo: untrusted/);
  }],
];

/** Prints one line per test, prefixed, so the code-server run can pick them out of the browser console. */
class PrefixReporter {
  constructor(runner: Mocha.Runner) {
    let passed = 0, failed = 0;
    runner.on('pass', (t) => { passed++; console.log(`crossroot-suite: ok - ${t.title}`); });
    runner.on('fail', (t, e: Error) => { failed++; console.log(`crossroot-suite: not ok - ${t.title}: ${e.stack ?? String(e)}`); });
    runner.once('end', () => console.log(`crossroot-suite: ${passed} passed, ${failed} failed (${vscode.workspace.isTrusted ? 'trusted' : 'untrusted'})`));
  }
}

/** Entry point VS Code calls with extensionTestsPath; rejects when a test failed. */
export function run(): Promise<void> {
  // Bounded per test, so one that waits for an event that never comes fails instead of hanging
  // (the first env test builds the env: seconds from a local tree, a minute or two pulling Debian).
  const mocha = new Mocha({ ui: 'bdd', reporter: PrefixReporter as unknown as string, timeout: 5 * 60_000, color: false });
  // The folder's trust decides the run: the runner opens it trusted once and untrusted once.
  const suite = Mocha.Suite.create(mocha.suite, vscode.workspace.isTrusted ? 'trusted folder' : 'untrusted folder');
  for (const [name, fn] of vscode.workspace.isTrusted ? trusted : untrusted) suite.addTest(new Mocha.Test(name, fn));
  return new Promise((resolve, reject) => {
    mocha.run((failures) => failures ? reject(new Error(`${failures} extension-host tests failed`)) : resolve());
  });
}
