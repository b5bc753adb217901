// The workspace's env as the user drives it: which env file, its status, build / rebuild / stop
// with progress, the workspace-trust gate, and errors that offer "Show Log". No `vscode` here:
// it talks to VS Code through ui.ts, so its behaviour is unit-tested in plain node.
import path from 'node:path';
import { isCrossrootError } from '../core/errors';
import type { EnvBackend, EnvStatus } from './backend';
import { StateFollower, type DirWatch, type WaitFree, type WatchDir } from './follow';
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
  private stopping = false;
  private rebuildOffered = false;
  private readonly listeners: ((s: EnvStatus | undefined) => void)[] = [];
  /** The status read under way, and the one queued behind it (see refresh). */
  private reading: Promise<void> | undefined;
  private again: Promise<void> | undefined;
  private follower: StateFollower | undefined;
  private idleCheck: NodeJS.Timeout | undefined;
  private lockWait: DirWatch | undefined;

  constructor(
    private readonly ui: Ui,
    private readonly log: Log,
    private readonly ws: Workspace,
    private readonly backend: EnvBackend,
    /** The env file this workspace uses; undefined when it has none. */
    public envFile: string | undefined,
    /** How the env's state dirs are watched (fs.watch; tests pass their own). */
    private readonly watchDir?: WatchDir,
    /** How the end of another process's build, start or stop is waited for (flock). */
    private readonly waitFree?: WaitFree,
  ) {}

  get status(): EnvStatus | undefined {
    return this.current;
  }

  onDidChange(listener: (s: EnvStatus | undefined) => void): { dispose(): void } {
    this.listeners.push(listener);
    return { dispose: () => { const i = this.listeners.indexOf(listener); if (i >= 0) this.listeners.splice(i, 1); } };
  }

  private set(s: EnvStatus | undefined): void {
    this.current = s;
    for (const l of this.listeners) l(s);
  }

  /**
   * True when the workspace is trusted; otherwise says why nothing runs (with a button to the
   * trust editor) and returns false. Every action that builds or runs anything calls this first.
   * It does not wait for the user to answer: the action is refused at once, and the command that
   * asked ends (a notification left open in the notification center would otherwise hold it).
   */
  async trusted(action: string): Promise<boolean> {
    if (this.ws.isTrusted()) return true;
    this.log.warn(untrustedMessage(action));
    void this.ui.warn(untrustedMessage(action), MANAGE_TRUST).then(async (choice) => {
      if (choice === MANAGE_TRUST) await this.ui.command('workbench.trust.manage');
    });
    return false;
  }

  /**
   * Reads the env's status again (after a build, a stop, a change in its state dirs, an env file
   * change, trust granted, window focus). Reads never overlap: one asked for while another is
   * under way runs once after it, for all who asked meanwhile, so a burst of file events costs
   * two reads and an older read never lands after a newer one.
   */
  refresh(): Promise<void> {
    if (this.reading) {
      this.again ??= this.reading.then(() => {
        this.again = undefined;
        return this.refresh();
      });
      return this.again;
    }
    this.reading = this.read().finally(() => { this.reading = undefined; });
    return this.reading;
  }

  private async read(): Promise<void> {
    if (!this.envFile) {
      this.follow(undefined);
      return this.set(undefined);
    }
    // While this process builds or stops the env, its own lock is no one else's build: the
    // operation's end reads the status again.
    if (this.building || this.stopping) return;
    try {
      // Untrusted: what the file says, without starting the helper or touching the store.
      if (!this.ws.isTrusted()) {
        this.follow(undefined);
        return this.set({ ...this.backend.describe(this.envFile), state: 'not built' });
      }
      const s = await this.backend.status(this.envFile);
      // A build or stop started meanwhile shows its own state until it ends (and reads again then).
      if (this.building || this.stopping) return;
      this.follow(s);
      if (s.state !== this.current?.state) this.log.info(`env ${s.arch} · ${s.name}: ${s.state}`);
      this.set(s);
    } catch (e) {
      this.log.error(`status of ${this.envFile}: ${describe(e)}`);
      this.set({ ...(this.current ?? { name: path.basename(path.dirname(this.envFile)), arch: 'amd64' }), state: 'error', detail: firstLine(e) });
    }
  }

  /**
   * Watches where the status just read lives (its dirs change with the env file's name or the
   * store setting, so this follows every read), and schedules one more read for when a running
   * env with nothing in it would exit on its own: an idle exit is the one change that leaves no
   * file behind (see Env.stateDirs). Window focus and terminal/task ends read again too (ctx.ts).
   */
  private follow(s: EnvStatus | undefined): void {
    const dirs = s?.dirs ?? [];
    const files = s?.lock ? [s.lock] : [];
    if (this.follower?.dirs.join('\0') !== dirs.join('\0') || this.follower?.files.join('\0') !== files.join('\0')) {
      this.follower?.dispose();
      this.follower = dirs.length && this.watchDir ? new StateFollower(dirs, () => { void this.refresh(); }, this.watchDir, files) : undefined;
      if (this.follower) this.log.info(`following the env's state in ${dirs[0]}`);
    }
    // Another process holds the env's lock: a build that fails or a start that ends changes no
    // watched file when it lets go, so the lock's release is waited for (one waiter at a time).
    if (s?.busyLock && this.waitFree && !this.lockWait) {
      this.lockWait = this.waitFree(s.busyLock, () => {
        this.lockWait = undefined;
        void this.refresh();
      });
    }
    clearTimeout(this.idleCheck);
    this.idleCheck = undefined;
    if (s?.state === 'running' && s.processes === 0 && s.idleExit) {
      this.idleCheck = setTimeout(() => { void this.refresh(); }, (s.idleExit + 1) * 1000);
      this.idleCheck.unref?.();
    }
  }

  dispose(): void {
    this.follower?.dispose();
    this.follower = undefined;
    this.lockWait?.close();
    this.lockWait = undefined;
    clearTimeout(this.idleCheck);
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
    this.stopping = true;
    try {
      await this.backend.stop(file);
      this.log.info(`stopped ${file}`);
    } catch (e) {
      await this.fail('stopping the env failed', e);
    } finally {
      this.stopping = false;
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

  /**
   * Logs the whole error (cause included) and shows its first line with "Show Log". Does not
   * wait for the answer: a failed build leaves "building" at once, whether or not the user has
   * closed the notification yet.
   */
  async fail(what: string, e: unknown): Promise<void> {
    this.log.error(`${what}: ${describe(e)}`);
    void this.ui.error(`Crossroot: ${what}: ${firstLine(e)}`, SHOW_LOG).then((choice) => {
      if (choice === SHOW_LOG) this.log.show();
    });
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
