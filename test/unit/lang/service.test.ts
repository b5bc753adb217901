import { test } from 'node:test';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import assert from 'node:assert/strict';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { DiagnosticSeverity, type Position, type TextEdit, type WorkspaceEdit } from 'vscode-languageserver-types';
import { createLanguageService } from '../../../src/core/lang/service';
import { Code } from '../../../src/core/envfile/diagnostics';
import type { Lockfile } from '../../../src/core/lockfile';
import { fakeHost } from '../envfile/fake-host';

const URI = 'file:///home/user/proj/crossroot.toml';
const doc = (text: string, uri = URI) => TextDocument.create(uri, 'toml', 1, text);
const service = (locks: Record<string, Lockfile> = {}) => createLanguageService({ host: fakeHost(), readLockfile: (dir) => locks[dir] });

/** Text with a `|` marking the cursor → document and position. */
function cursor(marked: string): { d: TextDocument; pos: Position } {
  const offset = marked.indexOf('|');
  const d = doc(marked.slice(0, offset) + marked.slice(offset + 1));
  return { d, pos: d.positionAt(offset) };
}

function apply(d: TextDocument, edits: TextEdit[]): string {
  return TextDocument.applyEdits(d, edits);
}

test('diagnostics carry LSP ranges, numeric codes and the crossroot source', () => {
  const [d] = service().validate(doc('image = "alpine"\n[setup]\n  pakages = ["gcc"]\n'));
  assert.deepEqual(d?.range, { start: { line: 2, character: 2 }, end: { line: 2, character: 9 } });
  assert.equal(d?.code, Code.UnknownKey);
  assert.equal(d?.source, 'crossroot');
  assert.equal(d?.severity, DiagnosticSeverity.Error);
  assert.match(d!.message, /did you mean "packages"/);
});

test('warnings and infos keep their severity', () => {
  const diags = service().validate(doc('image = "alpine"\narch = "aarch64"\n[[mount]]\nsource = "/nope"\ntarget = "/m"\n'));
  assert.deepEqual(diags.map((d) => [d.code, d.severity]), [[Code.ArchAlias, DiagnosticSeverity.Information], [Code.PathNotFound, DiagnosticSeverity.Warning]]);
});

test('completion offers the keys of the current table that are not written yet', () => {
  const { d, pos } = cursor('image = "alpine"\n[setup]\npackages = []\n|\n');
  const labels = service().complete(d, pos).items.map((i) => i.label);
  assert.deepEqual(labels, ['run']);
  const { d: d2, pos: p2 } = cursor('image = "alpine"\n[[mount]]\nta|\n');
  const target = service().complete(d2, p2).items.find((i) => i.label === 'target')!;
  assert.equal(apply(d2, [target.textEdit as TextEdit]), 'image = "alpine"\n[[mount]]\ntarget = "$1"\n');
});

test('completion at the top level offers top-level keys and table headers', () => {
  const { d, pos } = cursor('name = "x"\n|');
  const labels = service().complete(d, pos).items.map((i) => i.label);
  assert.ok(labels.includes('arch') && labels.includes('image'), labels.join());
  assert.ok(!labels.includes('name'), 'name is already written');
  assert.ok(labels.includes('[setup]') && labels.includes('[[mount]]') && labels.includes('[env]'), labels.join());
  const again = cursor('image = "x"\n[setup]\n[[mount]]\n[|');
  const headers = service().complete(again.d, again.pos).items.map((i) => i.label);
  assert.ok(!headers.includes('[setup]') && headers.includes('[[mount]]') && headers.includes('[shell]'), headers.join());
  const { d: d2, pos: p2 } = cursor('image = "x"\n[[mo|');
  const mount = service().complete(d2, p2).items.find((i) => i.label === '[[mount]]')!;
  assert.equal(apply(d2, [mount.textEdit as TextEdit]), 'image = "x"\n[[mount]]');
});

test('completion offers arch names, shell paths and source kinds as values', () => {
  const { d, pos } = cursor('arch = "ar|"\n');
  const items = service().complete(d, pos).items;
  assert.deepEqual(items.map((i) => i.label), ['amd64', 'arm64', 'armhf', 'riscv64', 'ppc64el', 's390x', 'i386']);
  const arm64 = items.find((i) => i.label === 'arm64')!;
  assert.equal(apply(d, [arm64.textEdit as TextEdit]), 'arch = "arm64"\n', 'replaces the typed part and both quotes');
  const shells = cursor('image = "x"\n[shell]\npath = |\n');
  const bash = service().complete(shells.d, shells.pos).items.find((i) => i.label === '/bin/bash')!;
  assert.equal(apply(shells.d, [bash.textEdit as TextEdit]), 'image = "x"\n[shell]\npath = "/bin/bash"\n');
  const kinds = cursor('[source]\nkind = "|');
  assert.deepEqual(service().complete(kinds.d, kinds.pos).items.map((i) => i.label), ['image', 'oci-layout', 'oci-archive', 'docker-archive', 'rootfs-tar', 'dir', 'debian']);
});

test('[source] key completion follows the kind', () => {
  const { d, pos } = cursor('[source]\nkind = "debian"\n|\n');
  const labels = service().complete(d, pos).items.map((i) => i.label);
  assert.deepEqual(labels.sort(), ['mirror', 'packages', 'snapshot', 'suite', 'variant']);
});

test('completion works in a file that is not valid TOML yet', () => {
  const { d, pos } = cursor('image = \n[network]\nmode = "|');
  assert.deepEqual(service().complete(d, pos).items.map((i) => i.label), ['host', 'none', 'private']);
});

test('hover shows the schema text for keys, headers and known values', () => {
  const s = service();
  const key = cursor('image = "x"\n[setup]\npack|ages = []\n');
  const h = s.hover(key.d, key.pos)!;
  assert.match((h.contents as { value: string }).value, /^\*\*setup\.packages\*\* · an array of strings\n\nPackages to install/);
  assert.deepEqual(h.range, { start: { line: 2, character: 0 }, end: { line: 2, character: 8 } });
  const header = cursor('image = "x"\n[[mo|unt]]\n');
  assert.match((s.hover(header.d, header.pos)!.contents as { value: string }).value, /^\*\*\[\[mount\]\]\*\*/);
  const value = cursor('arch = "aarc|h64"\n');
  assert.match((s.hover(value.d, value.pos)!.contents as { value: string }).value, /arch = "arm64".*\n\n`uname -m` prints aarch64/);
  const none = cursor('image = "x"\n# a comm|ent\n');
  assert.equal(s.hover(none.d, none.pos), null);
});

test('formatting normalises spacing and keeps every comment', () => {
  const text = '# my env\nname="x"   # trailing\n  arch =   "arm64"\n\n\n\nimage = "alpine"  \n[setup]\n  # packages we need\npackages = [\n  "gcc", # C\n  "make",\n]\n# the mounts\n[[mount]]\nsource = "/a"\ntarget="/b"\n';
  const d = doc(text);
  const out = apply(d, service().format(d));
  assert.equal(out, '# my env\nname = "x"   # trailing\narch = "arm64"\n\nimage = "alpine"\n\n[setup]\n  # packages we need\npackages = [\n  "gcc", # C\n  "make",\n]\n\n# the mounts\n[[mount]]\nsource = "/a"\ntarget = "/b"\n');
  assert.deepEqual(service().format(doc(out)), [], 'formatting is idempotent');
});

test('formatting leaves multi-line strings and invalid files alone', () => {
  const text = 'image = "x"\n\n[setup]\nrun = ["""\n  echo   a   \n\n\n  echo b"""]\n';
  const d = doc(text);
  assert.equal(apply(d, service().format(d)), text);
  assert.deepEqual(service().format(doc('name = \n  arch="x"')), []);
});

test('the misspelt-key quick fix replaces the key', () => {
  const text = 'image = "alpine"\n[setup]\npakages = ["gcc"]\n';
  const d = doc(text);
  const [action] = service().codeActions(d, { start: { line: 2, character: 2 }, end: { line: 2, character: 2 } });
  assert.equal(action?.title, 'Change to "packages"');
  assert.equal(action?.diagnostics?.[0]?.code, Code.UnknownKey);
  assert.equal(apply(d, (action!.edit as WorkspaceEdit).changes![URI]!), 'image = "alpine"\n[setup]\npackages = ["gcc"]\n');
});

test('pin to digest rewrites the image with the locked digest for the env arch', () => {
  const manifest = 'sha256:' + '1'.repeat(64);
  const index = 'sha256:' + '2'.repeat(64);
  const lock: Lockfile = { lockfileVersion: 1, images: { 'debian:bookworm': { arm64: { manifest, index, platform: 'linux/arm64/v8', config: 'sha256:' + '3'.repeat(64) } } } };
  const text = 'arch = "arm64"\nimage = "debian:bookworm"\n';
  const d = doc(text);
  const onImage = { start: { line: 1, character: 3 }, end: { line: 1, character: 3 } };
  const [pin] = service({ '/home/user/proj': lock }).codeActions(d, onImage);
  assert.match(pin!.title, /^Pin image to its digest from crossroot\.lock/);
  assert.equal(apply(d, (pin!.edit as WorkspaceEdit).changes![URI]!), `arch = "arm64"\nimage = "debian:bookworm@${index}"\n`);
  const [disabled] = service().codeActions(d, onImage);
  assert.match(disabled!.disabled!.reason, /no arm64 entry for debian:bookworm; run `crossroot lock` first/);
  const amd = doc('arch = "amd64"\nimage = "debian:bookworm"\n');
  assert.ok(service({ '/home/user/proj': lock }).codeActions(amd, onImage)[0]?.disabled, 'another arch has no locked digest');
});

test('document symbols outline tables, mounts by target and keys', () => {
  const text = 'name = "x"\nimage = "alpine"\n[setup]\npackages = ["gcc"]\n[[mount]]\nsource = "/a"\ntarget = "/b"\n';
  const syms = service().symbols(doc(text));
  assert.deepEqual(syms.map((s) => s.name), ['name', 'image', 'setup', 'mount']);
  assert.equal(syms[0]!.detail, '"x"');
  assert.deepEqual(syms[2]!.children!.map((c) => c.name), ['packages']);
  assert.deepEqual(syms[3]!.children!.map((c) => c.name), ['/b']);
  assert.deepEqual(syms[3]!.children![0]!.children!.map((c) => c.name), ['source', 'target']);
  assert.deepEqual(syms[2]!.range, { start: { line: 2, character: 0 }, end: { line: 3, character: 18 } });
});

test('formatting keeps CRLF line ends, and the exact line ends inside multi-line strings', () => {
  const text = 'image="x"\r\n[setup]\r\nrun = ["""\na\r\nb"""]\r\n';
  const d = doc(text);
  assert.equal(apply(d, service().format(d)), 'image = "x"\r\n\r\n[setup]\r\nrun = ["""\na\r\nb"""]\r\n');
});

test('hover in devcontainer.json says whether Crossroot honours a property, and why not', () => {
  const uri = 'file:///home/user/proj/.devcontainer/devcontainer.json';
  const s = service();
  const at = (marked: string) => {
    const offset = marked.indexOf('|');
    const d = doc(marked.slice(0, offset) + marked.slice(offset + 1), uri);
    return s.hover(d, d.positionAt(offset));
  };
  const priv = at('{ "image": "alpine", "privi|leged": true }')!;
  assert.match((priv.contents as { value: string }).value, /^\*\*privileged\*\* · not supported by Crossroot: the env runs as your own user/);
  assert.deepEqual(priv.range, { start: { line: 0, character: 21 }, end: { line: 0, character: 33 } });
  assert.match((at('{ "run|Args": [] }')!.contents as { value: string }).value, /honoured by Crossroot: only --platform/);
  assert.equal(at('{ "image": "alp|ine" }'), null, 'values have no hover');
  assert.equal(at('{ "customizations": { "vsc|ode": {} } }'), null, 'only top-level keys');
});

test('no key completion inside a multi-line array', () => {
  const { d, pos } = cursor('image = "x"\n[setup]\npackages = [\n  "gcc", # [not a bracket]\n  |\n]\n');
  assert.deepEqual(service().complete(d, pos).items, []);
  const after = cursor('image = "x"\n[setup]\npackages = [\n  "gcc",\n]\n|\n');
  assert.deepEqual(service().complete(after.d, after.pos).items.map((i) => i.label), ['run']);
});

test('a devcontainer\'s Dockerfile gets its problems at the instruction\'s range', () => {
  const text = 'FROM debian:bookworm\nRUN --mount=type=secret,id=npm npm ci\nEXPOSE 3000\n';
  const d = service().validate(doc(text, "file:///home/user/proj/.devcontainer/Dockerfile"));
  assert.deepEqual(d.map((x) => [x.code, x.severity, x.range.start.line, x.range.start.character, x.range.end.line, x.range.end.character]), [
    [5002, DiagnosticSeverity.Error, 1, 0, 1, 37],
    [5003, DiagnosticSeverity.Information, 2, 0, 2, 11],
  ]);
  assert.match(d[0]!.message, /only type=cache/);
});

test('a Dockerfile outside .devcontainer gets diagnostics when a devcontainer.json builds it ("../Dockerfile"), and none when nothing does', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crossroot-lsp-df-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const text = 'FROM debian:bookworm\nRUN --mount=type=secret,id=npm npm ci\n';
  mkdirSync(path.join(dir, '.devcontainer'));
  mkdirSync(path.join(dir, 'deploy'));
  writeFileSync(path.join(dir, 'Dockerfile'), text);
  writeFileSync(path.join(dir, 'deploy/Dockerfile'), text);
  writeFileSync(path.join(dir, '.devcontainer/devcontainer.json'), '{ "build": { "dockerfile": "../Dockerfile", "context": ".." } }\n');
  const real = createLanguageService();
  const built = real.validate(doc(text, pathToFileURL(path.join(dir, 'Dockerfile')).href));
  assert.deepEqual(built.map((x) => [x.code, x.range.start.line]), [[5002, 1]]);
  assert.deepEqual(real.validate(doc(text, pathToFileURL(path.join(dir, 'deploy/Dockerfile')).href)), [], 'a Dockerfile no devcontainer builds is not ours to judge');
});
