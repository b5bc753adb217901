// The extension-host suite (test/vscode/suite.ts, mocha) inside a real VS Code: code-server's
// test payload loads this checkout as the extension under development and runs the suite in its
// extension host; the exit code comes back through window.codeAutomationExit. It runs twice:
// in a trusted folder (every scenario with a real arm64 env from a local busybox tree) and in
// an untrusted one (nothing runs).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { busyboxRootfs } from '../fixtures/rootfs';
import { ROOT, tempDir } from '../lib/harness';
import { e2eStore, ready } from './envFixture';
import { codeServerOrSkip, freshWorkspace, SETTINGS } from './fixtures';
import { startCodeServer } from './lib/codeServer';
import { artifactsDir, launchBrowser, STEP } from './lib/workbench';

/** Bundles the suite (vscode external, mocha inside) to a CommonJS file the extension host can load. */
async function bundleSuite(dir: string): Promise<string> {
  const out = path.join(dir, 'suite.cjs');
  await build({ entryPoints: [path.join(ROOT, 'test/vscode/suite.ts')], outfile: out, bundle: true, platform: 'node', target: 'node20', format: 'cjs', external: ['vscode'], logLevel: 'error' });
  return out;
}

let built: Promise<void> | undefined;

/** Runs the suite in a fresh code-server with the folder trusted or not; resolves with its lines. */
async function runSuite(t: TestContext, trusted: boolean): Promise<string[]> {
  const entry = codeServerOrSkip(t);
  if (!entry) return [];
  const tree = await busyboxRootfs('arm64');
  const { store, afterServer } = e2eStore(t);
  const suite = await bundleSuite(tempDir(t, 'crossroot-suite-'));
  built ??= import(path.join(ROOT, 'scripts/build.mjs')).then(({ buildAll }) => buildAll({ quiet: true, native: false }));
  await built;
  const trust = trusted
    ? { 'security.workspace.trust.enabled': false }
    // Restricted Mode without the startup prompt: the folder opens untrusted.
    : { 'security.workspace.trust.enabled': true, 'security.workspace.trust.startupPrompt': 'never' };
  const server = await startCodeServer(t, entry, { settings: { ...SETTINGS, ...trust, 'crossroot.storeDir': store } });
  afterServer();
  const ws = freshWorkspace(t);
  // The fixture's env, on a local arm64 tree instead of a registry image (arch stays on line 2).
  writeFileSync(path.join(ws, 'crossroot.toml'), `name = "demo"\narch = "arm64"\n[source]\nkind = "dir"\npath = ${JSON.stringify(tree)}\n[shell]\npath = "/bin/sh"\n`);
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
  await page.screenshot({ path: path.join(artifactsDir('extension-host'), `${trusted ? '01-trusted' : '02-untrusted'}-suite-done.png`) });
  t.diagnostic(`suite ran in ${((Date.now() - started) / 1000).toFixed(1)} s:\n${lines.join('\n')}`);
  assert.equal(code, 0, lines.join('\n'));
  return lines;
}

test('the extension-host suite passes inside code-server in a trusted folder: terminal, task, diagnostics, status, stop', { timeout: 20 * 60_000 }, async (t) => {
  if (!ready(t)) return;
  const lines = await runSuite(t, true);
  if (!lines.length) return;
  assert.ok(lines.some((l) => /crossroot-suite: 9 passed, 0 failed \(trusted\)/.test(l)), lines.join('\n'));
});

test('the extension-host suite passes inside code-server in an untrusted folder: nothing runs', { timeout: 10 * 60_000 }, async (t) => {
  if (!ready(t)) return;
  const lines = await runSuite(t, false);
  if (!lines.length) return;
  assert.ok(lines.some((l) => /crossroot-suite: 1 passed, 0 failed \(untrusted\)/.test(l)), lines.join('\n'));
});
