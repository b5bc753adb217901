// What dist/core.cjs gives the VS Code extension when it is required instead of run: the core the
// extension uses in-process (src/extension/lazy.ts), so the VSIX ships one copy of it, not two.
export { Env } from '../core/env/env';
export { loadEnvSpec } from '../core/envfile/load';
export { checkHost, formatReport } from '../core/sandbox/check';
export { Store, defaultStoreRoot } from '../core/store/store';

/** Set (to true) on globalThis by a caller that requires dist/core.cjs as a library: main() does not run. */
export const LIBRARY = Symbol.for('crossroot.library');
