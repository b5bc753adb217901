import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ARCHES } from '../../src/core/arch';
import { parseManifest } from '../../src/core/image/oci';
import { pull } from '../../src/core/image/pull';
import type { PullProgress } from '../../src/core/image/progress';
import { Store } from '../../src/core/store/store';
import { layeredImage } from '../fixtures/images';
import { htpasswdAvailable, pushImage, startRegistry, writeAuthFile } from '../fixtures/registry';
import { tarArchive } from '../fixtures/hostile';
import { busyboxRootfs } from '../fixtures/rootfs';
import { HELPER, need, tempDir } from '../lib/harness';
import { assertSameTree, crossroot, crossrootAsync, storeDir, pullReady } from './image-trees';


test('a registry pull reports bytes per layer, each verify and unpack, then done; the CLI shows them as lines', async (t) => {
  if (!pullReady(t)) return;
  const img = await layeredImage();
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const ref = pushImage(reg, `oci:${img.layout}:${img.tag}`, 'layered:progress');
  const layers = parseManifest(readFileSync(path.join(img.layout, 'blobs/sha256', img.manifestDigest.slice(7)))).layers;

  const events: PullProgress[] = [];
  const got = await pull({ kind: 'image', ref }, { store: Store.open(storeDir(t)), arch: ARCHES.arm64, onProgress: (e) => events.push({ ...e }) });
  assert.equal(got.manifestDigest, img.manifestDigest);
  assert.equal(events[0]!.phase, 'resolve');
  assert.deepEqual(events.at(-1), { phase: 'done', digest: img.manifestDigest, cached: false, source: got.source });
  for (const [i, l] of layers.entries()) {
    const downloads = events.filter((e) => e.phase === 'download' && e.blob.layer === i + 1);
    assert.ok(downloads.length > 0, `layer ${i + 1} reports its download`);
    assert.ok(downloads.every((e) => e.phase === 'download' && e.blob.digest === l.digest && e.blob.size === l.size && e.blob.layers === layers.length), `layer ${i + 1}: digest, size and layer count`);
    const done = downloads.map((e) => (e.phase === 'download' ? e.done : -1));
    assert.deepEqual(done, [...done].sort((a, b) => a - b), 'bytes done only grow');
    assert.equal(done.at(-1), l.size, 'the last download event has every byte');
    assert.equal(events.filter((e) => e.phase === 'verify' && e.blob.layer === i + 1).length, 1, `layer ${i + 1} is verified once`);
    const unpacked = events.filter((e) => e.phase === 'unpack' && e.layer === i + 1).at(-1);
    assert.ok(unpacked?.phase === 'unpack' && unpacked.done === l.size && unpacked.size === l.size, `layer ${i + 1} is unpacked to its end`);
  }
  // The config is a named blob, not a layer.
  assert.ok(events.some((e) => e.phase === 'verify' && e.blob.name === 'config' && !e.blob.layer));

  const cli = await crossrootAsync(['pull', '--arch', 'arm64', '--store', storeDir(t), ref]);
  assert.equal(cli.code, 0, cli.stderr);
  for (let n = 1; n <= layers.length; n++) {
    assert.match(cli.stderr, new RegExp(`^layer ${n}/${layers.length} [0-9a-f]{12} +downloading`, 'm'));
    assert.match(cli.stderr, new RegExp(`^layer ${n}/${layers.length} [0-9a-f]{12} +verified`, 'm'));
    assert.match(cli.stderr, new RegExp(`^layer ${n}/${layers.length} [0-9a-f]{12} +unpacking`, 'm'));
  }
  assert.match(cli.stdout, new RegExp(`^Digest: ${img.manifestDigest}$`, 'm'));
});

test('crossroot pull logs in with the auth file $REGISTRY_AUTH_FILE names', async (t) => {
  if (!pullReady(t) || !need(t, htpasswdAvailable(), 'htpasswd is not installed (apt-get install apache2-utils)')) return;
  const img = await layeredImage();
  const reg = await startRegistry({ auth: 'htpasswd' });
  t.after(() => reg.stop());
  const ref = pushImage(reg, `oci:${img.layout}:${img.tag}`, 'private:1');
  const home = tempDir(t);
  // No other auth file is in reach: HOME and the runtime/config dirs are empty temp dirs.
  const env = { HOME: home, XDG_RUNTIME_DIR: home, XDG_CONFIG_HOME: home };
  const anonymous = await crossrootAsync(['pull', '--json', '--arch', 'arm64', '--store', storeDir(t), ref], env);
  assert.equal(anonymous.code, 125);
  assert.match(anonymous.stderr, /log in|login/i);

  const authFile = writeAuthFile(path.join(home, 'elsewhere.json'), reg);
  const r = await crossrootAsync(['pull', '--json', '--arch', 'arm64', '--store', storeDir(t), ref], { ...env, REGISTRY_AUTH_FILE: authFile });
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { manifestDigest: string }).manifestDigest, img.manifestDigest);
});

test('a plain uncompressed rootfs .tar gives the tree it holds', async (t) => {
  if (!need(t, existsSync(HELPER), 'the helper is not built (make -C native)')) return;
  const tree = await busyboxRootfs('arm64');
  const tar = path.join(tempDir(t), 'rootfs.tar');
  execFileSync('tar', ['-C', tree, '--owner=0', '--group=0', '--numeric-owner', '-cf', tar, '.']);
  const r = crossroot(['pull', '--json', '--arch', 'arm64', '--store', storeDir(t), tar]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { kind: string; rootfs: string };
  assert.equal(out.kind, 'rootfs-tar');
  assertSameTree(out.rootfs, tree);
});

test('device nodes in a rootfs are skipped, and crossroot pull says so', async (t) => {
  if (!need(t, existsSync(HELPER), 'the helper is not built (make -C native)')) return;
  const tar = path.join(tempDir(t), 'with-devices.tar');
  writeFileSync(tar, tarArchive([
    { name: 'dev', type: 'dir' },
    { name: 'dev/null', type: 'char', mode: 0o666 },
    { name: 'dev/sda', type: 'block', mode: 0o660 },
    { name: 'etc', type: 'dir' },
    { name: 'etc/hostname', data: 'kept\n' },
  ]));
  const r = await crossrootAsync(['pull', '--arch', 'arm64', '--store', storeDir(t), tar]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^skipped 2 device nodes: a user namespace cannot create them/m);
  const rootfs = /^Rootfs: (.*)$/m.exec(r.stdout)![1]!;
  assert.equal(readFileSync(path.join(rootfs, 'etc/hostname'), 'utf8'), 'kept\n');
  assert.equal(existsSync(path.join(rootfs, 'dev/null')), false);
});

/** A loopback proxy to `target` that holds every blob GET for `holdMs` and counts how many are open at once. */
async function countingProxy(t: Parameters<typeof need>[0], target: string, holdMs: number) {
  const seen = { open: 0, most: 0, urls: [] as string[] };
  const server = http.createServer((req, res) => {
    const blob = req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '');
    if (blob) { seen.urls.push(req.url!); seen.most = Math.max(seen.most, ++seen.open); res.on('close', () => { seen.open--; }); }
    setTimeout(() => {
      const up = http.request(new URL(req.url!, target), { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (r) => {
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    }, blob ? holdMs : 0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

test('layers download in parallel, never more at once than the bound', async (t) => {
  if (!pullReady(t)) return;
  const img = await layeredImage();
  const reg = await startRegistry();
  t.after(() => reg.stop());
  pushImage(reg, `oci:${img.layout}:${img.tag}`, 'layered:parallel');
  const layers = parseManifest(readFileSync(path.join(img.layout, 'blobs/sha256', img.manifestDigest.slice(7)))).layers.length;
  for (const [bound, expect] of [[2, 2], [undefined, 3]] as const) {
    const proxy = await countingProxy(t, reg.url, 300);
    const got = await pull({ kind: 'image', ref: `${proxy.host}/layered:parallel` }, {
      store: Store.open(storeDir(t)), arch: ARCHES.arm64, ...(bound ? { concurrency: bound } : {}),
    });
    assert.equal(got.manifestDigest, img.manifestDigest);
    // The config once (resolve reads it and the store keeps those bytes), then every layer once.
    assert.equal(new Set(proxy.seen.urls).size, proxy.seen.urls.length, `no blob fetched twice:\n${proxy.seen.urls.join('\n')}`);
    assert.equal(proxy.seen.urls.length, 1 + layers);
    assert.equal(proxy.seen.most, expect, `${expect} blob downloads at once (bound ${bound ?? 'default'})`);
  }
});

test('a docker-archive image is picked by its repo:tag name', async (t) => {
  if (!pullReady(t)) return;
  const img = await layeredImage();
  const store = storeDir(t);
  const r = await crossrootAsync(['pull', '--json', '--arch', 'arm64', '--store', store, `${img.dockerArchive}:localhost/layered:latest`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { kind: string }).kind, 'docker-archive');
  const missing = await crossrootAsync(['pull', '--arch', 'arm64', '--store', store, `${img.dockerArchive}:localhost/layered:nope`]);
  assert.equal(missing.code, 125);
  assert.match(missing.stderr, /no image tagged "localhost\/layered:nope"/);
});
