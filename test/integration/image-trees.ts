// Shared by the image integration tests: running the CLI as the test user, and comparing an
// unpacked tree with the tree the building tool reports, with owners seen from inside the env.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { TestContext } from 'node:test';
import os from 'node:os';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CLI, HELPER, ROOT, need } from '../lib/harness';
import { type TreeEntry, LAYERED_CONTENT, imageToolsAvailable } from '../fixtures/images';
import { registryAvailable } from '../fixtures/registry';

/** What every registry pull test needs: a registry, the built helper and (unless told) the image tools. */
export function pullReady(t: TestContext, o: { images?: boolean } = {}): boolean {
  return need(t, registryAvailable(), 'docker-registry is not installed (apt-get install docker-registry)')
    && (o.images === false || need(t, imageToolsAvailable(), 'buildah, skopeo and umoci make the test images (apt-get install buildah skopeo umoci)'))
    && need(t, existsSync(HELPER), 'the helper is not built (make -C native)');
}

/** Owners (inside) of the layered image's non-root entries. */
export const LAYERED_OWNERS: Record<string, number> = {
  [LAYERED_CONTENT.owned.path]: LAYERED_CONTENT.owned.uid,
  [LAYERED_CONTENT.sharedDir.path]: LAYERED_CONTENT.sharedDir.uid,
};

export interface CliResult { code: number | null; stdout: string; stderr: string }

/**
 * `crossroot ARGS` without blocking this process (needed when this process also serves, e.g. a
 * proxy, or runs several at once), in `cwd` when given, with `input` on its stdin when given.
 */
export function crossrootAsync(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string, input?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env }, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (input !== undefined) child.stdin!.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs `crossroot ARGS` synchronously (in `cwd` when given). */
export function crossroot(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 16 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * treeListing() as seen from inside an env: run in a user namespace with the same full id map
 * the helper uses (0 → caller, 1… → the subordinate range), so owners read as the image has
 * them and files owned by subordinate ids (mode 0640 and such) can be read.
 */
export function insideListing(root: string): TreeEntry[] {
  const code = `import { treeListing } from ${JSON.stringify(path.join(ROOT, 'test/fixtures/images.ts'))};
process.stdout.write(JSON.stringify(treeListing(process.env.TREE_ROOT)));`;
  const map = fullIdMap() ? ['--map-auto', '--map-root-user'] : ['--map-root-user'];
  const r = spawnSync('unshare', [...map, '--', process.execPath, '--import', 'tsx', '--input-type=module', '-e', code],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, TREE_ROOT: root }, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`listing ${root} inside a user namespace failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as TreeEntry[];
}

/** True when this user has a subordinate id range, so unpacked trees carry the image's owners. */
export function fullIdMap(): boolean {
  const me = os.userInfo().username;
  try {
    return readFileSync('/etc/subuid', 'utf8').split('\n').some((l) => l.startsWith(`${me}:`) || l.startsWith(`${process.getuid!()}:`));
  } catch {
    return false;
  }
}

/**
 * Asserts that `ours` (unpacked by crossroot) matches `reference` (the building tool's tree)
 * entry by entry in type, mode, content, link target and hardlink identity, and that owners
 * inside the env are root except `owners` (path → uid = gid). Without a subordinate range the
 * unpack keeps everything owned by the caller (root inside; the real owner goes to an xattr).
 */
export function assertSameTree(ours: string, reference: string, owners: Record<string, number> = {}): void {
  const got = insideListing(ours);
  const want = insideListing(reference);
  const strip = (e: TreeEntry) => ({ path: e.path, type: e.type, mode: e.mode, sha256: e.sha256, target: e.target, hardlinkOf: e.hardlinkOf });
  assert.deepEqual(got.map((e) => e.path), want.map((e) => e.path), 'the same paths');
  for (let i = 0; i < want.length; i++) assert.deepEqual(strip(got[i]!), strip(want[i]!), want[i]!.path);
  const full = fullIdMap();
  for (const e of got) {
    const expect = full ? owners[e.path] ?? 0 : 0;
    assert.deepEqual([e.uid, e.gid], [expect, expect], `owner of ${e.path} inside the env`);
  }
}

/**
 * A temp store removed after the test by `crossroot-helper remove` (unpacked images may hold
 * directories owned by subordinate uids, which a plain rm cannot delete).
 */
export function storeDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crossroot-store-'));
  t.after(() => {
    spawnSync(HELPER, ['remove', '--target', dir], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  });
  return path.join(dir, 'store');
}
