// Bundles the three entry points (extension, language server, CLI) and builds the native helper.
// Used by `npm run build`, `npm start` and `npm test`; each entry point is skipped until its source exists.
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

export async function buildAll({ native = true, quiet = false } = {}) {
  const entries = [
    ['src/extension/main.ts', 'dist/extension.cjs'],
    ['src/server/main.ts', 'dist/server.cjs'],
    ['src/cli/main.ts', 'dist/cli.cjs'],
  ].filter(([src]) => existsSync(path.join(root, src)));
  await Promise.all(entries.map(([src, out]) => build({
    absWorkingDir: root,
    entryPoints: [src],
    outfile: out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: true,
    external: ['vscode'],
    logLevel: quiet ? 'error' : 'warning',
  })));
  if (native) {
    execFileSync('make', ['-C', 'native', '-s', '-j2'], { cwd: root, stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit' });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildAll();
}
