import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, tempDir } from '../lib/harness';

function lint(cwd: string, ...args: string[]) {
  assert.ok(existsSync(CLI), `${CLI} missing: run node scripts/build.mjs`);
  const r = spawnSync(process.execPath, [CLI, 'lint', ...args], { cwd, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('crossroot lint finds crossroot.toml in the current folder and exits 0 when clean', (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'crossroot.toml'), 'image = "alpine:3.20"\n');
  const r = lint(dir);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'crossroot.toml: no problems\n'.replace('crossroot.toml', path.join(dir, 'crossroot.toml')));
});

test('crossroot lint prints file:line:col, severity and code, and exits 1 on errors', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'env.toml');
  writeFileSync(file, 'image = "alpine"\n[setup]\npakages = ["gcc"]\n[network]\nmode = "none"\n');
  const r = lint(dir, file);
  assert.equal(r.code, 1);
  assert.equal(r.out.split('\n')[0], `${file}:3:1: error 2001: unknown key "pakages" in [setup]; did you mean "packages"?`);
  assert.match(r.out, /1 error, 0 warnings\n$/);
});

test('crossroot lint flags a debian suite that would be an mmdebstrap option', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'crossroot.toml');
  writeFileSync(file, '[source]\nkind = "debian"\nsuite = "--setup-hook=touch /tmp/owned"\n');
  const r = lint(dir);
  assert.equal(r.code, 1);
  assert.match(r.out, new RegExp(`^${file}:3:9: error 2006: "source\\.suite" must be a suite name such as "bookworm"`, 'm'));
});

test('crossroot lint shows ${localEnv:…} as written, so a secret in the environment stays out of CI logs', (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'crossroot.toml'), 'image = "alpine"\n[[mount]]\nsource = "/nonexistent/${localEnv:TOKEN}"\ntarget = "/t"\n');
  const r = spawnSync(process.execPath, [CLI, 'lint', '--format', 'json'], { cwd: dir, encoding: 'utf8', env: { ...process.env, TOKEN: 'ghp_SECRET0123456789' } });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, /ghp_SECRET/);
  assert.match(r.stdout, /mount source \\"\/nonexistent\/\$\{localEnv:TOKEN\}\\" does not exist/);
});

test('crossroot lint --format json reports positions and fixes; warnings alone exit 0', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'crossroot.toml');
  writeFileSync(file, 'image = "alpine"\n[setup]\npackages = ["gcc"]\n[network]\nmode = "none"\n');
  const r = lint(dir, '--format', 'json', file);
  assert.equal(r.code, 0, r.err);
  const out = JSON.parse(r.out);
  assert.deepEqual(out, {
    file, errors: 0, warnings: 1,
    diagnostics: [{ code: 3013, severity: 'warning', message: out.diagnostics[0].message, line: 3, column: 1, endLine: 3, endColumn: 9 }],
  });
  const bad = lint(dir, '--format', 'json', (writeFileSync(file, 'arch = "aarch64"\nimage = "alpine"\n'), file));
  assert.deepEqual(JSON.parse(bad.out).diagnostics[0].fix, { title: 'Change to "arm64"', text: '"arm64"' });
});

test('crossroot lint reads .devcontainer/devcontainer.json when there is no crossroot.toml', (t) => {
  const dir = tempDir(t);
  mkdirSync(path.join(dir, '.devcontainer'));
  writeFileSync(path.join(dir, '.devcontainer/devcontainer.json'), '{\n  // comment\n  "image": "debian:bookworm",\n  "privileged": true\n}\n');
  const r = lint(dir);
  assert.equal(r.code, 0, 'a warning alone passes');
  assert.match(r.out, /devcontainer\.json:4:3: warning 4001: "privileged" is not supported: the env runs as your own user/);
});

test('crossroot lint without an env file, or with bad options, says how to fix it', (t) => {
  const dir = tempDir(t);
  const none = lint(dir);
  assert.equal(none.code, 125);
  assert.match(none.err, /no env file in .* \(looked for crossroot\.toml, \.devcontainer\/devcontainer\.json, \.devcontainer\.json\)\n  fix: create crossroot\.toml/);
  const usage = lint(dir, '--format', 'xml');
  assert.equal(usage.code, 2);
  assert.match(usage.err, /unknown format "xml"/);
});

test('crossroot lsp without --stdio is a usage error that names the flag', (t) => {
  const r = spawnSync(process.execPath, [CLI, 'lsp'], { cwd: tempDir(t), encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /only the stdio transport is supported\n  fix: run `crossroot lsp --stdio`/);
});

test('crossroot lint with several .devcontainer/NAME configs lists them and asks for one; with FILE it reads it, and a BOM is fine', (t) => {
  const dir = tempDir(t);
  for (const n of ['node', 'python']) {
    mkdirSync(path.join(dir, '.devcontainer', n), { recursive: true });
    writeFileSync(path.join(dir, '.devcontainer', n, 'devcontainer.json'), '\ufeff{ "image": "debian:bookworm", "mounts": [{ "source": 5, "target": "/x", "type": "bind" }] }\n');
  }
  const many = lint(dir);
  assert.equal(many.code, 125);
  assert.match(many.err, /has 2 dev container configs:\n {2}\.devcontainer\/node\/devcontainer\.json\n {2}\.devcontainer\/python\/devcontainer\.json\n {2}fix: pick one with --file/);
  const one = lint(dir, '.devcontainer/python/devcontainer.json');
  assert.equal(one.code, 1);
  assert.match(one.out, /devcontainer\.json:1:\d+: error 2002: "mounts\[0\]\.source" must be a string/);
});
