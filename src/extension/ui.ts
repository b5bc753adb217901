// The few things feature code asks of VS Code, as plain interfaces (vscode-python-environments'
// thin wrappers): vscodeUi.ts implements them on `vscode`, unit tests on plain objects.
// Nothing here imports `vscode`, so everything built on it runs in plain node tests.

export interface ProgressReport {
  /** One line: the layer, bytes or setup step now under way. */
  message?: string;
  /** Share of the whole done by this step, 0..100 (VS Code's `increment`). */
  increment?: number;
}

export interface PickItem<T> {
  label: string;
  description?: string;
  detail?: string;
  value: T;
}

export interface Ui {
  info(message: string, ...actions: string[]): Promise<string | undefined>;
  warn(message: string, ...actions: string[]): Promise<string | undefined>;
  error(message: string, ...actions: string[]): Promise<string | undefined>;
  /** A cancellable progress notification; `signal` aborts when the user cancels. */
  progress<T>(title: string, task: (report: (p: ProgressReport) => void, signal: AbortSignal) => Promise<T>): Promise<T>;
  pick<T>(items: PickItem<T>[], placeholder: string): Promise<T | undefined>;
  input(prompt: string, placeholder?: string): Promise<string | undefined>;
  /** Opens a file in an editor. */
  open(file: string): Promise<void>;
  /** Opens read-only text (a report) in an editor. */
  showText(content: string, language: string): Promise<void>;
  /** Runs a VS Code command (e.g. the workspace trust editor). */
  command(id: string, ...args: unknown[]): Promise<void>;
}

/** The LogOutputChannel, narrowed to what feature code writes. */
export interface Log {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  show(): void;
}

/** Settings of this extension (the `crossroot.` section) and the workspace's trust. */
export interface Workspace {
  isTrusted(): boolean;
  setting<T>(key: string, fallback: T): T;
  /** Writes a setting of this workspace (not the user's). */
  updateWorkspaceSetting(section: string, value: unknown): Promise<void>;
  workspaceSetting(section: string): unknown;
}
