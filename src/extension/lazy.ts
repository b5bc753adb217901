// What the extension loads on first use, never at activation: heavy.ts's bundle
// (dist/extension-heavy.cjs: the lifecycle glue, the language client) and the core itself, which
// is dist/core.cjs required as a library (src/cli/library.ts), so the VSIX holds one copy of it.
import path from 'node:path';
import type * as Core from '../cli/library';
import type * as Heavy from './heavy';

export const HEAVY_BUNDLE = 'extension-heavy.cjs';

let heavyLoaded: typeof Heavy | undefined;
let coreLoaded: typeof Core | undefined;

export function heavy(): typeof Heavy {
  // A computed path: esbuild leaves these requires alone instead of inlining the modules here.
  heavyLoaded ??= require(path.join(__dirname, HEAVY_BUNDLE)) as typeof Heavy;
  return heavyLoaded;
}

export function core(): typeof Core {
  if (!coreLoaded) {
    (globalThis as Record<symbol, unknown>)[Symbol.for('crossroot.library')] = true;
    coreLoaded = require(path.join(__dirname, 'core.cjs')) as typeof Core;
  }
  return coreLoaded;
}
