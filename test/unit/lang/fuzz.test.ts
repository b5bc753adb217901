import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { Range } from 'vscode-languageserver-types';
import { createLanguageService } from '../../../src/core/lang/service';
import { readEnvFile } from '../../../src/core/envfile/load';
import { fakeHost } from '../envfile/fake-host';

// Mutated copies of valid env files: the service must never throw and must never point outside the text.
const CASES = 20_000;
const SEED = 0xc0ffee;

const TOML = `# firmware env
name = "firmware"
arch = "arm64"
image = "docker.io/library/debian:bookworm"

[setup]
packages = ["build-essential", "cmake"] # tools
run = ["""
echo done > /etc/motd
"""]

[env]
CC = "gcc"
HOST = "\${localEnv:HOME}"

[workspace]
path = "/workspace"

[[mount]]
source = "~/.ccache"
target = "/root/.ccache"
readonly = false

[shell]
path = "/bin/bash"
user = "root"

[network]
mode = "host"

[limits]
memory = "2g"
pids = 512
`;
const SOURCE = `arch = 'armhf'
network.mode = "none"
[source]
kind = "debian"
suite = "bookworm"
variant = "minbase"
snapshot = "20250101T000000Z"
packages = [ "git", ]
mount = [{ source = "/", target = "/host" }]
`;
const JSON_FILE = `{
  // comment
  "name": "web", "image": "alpine:3.20",
  "runArgs": ["--platform=linux/arm64", "-e", "A=1", "-v", "/srv:/srv:ro", "--cap-add", "X"],
  "mounts": ["source=/a,target=/b,type=bind", {"source": "v", "target": "/v", "type": "volume"}],
  "remoteEnv": {"PATH": "\${containerEnv:PATH}:/x"},
  "postCreateCommand": {"a": "make", "b": ["npm", "ci"]},
  "customizations": {"vscode": {"settings": {"a": 1}}, "crossroot": {"arch": "riscv64"}},
}`;

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = '[]{}="\'#.,\n\r\t \\:$~/-_0123456789abcdefxyzAZ\u00e9\u{1F600}';

function mutate(text: string, rnd: () => number): string {
  const n = 1 + Math.floor(rnd() * 4);
  let s = text;
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rnd() * (s.length + 1));
    const ch = [...ALPHABET][Math.floor(rnd() * [...ALPHABET].length)]!;
    switch (Math.floor(rnd() * 6)) {
      case 0: s = s.slice(0, at) + ch + s.slice(at); break;
      case 1: s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rnd() * 8)); break;
      case 2: s = s.slice(0, at) + ch + s.slice(at + 1); break;
      case 3: {
        const lines = s.split('\n');
        const a = Math.floor(rnd() * lines.length), b = Math.floor(rnd() * lines.length);
        [lines[a], lines[b]] = [lines[b]!, lines[a]!];
        s = lines.join('\n');
        break;
      }
      case 4: s = s.slice(0, at); break;
      default: s = s.slice(0, at) + s.slice(Math.floor(rnd() * s.length)); break;
    }
  }
  return s;
}

function inside(doc: TextDocument, r: Range, what: string): void {
  for (const p of [r.start, r.end]) {
    assert.ok(p.line >= 0 && p.line < doc.lineCount, `${what}: line ${p.line} outside ${doc.lineCount} lines`);
    assert.equal(doc.offsetAt(doc.positionAt(doc.offsetAt(p))), doc.offsetAt(p));
    assert.deepEqual(doc.positionAt(doc.offsetAt(p)), p, `${what}: position ${JSON.stringify(p)} is not in the text`);
  }
  assert.ok(doc.offsetAt(r.start) <= doc.offsetAt(r.end), `${what}: range ends before it starts`);
}

test(`${CASES} mutated env files: no throw, every range inside the document`, () => {
  const rnd = mulberry32(SEED);
  const service = createLanguageService({ host: fakeHost({ paths: { '/': 'dir' } }), readLockfile: () => undefined });
  const seeds = [['crossroot.toml', TOML], ['crossroot.toml', SOURCE], ['.devcontainer/devcontainer.json', JSON_FILE]] as const;
  let withErrors = 0;
  for (let i = 0; i < CASES; i++) {
    const [name, base] = seeds[i % seeds.length]!;
    const text = mutate(base, rnd);
    const uri = `file:///home/user/proj/${name}`;
    const doc = TextDocument.create(uri, 'toml', i, text);
    const context = `case ${i}: ${JSON.stringify(text)}`;
    try {
      for (const d of readEnvFile(text, `/home/user/proj/${name}`, fakeHost()).diagnostics) {
        assert.ok(d.start >= 0 && d.start <= d.end && d.end <= text.length, `offsets ${d.start}-${d.end} of ${text.length}`);
      }
      const diags = service.validate(doc);
      if (diags.length) withErrors++;
      for (const d of diags) inside(doc, d.range, `diagnostic ${d.code}`);
      const pos = doc.positionAt(Math.floor(rnd() * (text.length + 1)));
      for (const c of service.complete(doc, pos).items) {
        const edit = c.textEdit as { range: Range } | undefined;
        if (edit) inside(doc, edit.range, `completion ${c.label}`);
      }
      const h = service.hover(doc, pos);
      if (h?.range) inside(doc, h.range, 'hover');
      const edits = service.format(doc);
      for (const e of edits) inside(doc, e.range, 'format');
      if (edits.length) {
        // Formatting never changes what the file means.
        const formatted = TextDocument.applyEdits(doc, edits);
        const before = readEnvFile(text, `/home/user/proj/${name}`, fakeHost());
        const after = readEnvFile(formatted, `/home/user/proj/${name}`, fakeHost());
        assert.deepEqual(after.spec, before.spec, `formatting changed the env:\n${formatted}`);
        assert.deepEqual(after.diagnostics.map((d) => d.code).sort(), before.diagnostics.map((d) => d.code).sort());
      }
      for (const a of service.codeActions(doc, { start: pos, end: pos })) {
        for (const e of Object.values(a.edit?.changes ?? {}).flat()) inside(doc, e.range, `action ${a.title}`);
      }
      const walk = (syms: ReturnType<typeof service.symbols>): void => {
        for (const s of syms) {
          inside(doc, s.range, `symbol ${s.name}`);
          inside(doc, s.selectionRange, `symbol ${s.name} selection`);
          walk(s.children ?? []);
        }
      };
      walk(service.symbols(doc));
    } catch (e) {
      throw new Error(`${context}\n${(e as Error).stack}`);
    }
  }
  // The mutations must actually break files, or this test proves little.
  assert.ok(withErrors > CASES / 2, `only ${withErrors} of ${CASES} mutants had findings`);
});
