// E2E in a real VS Code (code-server + Chromium, packaged VSIX): a `crossroot` task compiling C
// inside the arm64 env (examples/arm64-c: Debian with gcc from its setup step) puts the compiler's
// error in the Problems panel at its file and line, with the env's workspace at a path other than
// /workspace. The env shares the test store with the examples test, so the Debian bootstrap and
// the gcc layer are made once per machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { crossroot } from '../integration/image-trees';
import { cacheDir, ROOT } from '../lib/harness';
import { codeServerOrSkip, freshWorkspace, hostVsix, SETTINGS } from './fixtures';
import { ready } from './envFixture';
import { startCodeServer } from './lib/codeServer';
import { openWorkbench, STEP } from './lib/workbench';

const BROKEN = '#include <stdio.h>\n\nint main(void) {\n  printf("hi\\n")\n  return 0;\n}\n';

test('a crossroot task compiling C in the arm64 env puts the compiler error in the Problems panel at its file and line', { timeout: 40 * 60_000 }, async (t) => {
  if (!ready(t)) return;
  const entry = codeServerOrSkip(t);
  if (!entry) return;
  const store = cacheDir('store');
  chmodSync(store, 0o700);
  // Registered first: the env is stopped before its workspace is removed.
  let ws = '';
  t.after(() => { if (ws) crossroot(['stop', '--file', path.join(ws, 'crossroot.toml')], { CROSSROOT_STORE: store }, '/'); });
  ws = freshWorkspace(t, path.join(ROOT, 'examples/arm64-c'));
  const toml = readFileSync(path.join(ws, 'crossroot.toml'), 'utf8');
  assert.match(toml, /^path = "\/workspace"$/m);
  writeFileSync(path.join(ws, 'crossroot.toml'), toml.replace(/^path = "\/workspace"$/m, 'path = "/src/demo"'));
  mkdirSync(path.join(ws, 'sub'));
  writeFileSync(path.join(ws, 'sub', 'broken.c'), BROKEN);
  mkdirSync(path.join(ws, '.vscode'));
  writeFileSync(path.join(ws, '.vscode', 'tasks.json'), JSON.stringify({ version: '2.0.0', tasks: [{
    label: 'compile', type: 'crossroot', command: 'gcc', args: ['-c', 'sub/broken.c', '-o', '/dev/null'],
    problemMatcher: ['$crossroot-gcc', '$crossroot-gcc-relative'],
  }] }, null, 2));

  const server = await startCodeServer(t, entry, { vsix: [await hostVsix()], settings: { ...SETTINGS, 'security.workspace.trust.enabled': false, 'crossroot.storeDir': store },
    keybindings: [{ key: 'ctrl+alt+t', command: 'workbench.action.tasks.runTask', args: 'compile' }],
  });
  const wb = await openWorkbench(t, server.url, ws, 'task');
  // A fresh workspace is a new env (its layers are cached in the shared store, the env is not).
  await wb.waitForText('.statusbar-item', /arm64 · arm64-c: not built/);
  // The task by its label through a keybinding (the palette's fuzzy order may put "Restart
  // Running Task" first).
  await wb.page.keyboard.press('Control+Alt+T');
  // The task builds the env first when this machine has not (Debian bootstrap and gcc under
  // qemu: minutes), then gcc (aarch64) reports the missing semicolon of line 4.
  await wb.waitForText('.xterm-rows', /error: expected ';'/, 30 * 60_000);
  await wb.shot('task-output');
  // The task's CLI built and started the env out of the extension's process; the status bar
  // follows it all the same (the env's state dirs are watched).
  await wb.waitForText('.statusbar-item', /arm64 · arm64-c: running/);
  await wb.shot('task-status-running');
  await wb.command('Problems: Focus on Problems View');
  const problem = await wb.waitForText('.markers-panel .monaco-list-row', /expected ';'/);
  assert.match(problem, /\[Ln 4, Col 17\]/);
  // The file row names broken.c in sub/ of the workspace folder: the file the error is in.
  const file = await wb.waitForText('.markers-panel .monaco-list-row', /broken\.c/);
  assert.match(file, /broken\.c\s*sub/);
  await wb.shot('task-problem');
  // The marker opens that file at that line.
  await wb.page.locator('.markers-panel .monaco-list-row', { hasText: "expected ';'" }).first().dblclick();
  await wb.page.locator('.tabs-container .tab[aria-label^="broken.c"]').first().waitFor({ timeout: STEP });
  await wb.waitForText('.statusbar-item', /Ln 4, Col 17/);
  await wb.shot('task-problem-opened');
});
