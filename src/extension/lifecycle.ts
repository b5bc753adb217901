// The EnvBackend on the env lifecycle of src/core/env, in-process (terminals and tasks use the
// CLI instead). The lifecycle module is not on main yet: until it lands, status reads the env
// file for name and arch and says the lifecycle is missing; build and stop refuse.
import { CrossrootError } from '../core/errors';
import { loadEnvSpec } from '../core/envfile/load';
import type { EnvBackend } from './backend';
import type { Helper } from './bootstrap';

export interface LifecycleSettings {
  helper: () => Promise<Helper>;
  store: () => string | undefined;
  idleTimeout: () => number;
}

const MISSING = 'this build of Crossroot has no env lifecycle (src/core/env) yet';

export function lifecycleBackend(_s: LifecycleSettings): EnvBackend {
  const missing = (): never => { throw new CrossrootError('ENOLIFECYCLE', MISSING, { fix: 'update Crossroot' }); };
  return {
    status: async (file) => {
      const spec = loadEnvSpec(file);
      return { name: spec.name, arch: spec.arch, state: 'error', detail: MISSING };
    },
    build: async () => missing(),
    stop: async () => missing(),
  };
}
