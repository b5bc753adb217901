// The extractor on correct layers: archives made by GNU tar and zstd compared file by file with
// the tree they were made from, hand-written OCI whiteout layers applied in order, status
// events, the single-id fallback, xattrs, and `remove`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tarArchive, type TarMember } from '../fixtures/hostile';
import { treeListing } from '../fixtures/images';
import { HELPER, need } from '../lib/harness';
import { helper } from './sandbox';
import { asRootInNamespace, hostUid, scratch, subuidStart, userNamespaceShell } from './unpack-fixtures';

const LONG_DIR = `${'d'.repeat(60)}/${'e'.repeat(60)}`;
const LONG_FILE = 'f'.repeat(120);
const LONG_TARGET = 't'.repeat(150);

/** A tree with every kind of entry, owners from a full map, xattrs and fixed mtimes, made as
 * root in a user namespace, and GNU tar archives of it (pax with xattrs, gnu). */
function buildSource(dir: string): { tree: string; pax: string; gnu: string } {
  asRootInNamespace(`
    mkdir tree && cd tree
    mkdir -p dir/sub ro shared "${LONG_DIR}"
    echo hello > dir/file
    ln dir/file dir/hard
    ln -s file dir/link
    ln -s /etc/passwd abs
    mkfifo fifo
    printf suid > suid && chmod 4755 suid
    printf owned > owned && chown 1000:1000 owned
    chown 1000:1000 shared && chmod 2775 shared
    printf inner > shared/inner && chown 1000:1001 shared/inner
    head -c 3000000 /dev/urandom > big
    echo ro > ro/inside
    printf long > "${LONG_DIR}/${LONG_FILE}"
    ln -s "${LONG_TARGET}" longlink
    setfattr -n user.note -v hello dir/file
    setfattr -n user.dirnote -v d dir
    find . -exec touch -h -d @1600000000 {} +
    touch -d @1650000000.5 dir/file
    chmod 555 ro
    cd ..
    tar --xattrs --format=pax -cf layer.pax.tar -C tree .
    tar --format=gnu -cf layer.gnu.tar -C tree .
  `, dir);
  return { tree: path.join(dir, 'tree'), pax: path.join(dir, 'layer.pax.tar'), gnu: path.join(dir, 'layer.gnu.tar') };
}

/** mtime (whole seconds) of every entry, the root included. */
function mtimes(root: string): Record<string, number> {
  const out: Record<string, number> = { '.': Math.floor(lstatSync(root).mtimeMs / 1000) };
  for (const e of treeListing(root)) out[e.path] = Math.floor(lstatSync(path.join(root, e.path)).mtimeMs / 1000);
  return out;
}

function getfattr(file: string, name: string): string | undefined {
  const r = spawnSync('getfattr', ['--only-values', '-h', '-n', name, file], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : undefined;
}

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
}

function unpack(target: string, layers: string[], extra: string[] = []) {
  return helper(['unpack', '--target', target, ...layers.flatMap((l) => ['--layer', l]), '--status-fd', '3', ...extra]);
}

test('GNU tar layers (pax+gzip, gnu+zstd, plain on stdin) reproduce the tree file by file with owners in the full map', async (t) => {
  if (!need(t, userNamespaceShell(), 'unshare --map-auto needs util-linux ≥ 2.38 and a subuid range')) return;
  const dir = scratch(t);
  const src = buildSource(dir);
  sh('gzip', ['-k', src.pax]);
  sh('zstd', ['-q', src.gnu]);
  const want = treeListing(src.tree);
  const wantTimes = mtimes(src.tree);
  assert.ok(want.some((e) => e.path === `${LONG_DIR}/${LONG_FILE}`), 'the fixture has a name longer than 100 bytes');

  const cases: Array<[string, string[] | 'stdin']> = [['pax.gz', [`${src.pax}.gz`]], ['gnu.zst', [`${src.gnu}.zst`]], ['stdin', 'stdin']];
  for (const [label, layers] of cases) {
    const target = path.join(dir, `out-${label}`);
    if (layers === 'stdin') {
      // No --layer: the plain tar comes on stdin, as a store would pipe a download.
      const p = spawnSync('sh', ['-c', '"$0" unpack --target "$1" < "$2"', HELPER, target, src.pax], { encoding: 'utf8' });
      assert.equal(p.status, 0, p.stderr);
    } else {
      const r = await unpack(target, layers);
      assert.equal(r.code, 0, `${label}: ${r.stderr}`);
      assert.equal((r.events.at(-1) as { idmap?: string }).idmap, 'full');
    }
    assert.deepEqual(treeListing(target), want, `${label}: type, mode, owner, content, link target and hardlinks match`);
    assert.deepEqual(mtimes(target), wantTimes, `${label}: mtimes match, directories included`);
  }

  const target = path.join(dir, 'out-pax.gz');
  const owned = lstatSync(path.join(target, 'owned'));
  assert.equal(owned.uid, hostUid(1000), 'uid 1000 inside is subuid_start + 999 outside');
  assert.equal(lstatSync(path.join(target, 'shared/inner')).gid, subuidStart()! + 1000, 'gid 1001 inside');
  assert.equal(lstatSync(path.join(target, 'dir/file')).uid, process.getuid!(), 'uid 0 inside is the caller');
  assert.equal(lstatSync(path.join(target, 'ro')).mode & 0o7777, 0o555, 'a read-only directory gets its mode after its contents');
  assert.equal(lstatSync(path.join(target, 'shared')).mode & 0o7777, 0o2775, 'setgid directory');
  assert.equal(lstatSync(path.join(target, 'suid')).mode & 0o7777, 0o4755, 'setuid kept inside the namespace');
  assert.ok(lstatSync(path.join(target, 'fifo')).isFIFO(), 'fifo created');
  assert.equal(lstatSync(path.join(target, 'dir/file')).ino, lstatSync(path.join(target, 'dir/hard')).ino, 'hardlink pair shares an inode');
  assert.equal(lstatSync(path.join(target, 'dir/file')).mtimeMs, 1650000000500, 'PAX sub-second mtime');
  assert.equal(getfattr(path.join(target, 'dir/file'), 'user.note'), 'hello', 'file xattr from SCHILY.xattr');
  assert.equal(getfattr(path.join(target, 'dir'), 'user.dirnote'), 'd', 'directory xattr');
});

const L1: TarMember[] = [
  { name: 'a/', type: 'dir' }, { name: 'a/keep', data: 'keep' }, { name: 'a/gone', data: 'gone' },
  { name: 'b/', type: 'dir' }, { name: 'b/old1', data: 'old' }, { name: 'b/sub/', type: 'dir' }, { name: 'b/sub/old2', data: 'old' },
  { name: 'c/', type: 'dir' }, { name: 'c/x', data: 'x' },
  { name: 'e', data: 'e was a file' },
  { name: 'f/', type: 'dir' }, { name: 'f/y', data: 'y' },
  { name: 'g/', type: 'dir' }, { name: 'g/lower', data: 'lower' },
  { name: 'h/', type: 'dir' }, { name: 'h/lower', data: 'lower' },
];
const L2: TarMember[] = [
  { name: 'a/.wh.gone', data: '' },
  { name: 'a/.wh.never-existed', data: '' },
  { name: 'b/', type: 'dir', mode: 0o750 },
  { name: 'b/new', data: 'new' },
  { name: 'b/sub/', type: 'dir' },
  { name: 'b/sub/new2', data: 'new2' },
  // The opaque marker comes after the layer's own entries in b: it must still only hide b's lower contents.
  { name: 'b/.wh..wh..opq', data: '' },
  { name: 'c/.wh.x', data: '' },
  { name: 'e/', type: 'dir' }, { name: 'e/inside', data: 'e is a directory now' },
  { name: 'f', data: 'f is a file now' },
  // A whiteout met after this layer wrote the name only hides what lower layers had.
  { name: 'g/mine', data: 'mine' }, { name: 'g/.wh.mine', data: '' },
  { name: 'h/new', data: 'new' }, { name: '.wh.h', data: '' },
];

test('layer 2 deletes a lower file and replaces a directory; an opaque marker after the entries still applies first', async (t) => {
  const dir = scratch(t);
  writeFileSync(path.join(dir, 'l1.tar'), tarArchive(L1));
  writeFileSync(path.join(dir, 'l2.tar'), tarArchive(L2));
  const target = path.join(dir, 'root');
  const r = await unpack(target, [path.join(dir, 'l1.tar'), path.join(dir, 'l2.tar')], ['--idmap', 'none']);
  assert.equal(r.code, 0, r.stderr);
  const paths = treeListing(target).map((e) => `${e.type[0]} ${e.path}`);
  assert.deepEqual(paths, [
    'd a', 'f a/keep',
    'd b', 'f b/new', 'd b/sub', 'f b/sub/new2',
    'd c',
    'd e', 'f e/inside',
    'f f',
    'd g', 'f g/lower', 'f g/mine',
    'd h', 'f h/new',
  ]);
  assert.equal(lstatSync(path.join(target, 'b')).mode & 0o777, 0o750, 'the opaque directory takes the new layer\'s mode');

  // Same two layers in two runs: the second applies onto the tree the first left.
  const again = path.join(dir, 'again');
  assert.equal((await unpack(again, [path.join(dir, 'l1.tar')], ['--idmap', 'none'])).code, 0);
  assert.equal((await unpack(again, [path.join(dir, 'l2.tar')], ['--idmap', 'none'])).code, 0);
  assert.deepEqual(treeListing(again), treeListing(target));
});

test('an opaque marker at the root empties it in every layer that has one', async (t) => {
  const dir = scratch(t);
  const layers = [
    [{ name: 'old/', type: 'dir' }, { name: 'old/f', data: 'x' }, { name: 'top', data: 'x' }],
    [{ name: './.wh..wh..opq', data: '' }, { name: 'second', data: '2' }],
    [{ name: 'third', data: '3' }, { name: '.wh..wh..opq', data: '' }],
  ] as TarMember[][];
  const files = layers.map((l, i) => {
    const f = path.join(dir, `l${i}.tar`);
    writeFileSync(f, tarArchive(l));
    return f;
  });
  const target = path.join(dir, 'root');
  const r = await unpack(target, files, ['--idmap', 'none']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readdirSync(target), ['third']);
});

test('entries in a lower layer\'s setgid directory get the archive\'s group and mode, not inherited ones', async (t) => {
  if (!need(t, subuidStart() !== undefined, 'the full id map needs a subuid range for this user')) return;
  const dir = scratch(t);
  writeFileSync(path.join(dir, 'l1.tar'), tarArchive([{ name: 'shared/', type: 'dir', uid: 1000, gid: 1000, mode: 0o2775 }]));
  writeFileSync(path.join(dir, 'l2.tar'), tarArchive([
    { name: 'shared/rootfile', data: 'x' }, { name: 'shared/sub/', type: 'dir', mode: 0o755 }, { name: 'shared/lnk', type: 'symlink', linkname: 'rootfile' },
  ]));
  const target = path.join(dir, 'root');
  const r = await unpack(target, [path.join(dir, 'l1.tar'), path.join(dir, 'l2.tar')], ['--idmap', 'full']);
  assert.equal(r.code, 0, r.stderr);
  const shared = lstatSync(path.join(target, 'shared'));
  assert.equal(shared.mode & 0o7777, 0o2775);
  assert.notEqual(shared.gid, process.getgid!(), 'the setgid directory belongs to gid 1000 inside');
  for (const p of ['shared/rootfile', 'shared/sub', 'shared/lnk']) assert.equal(lstatSync(path.join(target, p)).gid, process.getgid!(), `${p} is group 0 inside`);
  assert.equal(lstatSync(path.join(target, 'shared/sub')).mode & 0o7777, 0o755, 'no setgid bit inherited from the parent');
});

test('a layer applied onto an existing tree replaces symlinks, files and directories by name without following them', async (t) => {
  const dir = scratch(t);
  const target = path.join(dir, 'root');
  mkdirSync(path.join(target, 'etc'), { recursive: true });
  writeFileSync(path.join(dir, 'victim'), 'victim');
  symlinkSync(path.join(dir, 'victim'), path.join(target, 'etc/conf'));
  symlinkSync('etc', path.join(target, 'lib'));
  writeFileSync(path.join(dir, 'l.tar'), tarArchive([
    { name: 'etc/conf', data: 'new conf' },
    { name: 'lib/', type: 'dir' },
    { name: 'lib/x', data: 'x' },
  ]));
  const r = await unpack(target, [path.join(dir, 'l.tar')], ['--idmap', 'none']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(path.join(dir, 'victim'), 'utf8'), 'victim', 'the symlink target outside is untouched');
  assert.equal(readFileSync(path.join(target, 'etc/conf'), 'utf8'), 'new conf');
  assert.ok(lstatSync(path.join(target, 'lib')).isDirectory(), 'a directory entry replaces a symlink (as docker does)');
  assert.deepEqual(readdirSync(path.join(target, 'etc')), ['conf']);
});

test('status fd reports progress, layer-done per layer and done with counts', async (t) => {
  const dir = scratch(t);
  const big = Buffer.alloc(8 << 20, 7);
  writeFileSync(path.join(dir, 'l1.tar'), tarArchive([{ name: 'big', data: big }, { name: 'd/', type: 'dir' }]));
  writeFileSync(path.join(dir, 'l2.tar'), tarArchive([
    { name: 'd/n', type: 'char' }, { name: 'd/f', data: 'x' }, { name: 'd/p', type: 'fifo' },
  ]));
  sh('gzip', [path.join(dir, 'l1.tar')]);
  const t0 = Date.now();
  const r = await unpack(path.join(dir, 'root'), [path.join(dir, 'l1.tar.gz'), path.join(dir, 'l2.tar')], ['--idmap', 'none']);
  const seconds = (Date.now() - t0) / 1000;
  assert.equal(r.code, 0, r.stderr);
  const progress = r.events.filter((e) => e.event === 'progress');
  assert.ok(progress.length >= 1, 'at least one progress event');
  assert.ok(progress.length <= 2 + seconds * 10 + 2, `at most ~10 progress events a second (${progress.length} in ${seconds}s)`);
  assert.ok(progress.every((e) => typeof e.bytesIn === 'number' && (e.layer === 0 || e.layer === 1)));
  const done = r.events.filter((e) => e.event === 'layer-done');
  assert.deepEqual(done.map((e) => [e.layer, e.entries, e.compression]), [[0, 2, 'gzip'], [1, 3, 'none']]);
  assert.deepEqual(done[0]!.bytesIn, lstatSync(path.join(dir, 'l1.tar.gz')).size, 'bytesIn counts compressed bytes');
  assert.deepEqual(r.events.at(-1), {
    event: 'done', layers: 2, entries: 5, idmap: 'none',
    skipped: { devices: 1, xattrs: 0, owners: 0, other: 0 },
  });
  assert.match(r.stderr, /skipped 1 device node/);
});

test('a single id map keeps the caller as owner and records the archive owner in user.crossroot.owner', async (t) => {
  const dir = scratch(t);
  writeFileSync(path.join(dir, 'l.tar'), tarArchive([
    { name: 'owned', data: 'x', uid: 1000, gid: 1001, mode: 0o640 },
    { name: 'rootfile', data: 'x' },
    { name: 'odir/', type: 'dir', uid: 33, gid: 33, mode: 0o700 },
  ]));
  const target = path.join(dir, 'root');
  const r = await unpack(target, [path.join(dir, 'l.tar')], ['--idmap', 'single']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((r.events.at(-1) as { idmap: string }).idmap, 'single');
  assert.equal(lstatSync(path.join(target, 'owned')).uid, process.getuid!());
  assert.equal(getfattr(path.join(target, 'owned'), 'user.crossroot.owner'), '1000:1001:640');
  assert.equal(getfattr(path.join(target, 'odir'), 'user.crossroot.owner'), '33:33:700');
  assert.equal(getfattr(path.join(target, 'rootfile'), 'user.crossroot.owner'), undefined, 'root-owned entries need no record');
  assert.equal((r.events.at(-1) as { skipped: { owners: number } }).skipped.owners, 2);
  assert.match(r.stderr, /2 entries keep the caller as owner \(single id map\)/);
});

// struct vfs_cap_data revision 2 with cap_net_raw (13) permitted and effective.
const CAP_NET_RAW = Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

test('security.capability is set inside the user namespace and skipped with a note without one', async (t) => {
  const dir = scratch(t);
  writeFileSync(path.join(dir, 'l.tar'), tarArchive([
    { name: 'ping', data: 'elf', mode: 0o755, pax: { path: 'ping', 'SCHILY.xattr.security.capability': CAP_NET_RAW } },
  ]));
  const plain = await unpack(path.join(dir, 'plain'), [path.join(dir, 'l.tar')], ['--idmap', 'none']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal((plain.events.at(-1) as { skipped: { xattrs: number } }).skipped.xattrs, 1);
  assert.match(plain.stderr, /skipped 1 xattr.*security\.capability on ping/);

  const ns = await unpack(path.join(dir, 'ns'), [path.join(dir, 'l.tar')], ['--idmap', 'auto']);
  assert.equal(ns.code, 0, ns.stderr);
  assert.equal((ns.events.at(-1) as { skipped: { xattrs: number } }).skipped.xattrs, 0);
  const caps = spawnSync('getcap', [path.join(dir, 'ns/ping')], { encoding: 'utf8' });
  assert.match(caps.stdout, /cap_net_raw=ep/);
});

test('xz layers are refused with a fix-it instead of a tar error', async (t) => {
  const dir = scratch(t);
  writeFileSync(path.join(dir, 'l.tar'), tarArchive([{ name: 'f', data: 'x' }]));
  sh('xz', [path.join(dir, 'l.tar')]);
  const r = await unpack(path.join(dir, 'root'), [path.join(dir, 'l.tar.xz')], ['--idmap', 'none']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /layer is xz-compressed, which is not supported/);
  assert.equal(r.events.find((e) => e.event === 'error')?.code, 'ECOMPRESSION');
});

test('remove deletes a subuid-owned tree and never follows a symlink out of it', async (t) => {
  if (!need(t, userNamespaceShell(), 'unshare --map-auto needs util-linux ≥ 2.38 and a subuid range')) return;
  const dir = scratch(t);
  mkdirSync(path.join(dir, 'keep'));
  writeFileSync(path.join(dir, 'keep/precious'), 'precious');
  asRootInNamespace(`
    mkdir -p victim/a/b && echo x > victim/a/b/f && chown -R 1000:1000 victim/a
    ln -s "$PWD/keep" victim/out && ln -s "$PWD/keep/precious" victim/a/outfile
    chmod 000 victim/a/b && chmod 500 victim/a
  `, dir);
  assert.equal(lstatSync(path.join(dir, 'victim/a')).uid, hostUid(1000));
  const single = await helper(['remove', '--target', path.join(dir, 'victim'), '--idmap', 'single', '--status-fd', '3']);
  assert.equal(single.code, 125, 'subuid-owned files cannot be removed with a single-id map');
  assert.equal(single.events.find((e) => e.event === 'error')?.code, 'EPERM');
  assert.match(single.stderr, /fix: files owned by subordinate ids/);
  const r = await helper(['remove', '--target', path.join(dir, 'victim'), '--status-fd', '3']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(path.join(dir, 'victim')), false);
  assert.equal(readFileSync(path.join(dir, 'keep/precious'), 'utf8'), 'precious');
  assert.deepEqual(r.events, [{ event: 'done' }]);
  const missing = await helper(['remove', '--target', path.join(dir, 'victim')]);
  assert.equal(missing.code, 0, 'removing what is not there succeeds (rm -f)');
});

test('remove does not cross into a mount point inside the tree', async (t) => {
  if (!need(t, userNamespaceShell(), 'unshare --map-auto needs util-linux ≥ 2.38 and a subuid range')) return;
  const dir = scratch(t);
  // The helper runs (with --idmap none) inside a mount namespace where a tmpfs sits in the tree.
  const out = spawnSync('unshare', ['--map-root-user', '--mount', 'sh', '-euc', `
    mkdir -p tree/m tree/other && echo x > tree/other/f
    mount -t tmpfs none tree/m && echo inside > tree/m/kept
    rc=0; "$0" remove --target tree --idmap none || rc=$?; echo "rc=$rc"
    cat tree/m/kept; ls tree
  `, HELPER], { cwd: dir, encoding: 'utf8' });
  assert.match(out.stdout, /rc=125/);
  assert.match(out.stderr, /tree\/m is a mount point/);
  assert.match(out.stdout, /^inside$/m, 'the mounted filesystem keeps its contents');
  assert.doesNotMatch(out.stdout, /other/, 'everything else is removed');
});

test('--no-whiteouts applies a plain archive: .wh. names are files, nothing below is removed', async (t) => {
  const dir = scratch(t);
  const root = path.join(dir, 'root');
  mkdirSync(path.join(root, 'd'), { recursive: true });
  writeFileSync(path.join(root, 'd/x'), 'kept');
  writeFileSync(path.join(dir, 'l.tar'), tarArchive([{ name: 'd/.wh.x', data: 'a file' }, { name: 'd/.wh..wh..opq', data: '' }, { name: '.wh.dir/f', data: 'in' }]));
  const plain = await unpack(root, [path.join(dir, 'l.tar')], ['--idmap', 'none', '--no-whiteouts']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.deepEqual(readdirSync(path.join(root, 'd')).sort(), ['.wh..wh..opq', '.wh.x', 'x']);
  assert.equal(readFileSync(path.join(root, '.wh.dir/f'), 'utf8'), 'in');
  // Without it the same archive is an OCI layer: the whiteout removes d/x.
  const oci = await unpack(path.join(dir, 'root2'), [path.join(dir, 'l.tar')], ['--idmap', 'none']);
  assert.notEqual(oci.code, 0, 'a whiteout name used as a directory is refused in an OCI layer');
});
