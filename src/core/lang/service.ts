// The env file language service: validate, complete, hover, format, code actions, symbols.
// A plain object over TextDocuments with no LSP connection, so tests drive it with strings.
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import {
  CodeAction, CodeActionKind, CompletionItem, CompletionItemKind, Diagnostic, DiagnosticSeverity,
  InsertTextFormat, MarkupKind, Range, TextEdit, type CompletionList, type DocumentSymbol, type Hover, type Position,
} from 'vscode-languageserver-types';
import type { TextDocument } from 'vscode-languageserver-textdocument';
// The ESM build: esbuild cannot follow the UMD build's dynamic requires.
import { getLocation } from 'jsonc-parser/lib/esm/main.js';
import { parseArch } from '../arch';
import { devcontainerPropertyDoc } from '../envfile/devcontainer';
import { DIAGNOSTIC_SOURCE, type EnvDiagnostic } from '../envfile/diagnostics';
import { isDockerfileName, parseDockerfile } from '../envfile/dockerfile';
import { fieldMarkdown, valueMarkdown } from '../envfile/docs';
import { nativeArch, nodeHost, type EnvHost } from '../envfile/host';
import { devcontainersBuilding, envFileKind, readEnvFile } from '../envfile/load';
import { ENV_SCHEMA, schemaAt, type FieldSchema } from '../envfile/schema';
import { findEntry, type TomlTable } from '../envfile/tree';
import type { EnvFileResult } from '../envfile/toml';
import { lockedImage, readLockfile, type Lockfile } from '../lockfile';
import { parseImageRef } from '../image/ref';
import { cursorContext, hoverTarget } from './context';
import { formatToml } from './format';
import { documentSymbols } from './symbols';

export interface LanguageServiceOptions {
  host?: EnvHost;
  /** crossroot.lock of a folder; defaults to reading it from disk. */
  readLockfile?: (dir: string) => Lockfile | undefined;
}

export interface LanguageService {
  validate(doc: TextDocument): Diagnostic[];
  complete(doc: TextDocument, pos: Position): CompletionList;
  hover(doc: TextDocument, pos: Position): Hover | null;
  /** Whole-document edits; empty when the text is already formatted or is not valid TOML. */
  format(doc: TextDocument): TextEdit[];
  codeActions(doc: TextDocument, range: Range): CodeAction[];
  symbols(doc: TextDocument): DocumentSymbol[];
  /** The host's answers changed (the helper's arch answer arrived): validate anew from the next request. */
  hostChanged(): void;
}

/** The file path a document stands for; unsaved documents keep their name. */
export function documentPath(uri: string): string {
  if (uri.startsWith('file:')) return fileURLToPath(uri);
  const p = decodeURIComponent(uri.replace(/^[a-z][a-z0-9+.-]*:(\/\/[^/]*)?/i, ''));
  return path.resolve('/', p || 'crossroot.toml');
}

const SEVERITY = { error: DiagnosticSeverity.Error, warning: DiagnosticSeverity.Warning, info: DiagnosticSeverity.Information } as const;

export function createLanguageService(opts: LanguageServiceOptions = {}): LanguageService {
  const host = opts.host ?? nodeHost;
  const lockOf = opts.readLockfile ?? ((dir: string) => {
    // A damaged lock shows up in `crossroot lock`; here it just means nothing to pin to.
    try { return readLockfile(dir); } catch { return undefined; }
  });
  // Validation is the expensive part and every request needs it: keep the last result per document version.
  const cache = new Map<string, { version: number; result: EnvFileResult }>();

  const read = (doc: TextDocument): EnvFileResult => {
    const hit = cache.get(doc.uri);
    if (hit && hit.version === doc.version) return hit.result;
    // A devcontainer's Dockerfile: its problems at their instruction (what `build` would refuse).
    // Only for one a devcontainer builds (or one in a .devcontainer folder): a production
    // Dockerfile elsewhere in the project may well use what Crossroot does not build.
    const file = documentPath(doc.uri);
    const result = isDockerfileName(file)
      ? { diagnostics: file.split(path.sep).includes('.devcontainer') || devcontainersBuilding(file, host).length ? parseDockerfile(doc.getText()).diagnostics : [] }
      : readEnvFile(doc.getText(), file, host);
    cache.set(doc.uri, { version: doc.version, result });
    if (cache.size > 50) cache.delete(cache.keys().next().value!);
    return result;
  };

  const toLsp = (doc: TextDocument, d: EnvDiagnostic): Diagnostic => {
    return Diagnostic.create(Range.create(doc.positionAt(d.start), doc.positionAt(d.end)), d.message, SEVERITY[d.severity], d.code, DIAGNOSTIC_SOURCE);
  };

  const isToml = (doc: TextDocument): boolean => envFileKind(documentPath(doc.uri)) !== 'devcontainer';

  return {
    validate: (doc) => read(doc).diagnostics.map((d) => toLsp(doc, d)),

    hostChanged: () => cache.clear(),

    complete(doc, pos) {
      const items: CompletionItem[] = [];
      if (!isToml(doc)) return { isIncomplete: false, items };
      const text = doc.getText();
      const offset = doc.offsetAt(pos);
      const ctx = cursorContext(text, offset);
      const replace = (from: number): Range => Range.create(doc.positionAt(from), pos);
      if (ctx.kind === 'header' || (ctx.kind === 'key' && ctx.table.length === 0)) {
        // A [table] may appear once; [[mount]] any number of times.
        const written = new Set([...text.matchAll(/^\s*\[\s*([\w-]+)\s*\]/gm)].map((m) => m[1]));
        for (const [key, f] of Object.entries(ENV_SCHEMA.fields!)) {
          if (f.type !== 'table' && f.type !== 'table-array' && f.type !== 'string-map') continue;
          if (written.has(key)) continue;
          const label = f.type === 'table-array' ? `[[${key}]]` : `[${key}]`;
          const item = CompletionItem.create(label);
          item.kind = CompletionItemKind.Module;
          item.documentation = { kind: MarkupKind.Markdown, value: fieldMarkdown([key], f) };
          item.textEdit = TextEdit.replace(replace(ctx.replaceFrom), label);
          item.filterText = label;
          item.sortText = `2${key}`;
          items.push(item);
        }
      }
      if (ctx.kind === 'key') {
        const table = schemaAt(ctx.table);
        for (const [key, f] of Object.entries(table?.fields ?? {})) {
          if (ctx.present.has(key)) continue;
          if (ctx.table.length === 0 && f.type !== 'string' && f.type !== 'integer' && f.type !== 'boolean') continue;
          if (f.kinds && ctx.sourceKind && !f.kinds.includes(ctx.sourceKind as never)) continue;
          const item = CompletionItem.create(key);
          item.kind = CompletionItemKind.Property;
          if (f.required) item.detail = 'required';
          item.documentation = { kind: MarkupKind.Markdown, value: fieldMarkdown([...ctx.table, key], f) };
          item.textEdit = TextEdit.replace(replace(ctx.replaceFrom), `${key} = ${valueSnippet(f)}`);
          item.insertTextFormat = InsertTextFormat.Snippet;
          item.sortText = `${f.required ? 0 : 1}${key}`;
          items.push(item);
        }
      }
      if (ctx.kind === 'value') {
        const f = schemaAt([...ctx.table, ...ctx.key]);
        const values = f?.type === 'boolean'
          ? [{ value: 'true', doc: '' }, { value: 'false', doc: '' }]
          : f?.values ?? [];
        for (const v of values) {
          const item = CompletionItem.create(v.value);
          item.kind = CompletionItemKind.Value;
          if (v.doc) item.documentation = { kind: MarkupKind.Markdown, value: v.doc };
          const bare = f?.type === 'boolean';
          // Swallow the closing quote editors auto-insert after the cursor.
          const closing = ctx.quoted && text[offset] === '"' ? 1 : 0;
          item.textEdit = TextEdit.replace(Range.create(doc.positionAt(ctx.replaceFrom), doc.positionAt(offset + closing)), bare ? v.value : `"${v.value}"`);
          item.filterText = ctx.quoted ? `"${v.value}"` : v.value;
          items.push(item);
        }
      }
      return { isIncomplete: false, items };
    },

    hover(doc, pos) {
      if (!isToml(doc)) return devcontainerHover(doc, pos);
      const t = hoverTarget(doc.getText(), doc.offsetAt(pos));
      if (!t) return null;
      const f = schemaAt(t.path);
      if (!f) return null;
      let value = fieldMarkdown(t.path, f);
      if (t.value !== undefined) {
        const archValue = t.path.length === 1 && t.path[0] === 'arch' ? parseArch(t.value)?.name : undefined;
        value = valueMarkdown(t.path, f, archValue ?? t.value) ?? value;
      }
      return { contents: { kind: MarkupKind.Markdown, value }, range: Range.create(doc.positionAt(t.start), doc.positionAt(t.end)) };
    },

    format(doc) {
      if (!isToml(doc)) return [];
      const text = doc.getText();
      const formatted = formatToml(text);
      if (formatted === undefined || formatted === text) return [];
      return [TextEdit.replace(Range.create(doc.positionAt(0), doc.positionAt(text.length)), formatted)];
    },

    codeActions(doc, range) {
      const r = read(doc);
      const from = doc.offsetAt(range.start);
      const to = doc.offsetAt(range.end);
      const actions: CodeAction[] = [];
      for (const d of r.diagnostics) {
        if (!d.fix || d.end < from || d.start > to) continue;
        const lsp = toLsp(doc, d);
        const a = CodeAction.create(d.fix.title, { changes: { [doc.uri]: [TextEdit.replace(lsp.range, d.fix.text)] } }, CodeActionKind.QuickFix);
        a.diagnostics = [lsp];
        a.isPreferred = true;
        actions.push(a);
      }
      if (r.tree) {
        const pin = pinAction(doc, r.tree, from, to, lockOf, host);
        if (pin) actions.push(pin);
      }
      return actions;
    },

    symbols(doc) {
      const r = read(doc);
      return r.tree ? documentSymbols(doc, r.tree) : [];
    },
  };
}

/** On a top-level devcontainer.json key: whether and how Crossroot honours it. */
function devcontainerHover(doc: TextDocument, pos: Position): Hover | null {
  const loc = getLocation(doc.getText(), doc.offsetAt(pos));
  const key = loc.previousNode;
  if (!loc.isAtPropertyKey || loc.path.length !== 1 || !key) return null;
  const value = devcontainerPropertyDoc(String(loc.path[0]));
  return value ? { contents: { kind: MarkupKind.Markdown, value }, range: Range.create(doc.positionAt(key.offset), doc.positionAt(key.offset + key.length)) } : null;
}

function valueSnippet(f: FieldSchema): string {
  switch (f.type) {
    case 'string': return f.values ? `"\${1|${f.values.map((v) => v.value).join(',')}|}"` : '"$1"';
    case 'boolean': return '${1|true,false|}';
    case 'string-array': return '[$1]';
    case 'integer': return '$1';
    case 'size': return '"$1"';
    default: return '$1';
  }
}

/** "Pin image to its digest": `image = "repo:tag"` → `"repo:tag@sha256:…"` from crossroot.lock. */
function pinAction(doc: TextDocument, tree: TomlTable, from: number, to: number, lockOf: (dir: string) => Lockfile | undefined, host: EnvHost): CodeAction | undefined {
  const source = findEntry(tree, 'source')?.value;
  const entry = findEntry(tree, 'image') ?? (source?.type === 'table' ? findEntry(source, 'ref') : undefined);
  const v = entry?.value;
  if (!entry || v?.type !== 'string' || entry.keyStart > to || v.end < from) return undefined;
  let ref;
  try { ref = parseImageRef(v.value); } catch { return undefined; }
  if (ref.digest) return undefined;
  const archValue = findEntry(tree, 'arch')?.value;
  const arch = (archValue?.type === 'string' ? parseArch(archValue.value)?.name : undefined) ?? nativeArch(host);
  const locked = lockedImage(lockOf(path.dirname(documentPath(doc.uri))), v.value, arch);
  const title = 'Pin image to its digest from crossroot.lock';
  if (!locked) {
    const a = CodeAction.create(title, CodeActionKind.RefactorRewrite);
    a.disabled = { reason: `crossroot.lock has no ${arch} entry for ${v.value}; run \`crossroot lock\` first` };
    return a;
  }
  const digest = locked.index ?? locked.manifest;
  const range = Range.create(doc.positionAt(v.start), doc.positionAt(v.end));
  return CodeAction.create(`${title} (${digest.slice(0, 19)}…)`, { changes: { [doc.uri]: [TextEdit.replace(range, JSON.stringify(`${v.value}@${digest}`))] } }, CodeActionKind.RefactorRewrite);
}
