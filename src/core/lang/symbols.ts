// The outline of a crossroot.toml (document symbols): tables, [[mount]] items named by their
// target, and keys with their values as detail, over the ranged tree the reader built.
import { DocumentSymbol, Range, SymbolKind } from 'vscode-languageserver-types';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { findEntry, type TomlEntry, type TomlTable, type TomlValue } from '../envfile/tree';

export function documentSymbols(doc: TextDocument, root: TomlTable): DocumentSymbol[] {
  const text = doc.getText();
  const range = (a: number, b: number): Range => Range.create(doc.positionAt(a), doc.positionAt(b));

  const extent = (v: TomlValue, from: number): [number, number] => {
    let [a, b] = [Math.min(from, v.start), v.end];
    if (v.type === 'table') for (const e of v.entries) { const [c, d] = extent(e.value, e.keyStart); a = Math.min(a, c); b = Math.max(b, d); }
    if (v.type === 'array') for (const i of v.items) { const [c, d] = extent(i, i.start); a = Math.min(a, c); b = Math.max(b, d); }
    return [a, b];
  };

  const symbol = (name: string, e: { start: number; end: number; selStart: number; selEnd: number }, kind: SymbolKind, children: DocumentSymbol[], detail?: string): DocumentSymbol => {
    const s = DocumentSymbol.create(name || '""', detail, kind, range(e.start, e.end), range(e.selStart, e.selEnd), children);
    if (detail === undefined) delete s.detail;
    return s;
  };

  const entries = (t: TomlTable): DocumentSymbol[] => t.entries.map((e) => entrySymbol(e));

  const entrySymbol = (e: TomlEntry): DocumentSymbol => {
    const [start, end] = extent(e.value, e.keyStart);
    const at = { start, end, selStart: e.keyStart, selEnd: e.keyEnd };
    const v = e.value;
    if (v.type === 'table') return symbol(e.key, at, SymbolKind.Namespace, entries(v));
    if (v.type === 'array' && v.items.some((i) => i.type === 'table')) {
      const items = v.items.map((item, n) => {
        const [a, b] = extent(item, item.start);
        const target = item.type === 'table' ? findEntry(item, 'target')?.value : undefined;
        const name = target?.type === 'string' ? target.value : `${e.key}[${n}]`;
        const sel = item.type === 'table' ? [item.anchorStart, item.anchorEnd] : [item.start, item.end];
        return symbol(name, { start: a, end: b, selStart: sel[0]!, selEnd: sel[1]! }, SymbolKind.Object, item.type === 'table' ? entries(item) : []);
      });
      return symbol(e.key, at, SymbolKind.Array, items);
    }
    const shown = text.slice(v.start, v.end).replace(/\s+/g, ' ');
    return symbol(e.key, at, v.type === 'array' ? SymbolKind.Array : SymbolKind.Property, [], shown.length > 60 ? shown.slice(0, 57) + '…' : shown);
  };

  return entries(root);
}
