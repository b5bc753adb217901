// `[setup] packages` on images whose package manager is apk or dnf/microdnf. No Alpine or Fedora
// mirror is reachable from the test machines, so these check Crossroot's half of the contract with
// a stand-in program at the manager's path in a real busybox rootfs: that the manager is found
// in the env's own tree, how it is called (packages after `--`, never spliced into shell text),
// that the host package cache is bound where the call says, and that it is kept per (manager,
// arch, image), so a rebuild sees the first build's downloads. apt runs for real in
// integration/env-debian.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, HELPER, need, tempDir } from '../lib/harness';
import { busyboxRootfs, mmdebstrapAvailable } from '../fixtures/rootfs';
import { crossroot, storeDir } from './image-trees';

// Records its arguments and what the bound cache holds, and leaves a "download" of its first package in it.
const STAND_IN = `#!/bin/sh
printf '%s\\n' "$0" "$@" > /installed-with
ls /var/cache/crossroot-packages >> /installed-with
seen=; for a; do if [ "$seen" ]; then first=$a; break; fi; [ "$a" = -- ] && seen=1; done
echo package > "/var/cache/crossroot-packages/downloaded-$first"
`;

for (const [manager, bin, call] of [
  ['apk', 'sbin/apk', ['add', '--no-progress', '--cache-dir', '/var/cache/crossroot-packages', '--']],
  ['dnf', 'usr/bin/dnf', ['install', '-y', '--setopt=keepcache=1', '--setopt=cachedir=/var/cache/crossroot-packages', '--']],
  ['microdnf', 'usr/bin/microdnf', ['install', '-y', '--setopt=keepcache=1', '--setopt=cachedir=/var/cache/crossroot-packages', '--']],
] as const) {
  test(`[setup] packages runs the env's own ${manager} with the packages as arguments and the host cache bound`, { timeout: 300_000 }, async (t) => {
    if (!need(t, existsSync(HELPER) && existsSync(CLI), 'the helper and the CLI are not built (npm run build)')
      || !need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap)')) return;
    // Registered first: after-hooks run in registration order, and `stop` needs the store.
    let stop = () => {};
    t.after(() => stop());
    const tree = path.join(tempDir(t, 'crossroot-pm-'), 'rootfs');
    cpSync(await busyboxRootfs('amd64'), tree, { recursive: true, verbatimSymlinks: true });
    // busybox ships no package manager: the stand-in is the only one the env has.
    mkdirSync(path.dirname(path.join(tree, bin)), { recursive: true });
    writeFileSync(path.join(tree, bin), STAND_IN);
    chmodSync(path.join(tree, bin), 0o755);
    const dir = tempDir(t, 'crossroot-project-');
    const store = storeDir(t);
    const env = { CROSSROOT_STORE: store };
    stop = () => { crossroot(['stop'], env, dir); };
    const toml = (packages: string[]) => `name = "pm"\narch = "amd64"\n[source]\nkind = "dir"\npath = ${JSON.stringify(tree)}\n[setup]\npackages = ${JSON.stringify(packages)}\n`;
    writeFileSync(path.join(dir, 'crossroot.toml'), toml(['curl', 'a b; touch /pwned']));
    let r = crossroot(['build'], env, dir);
    assert.equal(r.code, 0, r.stderr);
    r = crossroot(['exec', '--idle-timeout', '10m', 'sh', '-c', 'cat /installed-with; ls /pwned 2>&1 || true'], env, dir);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    // The env's own manager ($0, found on the env's PATH), its arguments, the packages last and whole.
    assert.deepEqual(lines.slice(0, call.length + 3), [`/${bin}`, ...call, 'curl', 'a b; touch /pwned']);
    assert.match(lines.at(-1)!, /No such file/, 'a package name is never shell text');
    const caches = readdirSync(path.join(store, 'cache', 'packages'));
    assert.equal(caches.length, 1);
    assert.match(caches[0]!, new RegExp(`^${manager}-amd64-`));
    assert.equal(readdirSync(path.join(store, 'cache', 'packages', caches[0]!)).filter((f) => f.startsWith('downloaded-')).length, 1);

    // Another package list is another step; it sees the first one's download in the same cache.
    writeFileSync(path.join(dir, 'crossroot.toml'), toml(['git']));
    r = crossroot(['build'], env, dir);
    assert.equal(r.code, 0, r.stderr);
    r = crossroot(['exec', 'cat', '/installed-with'], env, dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^downloaded-curl$/m);
    assert.equal(readdirSync(path.join(store, 'cache', 'packages', caches[0]!)).filter((f) => f.startsWith('downloaded-')).length, 2);
  });
}
