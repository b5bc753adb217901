// crossroot.toml as a tree of tables keyed by name, every key and value with its source range.
// toml-eslint-parser does the TOML; this folds dotted keys, [headers] and [[arrays]] into tables.
import { parseTOML, type AST } from 'toml-eslint-parser';

export interface TomlTable {
  type: 'table';
  entries: TomlEntry[];
  start: number;
  end: number;
  /** Where to point at the table as a whole: its header key, or the inline table. */
  anchorStart: number;
  anchorEnd: number;
  /** Written as `[name]` (as opposed to inline, dotted or implied by a deeper header). */
  header: boolean;
}
export interface TomlArray { type: 'array'; items: TomlValue[]; start: number; end: number; ofTables: boolean }
export type TomlScalar =
  | { type: 'string'; value: string; start: number; end: number }
  | { type: 'integer' | 'float'; value: number; start: number; end: number }
  | { type: 'boolean'; value: boolean; start: number; end: number }
  | { type: 'datetime'; value: string; start: number; end: number };
export type TomlValue = TomlTable | TomlArray | TomlScalar;

export interface TomlEntry {
  key: string;
  keyStart: number;
  keyEnd: number;
  value: TomlValue;
}

export interface TomlSyntaxError { message: string; offset: number }

export function parseTomlTree(text: string): { tree: TomlTable } | { error: TomlSyntaxError } {
  let ast: AST.TOMLProgram;
  try {
    ast = parseTOML(text, { tomlVersion: '1.0' });
  } catch (e) {
    const err = e as { message?: string; index?: number };
    return { error: { message: String(err.message ?? e), offset: Math.max(0, Math.min(err.index ?? 0, text.length)) } };
  }
  const root = newTable(0, text.length, 0, 0, false);
  for (const node of ast.body[0].body) {
    if (node.type === 'TOMLKeyValue') insertKeyValue(root, node);
    else insertTable(root, node);
  }
  return { tree: root };
}

export function findEntry(table: TomlTable, key: string): TomlEntry | undefined {
  return table.entries.find((e) => e.key === key);
}

function newTable(start: number, end: number, anchorStart: number, anchorEnd: number, header: boolean): TomlTable {
  return { type: 'table', entries: [], start, end, anchorStart, anchorEnd, header };
}

interface KeyPart { name: string; start: number; end: number }

function keyParts(key: AST.TOMLKey): KeyPart[] {
  return key.keys.map((k) => ({ name: k.type === 'TOMLBare' ? k.name : k.value, start: k.range[0], end: k.range[1] }));
}

/** The table under `part`, created (implied) when absent; for [[arrays]] the latest element. */
function child(t: TomlTable, part: KeyPart): TomlTable {
  const e = findEntry(t, part.name);
  if (e?.value.type === 'table') return e.value;
  if (e?.value.type === 'array') {
    const last = e.value.items[e.value.items.length - 1];
    if (last?.type === 'table') return last;
  }
  // The parser rejects redefinitions, so a non-table here cannot happen; stay total anyway.
  const created = newTable(part.start, part.end, part.start, part.end, false);
  if (!e) t.entries.push({ key: part.name, keyStart: part.start, keyEnd: part.end, value: created });
  return created;
}

function insertKeyValue(t: TomlTable, kv: AST.TOMLKeyValue): void {
  const parts = keyParts(kv.key);
  let cur = t;
  for (const p of parts.slice(0, -1)) cur = child(cur, p);
  const last = parts[parts.length - 1]!;
  cur.entries.push({ key: last.name, keyStart: last.start, keyEnd: last.end, value: convert(kv.value) });
}

function insertTable(root: TomlTable, node: AST.TOMLTable): void {
  const parts = keyParts(node.key);
  let cur = root;
  for (const p of parts.slice(0, -1)) cur = child(cur, p);
  const last = parts[parts.length - 1]!;
  const [start, end] = node.range;
  let table: TomlTable;
  if (node.kind === 'array') {
    let e = findEntry(cur, last.name);
    if (!e || e.value.type !== 'array') {
      e = { key: last.name, keyStart: last.start, keyEnd: last.end, value: { type: 'array', items: [], start, end, ofTables: true } };
      cur.entries.push(e);
    }
    const arr = e.value as TomlArray;
    table = newTable(start, end, last.start, last.end, true);
    arr.items.push(table);
    arr.end = end;
  } else {
    const e = findEntry(cur, last.name);
    if (e?.value.type === 'table') {
      // Implied earlier by a deeper header such as [a.b]; now defined.
      table = e.value;
      Object.assign(table, { start, end, anchorStart: last.start, anchorEnd: last.end, header: true });
      e.keyStart = last.start;
      e.keyEnd = last.end;
    } else {
      table = newTable(start, end, last.start, last.end, true);
      cur.entries.push({ key: last.name, keyStart: last.start, keyEnd: last.end, value: table });
    }
  }
  for (const kv of node.body) insertKeyValue(table, kv);
}

function convert(n: AST.TOMLContentNode): TomlValue {
  const [start, end] = n.range;
  if (n.type === 'TOMLArray') return { type: 'array', items: n.elements.map(convert), start, end, ofTables: false };
  if (n.type === 'TOMLInlineTable') {
    const t = newTable(start, end, start, end, false);
    for (const kv of n.body) insertKeyValue(t, kv);
    return t;
  }
  switch (n.kind) {
    case 'string': return { type: 'string', value: n.value, start, end };
    case 'integer': return { type: 'integer', value: n.value, start, end };
    case 'float': return { type: 'float', value: n.value, start, end };
    case 'boolean': return { type: 'boolean', value: n.value, start, end };
    default: return { type: 'datetime', value: n.datetime, start, end };
  }
}
