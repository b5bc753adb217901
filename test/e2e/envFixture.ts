// What the env E2E tests share: their prerequisites and a code-server (packaged VSIX, a private
// store, the Crossroot profile on Ctrl+Alt+E) with a fresh workspace holding the given crossroot.toml.
import type { TestContext } from 'node:test';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HELPER, need } from '../lib/harness';
import { crossroot } from '../integration/image-trees';
import { mmdebstrapAvailable, qemuAvailable } from '../fixtures/rootfs';
import { codeServerOrSkip, freshWorkspace, hostVsix, SETTINGS } from './fixtures';
import { startCodeServer } from './lib/codeServer';
import { openWorkbench, type Workbench } from './lib/workbench';

export const PROFILE_KEY = { key: 'ctrl+alt+e', command: 'workbench.action.terminal.newWithProfile',
  args: { config: { extensionIdentifier: 'crossroot.crossroot', id: 'crossroot.env', title: 'Crossroot' } } };

export function ready(t: TestContext): boolean {
  return need(t, existsSync(HELPER), 'the helper is not built (make -C native)')
    && need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed')
    && need(t, qemuAvailable('arm64'), 'qemu-user-static is not installed');
}

/**
 * A private store for the extension in a code-server: `afterServer()`, called once the server is
 * started, registers its removal after the server's own stop (hooks run in order), since the
 * extension follows the store and would make its folders again while it is being removed. The
 * env is stopped first; the helper removes the store (an unpacked image holds files only the
 * env's id map can remove).
 */
export function e2eStore(t: TestContext): { store: string; afterServer(): void } {
  const base = mkdtempSync(path.join(os.tmpdir(), 'crossroot-e2e-store-'));
  const store = path.join(base, 'store');
  t.after(() => { crossroot(['stop', '--all'], { CROSSROOT_STORE: store }, '/'); });
  return {
    store,
    afterServer: () => t.after(() => {
      spawnSync(HELPER, ['remove', '--target', base], { stdio: 'ignore' });
      rmSync(base, { recursive: true, force: true });
    }),
  };
}

export async function envWorkbench(t: TestContext, name: string, toml: string): Promise<{ wb: Workbench; ws: string; store: string; extensionsDir: string } | undefined> {
  const entry = codeServerOrSkip(t);
  if (!entry) return undefined;
  const { store, afterServer } = e2eStore(t);
  const server = await startCodeServer(t, entry, {
    vsix: [await hostVsix()],
    settings: { ...SETTINGS, 'security.workspace.trust.enabled': false, 'crossroot.storeDir': store },
    keybindings: [PROFILE_KEY],
  });
  afterServer();
  const ws = freshWorkspace(t);
  writeFileSync(path.join(ws, 'crossroot.toml'), toml);
  const wb = await openWorkbench(t, server.url, ws, name);
  return { wb, ws, store, extensionsDir: server.extensionsDir };
}

