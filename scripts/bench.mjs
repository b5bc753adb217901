// `npm run bench`: runs each bench/*.bench.ts (peers side by side in the same run), collects the
// markdown table each one writes to bench/results/NAME.md and puts them all in the README.
// Benchmarks are not tests: they report ratios, they do not fail on a slow machine.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ensureNodeModules, ensureDebianPackages } from './provision.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const only = process.argv.slice(2);
ensureNodeModules();
ensureDebianPackages(['build', 'run', 'fixtures', 'bench']);
// Imported only now: build.mjs needs esbuild, which a fresh clone gets from ensureNodeModules().
const { buildAll } = await import('./build.mjs');
await buildAll({ quiet: true });
mkdirSync(path.join(root, 'bench/results'), { recursive: true });

const benches = readdirSync(path.join(root, 'bench')).filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o))).sort();
let failed = 0;
for (const f of benches) {
  console.error(`bench: ${f}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join('bench', f)], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) { failed++; console.error(`bench: ${f} exited ${r.status}`); }
}

const results = readdirSync(path.join(root, 'bench/results')).filter((f) => f.endsWith('.md')).sort();
const body = results.map((f) => readFileSync(path.join(root, 'bench/results', f), 'utf8').trim()).join('\n\n');
const readme = path.join(root, 'README.md');
const text = readFileSync(readme, 'utf8');
const start = '<!-- bench:start -->', end = '<!-- bench:end -->';
if (text.includes(start) && text.includes(end) && body) {
  writeFileSync(readme, text.slice(0, text.indexOf(start) + start.length) + '\n' + body + '\n' + text.slice(text.indexOf(end)));
  console.error('bench: README updated');
}
process.exit(failed ? 1 : 0);
