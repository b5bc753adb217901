// Plain-object implementations of the extension's thin wrappers (src/extension/ui.ts), recording
// what a user would see: messages with their buttons, progress lines, log lines.
import type { Log, PickItem, ProgressReport, Ui, Workspace } from '../../../src/extension/ui';

export interface Shown { kind: 'info' | 'warn' | 'error'; message: string; actions: string[] }

export class RecordingUi implements Ui {
  shown: Shown[] = [];
  progressTitles: string[] = [];
  reports: ProgressReport[] = [];
  commands: string[] = [];
  /** The arguments of each command, in the order of `commands`. */
  commandArgs: unknown[][] = [];
  /** The button the "user" presses on the next message (undefined: dismisses it). */
  answer: string | undefined;
  /** Set to cancel the next progress notification as soon as its first report arrives. */
  cancelOnFirstReport = false;

  private show(kind: Shown['kind'], message: string, actions: string[]): Promise<string | undefined> {
    this.shown.push({ kind, message, actions });
    const a = this.answer;
    return Promise.resolve(a && actions.includes(a) ? a : undefined);
  }
  info(m: string, ...a: string[]) { return this.show('info', m, a); }
  warn(m: string, ...a: string[]) { return this.show('warn', m, a); }
  error(m: string, ...a: string[]) { return this.show('error', m, a); }
  async progress<T>(title: string, task: (report: (p: ProgressReport) => void, signal: AbortSignal) => Promise<T>): Promise<T> {
    this.progressTitles.push(title);
    const abort = new AbortController();
    return task((p) => {
      this.reports.push(p);
      if (this.cancelOnFirstReport) abort.abort();
    }, abort.signal);
  }
  async pick<T>(items: PickItem<T>[]): Promise<T | undefined> { return items[0]?.value; }
  async input(): Promise<string | undefined> { return undefined; }
  async open(): Promise<void> {}
  async showText(): Promise<void> {}
  async command(id: string, ...args: unknown[]): Promise<void> { this.commands.push(id); this.commandArgs.push(args); }
}

export class RecordingLog implements Log {
  lines: string[] = [];
  shownCount = 0;
  info(m: string) { this.lines.push(`info ${m}`); }
  warn(m: string) { this.lines.push(`warn ${m}`); }
  error(m: string) { this.lines.push(`error ${m}`); }
  show() { this.shownCount++; }
}

export class MemoryWorkspace implements Workspace {
  trusted = true;
  settings: Record<string, unknown> = {};
  workspace: Record<string, unknown> = {};
  isTrusted() { return this.trusted; }
  setting<T>(key: string, fallback: T): T { return (this.settings[key] as T | undefined) ?? fallback; }
  workspaceSetting(section: string) { return this.workspace[section]; }
  async updateWorkspaceSetting(section: string, value: unknown) {
    if (value === undefined) delete this.workspace[section];
    else this.workspace[section] = value;
  }
}
