import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fieldMarkdown, referenceMarkdown, withReference } from '../../../src/core/envfile/docs';
import { Code } from '../../../src/core/envfile/diagnostics';
import { ENV_SCHEMA, type FieldSchema } from '../../../src/core/envfile/schema';
import { ROOT } from '../../lib/harness';

function* fields(s: FieldSchema, prefix: string[] = []): Generator<[string[], FieldSchema]> {
  for (const [k, f] of Object.entries(s.fields ?? {})) {
    yield [[...prefix, k], f];
    yield* fields(f, [...prefix, k]);
  }
}

test('the README env file reference matches the schema (run node scripts/gen-envfile-docs.mjs)', () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  assert.ok(readme === withReference(readme), 'README.md is out of date with src/core/envfile/schema.ts: run node scripts/gen-envfile-docs.mjs');
});

test('every key, value and diagnostic code is documented in the reference', () => {
  const ref = referenceMarkdown();
  for (const [p, f] of fields(ENV_SCHEMA)) {
    assert.ok(ref.includes(f.doc), `doc of ${p.join('.')} missing`);
    assert.ok(ref.includes(p.length === 1 ? p[0]! : `\`${p.join('.')}\``), `${p.join('.')} missing`);
    for (const v of f.values ?? []) assert.ok(ref.includes(`\`${v.value}\``), `${p.join('.')} value ${v.value} missing`);
  }
  for (const code of Object.values(Code)) assert.match(ref, new RegExp(`\\| ${code} \\|`));
});

test('hover text for a key is the schema text shown in the README', () => {
  const f = ENV_SCHEMA.fields!.network!.fields!.mode!;
  const hover = fieldMarkdown(['network', 'mode'], f);
  assert.match(hover, /^\*\*network\.mode\*\* · a string\n\nWhether the env shares the host's network\. [^\n]+\n\nDefault: "host"\.\n\nOne of:\n- `host`: /);
  assert.ok(referenceMarkdown().includes(f.doc));
});
