// The extension's two budgets (issue 8): activation time as VS Code itself measures it
// ("Developer: Show Running Extensions": code loading plus the activate() call, startup activation
// on workspaceContains:crossroot.toml; a fresh code-server and browser per run), next to the
// built-in Git extension's figure from the same screen, and the size of the bundles a VSIX ships.
// Runs as the caller (root included): it starts no sandbox, and packaging writes dist/ of this tree.
import { statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { ROOT } from '../test/lib/harness';
import { freshWorkspace, hostVsix, SETTINGS } from '../test/e2e/fixtures';
import { codeServerEntry, startCodeServer } from '../test/e2e/lib/codeServer';
import { openWorkbench } from '../test/e2e/lib/workbench';
import { median, report, type Row } from './lib';

/** Enough of node:test's TestContext for the E2E harness: cleanups run when a run ends. */
function benchContext(): { t: TestContext; done: () => Promise<void> } {
  const cleanups: (() => unknown)[] = [];
  const t = { name: 'bench-activation', after: (fn: () => unknown) => cleanups.push(fn), diagnostic: (m: string) => console.error(m) } as unknown as TestContext;
  return { t, done: async () => { for (const c of cleanups) await c(); } };
}

/** "Startup Activation: 12ms" (or "Activation: …") of the row naming `name`. */
function activationOf(rows: string[], name: string): number {
  const row = rows.find((r) => r.split('\n')[0]!.trim() === name || r.startsWith(`${name}\n`));
  const m = row && /Activation:\s*(\d+)\s*ms/.exec(row);
  if (!m) throw new Error(`no activation time for ${name} in:\n${rows.join('\n---\n')}`);
  return Number(m[1]);
}

async function activationRun(entry: string, vsix: string): Promise<{ ours: number; git: number }> {
  const { t, done } = benchContext();
  try {
    const server = await startCodeServer(t, entry, { vsix: [vsix], settings: { ...SETTINGS, 'security.workspace.trust.enabled': false } });
    const wb = await openWorkbench(t, server.url, freshWorkspace(t), 'bench-activation');
    await wb.waitForText('.statusbar-item', /demo/);
    await wb.command('Developer: Show Running Extensions');
    // Both rows carry their figure once the editor has them.
    await wb.waitForText('.runtime-extensions-editor', /Crossroot[\s\S]*Activation:\s*\d+\s*ms/);
    await wb.waitForText('.runtime-extensions-editor', /Git\n[\s\S]*Activation:\s*\d+\s*ms/);
    await wb.shot('running-extensions');
    const rows = await wb.page.locator('.runtime-extensions-editor .monaco-list-row').allInnerTexts();
    return { ours: activationOf(rows, 'Crossroot'), git: activationOf(rows, 'Git') };
  } finally {
    await done();
  }
}

const runs = Number(process.env.CROSSROOT_BENCH_RUNS ?? 5);
const entry = codeServerEntry((m) => console.error(m));
const vsix = await hostVsix();
const load = os.loadavg()[0]!;
const ours: number[] = [], git: number[] = [];
for (let i = 0; i < runs; i++) {
  const r = await activationRun(entry, vsix);
  ours.push(r.ours);
  git.push(r.git);
}
// hostVsix() built the minified bundles the VSIX holds into dist/.
const bundles = ['extension', 'extension-heavy', 'cli', 'core'].map((b) => [b, statSync(path.join(ROOT, 'dist', `${b}.cjs`)).size] as const);
const total = bundles.reduce((n, [, s]) => n + s, 0);
const row = (name: string, xs: number[]): Row => ({ name, medianMs: median(xs), runs });
report('extension', 'VS Code extension (activation, bundle size)', [
  { label: 'startup activation (VS Code\'s own figure)', ours: row('crossroot', ours), peer: row('built-in Git extension', git), target: { text: '≤ 50 ms', maxMs: 50 } },
], [
  `Activation runs: crossroot ${ours.map((ms) => `${ms} ms`).join(', ')}; Git ${git.map((ms) => `${ms} ms`).join(', ')}. Each a fresh code-server 4.100.3 and Chromium, a workspace with crossroot.toml; load average ${load.toFixed(1)} at the start (2 CPUs shared).`,
  `Bundles (minified, as in the VSIX): ${bundles.map(([b, s]) => `${b}.cjs ${(s / 1024).toFixed(0)} KiB`).join(', ')}; total ${(total / 1e6).toFixed(2)} MB (budget ≤ 1.5 MB: ${total <= 1.5e6 ? 'met' : '**missed**'}). Activation loads extension.cjs only; extension-heavy.cjs (lifecycle glue, language client) and core.cjs (the core, required as a library) are loaded on first use; cli.cjs is what terminals, tasks and the language server run (the warm path, loading core.cjs for anything else).`,
  `${os.cpus().length} CPUs, Linux ${os.release()}, as uid ${process.getuid?.()}.`,
]);
