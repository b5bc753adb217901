// Bundles the entry points (the extension's activation bundle, the part of the extension it loads
// on first use, the CLI; the language server is the CLI's `lsp`) and builds the native helper.
// Used by `npm run build`, `npm start` and `npm test`; each entry point is skipped until its source exists.
import { build } from 'esbuild';
import { existsSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

// `minify` (npm run package): the VSIX ships minified bundles without source maps (size budget
// 1.5 MB for all of them); development builds keep them readable with maps.
export async function buildAll({ native = true, quiet = false, minify = false } = {}) {
  const entries = [
    ['src/extension/main.ts', 'dist/extension.cjs'],
    // Required by the extension at first use (src/extension/lazy.ts), so activation parses only what
    // registers things; the core it drives is core.cjs, required as a library (src/cli/library.ts).
    ['src/extension/heavy.ts', 'dist/extension-heavy.cjs'],
    ['src/cli/main.ts', 'dist/core.cjs'],
    // What `crossroot` runs: the warm path of exec/shell/build (src/cli/quick.ts), else core.cjs.
    // It starts the helper on the user's terminal only, so execa (≈290 KiB to parse) stays out.
    ['src/cli/entry.ts', 'dist/cli.cjs', { alias: { execa: './src/cli/no-execa.ts' } }],
  ].filter(([src]) => existsSync(path.join(root, src)));
  await Promise.all(entries.map(([src, out, extra = {}]) => build({
    absWorkingDir: root,
    entryPoints: [src],
    outfile: out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: !minify,
    minify,
    external: ['vscode'],
    logLevel: quiet ? 'error' : 'warning',
    ...extra,
  })));
  // A map left from a development build would describe other code.
  if (minify) for (const [, out] of entries) rmSync(path.join(root, `${out}.map`), { force: true });
  if (native) {
    execFileSync('make', ['-C', 'native', '-s', '-j2'], { cwd: root, stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit' });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildAll();
}
