// `npm run test:vscode`: the extension-host suite (test/vscode/suite.ts) in VS Code desktop
// through @vscode/test-electron, on machines that can download VS Code (here it cannot: the same
// suite runs inside code-server in test/e2e/extension-host.test.ts, part of `npm test`).
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
  // The suite exports run(), which @vscode/test-electron calls through extensionTestsPath.
  // CROSSROOT_VSCODE_PATH: a VS Code already installed (no download).
  const installed = process.env.CROSSROOT_VSCODE_PATH;
  // Twice, as in code-server: a trusted folder (every scenario; the fixture's env pulls
  // debian:bookworm for arm64) and an untrusted one (Restricted Mode: nothing runs).
  for (const trusted of [true, false]) {
    const run = path.join(dir, trusted ? 'trusted' : 'untrusted');
    const workspace = path.join(run, 'workspace');
    cpSync(path.join(root, 'test/vscode/workspace-fixture'), workspace, { recursive: true });
    const userData = path.join(run, 'user-data');
    mkdirSync(path.join(userData, 'User'), { recursive: true });
    writeFileSync(path.join(userData, 'User', 'settings.json'), JSON.stringify({
      'crossroot.storeDir': path.join(run, 'store'),
      ...(trusted ? {} : { 'security.workspace.trust.enabled': true, 'security.workspace.trust.startupPrompt': 'never' }),
    }));
    const code = await runTests({
      ...(installed ? { vscodeExecutablePath: installed } : { version: '1.100.3' }),
      extensionDevelopmentPath: root,
      extensionTestsPath: suite,
      launchArgs: [workspace, '--disable-extensions', ...(trusted ? ['--disable-workspace-trust'] : []), `--user-data-dir=${userData}`],
    });
    if (code !== 0) process.exitCode = code;
  }
} catch (e) {
  const message = e instanceof Error ? e.message : String(e);
  // Not a pass: the suite did not run. Say why, and where it does run.
  const offline = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH|socket hang up|Failed to get|download/i.test(message);
  console.error(offline
    ? `test:vscode: FAILED: VS Code 1.100.3 could not be downloaded from update.code.visualstudio.com (${message}); the suite did not run.`
    : `test:vscode: FAILED: ${message}`);
  console.error('  fix: run it on a machine that can download VS Code, or set CROSSROOT_VSCODE_PATH to an installed VS Code; `npm test -- test/e2e/extension-host` runs the same suite inside code-server (CI does that)');
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
