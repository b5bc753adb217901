// Layers whose meaning GNU tar settles: each case is unpacked by the helper and by GNU tar (as
// root of a user namespace with the same full id map) and the trees must match entry by entry
// (type, mode, content, link target) with the same mtimes. Differential unpacking between
// tools is how one image shows different files to a scanner and to the container.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tarArchive, type TarMember } from '../fixtures/hostile';
import { treeListing } from '../fixtures/images';
import { need } from '../lib/harness';
import { helper } from './sandbox';
import { asRootInNamespace, scratch, userNamespaceShell } from './unpack-fixtures';

/** Path → [type, mode, mtime in ms] plus content and link target, the root excluded. */
function snapshot(root: string) {
  return treeListing(root).map((e) => ({
    path: e.path, type: e.type, mode: e.mode.toString(8), sha256: e.sha256, target: e.target,
    mtime: lstatSync(path.join(root, e.path)).mtimeMs,
  }));
}

/** Unpacks `layer` with the helper and with GNU tar; returns both snapshots. */
async function bothWays(t: Parameters<typeof scratch>[0], layer: Buffer) {
  const dir = scratch(t);
  writeFileSync(path.join(dir, 'layer.tar'), layer);
  mkdirSync(path.join(dir, 'gnu'));
  asRootInNamespace('tar -xf layer.tar -C gnu', dir);
  const r = await helper(['unpack', '--target', path.join(dir, 'ours'), '--layer', path.join(dir, 'layer.tar')]);
  assert.equal(r.code, 0, r.stderr);
  return { ours: snapshot(path.join(dir, 'ours')), gnu: snapshot(path.join(dir, 'gnu')) };
}

const ready = (t: Parameters<typeof need>[0]) => need(t, userNamespaceShell(), 'unshare --map-auto needs util-linux ≥ 2.38 and a subuid range');

interface Case {
  name: string;
  members: TarMember[];
  check: (ours: ReturnType<typeof snapshot>) => void;
  /** Directory mtimes GNU tar sets before a later entry changes the directory again. */
  ignoreDirMtimes?: boolean;
  /** GNU tar refuses the layer (it will not replace a non-empty directory by default). */
  notGnu?: boolean;
}

const cases: Case[] = [
  {
    name: 'a directory replaced by a file later in the layer passes none of its mode (setuid) to the file',
    members: [{ name: 'x/', type: 'dir', mode: 0o4777 }, { name: 'x', data: 'f', mode: 0o600 }],
    check: (ours) => assert.deepEqual(ours.map((e) => [e.path, e.type, e.mode]), [['x', 'file', '600']]),
  },
  {
    name: 'a non-empty directory replaced by a file later in the layer passes none of its mode to the file',
    members: [{ name: 'x/', type: 'dir', mode: 0o6777 }, { name: 'x/inner/', type: 'dir', mode: 0o1777 }, { name: 'x', data: 'f', mode: 0o600 }],
    check: (ours) => assert.deepEqual(ours.map((e) => [e.path, e.type, e.mode]), [['x', 'file', '600']]),
    notGnu: true,
  },
  {
    name: 'a directory replaced through a symlinked parent passes none of its mode to the file',
    members: [
      { name: 'p/', type: 'dir' }, { name: 'p/b/', type: 'dir', mode: 0o4777 },
      { name: 'l', type: 'symlink', linkname: 'p' }, { name: 'l/b', data: 'f', mode: 0o600 },
    ],
    check: (ours) => assert.deepEqual(ours.find((e) => e.path === 'p/b')?.mode, '600'),
    // GNU tar fixes p when the archive leaves it (at `l`), then `l/b` changes it again.
    ignoreDirMtimes: true,
  },
  {
    name: 'a directory listed twice takes the mode and mtime of its last entry',
    members: [
      { name: 'y/', type: 'dir', mode: 0o700, mtime: 1000 }, { name: 'y/f', data: 'f' },
      { name: 'y/', type: 'dir', mode: 0o755, mtime: 2000 },
    ],
    check: (ours) => assert.deepEqual(ours.find((e) => e.path === 'y'), { path: 'y', type: 'dir', mode: '755', sha256: undefined, target: undefined, mtime: 2000_000 }),
  },
  {
    name: 'a directory replaced by a hardlink and a fifo keeps none of its mode on them',
    members: [
      { name: 'f', data: 'data', mode: 0o640 },
      { name: 'h/', type: 'dir', mode: 0o2777 }, { name: 'h', type: 'hardlink', linkname: 'f' },
      { name: 'q/', type: 'dir', mode: 0o1777 }, { name: 'q', type: 'fifo', mode: 0o600 },
    ],
    check: (ours) => assert.deepEqual(ours.map((e) => [e.path, e.mode]), [['f', '640'], ['h', '640'], ['q', '600']]),
  },
];

for (const c of cases) {
  test(`${c.name}${c.notGnu ? '' : ' (as GNU tar)'}`, async (t) => {
    if (!ready(t)) return;
    if (c.notGnu) {
      const dir = scratch(t);
      writeFileSync(path.join(dir, 'layer.tar'), tarArchive(c.members));
      const r = await helper(['unpack', '--target', path.join(dir, 'ours'), '--layer', path.join(dir, 'layer.tar')]);
      assert.equal(r.code, 0, r.stderr);
      c.check(snapshot(path.join(dir, 'ours')));
      return;
    }
    const { ours, gnu } = await bothWays(t, tarArchive(c.members));
    c.check(ours);
    const strip = (l: ReturnType<typeof snapshot>) => (c.ignoreDirMtimes ? l.map((e) => (e.type === 'dir' ? { ...e, mtime: 0 } : e)) : l);
    assert.deepEqual(strip(ours), strip(gnu));
  });
}
