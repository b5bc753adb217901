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

// Dates before 1970 (item: GNU tar, Go and Python write them; they are not corruption).
const BEFORE_1970: Case[] = [
  {
    name: 'a file dated before 1970 in a GNU base-256 mtime field keeps its date',
    members: [{ name: 'old', data: 'x', mtime: -302443200 }, { name: 'olddir/', type: 'dir', mtime: -2147483648 }],
    check: (ours) => assert.deepEqual(ours.map((e) => [e.path, e.mtime]), [['old', -302443200_000], ['olddir', -2147483648_000]]),
  },
  {
    name: 'a PAX mtime before 1970 overrides a negative base-256 header field, to the nanosecond',
    members: [{ name: 'paxold', data: 'x', mtime: -1, pax: { mtime: '-1.5' } }],
    check: (ours) => assert.deepEqual(ours.map((e) => [e.path, e.mtime]), [['paxold', -1500]]),
  },
];

// Consecutive metadata records: only the last of each kind counts, as in GNU tar, Go, bsdtar
// and containerd (Go's testdata pax-multi-hdrs.tar and gnu-multi-hdrs.tar, rebuilt here).
const MULTI_HEADERS: Case[] = [
  {
    name: 'consecutive PAX headers are not merged: the last one alone applies (pax-multi-hdrs)',
    members: [{
      name: 'bar', type: 'symlink', linkname: '', mtime: 0,
      records: [
        { type: 'x', pax: { path: 'PAX1/PAX1/long-path-name', linkpath: 'PAX2/PAX2/long-linkpath-name' } },
        { type: 'x', pax: { linkpath: 'PAX4/PAX4/long-linkpath-name' } },
      ],
    }],
    check: (ours) => assert.deepEqual(ours.map((e) => [e.path, e.type, e.target]), [['bar', 'symlink', 'PAX4/PAX4/long-linkpath-name']]),
  },
  {
    name: 'consecutive GNU long-name and long-link records: the last of each applies (gnu-multi-hdrs)',
    members: [{
      name: 'placeholder', type: 'symlink', linkname: 'placeholder', mtime: 0,
      records: [
        { type: 'L', value: 'GNU1/GNU1/long-path-name' }, { type: 'L', value: 'GNU2/GNU2/long-path-name' },
        { type: 'K', value: 'GNU3/GNU3/long-linkpath-name' }, { type: 'K', value: 'GNU4/GNU4/long-linkpath-name' },
      ],
    }],
    check: (ours) => assert.deepEqual(ours.filter((e) => e.type === 'symlink').map((e) => [e.path, e.target]),
      [['GNU2/GNU2/long-path-name', 'GNU4/GNU4/long-linkpath-name']]),
    ignoreDirMtimes: true, // the parent directories are made on the way, at "now"
  },
  {
    name: 'a PAX header that sets xattrs and a size is dropped whole when another follows',
    members: [{
      name: 'f', data: 'four', mode: 0o644,
      records: [
        { type: 'x', pax: { size: '1', 'SCHILY.xattr.user.first': 'x', mtime: '1000' } },
        { type: 'x', pax: { mtime: '2000.25' } },
      ],
    }],
    check: (ours) => assert.deepEqual(ours.map((e) => [e.path, e.mtime]), [['f', 2000250]]),
  },
];

for (const c of [...BEFORE_1970, ...MULTI_HEADERS]) {
  test(`${c.name} (as GNU tar)`, async (t) => {
    if (!ready(t)) return;
    const { ours, gnu } = await bothWays(t, tarArchive(c.members));
    c.check(ours);
    const strip = (l: ReturnType<typeof snapshot>) => (c.ignoreDirMtimes ? l.map((e) => (e.type === 'dir' ? { ...e, mtime: 0 } : e)) : l);
    assert.deepEqual(strip(ours), strip(gnu));
  });
}

test('archives GNU tar writes of files from 1901 and 1960 (gnu, oldgnu, posix) unpack with those dates', async (t) => {
  if (!ready(t)) return;
  const dir = scratch(t);
  asRootInNamespace(`
    mkdir src && echo a > src/old && mkdir src/olddir && echo b > src/olddir/inner
    touch -d '1960-06-01 12:00:00.25' src/old src/olddir/inner
    touch -d '1901-12-14 00:00:00' src/olddir
    for f in gnu oldgnu posix; do tar --format=$f -cf $f.tar -C src old olddir 2>/dev/null; done
  `, dir);
  const want = snapshot(path.join(dir, 'src'));
  assert.equal(want.find((e) => e.path === 'old')?.mtime, Date.UTC(1960, 5, 1, 12, 0, 0, 250), 'the fixture is dated 1960');
  for (const format of ['gnu', 'oldgnu', 'posix']) {
    const r = await helper(['unpack', '--target', path.join(dir, `out-${format}`), '--layer', path.join(dir, `${format}.tar`)]);
    assert.equal(r.code, 0, `${format}: ${r.stderr}`);
    // Only PAX carries sub-second times; gnu and oldgnu keep whole seconds.
    const expect = format === 'posix' ? want : want.map((e) => ({ ...e, mtime: Math.floor(e.mtime / 1000) * 1000 }));
    assert.deepEqual(snapshot(path.join(dir, `out-${format}`)), expect, format);
  }
});
