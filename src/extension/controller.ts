// The workspace's env as the user drives it: which env file, its status, build / rebuild / stop
// with progress, the workspace-trust gate, and errors that offer "Show Log". No `vscode` here:
// it talks to VS Code through ui.ts, so its behaviour is unit-tested in plain node.
import path from 'node:path';
import { isCrossrootError } from '../core/errors';
import type { EnvBackend, EnvStatus } from './backend';
import type { Log, Ui, Workspace } from './ui';

export const SHOW_LOG = 'Show Log';
export const MANAGE_TRUST = 'Manage Workspace Trust';
export const REBUILD = 'Rebuild';

/** Why nothing runs in an untrusted folder, in one sentence the user sees. */
export function untrustedMessage(action: string): string {
  return `Crossroot did not ${action}: this folder is not trusted, and an env file runs setup commands and the image's programs. Trust the folder to use its env.`;
}

export class EnvController {
  private current: EnvStatus | undefined;
  private building: AbortController | undefined;
  private rebuildOffered = false;
  private readonly listeners: ((s: EnvStatus | undefined) => void)[] = [];

  constructor(
    private readonly ui: Ui,
    private readonly log: Log,
    private readonly ws: Workspace,
    private readonly backend: EnvBackend,
    /** The env file this workspace uses; undefined when it has none. */
    public envFile: string | undefined,
  ) {}

  get status(): EnvStatus | undefined {
    return this.current;
  }

  onDidChange(listener: (s: EnvStatus | undefined) => void): void {
    this.listeners.push(listener);
  }

  private set(s: EnvStatus | undefined): void {
    this.current = s;
    for (const l of this.listeners) l(s);
  }

  /**
   * True when the workspace is trusted; otherwise says why nothing runs (with a button to the
   * trust editor) and returns false. Every action that builds or runs anything calls this first.
   */
  async trusted(action: string): Promise<boolean> {
    if (this.ws.isTrusted()) return true;
    this.log.warn(untrustedMessage(action));
    const choice = await this.ui.warn(untrustedMessage(action), MANAGE_TRUST);
    if (choice === MANAGE_TRUST) await this.ui.command('workbench.trust.manage');
    return false;
  }

  /** Reads the env's status again (after a build, a stop, an env file change, trust granted). */
  async refresh(): Promise<void> {
    if (!this.envFile) return this.set(undefined);
    if (this.building) return;
    try {
      // Untrusted: what the file says, without starting the helper or touching the store.
      if (!this.ws.isTrusted()) return this.set({ ...this.backend.describe(this.envFile), state: 'not built' });
      this.set(await this.backend.status(this.envFile));
    } catch (e) {
      this.log.error(`status of ${this.envFile}: ${describe(e)}`);
      this.set({ ...(this.current ?? { name: path.basename(path.dirname(this.envFile)), arch: 'amd64' }), state: 'error', detail: firstLine(e) });
    }
  }

  /** Builds (or rebuilds from scratch) with a cancellable progress notification. True when built. */
  async build(rebuild: boolean): Promise<boolean> {
    const file = this.envFile;
    if (!file) {
      await this.ui.warn('Crossroot: this workspace has no crossroot.toml or devcontainer.json to build.');
      return false;
    }
    if (!(await this.trusted(rebuild ? 'rebuild the env' : 'build the env'))) return false;
    if (this.building) {
      await this.ui.info('Crossroot: a build of this env is already running.');
      return false;
    }
    const before = this.current;
    const label = before ? `${before.arch} · ${before.name}` : path.basename(file);
    const controller = new AbortController();
    this.building = controller;
    if (before) this.set({ ...before, state: 'building', detail: undefined });
    this.log.info(`${rebuild ? 'rebuild' : 'build'} ${file}`);
    try {
      await this.ui.progress(`Crossroot: ${rebuild ? 'rebuilding' : 'building'} ${label}`, async (report, signal) => {
        signal.addEventListener('abort', () => controller.abort(), { once: true });
        let done = 0;
        await this.backend.build(file, {
          rebuild,
          signal: controller.signal,
          onProgress: (p) => {
            this.log.info(p.message);
            if (p.detail) return;
            // VS Code's bar takes increments; the core reports where it is.
            const at = p.fraction === undefined ? undefined : Math.round(Math.min(1, Math.max(0, p.fraction)) * 100);
            const increment = at !== undefined && at > done ? at - done : undefined;
            if (at !== undefined && at > done) done = at;
            report({ message: p.message, increment });
          },
        });
      });
      this.log.info(`built ${file}`);
      return true;
    } catch (e) {
      if (controller.signal.aborted) {
        this.log.info(`build of ${file} cancelled`);
        return false;
      }
      await this.fail(`the build of ${label} failed`, e);
      return false;
    } finally {
      this.building = undefined;
      await this.refresh();
    }
  }

  /** Stops the env's running instance (every process in it). */
  async stop(): Promise<void> {
    const file = this.envFile;
    if (!file) return;
    // Stopping only ends processes; it is allowed untrusted, so a user can always stop an env.
    if (this.current) this.set({ ...this.current, state: 'stopping' });
    try {
      await this.backend.stop(file);
      this.log.info(`stopped ${file}`);
    } catch (e) {
      await this.fail('stopping the env failed', e);
    } finally {
      await this.refresh();
    }
  }

  /**
   * The env file or its lock changed on disk. When the env exists, offers a rebuild (once per
   * change burst: a second change while the offer is open does not stack another).
   */
  async envFileChanged(changed: string): Promise<void> {
    await this.refresh();
    const state = this.current?.state;
    if (state !== 'ready' && state !== 'running' && state !== 'outdated') return;
    if (this.rebuildOffered) return;
    this.rebuildOffered = true;
    try {
      const choice = await this.ui.info(`Crossroot: ${path.basename(changed)} changed. Rebuild the env to apply it?`, REBUILD);
      if (choice === REBUILD) await this.build(true);
    } finally {
      this.rebuildOffered = false;
    }
  }

  /** Logs the whole error (cause included) and shows its first line with "Show Log". */
  async fail(what: string, e: unknown): Promise<void> {
    this.log.error(`${what}: ${describe(e)}`);
    const choice = await this.ui.error(`Crossroot: ${what}: ${firstLine(e)}`, SHOW_LOG);
    if (choice === SHOW_LOG) this.log.show();
  }
}

/** Message, fix-it and cause, as the log keeps them. */
export function describe(e: unknown): string {
  if (isCrossrootError(e)) {
    const cause = e.cause instanceof Error ? `\n  cause: ${e.cause.message}` : '';
    return e.describe() + cause;
  }
  return e instanceof Error ? (e.stack ?? e.message) : String(e);
}

function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0]!;
}
