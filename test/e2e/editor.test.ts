// E2E in a real VS Code (code-server 4.100.3 + Chromium), with the packaged VSIX installed:
// the env file's diagnostics in the Problems panel, and an untrusted folder that runs nothing.
// Scenarios that need a built env (terminal, task, status, stop) are in env.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../lib/harness';
import { codeServerOrSkip, freshWorkspace, hostVsix, SETTINGS } from './fixtures';
import { startCodeServer } from './lib/codeServer';
import { openWorkbench, STEP } from './lib/workbench';

/** Command lines of this user's processes that contain `needle`. */
function processesWith(needle: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(needle)) out.push(`${pid}: ${cmd}`);
    } catch { /* exited */ }
  }
  return out;
}

test('breaking crossroot.toml shows the diagnostic at its place in the Problems panel; fixing it clears it', async (t) => {
  const entry = codeServerOrSkip(t);
  if (!entry) return;
  const server = await startCodeServer(t, entry, { vsix: [await hostVsix()], settings: { ...SETTINGS, 'security.workspace.trust.enabled': false } });
  const ws = freshWorkspace(t);
  const wb = await openWorkbench(t, server.url, ws, 'diagnostics');
  const page = wb.page;
  // The extension is up once its status bar item names the env.
  await wb.waitForText('#status\\.crossroot\\.env, .statusbar-item', /demo/);
  await wb.open('crossroot.toml');
  // The editor's language is ours (status bar language indicator).
  await wb.waitForText('.statusbar-item', /Crossroot env file/);
  await wb.shot('env-file-open');

  // Replace line 2 (arch = "arm64") as a user would: go to it, select it, type.
  await page.keyboard.press('Control+G');
  await page.keyboard.type('2');
  await page.keyboard.press('Enter');
  await page.keyboard.press('Home');
  await page.keyboard.press('Shift+End');
  await page.keyboard.type('arch = "arm65"');
  await wb.command('Problems: Focus on Problems View');
  const problem = await wb.waitForText('.markers-panel .monaco-list-row', /unknown arch "arm65"/);
  // The Problems panel gives the start; the squiggle's extent on screen gives the whole range:
  // in characters of the line it underlines (monospace), it starts at 7 and spans "arm65" quoted.
  assert.match(problem, /\[Ln 2, Col 8\]/);
  await page.locator('.monaco-editor .squiggly-error').first().waitFor({ timeout: STEP });
  await wb.shot('diagnostic-shown');
  const range = await page.evaluate(() => {
    type Box = { left: number; width: number };
    type El = { getBoundingClientRect(): Box; textContent: string | null; firstElementChild: El | null };
    const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<El> } }).document;
    // The line's inner span is as wide as its text (the .view-line div spans the editor).
    const line = Array.from(doc.querySelectorAll('.monaco-editor .view-line')).find((l) => l.textContent?.replace(/\u00a0/g, ' ').includes('arch = "arm65"'))?.firstElementChild;
    const squiggle = doc.querySelectorAll('.monaco-editor .squiggly-error')[0];
    if (!line || !squiggle) return undefined;
    const l = line.getBoundingClientRect(), q = squiggle.getBoundingClientRect();
    const ch = l.width / line.textContent!.length;
    return { start: Math.round((q.left - l.left) / ch), length: Math.round(q.width / ch) };
  });
  assert.deepEqual(range, { start: 7, length: 7 });

  await page.locator('.monaco-editor .view-lines').first().click();
  await page.keyboard.press('Control+G');
  await page.keyboard.type('2');
  await page.keyboard.press('Enter');
  await page.keyboard.press('Home');
  await page.keyboard.press('Shift+End');
  await page.keyboard.type('arch = "arm64"');
  await wb.waitForText('.markers-panel', /No problems have been detected in the workspace/);
  await wb.shot('diagnostic-cleared');
});

test('an untrusted folder builds and runs nothing, and says why', async (t) => {
  const entry = codeServerOrSkip(t);
  if (!entry) return;
  const store = path.join(tempDir(t, 'crossroot-e2e-store-'), 'store');
  const server = await startCodeServer(t, entry, {
    vsix: [await hostVsix()],
    settings: { ...SETTINGS, 'security.workspace.trust.enabled': true, 'security.workspace.trust.startupPrompt': 'always', 'crossroot.storeDir': store },
    keybindings: [{ key: 'ctrl+alt+e', command: 'workbench.action.terminal.newWithProfile',
      args: { config: { extensionIdentifier: 'crossroot.crossroot', id: 'crossroot.env', title: 'Crossroot' } } }],
  });
  const ws = freshWorkspace(t);
  const wb = await openWorkbench(t, server.url, ws, 'untrusted');
  const page = wb.page;
  const no = page.getByRole('button', { name: /No, I don't trust the authors/ });
  await no.waitFor({ timeout: STEP });
  await wb.shot('trust-prompt');
  await no.click();
  await wb.waitForText('.statusbar-item', /Restricted Mode/);
  await wb.waitForText('.statusbar-item', /arm64 · demo: untrusted/);
  await wb.shot('restricted-status');

  await wb.command('Crossroot: Build Env');
  await wb.notification(/did not build the env: this folder is not trusted/).waitFor({ timeout: STEP });
  await wb.shot('build-refused');
  await page.keyboard.press('Control+Alt+E');
  await wb.notification(/did not open a terminal in the env: this folder is not trusted/).waitFor({ timeout: STEP });
  await wb.shot('terminal-refused');

  // Both refusals happened before anything was started: no env command, no sandbox, no store.
  // The language server (`cli.cjs lsp --stdio`) runs in Restricted Mode by design: it only reads
  // the env file, so diagnostics still show in an untrusted folder.
  const extDir = server.extensionsDir;
  assert.deepEqual(processesWith(`${extDir}/`).filter((p) => /dist\/cli\.cjs|crossroot-helper/.test(p) && !/ lsp --stdio/.test(p)), []);
  assert.equal(existsSync(store), false, 'the store was not created');
});
