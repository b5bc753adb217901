// What the extension needs from the env lifecycle (src/core/env): status, build, stop, in-process.
// One small interface so the wiring to the core is a few lines and controller tests need no envs.
import type { ArchName } from '../core/arch';

/** The states the status bar shows, in the user's words. */
export type EnvState = 'not built' | 'building' | 'ready' | 'running' | 'stopping' | 'error';

export interface EnvStatus {
  name: string;
  arch: ArchName;
  state: EnvState;
  /** Why, for 'error' (and anything else worth a tooltip line). */
  detail?: string;
}

/** One progress event of a build: the layer, bytes or setup step now under way. */
export interface BuildProgress {
  message: string;
  /** 0..1 of the whole build, when known. */
  fraction?: number;
}

export interface BuildOptions {
  rebuild: boolean;
  onProgress: (p: BuildProgress) => void;
  signal: AbortSignal;
}

export interface EnvBackend {
  status(envFile: string): Promise<EnvStatus>;
  build(envFile: string, o: BuildOptions): Promise<void>;
  stop(envFile: string): Promise<void>;
}

/** Where the lifecycle finds its helper and store (the extension's settings, resolved). */
export interface BackendConfig {
  helper: string;
  store?: string;
  idleTimeout: number;
}
