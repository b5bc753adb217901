// Writes the env file reference (rendered from src/core/envfile/schema.ts) into README.md
// between its envfile-reference markers. `--check` only reports whether README is up to date.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsImport } from 'tsx/esm/api';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const readmePath = path.join(root, 'README.md');
const { withReference } = await tsImport('../src/core/envfile/docs.ts', import.meta.url);

const readme = readFileSync(readmePath, 'utf8');
const updated = withReference(readme);
if (process.argv.includes('--check')) {
  if (updated !== readme) {
    console.error('README.md: the env file reference is out of date; run node scripts/gen-envfile-docs.mjs');
    process.exit(1);
  }
} else if (updated !== readme) {
  writeFileSync(readmePath, updated);
  console.error('README.md: env file reference updated');
}
