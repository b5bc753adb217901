// ui.ts on the real `vscode` API: the only place feature code's questions become VS Code calls.
import * as vscode from 'vscode';
import type { Log, PickItem, ProgressReport, Ui, Workspace } from './ui';

export function vscodeUi(): Ui {
  return {
    info: async (m, ...a) => vscode.window.showInformationMessage(m, ...a),
    warn: async (m, ...a) => vscode.window.showWarningMessage(m, ...a),
    error: async (m, ...a) => vscode.window.showErrorMessage(m, ...a),
    progress: async <T>(title: string, task: (report: (p: ProgressReport) => void, signal: AbortSignal) => Promise<T>) =>
      vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, token) => {
        const abort = new AbortController();
        token.onCancellationRequested(() => abort.abort());
        return task((p) => progress.report(p), abort.signal);
      }),
    pick: async <T>(items: PickItem<T>[], placeHolder: string) => (await vscode.window.showQuickPick(items, { placeHolder }))?.value,
    input: async (prompt, placeHolder) => vscode.window.showInputBox({ prompt, placeHolder, ignoreFocusOut: true }),
    open: async (file) => { await vscode.window.showTextDocument(vscode.Uri.file(file)); },
    showText: async (content, language) => { await vscode.window.showTextDocument(await vscode.workspace.openTextDocument({ content, language })); },
    command: async (id, ...args) => { await vscode.commands.executeCommand(id, ...args); },
  };
}

export function vscodeLog(channel: vscode.LogOutputChannel): Log {
  return {
    info: (m) => channel.info(m),
    warn: (m) => channel.warn(m),
    error: (m) => channel.error(m),
    show: () => channel.show(true),
  };
}

export function vscodeWorkspace(): Workspace {
  return {
    isTrusted: () => vscode.workspace.isTrusted,
    setting: <T>(key: string, fallback: T) => vscode.workspace.getConfiguration('crossroot').get<T>(key, fallback),
    workspaceSetting: (section) => vscode.workspace.getConfiguration().inspect(section)?.workspaceValue,
    updateWorkspaceSetting: async (section, value) => {
      await vscode.workspace.getConfiguration().update(section, value, vscode.ConfigurationTarget.Workspace);
    },
  };
}
