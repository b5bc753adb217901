// `npm run test:vscode`: the extension-host suite (test/vscode/suite.ts) in VS Code desktop
// through @vscode/test-electron, on machines that can download VS Code (here it cannot: the same
// suite runs inside code-server in test/e2e/extension-host.test.ts, part of `npm test`).
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { ensureNodeModules } from './provision.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
ensureNodeModules();
const { buildAll } = await import('./build.mjs');
await buildAll({ quiet: true });
const { build } = await import('esbuild');
const { runTests } = await import('@vscode/test-electron');

const dir = mkdtempSync(path.join(os.tmpdir(), 'crossroot-test-vscode-'));
try {
  const suite = path.join(dir, 'suite.cjs');
  await build({ entryPoints: [path.join(root, 'test/vscode/suite.ts')], outfile: suite, bundle: true, platform: 'node', target: 'node20', format: 'cjs', external: ['vscode'], logLevel: 'error' });
  const workspace = path.join(dir, 'workspace');
  cpSync(path.join(root, 'test/vscode/workspace-fixture'), workspace, { recursive: true });
  // The suite exports run(), which @vscode/test-electron calls through extensionTestsPath.
  const code = await runTests({
    version: '1.100.3',
    extensionDevelopmentPath: root,
    extensionTestsPath: suite,
    launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust', `--user-data-dir=${path.join(dir, 'user-data')}`],
  });
  process.exitCode = code;
} catch (e) {
  console.error(`test:vscode: ${e instanceof Error ? e.message : String(e)}`);
  console.error('test:vscode: VS Code could not be downloaded or run here; `npm test -- test/e2e/extension-host` runs the same suite in code-server');
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
