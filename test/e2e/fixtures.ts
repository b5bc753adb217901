// What every E2E test starts from: the installed code-server, this checkout's VSIX for the host
// platform (built once per test process by `npm run package`'s code), and the settings that make
// the workbench readable and predictable.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { need, ROOT, tempDir } from '../lib/harness';
import { codeServerEntry, codeServerPrerequisites } from './lib/codeServer';

/** User settings: DOM terminal rows (readable as text), no startup editors, no auto-closing. */
export const SETTINGS = {
  'terminal.integrated.gpuAcceleration': 'off',
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'editor.autoClosingBrackets': 'never',
  'editor.autoClosingQuotes': 'never',
  'editor.quickSuggestions': { other: false, comments: false, strings: false },
  'editor.suggestOnTriggerCharacters': false,
  'extensions.autoCheckUpdates': false,
  'telemetry.telemetryLevel': 'off',
};

let vsix: Promise<string> | undefined;

/** The VSIX for this machine's platform, packaged once per test process. */
export function hostVsix(): Promise<string> {
  vsix ??= (async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'crossroot-e2e-vsix-'));
    process.on('exit', () => rmSync(out, { recursive: true, force: true }));
    const { packageAll } = await import(path.join(ROOT, 'scripts/package.mjs'));
    const target = process.arch === 'arm64' ? 'linux-arm64' : 'linux-x64';
    const [file] = await packageAll({ targets: [target], outDir: out });
    return file as string;
  })();
  return vsix;
}

/** code-server's entry script, or undefined (test skipped, or failed under CROSSROOT_MUST_WORK). */
export function codeServerOrSkip(t: TestContext): string | undefined {
  const missing = codeServerPrerequisites();
  if (!need(t, !missing, `E2E needs ${missing}`)) return undefined;
  return codeServerEntry((m) => t.diagnostic(m));
}

/** A fresh copy of a fixture folder (test/vscode/workspace-fixture by default). */
export function freshWorkspace(t: TestContext, fixture = path.join(ROOT, 'test/vscode/workspace-fixture')): string {
  const dir = tempDir(t, 'crossroot-e2e-ws-');
  cpSync(fixture, dir, { recursive: true });
  return dir;
}
