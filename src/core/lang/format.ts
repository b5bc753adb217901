// Formats crossroot.toml without losing a comment: `key = value` spacing, no indentation
// before keys and headers, no trailing spaces, one blank line before each table, one final newline.
import { parseTOML, type AST } from 'toml-eslint-parser';

/** The formatted text, or undefined when the text is not valid TOML (nothing is touched then). */
export function formatToml(text: string): string | undefined {
  let ast: AST.TOMLProgram;
  try {
    ast = parseTOML(text, { tomlVersion: '1.0' });
  } catch {
    return undefined;
  }
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const parts = text.split('\n');
  const raw = parts.map((l) => l.replace(/\r$/, ''));
  const starts: number[] = [];
  for (let i = 0, s = 0; i < parts.length; s += parts[i]!.length + 1, i++) starts.push(s);
  const lineOf = (offset: number): number => {
    let lo = 0, hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid; else hi = mid - 1;
    }
    return lo;
  };
  const col = (offset: number): number => offset - starts[lineOf(offset)]!;

  // Lines inside multi-line strings are content: left exactly as they are, line ends included.
  const verbatim = new Set<number>();
  const keepEnd = new Set<number>();
  for (const t of ast.tokens) {
    if (t.type === 'MultiLineBasicString' || t.type === 'MultiLineLiteralString') {
      for (let l = lineOf(t.range[0]); l < lineOf(t.range[1]); l++) { verbatim.add(l + 1); keepEnd.add(l); }
    }
  }
  const ending = (i: number): string => (keepEnd.has(i) && parts[i]!.endsWith('\r') ? '\r\n' : keepEnd.has(i) ? '\n' : eol);
  const headers = new Set<number>();
  // Per line: [fromCol, toCol, replacement], applied right to left.
  const edits = new Map<number, [number, number, string][]>();
  const edit = (line: number, from: number, to: number, s: string): void => {
    if (!edits.has(line)) edits.set(line, []);
    edits.get(line)!.push([from, to, s]);
  };
  const keyValue = (kv: AST.TOMLKeyValue): void => {
    const l = lineOf(kv.range[0]);
    if (verbatim.has(l)) return;
    edit(l, 0, col(kv.range[0]), '');
    if (lineOf(kv.value.range[0]) === lineOf(kv.key.range[1])) edit(l, col(kv.key.range[1]), col(kv.value.range[0]), ' = ');
  };
  for (const node of ast.body[0].body) {
    if (node.type === 'TOMLKeyValue') { keyValue(node); continue; }
    const l = lineOf(node.range[0]);
    headers.add(l);
    edit(l, 0, col(node.range[0]), '');
    node.body.forEach(keyValue);
  }

  const out: string[] = [];
  // The line end after each output line; a blank line inserted before a header gets `eol`.
  const ends: string[] = [];
  const push = (s: string, end: string): void => { out.push(s); ends.push(end); };
  const blank = (s: string | undefined): boolean => s !== undefined && s.trim() === '';
  raw.forEach((line, i) => {
    if (verbatim.has(i)) { push(line, ending(i)); return; }
    let s = line;
    for (const [from, to, r] of (edits.get(i) ?? []).sort((a, b) => b[0] - a[0])) s = s.slice(0, from) + r + s.slice(to);
    s = s.trimEnd();
    if (s === '') {
      if (out.length > 0 && !blank(out[out.length - 1])) push('', eol);
      return;
    }
    if (headers.has(i)) {
      // Keep the comment block right above a header attached to it; separate the block.
      let top = out.length;
      while (top > 0 && /^\s*#/.test(out[top - 1]!)) top--;
      if (top > 0 && !blank(out[top - 1])) { out.splice(top, 0, ''); ends.splice(top, 0, eol); }
    }
    push(s, ending(i));
  });
  while (out.length > 0 && blank(out[out.length - 1])) { out.pop(); ends.pop(); }
  return out.map((l, i) => l + (i === out.length - 1 ? eol : ends[i])).join('');
}
