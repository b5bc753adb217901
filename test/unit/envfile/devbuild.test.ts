import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readDevcontainer } from '../../../src/core/envfile/devcontainer';
import { Code } from '../../../src/core/envfile/diagnostics';
import { collectLocal, DockerIgnore, parseChmod } from '../../../src/core/env/context';
import { at, fakeHost } from './fake-host';

function project(files: Record<string, string>): { dir: string; done: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crossroot-devbuild-'));
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    writeFileSync(path.join(dir, f), text);
  }
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

const read = (dir: string, json: string, env: Record<string, string> = {}) => readDevcontainer(json, { file: path.join(dir, '.devcontainer/devcontainer.json'), host: fakeHost({ env }) });

test('build.dockerfile, context, args and target become a Dockerfile source; legacy dockerFile works too', (t) => {
  const p = project({ '.devcontainer/Dockerfile': 'FROM debian AS base\nFROM base AS dev\n' });
  t.after(p.done);
  const json = JSON.stringify({ build: { dockerfile: 'Dockerfile', context: '..', args: { V: '${localEnv:V}' }, target: 'dev' }, updateRemoteUserUID: true });
  const r = read(p.dir, json, { V: '1.2' });
  assert.deepEqual(r.spec?.source, { kind: 'dockerfile', file: path.join(p.dir, '.devcontainer/Dockerfile'), context: p.dir, args: { V: '1.2' }, target: 'dev' });
  assert.deepEqual(r.diagnostics.map((d) => [d.code, d.severity]), [[Code.DevcontainerUnsupported, 'info']]);
  assert.match(r.diagnostics[0]!.message, /no-op.*files in the workspace are always yours/);
  const legacy = read(p.dir, JSON.stringify({ dockerFile: 'Dockerfile' }));
  assert.deepEqual(legacy.spec?.source, { kind: 'dockerfile', file: path.join(p.dir, '.devcontainer/Dockerfile'), context: path.join(p.dir, '.devcontainer'), args: {} });
});

test('a missing Dockerfile, an unknown target and a Dockerfile error are errors at build.dockerfile', (t) => {
  const p = project({ '.devcontainer/Dockerfile': 'FROM debian\nRUN --mount=type=ssh git clone x\n' });
  t.after(p.done);
  let json = JSON.stringify({ build: { dockerfile: 'Nope' } });
  assert.deepEqual(read(p.dir, json).diagnostics.map((d) => [d.code, at(json, d)]), [[Code.PathNotFound, '"Nope"']]);
  json = JSON.stringify({ build: { dockerfile: 'Dockerfile', target: 'x' } });
  const r = read(p.dir, json);
  assert.equal(r.spec, undefined);
  assert.deepEqual(r.diagnostics.map((d) => [d.code, at(json, d)]), [[Code.DockerfileSyntax, '"Dockerfile"'], [Code.DockerfileUnsupported, '"Dockerfile"']]);
  assert.match(r.diagnostics[1]!.message, /^Dockerfile line 2: RUN --mount=type=ssh is not supported/);
  assert.match(r.diagnostics[0]!.message, /build target "x" is not a stage/);
});

test('a Compose service gives image, environment, binds and working dir; other services get a warning', (t) => {
  const p = project({
    'compose.yml': [
      'services:',
      '  app:',
      '    image: ${REG:-docker.io}/library/node:20',
      '    environment: [A=1, "B=two words"]',
      '    volumes: [".:/workspaces/x:cached", "./cache:/cache:ro", "named:/var/lib/x"]',
      '    working_dir: /workspaces/x',
      '    user: node',
      '  db:',
      '    image: postgres',
      '',
    ].join('\n'),
    '.devcontainer/compose.yml': 'services:\n  app:\n    environment:\n      C: "3"\n',
  });
  t.after(p.done);
  const json = JSON.stringify({ dockerComposeFile: ['../compose.yml', 'compose.yml'], service: 'app', runServices: ['app'], containerEnv: { A: 'over' } });
  const r = readDevcontainer(json, { file: path.join(p.dir, '.devcontainer/devcontainer.json'), host: fakeHost({ env: { REG: 'localhost:5000' }, paths: { [path.join(p.dir, 'cache')]: 'dir' } }) });
  const s = r.spec!;
  assert.deepEqual(s.source, { kind: 'image', ref: 'localhost:5000/library/node:20' });
  assert.deepEqual({ A: s.env.A, B: s.env.B, C: s.env.C }, { A: 'over', B: 'two words', C: '3' });
  assert.equal(s.workspace.path, '/workspaces/x');
  assert.equal(s.shell.user, 'node');
  assert.deepEqual(s.mounts, [{ source: path.join(p.dir, 'cache'), target: '/cache', readonly: true }, { source: '', target: '/var/lib/x', readonly: false, volume: 'named' }]);
  const found = r.diagnostics.map((d) => [d.code, d.severity, d.message.slice(0, 40)]);
  assert.deepEqual(found.filter((f) => f[0] === Code.ComposeIgnored).map((f) => f[1]), ['warning']);
  assert.ok(r.diagnostics.some((d) => /only the service "app" runs/.test(d.message) && /"db"/.test(d.message)));
  const missing = JSON.stringify({ dockerComposeFile: '../compose.yml', service: 'web' });
  assert.match(read(p.dir, missing).diagnostics[0]!.message, /no service "web"/);
});

test('.dockerignore: last match wins, ** spans folders, an excluded folder goes whole, ! brings a file back', () => {
  const ig = new DockerIgnore('# comment\nnode_modules\n**/*.log\n!keep.log\n/build/\ndocs/*.md\n!docs/README.md\n');
  const cases: Array<[string, boolean]> = [
    ['node_modules', true], ['node_modules/x/y.js', true], ['a.log', true], ['deep/er/a.log', true], ['keep.log', false],
    ['build/out.o', true], ['src/build/x', false], ['docs/a.md', true], ['docs/README.md', false], ['docs/sub/a.md', false], ['src/main.c', false],
  ];
  for (const [p, want] of cases) assert.equal(ig.excludes(p), want, p);
});

test('COPY sources cannot leave the build context, by .. or by a symlink', (t) => {
  const p = project({ 'ctx/a.txt': 'a', 'ctx/sub/b.txt': 'b', 'outside.txt': 'secret' });
  t.after(p.done);
  const ctx = path.join(p.dir, 'ctx');
  symlinkSync('../outside.txt', path.join(ctx, 'link'));
  symlinkSync('sub', path.join(ctx, 'insidelink'));
  const none = new DockerIgnore('');
  assert.throws(() => collectLocal(ctx, ['../outside.txt'], '/x', false, none), /outside the build context: a COPY\/ADD source cannot use "\.\."/);
  assert.throws(() => collectLocal(ctx, ['link'], '/x', false, none), /resolves outside the build context/);
  assert.deepEqual(collectLocal(ctx, ['insidelink/b.txt'], '/x/', false, none).map((i) => i.name), ['x/b.txt']);
  // Inside a copied folder a symlink stays a symlink (never followed), so it cannot bring the outside in.
  const all = collectLocal(ctx, ['.'], '/dst', false, new DockerIgnore('sub\n'));
  assert.deepEqual(all.map((i) => [i.name, i.linkname ?? '']), [['dst/a.txt', ''], ['dst/insidelink', 'sub'], ['dst/link', '../outside.txt']]);
  assert.deepEqual(collectLocal(ctx, ['*.txt', 'sub/*.txt'], '/d', false, none).map((i) => i.name), ['d/a.txt', 'd/b.txt']);
  assert.throws(() => collectLocal(ctx, ['sub'], '/d', false, new DockerIgnore('sub')), /excluded by \.dockerignore|matches no file/);
});

test('--chmod: octal, or chmod\'s symbolic clauses applied to each entry\'s own mode (X only for dirs and executables)', () => {
  const m = (spec: string, mode: number, dir = false) => {
    const f = parseChmod(spec);
    assert.ok(f !== undefined, spec);
    return typeof f === 'number' ? f : f(mode, dir);
  };
  assert.equal(m('755', 0o600), 0o755);
  assert.equal(m('u+x', 0o644), 0o744);
  assert.equal(m('u+x,go=rX', 0o644), 0o755);
  assert.equal(m('a=rX', 0o644), 0o444);
  assert.equal(m('a=rX', 0o750, true), 0o555);
  assert.equal(m('go-w', 0o666), 0o644);
  assert.equal(m('g=u', 0o740), 0o770);
  assert.equal(m('+x', 0o600), 0o711);
  for (const bad of ['u+q', '999', 'x', 'u+x,', '']) assert.equal(parseChmod(bad), undefined, bad);
});
