// What the extension needs from the env lifecycle (src/core/env): status, build, stop, in-process
// (lifecycle.ts implements it on Env). Controller tests implement it on a plain object.
import type { ArchName } from '../core/arch';

/** The states the status bar shows, in the user's words. */
/** 'outdated': built, but the env file changed since (a rebuild applies it). */
export type EnvState = 'not built' | 'outdated' | 'building' | 'ready' | 'running' | 'stopping' | 'error';

export interface EnvStatus {
  name: string;
  arch: ArchName;
  state: EnvState;
  /** Why, for 'error' (and anything else worth a tooltip line). */
  detail?: string;
  /** Processes in the running env besides its PID 1 (terminals, tasks and their children). */
  processes?: number;
  /** Seconds the running env waits with no process in it before it exits on its own; 0: never. */
  idleExit?: number;
  /** Where the env's state lands on disk (Env.stateDirs()): watched, so other processes' changes show. */
  dirs?: string[];
  /** The env's lock file (Env.lockFile): watched, since another process's build or start begins there. */
  lock?: string;
  /** Another process builds, starts or stops the env (state 'building'): its lock, waited on. */
  busyLock?: string;
}

/** One progress event of a build: the layer, bytes or setup step now under way. */
export interface BuildProgress {
  message: string;
  /** 0..1 of the whole build, when known. */
  fraction?: number;
  /** Only for the log (a step's output lines), not the notification. */
  detail?: boolean;
}

export interface BuildOptions {
  rebuild: boolean;
  onProgress: (p: BuildProgress) => void;
  signal: AbortSignal;
}

export interface EnvBackend {
  /** Name and arch from the env file alone: runs nothing, creates nothing (untrusted folders). */
  describe(envFile: string): Pick<EnvStatus, 'name' | 'arch'>;
  status(envFile: string): Promise<EnvStatus>;
  build(envFile: string, o: BuildOptions): Promise<void>;
  stop(envFile: string): Promise<void>;
}
