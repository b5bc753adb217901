// Where the cursor is in a crossroot.toml, read from the text around it (not the parse tree),
// so completion and hover keep working while the file is half-typed and not valid TOML.

export type CursorContext =
  /** Typing a table header: `[se|` or `[[mo|`. */
  | { kind: 'header'; replaceFrom: number }
  /** Typing a key at the start of a line inside table `table`. */
  | { kind: 'key'; table: string[]; replaceFrom: number; present: Set<string>; sourceKind?: string }
  /** Typing the value of `table.key`; `quoted` when inside a string. */
  | { kind: 'value'; table: string[]; key: string[]; replaceFrom: number; quoted: boolean; partial: string }
  | { kind: 'none' };

const HEADER = /^\s*\[\[?\s*([^\]#]*?)\s*\]\]?/;
const KEY_VALUE = /^\s*([A-Za-z0-9_\-."' ]+?)\s*=/;

export function splitKey(key: string): string[] {
  return key.split('.').map((p) => p.trim().replace(/^["']|["']$/g, ''));
}

interface Line { text: string; start: number }

function lines(text: string): Line[] {
  const out: Line[] = [];
  let start = 0;
  for (const l of text.split('\n')) {
    out.push({ text: l.replace(/\r$/, ''), start });
    start += l.length + 1;
  }
  return out;
}

function lineIndexAt(ls: Line[], offset: number): number {
  let i = 0;
  while (i + 1 < ls.length && ls[i + 1]!.start <= offset) i++;
  return i;
}

/** The table a line belongs to: the nearest header above it. */
function tableOf(ls: Line[], index: number): { path: string[]; headerIndex: number } {
  for (let i = index - 1; i >= 0; i--) {
    const m = HEADER.exec(ls[i]!.text);
    if (m) return { path: splitKey(m[1]!), headerIndex: i };
  }
  return { path: [], headerIndex: -1 };
}

/** Keys already written in the table whose header is at headerIndex. */
function keysOf(ls: Line[], headerIndex: number, skip: number): { present: Set<string>; kind?: string } {
  const present = new Set<string>();
  let kind: string | undefined;
  for (let i = headerIndex + 1; i < ls.length; i++) {
    if (HEADER.test(ls[i]!.text)) break;
    if (i === skip) continue;
    const m = KEY_VALUE.exec(ls[i]!.text);
    if (!m) continue;
    const key = splitKey(m[1]!)[0]!;
    present.add(key);
    const k = /^\s*kind\s*=\s*["']([^"']*)["']/.exec(ls[i]!.text);
    if (k) kind = k[1];
  }
  return { present, ...(kind !== undefined ? { kind } : {}) };
}

/** True when lines after the table header leave an array or inline table open (a multi-line value). */
function insideOpenValue(ls: Line[], headerIndex: number, index: number): boolean {
  let depth = 0;
  const count = (s: string): void => {
    // Brackets inside strings and comments do not count.
    const code = s.replace(/"(?:[^"\\]|\\.)*"|'[^']*'/g, '').replace(/#.*/, '');
    for (const c of code) {
      if (c === '[' || c === '{') depth++;
      else if (c === ']' || c === '}') depth = Math.max(0, depth - 1);
    }
  };
  for (let i = headerIndex + 1; i < index; i++) count(ls[i]!.text);
  return depth > 0;
}

export function cursorContext(text: string, offset: number): CursorContext {
  const ls = lines(text);
  const i = lineIndexAt(ls, offset);
  const line = ls[i]!;
  const before = line.text.slice(0, offset - line.start);
  if (before.includes('#')) return { kind: 'none' };
  if (/^\s*\[/.test(before) && !before.includes(']')) {
    return { kind: 'header', replaceFrom: line.start + before.search(/\[/) };
  }
  const { path, headerIndex } = tableOf(ls, i);
  const key = /^\s*([A-Za-z0-9_\-.]*)$/.exec(before);
  if (key && insideOpenValue(ls, headerIndex, i)) return { kind: 'none' };
  if (key) {
    const { present, kind } = keysOf(ls, headerIndex, i);
    return { kind: 'key', table: path, replaceFrom: offset - key[1]!.length, present, ...(kind !== undefined ? { sourceKind: kind } : {}) };
  }
  const kv = /^\s*([A-Za-z0-9_\-."' ]+?)\s*=\s*(.*)$/.exec(before);
  if (kv) {
    const rest = kv[2]!;
    // Inside an array, the value being typed starts after the last `[` or `,`.
    const item = /(?:^|[[,])\s*("?)([^",[\]]*)$/.exec(rest);
    if (!item) return { kind: 'none' };
    const quoted = item[1] === '"';
    const partial = item[2]!;
    return { kind: 'value', table: path, key: splitKey(kv[1]!), replaceFrom: offset - partial.length - (quoted ? 1 : 0), quoted, partial };
  }
  return { kind: 'none' };
}

/** What the cursor is over, for hover: a key path, and the string value when on one. */
export function hoverTarget(text: string, offset: number): { path: string[]; value?: string; start: number; end: number } | undefined {
  const ls = lines(text);
  const i = lineIndexAt(ls, offset);
  const line = ls[i]!;
  const col = offset - line.start;
  const header = HEADER.exec(line.text);
  if (header) {
    // Hovering `mount` in `[[mount]]` or `source` in `[a.source]`: the parts up to the cursor.
    const open = line.text.indexOf(header[1]!);
    const parts = splitKey(header[1]!);
    let pos = open;
    for (let p = 0; p < parts.length; p++) {
      const end = line.text.indexOf(parts[p]!, pos) + parts[p]!.length;
      if (col <= end || p === parts.length - 1) return { path: parts.slice(0, p + 1), start: line.start + open, end: line.start + end };
      pos = end;
    }
    return undefined;
  }
  const kv = KEY_VALUE.exec(line.text);
  if (!kv) return undefined;
  const { path: table } = tableOf(ls, i);
  const keyStart = line.text.indexOf(kv[1]!);
  const keyEnd = keyStart + kv[1]!.length;
  const path = [...table, ...splitKey(kv[1]!)];
  if (col >= keyStart && col <= keyEnd) return { path, start: line.start + keyStart, end: line.start + keyEnd };
  // A string value under the cursor (arrays included).
  const re = /"([^"\\]*)"/g;
  for (let m = re.exec(line.text); m; m = re.exec(line.text)) {
    if (m.index < keyEnd) continue;
    if (col >= m.index && col <= m.index + m[0].length) return { path, value: m[1]!, start: line.start + m.index, end: line.start + m.index + m[0].length };
  }
  return col > keyEnd ? { path, start: line.start + keyStart, end: line.start + keyEnd } : undefined;
}
