// The EnvBackend on the env lifecycle of src/core/env, in-process: status, build and stop call
// Env directly (terminals and tasks run the bundled CLI, which calls the same Env). Also turns
// the lifecycle's events into the lines a progress notification shows.
import type { ArchName } from '../core/arch';
import type { EnvStatus as CoreStatus, Env } from '../core/env/env';
import type { EnvEvent } from '../core/env/events';
import type { BuildProgress, EnvBackend, EnvState, EnvStatus } from './backend';
import type { Helper } from './bootstrap';
import { core } from './lazy';

export interface LifecycleSettings {
  helper: () => Promise<Helper>;
  store: () => string | undefined;
  /** The crossroot.idleTimeout setting; undefined: the env file's, else 15 minutes. */
  idleTimeout: () => number | undefined;
}

const STATES: Record<CoreStatus['state'], EnvState> = { 'not-built': 'not built', outdated: 'outdated', ready: 'ready', running: 'running' };

export function statusFrom(s: Pick<CoreStatus, 'name' | 'arch' | 'state' | 'instance' | 'nativeCompilers' | 'busy'>): EnvStatus {
  const n = s.nativeCompilers;
  const parts = [
    ...(s.busy ? ['another crossroot is building, starting or stopping it'] : []),
    ...(s.instance ? [`${s.instance.processes} process${s.instance.processes === 1 ? '' : 'es'} in it`] : []),
    // Why gcc in the env is (not) the host's compiler, as `crossroot status` says it.
    ...(n ? [`native compilers ${n.state}${n.state === 'off' ? `: ${n.reason}${n.fix ? ` (${n.fix})` : ''}` : ''}`] : []),
  ];
  const detail = parts.length ? parts.join('\n') : undefined;
  return {
    name: s.name, arch: s.arch as ArchName, state: s.busy ? 'building' : STATES[s.state], ...(detail ? { detail } : {}),
    ...(s.instance ? { processes: s.instance.processes } : {}), ...(s.busy ? { busyLock: s.busy.lock } : {}),
  };
}

/**
 * The status bar's status of an env, with what follows it (state dirs, lock, idle timeout).
 * state(), not status(): the sizes walk every layer tree, and this runs on every change.
 */
export function envStatusOf(env: Env): EnvStatus {
  return { ...statusFrom(env.state()), idleExit: env.idleTimeout, dirs: env.stateDirs(), lock: env.lockFile };
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

/** One event as a progress line; `detail` lines (a step's output) go only to the log. */
export function progressOf(e: EnvEvent): BuildProgress | undefined {
  switch (e.phase) {
    case 'pull': {
      const p = e.pull;
      switch (p.phase) {
        case 'resolve': return { message: `resolving ${p.source}` };
        case 'download': return { message: `${p.blob.layer ? `layer ${p.blob.layer}/${p.blob.layers ?? '?'}` : p.blob.name ?? 'blob'}: ${mb(p.done)}${p.blob.size ? ` / ${mb(p.blob.size)}` : ''}`, detail: false };
        case 'verify': return undefined;
        case 'unpack': return { message: `unpacking layer ${p.layer}/${p.layers}` };
        case 'bootstrap': return { message: `building ${p.what} with mmdebstrap (about a minute)` };
        case 'wait': case 'note': return { message: p.message };
        // The env says it as a warning of its own.
        case 'moved': return undefined;
        case 'done': return { message: p.cached ? 'image ready (cached)' : 'image ready' };
      }
      break;
    }
    case 'step': return { message: `step ${e.index}/${e.total}: ${e.label}${e.cached ? ' (cached)' : ''}`, fraction: (e.index - 1) / e.total };
    case 'step-output': return { message: e.line, detail: true };
    case 'step-done': return { message: `step ${e.index} done in ${(e.ms / 1000).toFixed(1)} s`, detail: true };
    case 'instance': return { message: `env ${e.state}${e.reason ? `: ${e.reason}` : ''}` };
    case 'lifecycle': return { message: `${e.hook}: ${e.label}` };
    case 'output': return { message: e.line, detail: true };
    case 'warning': return { message: `warning: ${e.message}${e.fix ? ` (fix: ${e.fix})` : ''}` };
    case 'note': return { message: e.message };
  }
}

export function lifecycleBackend(s: LifecycleSettings): EnvBackend {
  const open = async (file: string, extra: { onEvent?: (e: EnvEvent) => void; signal?: AbortSignal } = {}): Promise<Env> => {
    const helper = (await s.helper()).path;
    const { Env, Store, defaultStoreRoot } = core();
    const idleTimeout = s.idleTimeout();
    return Env.open(file, { store: Store.open(s.store() ?? defaultStoreRoot(), { helper }), helper, ...(idleTimeout !== undefined ? { idleTimeout } : {}), ...extra });
  };
  return {
    describe: (file) => {
      const spec = core().loadEnvSpec(file);
      return { name: spec.name, arch: spec.arch };
    },
    status: async (file) => envStatusOf(await open(file)),
    build: async (file, o) => {
      const env = await open(file, {
        signal: o.signal,
        onEvent: (e) => { const p = progressOf(e); if (p) o.onProgress(p); },
      });
      // Build was asked for by hand (a command), so devcontainer initializeCommand runs too.
      await env.build({ rebuild: o.rebuild, initialize: true });
    },
    stop: async (file) => { await (await open(file)).stop(); },
  };
}
