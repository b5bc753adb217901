import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import oniguruma from 'vscode-oniguruma';
import textmate from 'vscode-textmate';
import { ROOT } from '../../lib/harness';

// The grammar VS Code uses for crossroot.toml, run through VS Code's own TextMate engine.
async function tokenizer(): Promise<(text: string) => { text: string; scopes: string[] }[][]> {
  const require = createRequire(import.meta.url);
  const wasm = readFileSync(path.join(path.dirname(require.resolve('vscode-oniguruma')), 'onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({ createOnigScanner: (s) => new oniguruma.OnigScanner(s), createOnigString: (s) => new oniguruma.OnigString(s) }),
    loadGrammar: async () => textmate.parseRawGrammar(readFileSync(path.join(ROOT, 'syntaxes/toml.tmLanguage.json'), 'utf8'), 'toml.tmLanguage.json'),
  });
  const grammar = (await registry.loadGrammar('source.toml.crossroot'))!;
  return (text) => {
    let stack = textmate.INITIAL;
    return text.split('\n').map((line) => {
      const r = grammar.tokenizeLine(line, stack);
      stack = r.ruleStack;
      return r.tokens.map((t) => ({ text: line.slice(t.startIndex, t.endIndex), scopes: t.scopes.slice(1) }));
    });
  };
}

/** The innermost scope of each non-blank token of a line: "text=scope". */
function scopesOf(line: { text: string; scopes: string[] }[]): string[] {
  return line.filter((t) => t.text.trim()).map((t) => `${t.text.trim()}=${t.scopes.at(-1) ?? ''}`);
}

test('crossroot.toml is coloured as TOML: keys, strings, tables, arrays, comments, numbers', async () => {
  const tokenize = await tokenizer();
  const lines = tokenize([
    'name = "firmware"   # the env',
    '[setup]',
    'packages = ["gcc", \'make\']',
    '[[mount]]',
    'limits.memory = 0x1F_00',
    'ok = true',
    "run = '''",
    'echo "#not a comment"',
    "'''",
    'when = 1979-05-27T07:32:00Z',
    'env = { CC = "gcc\\t", N = -3.5e2 }',
  ].join('\n'));
  assert.deepEqual(scopesOf(lines[0]!), ['name=support.type.property-name.toml', '==punctuation.eq.toml', '"=punctuation.definition.string.begin.toml',
    'firmware=string.quoted.single.basic.line.toml', '"=punctuation.definition.string.end.toml', '#=punctuation.definition.comment.toml', 'the env=comment.line.number-sign.toml']);
  assert.deepEqual(scopesOf(lines[1]!), ['[=punctuation.definition.table.toml', 'setup=support.type.property-name.table.toml', ']=punctuation.definition.table.toml']);
  assert.ok(scopesOf(lines[2]!).includes('gcc=string.quoted.single.basic.line.toml'));
  assert.ok(scopesOf(lines[2]!).includes('make=string.quoted.single.literal.line.toml'));
  assert.ok(scopesOf(lines[2]!).includes(',=punctuation.separator.array.toml'));
  assert.deepEqual(scopesOf(lines[3]!), ['[[=punctuation.definition.array.table.toml', 'mount=support.type.property-name.table.toml', ']]=punctuation.definition.array.table.toml']);
  assert.deepEqual(scopesOf(lines[4]!), ['limits=support.type.property-name.toml', '.=punctuation.separator.dot.toml', 'memory=support.type.property-name.toml', '==punctuation.eq.toml', '0x1F_00=constant.numeric.hex.toml']);
  assert.ok(scopesOf(lines[5]!).includes('true=constant.language.boolean.toml'));
  // Inside a multi-line literal string a # is text, not a comment.
  assert.deepEqual(scopesOf(lines[7]!), ['echo "#not a comment"=string.quoted.triple.literal.block.toml']);
  assert.ok(scopesOf(lines[9]!).includes('1979-05-27T07:32:00Z=constant.other.time.datetime.toml'));
  assert.ok(scopesOf(lines[10]!).includes('\\t=constant.character.escape.toml'));
  assert.ok(scopesOf(lines[10]!).includes('-3.5e2=constant.numeric.toml'));
  assert.ok(scopesOf(lines[10]!).includes('CC=support.type.property-name.toml'));
});

test('the grammar marks what is not TOML', async () => {
  const tokenize = await tokenizer();
  const [line] = tokenize('= "no key"');
  assert.equal(line![0]!.scopes.at(-1), 'invalid.illegal.toml');
});
