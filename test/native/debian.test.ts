import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { idmapConfigFiles } from '../../src/core/sandbox/idmap-config';
import { debianRootfs, debianRootfsSingleMap, mmdebstrapAvailable, qemuAvailable, removeTree } from '../fixtures/rootfs';
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

function owner(file: string): string | undefined {
  const r = spawnSync('getfattr', ['--only-values', '-h', '-n', 'user.crossroot.owner', file], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : undefined;
}

// What a user types, nothing more: in a single-id map apt cannot drop to _apt (the env's apt
// config names root as its sandbox user, see idmap-config.ts) and apt/dpkg chown to root:adm and
// other ids the map lacks (the helper records those owners, see owners.test.ts). The single map
// runs on the tree as such a host has it (unpacked under a single map, owners in the xattr).
// Under qemu this takes minutes per map: each test allows 20.
const SCRIPT = [
  'set -e',
  'id -u; uname -m',
  'apt-get update -qq',
  'apt-get install -y -qq gcc >/dev/null',
  'printf \'#include <stdio.h>\\nint main(void) { puts("compiled in the env"); return 0; }\\n\' > /workspace/hello.c',
  'gcc -O1 -o /workspace/hello /workspace/hello.c',
  '/workspace/hello',
  // apt makes its log root:adm 0640
  'stat -c "%u:%g %a" /var/log/apt/term.log',
].join('\n');

for (const idmap of ['full', 'single'] as const) {
  test(`Debian arm64, ${idmap} uid map: apt-get update && apt-get install -y gcc as typed, then gcc builds a program that runs`, { timeout: 20 * 60_000 }, async (t) => {
    if (!need(t, mmdebstrapAvailable() && qemuAvailable('arm64'), 'mmdebstrap or qemu-user-static missing')) return;
    if (!need(t, await reachable('deb.debian.org'), 'deb.debian.org is not reachable (apt needs the network)')) return;
    const rootfs = idmap === 'single' ? await debianRootfsSingleMap() : await debianRootfs();
    // An overlay upper keeps the cached base clean; it may hold subuid-owned files, so it is
    // removed the way the store removes trees.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'crossroot-debian-'));
    t.after(() => removeTree(dir));
    const ws = path.join(dir, 'workspace');
    mkdirSync(ws);
    const upper = path.join(dir, 'upper');
    // What the env lifecycle writes into the env's writable layer for this map.
    for (const f of idmapConfigFiles(idmap, (p) => existsSync(path.join(rootfs, p)))) {
      mkdirSync(path.dirname(path.join(upper, f.path)), { recursive: true });
      writeFileSync(path.join(upper, f.path), f.content);
      chmodSync(path.join(upper, f.path), f.mode);
    }
    const started = Date.now();
    const r = await run({ rootfs, arch: 'arm64', idmap, upper, work: path.join(dir, 'work'), binds: [{ source: ws, target: '/workspace' }] },
      ['sh', '-c', SCRIPT]);
    t.diagnostic(`${idmap} map: update + install gcc + build took ${Math.round((Date.now() - started) / 1000)} s`);
    assert.equal(r.code, 0, r.stderr);
    const termLog = idmap === 'full' ? '0:4 640' : '0:0 640';
    assert.equal(r.stdout, `0\naarch64\ncompiled in the env\n${termLog}\n`, r.stderr);
    // The single map shows the log as root's; its owner is in the record.
    if (idmap === 'single') assert.equal(owner(path.join(upper, 'var/log/apt/term.log')), '0:4:640');
    else assert.equal(owner(path.join(upper, 'var/log/apt/term.log')), undefined);
    // The program is an arm64 ELF (e_machine 183), and like the source it belongs to the user.
    const elf = readFileSync(path.join(ws, 'hello'));
    assert.equal(elf.readUInt16LE(18), 183);
    for (const f of ['hello.c', 'hello']) {
      const st = statSync(path.join(ws, f));
      assert.deepEqual([st.uid, st.gid], [process.getuid!(), process.getgid!()], f);
    }
    // gcc landed in the upper, not in the cached base.
    assert.ok(lstatSync(path.join(upper, 'usr/bin/gcc')).isSymbolicLink());
    assert.throws(() => lstatSync(path.join(rootfs, 'usr/bin/gcc')));
  });
}
