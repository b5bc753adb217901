import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { buildDockerfile, type DockerBuildOptions, type DockerBuildResult } from '../../src/core/env/dockerfile';
import type { EnvEvent } from '../../src/core/env/events';
import { LayerStore } from '../../src/core/env/layers';
import { runSandbox } from '../../src/core/sandbox/client';
import { Store } from '../../src/core/store/store';
import { busyboxRootfs, mmdebstrapAvailable } from '../fixtures/rootfs';
import { HELPER, need, tempDir } from '../lib/harness';
import { storeDir } from './image-trees';

// Dockerfile instructions one by one, built by buildDockerfile() on a busybox tree (FROM answers
// with it, no registry), and checked by looking at the result from inside the built stack.

function ready(t: TestContext): boolean {
  return need(t, existsSync(HELPER), 'the helper is not built (make -C native)')
    && need(t, mmdebstrapAvailable(), 'mmdebstrap makes the busybox tree (apt-get install mmdebstrap)');
}

interface Project { dir: string; store: Store; layers: LayerStore; base: string }

async function project(t: TestContext, files: Record<string, string>): Promise<Project> {
  const dir = tempDir(t, 'crossroot-df-');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  const store = Store.open(storeDir(t), { helper: HELPER });
  return { dir, store, layers: new LayerStore(store), base: await busyboxRootfs('amd64') };
}

async function build(p: Project, dockerfile: string, o: Partial<DockerBuildOptions> = {}): Promise<DockerBuildResult & { events: EnvEvent[] }> {
  writeFileSync(path.join(p.dir, 'Dockerfile'), dockerfile);
  const events: EnvEvent[] = [];
  const r = await buildDockerfile({
    source: { kind: 'dockerfile', file: path.join(p.dir, 'Dockerfile'), context: p.dir, args: {} },
    store: p.store, layers: p.layers, helper: HELPER, arch: 'amd64', network: 'host', hostname: 'df-test',
    generation: 'g1', policy: 'missing', emit: (e) => events.push(e),
    pull: async (ref, arch) => ({ source: ref, kind: 'dir', arch, rootfs: p.base, cached: true }),
    ...o,
  });
  return { ...r, events };
}

/** Runs `script` in a throwaway sandbox over the built stack; its stdout. */
async function inside(p: Project, r: DockerBuildResult, script: string): Promise<string> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'crossroot-df-look-'));
  mkdirSync(path.join(scratch, 'upper'));
  mkdirSync(path.join(scratch, 'work'));
  const res = await runSandbox(HELPER, {
    rootfs: r.base.rootfs, lowers: r.keys.map((k) => p.layers.diff(k)), upper: path.join(scratch, 'upper'), work: path.join(scratch, 'work'), network: 'none',
  }, ['/bin/sh', '-c', script], { stdio: 'pipe' });
  p.store.removeTree(scratch);
  assert.equal(res.code, 0, res.tail.join('\n'));
  return res.stdout;
}

const ranLines = (events: EnvEvent[]) => events.filter((e): e is Extract<EnvEvent, { phase: 'step' }> => e.phase === 'step' && !e.cached).map((s) => Number(/:(\d+) /.exec(s.label)![1]));

/** A local file server: ETag and Last-Modified, 304 for a matching conditional request. */
async function fileServer(t: TestContext, files: Map<string, Buffer>) {
  const seen: Array<{ path: string; status: number }> = [];
  const modified = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const body = files.get(req.url ?? '');
    if (!body) { seen.push({ path: req.url ?? '', status: 404 }); res.writeHead(404).end('no such file'); return; }
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
    if (req.headers['if-none-match'] === etag) { seen.push({ path: req.url!, status: 304 }); res.writeHead(304, { etag }).end(); return; }
    seen.push({ path: req.url!, status: 200 });
    res.writeHead(200, { etag, 'last-modified': modified.toUTCString(), 'content-length': body.length, 'content-type': 'application/octet-stream' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, mtime: modified.getTime() / 1000 };
}

test('ADD of a URL downloads it: named after the URL, mode 0600 or --chmod, mtime from Last-Modified, never unpacked; asked again with ETag each build; --checksum checked', { timeout: 5 * 60_000 }, async (t) => {
  if (!ready(t)) return;
  const p = await project(t, {});
  const tool = Buffer.from('#!/bin/sh\necho tool v1\n');
  const checked = Buffer.from('checked content\n');
  const gz = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // an empty gzip
  const files = new Map([['/files/tool.sh', tool], ['/files/pkg.tar.gz', gz], ['/files/checked.txt', checked]]);
  const srv = await fileServer(t, files);
  const sum = `sha256:${createHash('sha256').update(checked).digest('hex')}`;
  const dockerfile = (checksum: string) => [
    'FROM base',
    `ADD ${srv.url}/files/tool.sh /opt/`,
    `ADD --chmod=755 ${srv.url}/files/tool.sh /usr/local/bin/tool`,
    `ADD ${srv.url}/files/pkg.tar.gz /opt/`,
    `ADD --checksum=${checksum} ${srv.url}/files/checked.txt /opt/checked`,
    '',
  ].join('\n');
  const first = await build(p, dockerfile(sum));
  assert.deepEqual(ranLines(first.events), [2, 3, 4, 5]);
  assert.equal(await inside(p, first, 'stat -c "%n %a %Y %s" /opt/tool.sh /usr/local/bin/tool /opt/pkg.tar.gz /opt/checked; /usr/local/bin/tool; cat /opt/checked'),
    `/opt/tool.sh 600 ${srv.mtime} ${tool.length}\n/usr/local/bin/tool 755 ${srv.mtime} ${tool.length}\n/opt/pkg.tar.gz 600 ${srv.mtime} ${gz.length}\n/opt/checked 600 ${srv.mtime} ${checked.length}\ntool v1\nchecked content\n`);

  // Unchanged on the server: every step is a cache hit; tool.sh and pkg.tar.gz were asked about
  // (304), checked.txt not at all (its --checksum names the content).
  srv.seen.length = 0;
  const again = await build(p, dockerfile(sum));
  assert.deepEqual(ranLines(again.events), []);
  assert.deepEqual(srv.seen, [{ path: '/files/tool.sh', status: 304 }, { path: '/files/tool.sh', status: 304 }, { path: '/files/pkg.tar.gz', status: 304 }]);

  // Changed on the server: the steps that download it run again, and the env gets the new file.
  files.set('/files/tool.sh', Buffer.from('#!/bin/sh\necho tool v2\n'));
  const changed = await build(p, dockerfile(sum));
  assert.deepEqual(ranLines(changed.events), [2, 3, 4, 5]);
  assert.equal(await inside(p, changed, '/usr/local/bin/tool'), 'tool v2\n');

  // A wrong --checksum fails at its line, saying what the file's digest is.
  const wrong = `sha256:${'0'.repeat(64)}`;
  await assert.rejects(build(p, dockerfile(wrong)), (e: Error) => {
    assert.match(e.message, new RegExp(`Dockerfile line 5 \\(ADD\\): ADD --checksum=${wrong}: ${srv.url}/files/checked.txt does not have that checksum \\(got ${sum}`));
    return true;
  });
  await assert.rejects(build(p, dockerfile('md5:abc')), /line 5 \(ADD\): --checksum=md5:abc must be sha256:<64 hex digits>/);

  // No network: a clear error at the first download's line, with the way out.
  await assert.rejects(build(p, dockerfile(sum), { network: 'none' }), (e: Error & { fix?: string }) => {
    assert.match(e.message, new RegExp(`Dockerfile line 2 \\(ADD\\): ADD ${srv.url}/files/tool.sh downloads a file, and the env's network mode is "none"`));
    assert.match(e.fix ?? '', /download the file into the build context and COPY it/);
    return true;
  });
  // A missing file is the server's answer, at its line.
  await assert.rejects(build(p, `FROM base\nADD ${srv.url}/nothing /x\n`), /line 2 \(ADD\): ADD .*\/nothing: the server answered HTTP 404/);
});

const has = (tool: string) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;

test('ADD unpacks local tar archives compressed with xz, bzip2 or zstd (by content, whatever the name); a compressed file that is not a tar is copied as it is', { timeout: 5 * 60_000 }, async (t) => {
  if (!ready(t) || !need(t, has('xz') && has('bzip2') && has('zstd'), 'xz, bzip2 and zstd make the archives (apt-get install xz-utils bzip2 zstd)')) return;
  const p = await project(t, { 'tree/inner/file.txt': 'from the archive\n', 'note.txt': 'just a note\n' });
  const sh = (cmd: string) => { const r = spawnSync('sh', ['-c', cmd], { cwd: p.dir, encoding: 'utf8' }); assert.equal(r.status, 0, r.stderr); };
  sh('tar -cf a.tar -C tree . && xz -k a.tar && bzip2 -k a.tar && zstd -q a.tar -o data.bin && xz -c note.txt > note.xz && head -c 60 a.tar.xz > cut.tar.xz');
  const r = await build(p, ['FROM base', 'ADD a.tar.xz /x/', 'ADD a.tar.bz2 /b', 'ADD data.bin /z/', 'ADD note.xz /n/', ''].join('\n'));
  assert.deepEqual(ranLines(r.events), [2, 3, 4, 5]);
  const size = String(readFileSync(path.join(p.dir, 'note.xz')).length);
  assert.equal(await inside(p, r, 'cat /x/inner/file.txt /b/inner/file.txt /z/inner/file.txt; ls /n; stat -c %s /n/note.xz'),
    `from the archive\nfrom the archive\nfrom the archive\nnote.xz\n${size}\n`);
  // A damaged archive fails at its line, saying what is wrong with it.
  await assert.rejects(build(p, 'FROM base\nADD cut.tar.xz /c/\n'), /Dockerfile line 2 \(ADD\): cut\.tar\.xz cannot be decompressed: .*xz stream is truncated/);
});

test('heredocs run and copy as BuildKit does: RUN <<EOF, <<-, quoted delimiters, several on one line, a #! script, COPY <<EOF with variables', { timeout: 5 * 60_000 }, async (t) => {
  if (!ready(t)) return;
  const p = await project(t, {});
  const dockerfile = [
    'FROM base',
    'ARG NAME=world',
    'RUN <<EOF',
    'echo "hello $NAME" > /one',
    'echo second >> /one',
    'EOF',
    'RUN <<-EOT sh',
    '\techo tabbed > /two',
    '\tEOT',
    'RUN cat > /three <<\'EOF\'',
    '$NAME stays',
    'EOF',
    'RUN cat > /four <<A && cat > /five <<B',
    'first $NAME',
    'A',
    'second',
    'B',
    'RUN <<EOF',
    '#!/bin/sh',
    'echo "script as $0" > /six',
    'EOF',
    'COPY <<EOF /etc/app.conf',
    'name=$NAME',
    'quoted="$NAME" path=\\$HOME literal=\\n kept',
    'EOF',
    'COPY <<\'EOF\' <<-EOT /dir/',
    'raw $NAME',
    'EOF',
    '\ttab-stripped',
    '\tEOT',
    'RUN echo after > /seven',
    '',
  ].join('\n');
  const r = await build(p, dockerfile);
  assert.deepEqual(ranLines(r.events), [3, 7, 10, 13, 18, 22, 26, 31]);
  assert.equal(await inside(p, r, 'cat /one /two /three /four /five /six /etc/app.conf /dir/EOF /dir/EOT /seven; stat -c %a /etc/app.conf; ls -a / | grep crossroot | wc -l'),
    'hello world\nsecond\ntabbed\n$NAME stays\nfirst world\nsecond\nscript as /.crossroot-heredoc/EOF\nname=world\nquoted="world" path=$HOME literal=\\n kept\nraw $NAME\ntab-stripped\nafter\n644\n0\n');
  // Editing a heredoc's body is editing its instruction: that step and the later ones run again.
  const edited = await build(p, dockerfile.replace('echo second >> /one', 'echo changed >> /one'));
  assert.deepEqual(ranLines(edited.events), [3, 7, 10, 13, 18, 22, 26, 31]);
  const copyEdited = await build(p, dockerfile.replace('echo second >> /one', 'echo changed >> /one').replace('raw $NAME', 'raw edited'));
  assert.deepEqual(ranLines(copyEdited.events), [26, 31]);
  assert.equal(await inside(p, copyEdited, 'cat /one /dir/EOF'), 'hello world\nchanged\nraw edited\n');
});

test('FROM scratch makes a stage of copied files only; COPY --from takes globs and reads stages that have no tar', { timeout: 5 * 60_000 }, async (t) => {
  if (!ready(t)) return;
  const p = await project(t, {});
  const dockerfile = [
    'FROM base AS build',
    'RUN mkdir -p /out/sub && echo one > /out/a.txt && echo two > /out/b.txt && echo three > /out/sub/c.txt && echo skip > /out/d.log && ln -s a.txt /out/link.txt && echo linked > /out/0-first && ln /out/0-first /out/linked.txt',
    'FROM scratch AS artifacts',
    'WORKDIR /pkg',
    'COPY --from=build /out/*.txt ./',
    'COPY --from=build /out/sub /pkg/sub',
    'FROM base',
    'COPY --from=artifacts /pkg /opt/pkg',
    'COPY --from=build /out/s* /opt/s/',
    'COPY --from=artifacts / /whole/',
    '',
  ].join('\n');
  const r = await build(p, dockerfile);
  assert.deepEqual(ranLines(r.events), [2, 4, 5, 6, 8, 9, 10]);
  assert.equal(await inside(p, r, 'cd /opt/pkg && find . | sort && readlink link.txt && cat a.txt sub/c.txt /opt/s/c.txt linked.txt && ls -A /whole /whole/pkg'),
    '.\n./a.txt\n./b.txt\n./link.txt\n./linked.txt\n./sub\n./sub/c.txt\na.txt\none\nthree\nthree\nlinked\n/whole:\npkg\n\n/whole/pkg:\na.txt\nb.txt\nlink.txt\nlinked.txt\nsub\n');
  await assert.rejects(build(p, 'FROM base AS build\nRUN mkdir /out\nFROM base\nCOPY --from=build /out/*.none /x/\n'), /line 4 \(COPY\): COPY --from: \/out\/\*\.none matches no file in that stage/);
});

test('COPY --chmod takes symbolic modes, --exclude leaves files out (also with --from), --parents keeps the source folders', { timeout: 5 * 60_000 }, async (t) => {
  if (!ready(t)) return;
  const p = await project(t, {
    'app/bin/run.sh': 'echo run\n', 'app/bin/tool': 'tool\n', 'app/data/a.txt': 'a\n', 'app/data/b.log': 'b\n', 'app/data/sub/c.log': 'c\n',
    'src/x/y/one.txt': '1\n', 'src/x/z/two.txt': '2\n', 'src/x/z/skip.md': 'no\n',
  });
  const sh = spawnSync('sh', ['-c', 'chmod 644 app/bin/* app/data/a.txt && chmod 750 app/data/sub'], { cwd: p.dir });
  assert.equal(sh.status, 0);
  const dockerfile = [
    'FROM base',
    'COPY --chmod=u+x,go=rX app/bin /opt/bin/',
    'COPY --chmod=a=rX app/data /opt/datax/',
    'COPY --exclude=*.log --exclude=sub app/data /opt/data/',
    'COPY --parents src/x/*/*.txt /opt/par/',
    'COPY --parents src/./x/y/one.txt /opt/piv/',
    'FROM base',
    'COPY --from=0 --exclude=*.sh /opt/bin /opt/nosh/',
    '',
  ].join('\n');
  const r = await build(p, dockerfile);
  const stage0 = await build(p, dockerfile, { source: { kind: 'dockerfile', file: path.join(p.dir, 'Dockerfile'), context: p.dir, args: {}, target: '0' } });
  assert.deepEqual(ranLines(stage0.events), [], 'the first stage was built already');
  const first = await inside(p, stage0, 'stat -c "%a %n" /opt/bin/run.sh /opt/bin/tool /opt/datax/a.txt /opt/datax/sub /opt/datax/sub/c.log; ls -A /opt/data; find /opt/par /opt/piv -type f | sort');
  assert.equal(first, '755 /opt/bin/run.sh\n755 /opt/bin/tool\n444 /opt/datax/a.txt\n555 /opt/datax/sub\n444 /opt/datax/sub/c.log\na.txt\n/opt/par/src/x/y/one.txt\n/opt/par/src/x/z/two.txt\n/opt/piv/x/y/one.txt\n');
  assert.equal(await inside(p, r, 'ls -A /opt/nosh'), 'tool\n');
  await assert.rejects(build(p, 'FROM base\nCOPY --chmod=u+q app/bin /x/\n'), /line 2 \(COPY\): --chmod=u\+q is not a mode: use octal \(755\) or chmod's symbolic form/);
});

test('COPY and ADD copy files named .wh.* as files: they are no whiteouts, and nothing beside them goes', { timeout: 5 * 60_000 }, async (t) => {
  if (!ready(t)) return;
  const p = await project(t, { 'files/.wh.note': 'a file\n', 'tree/.wh.other': 'also a file\n' });
  assert.equal(spawnSync('tar', ['-cf', 'a.tar', '-C', 'tree', '.'], { cwd: p.dir }).status, 0);
  const r = await build(p, 'FROM base\nRUN mkdir /opt && echo kept > /opt/note && echo kept > /opt/other\nCOPY files/ /opt/\nADD a.tar /opt/\n');
  assert.equal(await inside(p, r, 'cd /opt && ls -A && cat note .wh.note other .wh.other'), '.wh.note\n.wh.other\nnote\nother\nkept\na file\nkept\nalso a file\n');
});
