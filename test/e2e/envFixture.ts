// What the env E2E tests share: their prerequisites and a code-server (packaged VSIX, a private
// store, the Crossroot profile on Ctrl+Alt+E) with a fresh workspace holding the given crossroot.toml.
import type { TestContext } from 'node:test';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HELPER, need, tempDir } from '../lib/harness';
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

export async function envWorkbench(t: TestContext, name: string, toml: string): Promise<{ wb: Workbench; ws: string; store: string; extensionsDir: string } | undefined> {
  const entry = codeServerOrSkip(t);
  if (!entry) return undefined;
  const store = path.join(tempDir(t, 'crossroot-e2e-store-'), 'store');
  const server = await startCodeServer(t, entry, {
    vsix: [await hostVsix()],
    settings: { ...SETTINGS, 'security.workspace.trust.enabled': false, 'crossroot.storeDir': store },
    keybindings: [PROFILE_KEY],
  });
  const ws = freshWorkspace(t);
  writeFileSync(path.join(ws, 'crossroot.toml'), toml);
  const wb = await openWorkbench(t, server.url, ws, name);
  return { wb, ws, store, extensionsDir: server.extensionsDir };
}

