// Loads heavy.ts's bundle (dist/extension-heavy.cjs, next to the extension's own) on first use.
import path from 'node:path';
import type * as Heavy from './heavy';

export const HEAVY_BUNDLE = 'extension-heavy.cjs';

let loaded: typeof Heavy | undefined;

export function heavy(): typeof Heavy {
  // A computed path: esbuild leaves this require alone instead of inlining heavy.ts here.
  loaded ??= require(path.join(__dirname, HEAVY_BUNDLE)) as typeof Heavy;
  return loaded;
}
