// The extension-host suite (test/vscode/suite.ts) inside a real VS Code: code-server's test
// payload loads this checkout as the extension under development and runs the suite in its
// extension host; the exit code comes back through window.codeAutomationExit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { build } from 'esbuild';
import { ROOT, tempDir } from '../lib/harness';
import { codeServerOrSkip, freshWorkspace, SETTINGS } from './fixtures';
import { startCodeServer } from './lib/codeServer';
import { artifactsDir, launchBrowser, STEP } from './lib/workbench';

/** Bundles the suite (vscode external) to a CommonJS file the extension host can load. */
export async function bundleSuite(dir: string): Promise<string> {
  const out = path.join(dir, 'suite.cjs');
  await build({ entryPoints: [path.join(ROOT, 'test/vscode/suite.ts')], outfile: out, bundle: true, platform: 'node', target: 'node20', format: 'cjs', external: ['vscode'], logLevel: 'error' });
  return out;
}

test('the extension-host suite passes inside code-server', async (t) => {
  const entry = codeServerOrSkip(t);
  if (!entry) return;
  const suite = await bundleSuite(tempDir(t, 'crossroot-suite-'));
  const { buildAll } = await import(path.join(ROOT, 'scripts/build.mjs'));
  await buildAll({ quiet: true, native: false });
  const server = await startCodeServer(t, entry, { settings: { ...SETTINGS, 'security.workspace.trust.enabled': false } });
  const ws = freshWorkspace(t);
  const remote = (p: string): string => `vscode-remote://127.0.0.1:${server.port}${p}`;
  const payload = JSON.stringify([['extensionDevelopmentPath', remote(ROOT)], ['extensionTestsPath', remote(suite)]]);

  const context = await launchBrowser(t);
  const page = context.pages()[0] ?? await context.newPage();
  const lines: string[] = [];
  page.on('console', (m) => { if (m.text().includes('crossroot-suite:')) lines.push(m.text()); });
  // Bounded: a suite that never reports (the host did not start) fails instead of hanging the run.
  const exit = new Promise<number>((resolve, reject) => {
    void page.exposeFunction('codeAutomationExit', (code: number) => resolve(code));
    setTimeout(() => reject(new Error(`the suite did not report within ${STEP * 5 / 1000} s:\n${lines.join('\n')}`)), STEP * 5).unref();
  });
  const started = Date.now();
  await page.goto(`${server.url}/?folder=${encodeURIComponent(ws)}&payload=${encodeURIComponent(payload)}`, { timeout: 120_000, waitUntil: 'domcontentloaded' });
  const code = await exit;
  await page.screenshot({ path: path.join(artifactsDir('extension-host'), '01-suite-done.png') });
  t.diagnostic(`suite ran in ${((Date.now() - started) / 1000).toFixed(1)} s:\n${lines.join('\n')}`);
  assert.equal(code, 0, lines.join('\n'));
  assert.ok(lines.some((l) => /crossroot-suite: 4 passed, 0 failed/.test(l)), lines.join('\n'));
});
