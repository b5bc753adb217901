// The extension's shared state (rust-analyzer's ctx.ts): owns every disposable, the log, the
// env controller, the status bar item, the terminal profile and task providers, the env file
// watchers and the language client. main.ts only creates it; commands/ act on it.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import type { EnvBackend, EnvStatus } from './backend';
import { checkHelper, type Helper } from './bootstrap';
import { cliCommand, taskShellScript, type CliCommand } from './cli';
import { EnvController } from './controller';
import { chooseEnvFile, devcontainerFiles, ENV_FILE_SELECTOR } from './envFiles';
import { flockFree, fsWatchDir } from './follow';
import { core, heavy } from './lazy';
import { offerExtensions } from './recommend';
import { applyRouting } from './routing';
import { statusView } from './status';
import { checkDefinition, taskProcess, TASK_TYPE, type CrossrootTaskDefinition } from './tasks';
import { PROFILE_ID, terminalSpec, type TerminalSpec } from './terminals';
import type { Log, Ui, Workspace } from './ui';
import { vscodeLog, vscodeUi, vscodeWorkspace } from './vscodeUi';

const CHOSEN_ENV_FILE = 'crossroot.envFile';

export class Ctx implements vscode.Disposable {
  readonly channel: vscode.LogOutputChannel;
  readonly log: Log;
  readonly ui: Ui;
  readonly ws: Workspace;
  readonly env: EnvController;
  readonly statusItem: vscode.StatusBarItem;
  client: LanguageClient | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private helperCheck: Promise<Helper> | undefined;

  constructor(readonly extension: vscode.ExtensionContext, makeBackend: (ctx: Ctx) => EnvBackend) {
    this.channel = this.own(vscode.window.createOutputChannel('Crossroot', { log: true }));
    this.log = vscodeLog(this.channel);
    this.ui = vscodeUi();
    this.ws = vscodeWorkspace();
    this.env = new EnvController(this.ui, this.log, this.ws, makeBackend(this), this.findEnvFile(), fsWatchDir, flockFree);
    this.own(this.env);
    this.statusItem = this.own(vscode.window.createStatusBarItem('crossroot.env', vscode.StatusBarAlignment.Left, 50));
    this.statusItem.name = 'Crossroot env';
    this.statusItem.command = 'crossroot.showActions';
    this.env.onDidChange((s) => this.render(s));
    // A build fetches the env's Features, whose customizations.vscode join its extension list
    // (the env file is read again): offer what they added once the env is built. Asks only
    // about extensions it has not asked about (see offerExtensions).
    let built = false;
    this.env.onDidChange((s) => {
      const now = s?.state === 'ready' || s?.state === 'running';
      if (now && !built) void this.recommendExtensions();
      built = now;
    });
  }

  /** Registers a disposable to be disposed with the extension. */
  own<T extends vscode.Disposable>(d: T): T {
    this.disposables.push(d);
    return d;
  }

  get folders(): string[] {
    return (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
  }

  findEnvFile(): string | undefined {
    return chooseEnvFile(this.folders, this.extension.workspaceState.get<string>(CHOSEN_ENV_FILE));
  }

  async chooseEnvFile(file: string): Promise<void> {
    await this.extension.workspaceState.update(CHOSEN_ENV_FILE, file);
    this.env.envFile = file;
    await this.env.refresh();
  }

  /** The helper, checked with --version once (and again after the setting changes). */
  helper(): Promise<Helper> {
    this.helperCheck ??= checkHelper(this.ws.setting('helperPath', ''), this.extension.extensionPath).then((h) => {
      this.log.info(`helper ${h.path} (${h.version})`);
      return h;
    });
    this.helperCheck.catch(() => { this.helperCheck = undefined; });
    return this.helperCheck;
  }

  /** How terminals and tasks start the bundled CLI, with the current settings. */
  cli(): CliCommand {
    return cliCommand(this.extension.extensionPath, process.execPath, {
      helper: this.ws.setting('helperPath', '') || undefined,
      store: this.ws.setting('storeDir', '') || undefined,
      idleTimeout: this.ws.setting<number | null>('idleTimeout', null) ?? undefined,
    });
  }

  /**
   * Registers everything and returns (activation budget: 50 ms). The work comes after: the env's
   * status is read once activation is over, and the language server starts when an env file is
   * first open in an editor.
   */
  start(): void {
    // Not awaited: each is a round trip to the workbench, which is busy while it starts.
    void vscode.commands.executeCommand('setContext', 'crossroot.active', true);
    void vscode.commands.executeCommand('setContext', 'crossroot.hasDevcontainer', devcontainerFiles(this.folders).length > 0);
    this.statusItem.show();
    this.render(undefined);
    this.own(vscode.window.registerTerminalProfileProvider(PROFILE_ID, {
      // No cwd: VS Code's own applies (it prefers the profile's), so a folder's "Open in
      // Integrated Terminal" or a split starts there, mapped into the env by the CLI.
      provideTerminalProfile: async () => new vscode.TerminalProfile(await this.terminalOptions(undefined)),
    }));
    this.own(vscode.tasks.registerTaskProvider(TASK_TYPE, {
      provideTasks: () => [],
      resolveTask: (task) => this.resolveTask(task),
    }));
    this.watchEnvFiles();
    this.followActivity();
    this.own(vscode.workspace.onDidGrantWorkspaceTrust(() => { void this.trustGranted(); }));
    this.own(vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('crossroot.helperPath')) this.helperCheck = undefined;
      // Another store is another env dir to follow; another idle timeout another idle check.
      if (e.affectsConfiguration('crossroot.storeDir') || e.affectsConfiguration('crossroot.idleTimeout')) void this.env.refresh();
      if (e.affectsConfiguration('crossroot.defaultTerminal') || e.affectsConfiguration('crossroot.routeTasks')) void this.route();
    }));
    const envFileOpen = (doc: vscode.TextDocument): boolean => vscode.languages.match(ENV_FILE_SELECTOR, doc) > 0;
    const opened = this.own(vscode.workspace.onDidOpenTextDocument((doc) => {
      if (envFileOpen(doc)) this.startLanguageClient();
    }));
    this.startLanguageClient = (): void => {
      opened.dispose();
      this.startLanguageClient = () => {};
      // Its failures are reported, not thrown: the rest of the extension works without it.
      try {
        this.client = heavy().createLanguageClient(this.extension);
        this.client.start().catch((e: unknown) => this.env.fail('the env file language server did not start', e));
      } catch (e) {
        void this.env.fail('the env file language server did not start', e);
      }
    };
    setImmediate(() => {
      if (vscode.workspace.textDocuments.some(envFileOpen)) this.startLanguageClient();
      void this.env.refresh().then(() => this.route()).then(() => this.recommendExtensions());
    });
  }

  /** One offer at a time: activation and a finished build may both ask. */
  private offering: Promise<void> = Promise.resolve();

  private recommendExtensions(): Promise<void> {
    this.offering = this.offering.then(() => this.offerMissingExtensions(), () => this.offerMissingExtensions());
    return this.offering;
  }

  /** The env file's customizations.vscode.extensions (its Features' included) that VS Code lacks: offered once per env. */
  private async offerMissingExtensions(): Promise<void> {
    const file = this.env.envFile;
    if (!file || !this.ws.isTrusted()) return;
    let spec;
    try {
      spec = core().loadEnvSpec(file);
    } catch {
      return; // the language server shows what is wrong with the file
    }
    const installed = await offerExtensions(spec, this.ui, { has: (id) => vscode.extensions.all.some((e) => e.id.toLowerCase() === id) }, this.extension.workspaceState);
    if (installed.length) this.log.info(`installed the env's extensions: ${installed.join(', ')}`);
  }

  /** Starts the env file language server (once; later calls do nothing). */
  startLanguageClient: () => void = () => {};

  private render(s: EnvStatus | undefined): void {
    const item = this.statusItem;
    if (!s) {
      item.text = this.env.envFile ? '$(sync~spin) Crossroot' : '$(circle-slash) Crossroot: no env file';
      item.tooltip = this.env.envFile ? `Crossroot: reading ${this.env.envFile}` : 'No crossroot.toml or devcontainer.json in this workspace';
      item.backgroundColor = undefined;
      return;
    }
    const v = statusView(s, this.ws.isTrusted());
    item.text = v.text;
    item.tooltip = v.tooltip;
    item.backgroundColor = v.error ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  private async trustGranted(): Promise<void> {
    this.log.info('workspace trusted: the env may build and run');
    await this.env.refresh();
    await this.route();
  }

  /** Terminal options for the env: untrusted, none (says why); else the CLI's `shell`. */
  async terminalOptions(cwd: string | undefined): Promise<TerminalSpec> {
    const file = this.env.envFile;
    if (!file) throw new Error('Crossroot: this workspace has no crossroot.toml or devcontainer.json');
    if (!(await this.env.trusted('open a terminal in the env'))) throw new Error('Crossroot: this folder is not trusted; the env runs nothing');
    await this.helper();
    if (!this.env.status) await this.env.refresh();
    const s = this.env.status ?? { name: path.basename(path.dirname(file)), arch: 'amd64' as const };
    return terminalSpec(this.cli(), file, s, cwd);
  }

  private async resolveTask(task: vscode.Task): Promise<vscode.Task | undefined> {
    const folder = task.scope && typeof task.scope === 'object' ? task.scope.uri.fsPath : this.folders[0];
    if (!folder) return undefined;
    let def: CrossrootTaskDefinition;
    try {
      def = checkDefinition(task.definition);
    } catch (e) {
      await this.env.fail(`task "${task.name}" is not valid`, e);
      return undefined;
    }
    // Resolving only describes the process; trust is checked again when the env would run.
    if (!vscode.workspace.isTrusted) {
      await this.env.trusted(`run the task "${task.name}"`);
      return undefined;
    }
    const p = taskProcess(this.cli(), def, folder, this.env.envFile);
    return new vscode.Task(task.definition, task.scope ?? vscode.TaskScope.Workspace, task.name, TASK_TYPE,
      new vscode.ProcessExecution(p.process, p.args, { cwd: p.cwd, env: p.env }), task.problemMatchers);
  }

  /** Runs a command line inside the env as a task, so its output and problems show. */
  async runInEnv(label: string, command: string[], problemMatchers: string[] = []): Promise<void> {
    const folder = this.folders[0];
    if (!folder || !this.env.envFile) return;
    if (!(await this.env.trusted(`run "${label}"`))) return;
    const def: CrossrootTaskDefinition = { type: TASK_TYPE, command: command[0]!, args: command.slice(1) };
    const p = taskProcess(this.cli(), def, folder, this.env.envFile);
    await this.runTask(def, label, p.process, p.args, p.cwd, p.env, problemMatchers);
  }

  /** Runs a `crossroot` CLI command (e.g. `lock`) as a task, so its output shows in a terminal. */
  async runCli(label: string, args: string[]): Promise<void> {
    const cli = this.cli();
    const folder = this.folders[0] ?? process.cwd();
    await this.runTask({ type: TASK_TYPE, command: 'crossroot', args }, label, cli.command, [...cli.args, ...args], folder, cli.env, []);
  }

  private async runTask(def: CrossrootTaskDefinition, label: string, command: string, args: string[], cwd: string,
    env: Record<string, string>, problemMatchers: string[]): Promise<void> {
    const task = new vscode.Task(def, vscode.TaskScope.Workspace, label, TASK_TYPE,
      new vscode.ProcessExecution(command, args, { cwd, env }), problemMatchers);
    await vscode.tasks.executeTask(task);
  }

  /**
   * What the state-dir watch (controller.ts, follow.ts) cannot see: the number of processes in
   * the env (the tooltip's "N processes in it") changes as Crossroot terminals and tasks come
   * and go, and an env that ended on its own while this window was in the background is noticed
   * when the window gets focus again. Each is one cheap status read, never a timer.
   */
  private followActivity(): void {
    const cli = this.cli().args[0]!;
    const ours = (t: vscode.Terminal): boolean => {
      const o = t.creationOptions as vscode.TerminalOptions;
      return Array.isArray(o.shellArgs) && o.shellArgs.includes(cli);
    };
    const refresh = (): void => { void this.env.refresh(); };
    this.own(vscode.window.onDidOpenTerminal((t) => { if (ours(t)) refresh(); }));
    this.own(vscode.window.onDidCloseTerminal((t) => { if (ours(t)) refresh(); }));
    // Every task: with crossroot.routeTasks a shell task runs in the env too.
    this.own(vscode.tasks.onDidStartTaskProcess(refresh));
    this.own(vscode.tasks.onDidEndTaskProcess(refresh));
    this.own(vscode.window.onDidChangeWindowState((w) => { if (w.focused) refresh(); }));
  }

  private watchEnvFiles(): void {
    for (const pattern of ['**/crossroot.toml', '**/crossroot.lock', '**/.devcontainer/devcontainer.json', '**/.devcontainer.json']) {
      const w = this.own(vscode.workspace.createFileSystemWatcher(pattern));
      const changed = (uri: vscode.Uri): void => {
        const file = this.env.envFile;
        // Only this env's own file and the lock beside it.
        if (!file || path.dirname(uri.fsPath) !== path.dirname(file)) {
          if (!file) void this.envFileAppeared();
          return;
        }
        void this.env.envFileChanged(uri.fsPath);
      };
      w.onDidChange(changed);
      w.onDidCreate(changed);
      w.onDidDelete(() => { void this.envFileAppeared(); });
    }
  }

  private async envFileAppeared(): Promise<void> {
    this.env.envFile = this.findEnvFile();
    await this.env.refresh();
    this.render(this.env.status);
  }

  /** Applies the default-terminal and route-tasks settings to the workspace (trusted only). */
  async route(): Promise<void> {
    const file = this.env.envFile;
    if (!file || !this.ws.isTrusted()) return;
    const want = { defaultTerminal: this.ws.setting('defaultTerminal', false), routeTasks: this.ws.setting('routeTasks', false) };
    try {
      const script = this.taskShellPath();
      if (want.routeTasks) this.writeTaskShell(script, file);
      const changed = await applyRouting(this.ws, want, script);
      for (const c of changed) this.log.info(`workspace setting ${c} updated`);
    } catch (e) {
      await this.env.fail('updating the terminal settings failed', e);
    }
  }

  /** The automation-profile script lives in this workspace's own extension storage. */
  private taskShellPath(): string {
    const storage = this.extension.storageUri ?? this.extension.globalStorageUri;
    return path.join(storage.fsPath, 'bin', 'crossroot-task-shell');
  }

  private writeTaskShell(script: string, envFile: string): void {
    mkdirSync(path.dirname(script), { recursive: true, mode: 0o700 });
    writeFileSync(script, taskShellScript(this.cli(), envFile), { mode: 0o700 });
    chmodSync(script, 0o700);
  }

  dispose(): void {
    for (const d of this.disposables.splice(0).reverse()) d.dispose();
  }
}
