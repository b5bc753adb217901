import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lookup } from 'node:dns/promises';
import { mkdirSync, mkdtempSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { debianRootfs, mmdebstrapAvailable, qemuAvailable, removeTree } from '../fixtures/rootfs';
import { need } from '../lib/harness';
import { run } from './sandbox';

async function reachable(host: string): Promise<boolean> {
  try {
    await lookup(host);
    return true;
  } catch {
    return false;
  }
}

// apt in a single-uid map: the base tree was built with a full map, so apt's partial/ dirs
// belong to a subordinate uid (_apt) that is unmapped here and root inside cannot enter them;
// apt also cannot drop to _apt. Fresh list/archive dirs and APT::Sandbox::User=root avoid both.
const APT_SINGLE = '-o APT::Sandbox::User=root -o Dir::State::Lists=/tmp/apt/lists -o Dir::Cache::Archives=/tmp/apt/archives';

for (const idmap of ['full', 'single'] as const) {
  test(`Debian arm64: apt-get install hello works with a ${idmap} uid map, as root inside, files in the workspace stay the user's`, async (t) => {
    if (!need(t, mmdebstrapAvailable() && qemuAvailable('arm64'), 'mmdebstrap or qemu-user-static missing')) return;
    if (!need(t, await reachable('deb.debian.org'), 'deb.debian.org is not reachable (apt needs the network)')) return;
    const rootfs = await debianRootfs();
    // An overlay upper keeps the cached base clean; it may hold subuid-owned files, so it is
    // removed the way the store removes trees.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'crossroot-debian-'));
    t.after(() => removeTree(dir));
    const ws = path.join(dir, 'workspace');
    mkdirSync(ws);
    const apt = idmap === 'single' ? `mkdir -p /tmp/apt/lists/partial /tmp/apt/archives/partial; apt-get ${APT_SINGLE}` : 'apt-get';
    const script = `set -e; id -u; uname -m; ${apt} update -qq; ${apt} install -y -qq hello >/dev/null; hello; hello > /workspace/greeting`;
    const r = await run({ rootfs, arch: 'arm64', idmap, upper: path.join(dir, 'upper'), work: path.join(dir, 'work'),
      binds: [{ source: ws, target: '/workspace' }] }, ['sh', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '0\naarch64\nHello, world!\n');
    const st = statSync(path.join(ws, 'greeting'));
    assert.equal(st.uid, process.getuid!());
    assert.equal(st.gid, process.getgid!());
    // The package landed in the upper, not in the cached base.
    assert.ok(statSync(path.join(dir, 'upper/usr/bin/hello')).isFile());
    assert.throws(() => statSync(path.join(rootfs, 'usr/bin/hello')));
  });
}
