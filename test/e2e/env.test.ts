// E2E with a real arm64 env in a real VS Code (code-server + Chromium, packaged VSIX): the env's
// image comes from the local registry fixture (the busybox multi-arch index on Debian's
// docker-registry); the Crossroot terminal reads back aarch64, the status bar follows the env,
// Stop leaves no process behind. (The crossroot task with a compiler error is in task.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { multiArchImage } from '../fixtures/images';
import { pushImage, startRegistry } from '../fixtures/registry';
import { pullReady } from '../integration/image-trees';
import { waitForExit } from '../lib/harness';
import { envWorkbench, ready } from './envFixture';

/** Command lines of processes that contain every one of `needles`. */
function processesWith(...needles: string[]): string[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).flatMap((pid) => {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      return needles.every((n) => cmd.includes(n)) ? [`${pid}: ${cmd}`] : [];
    } catch { return []; }
  });
}

/**
 * Waits until every process naming all of `needles` has exited (each one's exit, not a time
 * window: the test's timeout bounds one that never does), then says what is left.
 */
async function noProcessWith(...needles: string[]): Promise<string[]> {
  for (const p of processesWith(...needles)) await waitForExit(Number(p.split(':')[0]));
  return processesWith(...needles);
}

test('the Crossroot terminal is an arm64 shell; the status bar shows arch and state; Stop leaves no process behind', { timeout: 15 * 60_000 }, async (t) => {
  if (!ready(t) || !pullReady(t)) return;
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const image = pushImage(reg, `oci:${(await multiArchImage()).layout}:multi`, 'bb:multi', { all: true });
  const env = await envWorkbench(t, 'terminal', `name = "demo"\narch = "arm64"\nimage = ${JSON.stringify(image)}\n[shell]\npath = "/bin/sh"\n`);
  if (!env) return;
  const { wb, store, extensionsDir } = env;
  await wb.waitForText('.statusbar-item', /arm64 · demo: not built/);
  await wb.shot('status-not-built');

  await wb.page.keyboard.press('Control+Alt+E');
  await wb.command('Terminal: Focus Terminal');
  await wb.waitForText('.terminal-tab, .tabs-list .monaco-list-row, .single-terminal-tab', /arm64 · demo/);
  // The first terminal builds and starts the env, then the shell prompts.
  await wb.waitForText('.xterm-rows', /#\s*$/m);
  await wb.page.keyboard.type('uname -m\n');
  const rows = await wb.waitForText('.xterm-rows', /^aarch64\s*$/m);
  assert.match(rows, /aarch64/);
  await wb.waitForText('.statusbar-item', /arm64 · demo: running/);
  await wb.shot('terminal-aarch64');
  // The terminal's CLI and the env's helper are there while it runs (so the checks below can fail).
  assert.equal(processesWith(extensionsDir, 'dist/cli.cjs', ' shell ').length, 1);
  assert.ok(processesWith('crossroot-helper', store).length >= 1);

  await wb.command('Crossroot: Stop Env');
  await wb.waitForText('.statusbar-item', /arm64 · demo: (ready|not built)/);
  await wb.shot('stopped');
  // Nothing of the env is left: no helper with its state dir, no CLI of this extension.
  assert.deepEqual(await noProcessWith(store), []);
  assert.deepEqual(await noProcessWith(extensionsDir, 'dist/cli.cjs', ' shell '), []);
});
