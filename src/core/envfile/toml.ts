// Reads crossroot.toml into an EnvSpec: TOML syntax, then the schema (schema.ts), then what
// only makes sense as a whole (arch, sources, paths, mounts). Every finding has an exact range.
import path from 'node:path';
import { ARCHES, type ArchName } from '../arch';
import type { Source, TomlSourceKind } from '../source';
import { checkArch, checkImageRef, checkInsidePath, normalizeInsidePath, shownValue, MountList, type Report } from './checks';
import { Code, closest, hasErrors, type EnvDiagnostic } from './diagnostics';
import { nativeArch, nodeHost, type EnvHost } from './host';
import { ENV_SCHEMA, typeName, type FieldSchema } from './schema';
import { DEFAULT_WORKSPACE_PATH, emptyLifecycle, envNameFrom, parseDuration, type EnvSpec, type Mount } from './spec';
import { expandHostPath, substitute, type SubstitutionContext } from './substitute';
import { findEntry, parseTomlTree, type TomlEntry, type TomlTable, type TomlValue } from './tree';

export interface ReadOptions {
  /** Absolute path of the env file (need not exist: the language service reads unsaved text). */
  file: string;
  host?: EnvHost;
}

export interface EnvFileResult {
  /** Present when there are no errors. */
  spec?: EnvSpec;
  diagnostics: EnvDiagnostic[];
  /** The parsed tree, when the TOML is well-formed (symbols and code actions use it). */
  tree?: TomlTable;
  /** devcontainer.json: the Dockerfile its build names, also when something has errors (editors check that Dockerfile). */
  dockerfile?: string;
}

// Suites older than trixie, by codename and by the alias they had when this was written.
const OLD_SUITES = ['bookworm', 'bullseye', 'buster', 'oldstable', 'oldoldstable'];
const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgt])?(?:i?b)?$/i;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function readEnvToml(text: string, opts: ReadOptions): EnvFileResult {
  // A UTF-8 BOM (Windows editors write one) is read as a space, so offsets stay the editor's.
  if (text.charCodeAt(0) === 0xfeff) text = ` ${text.slice(1)}`;
  const parsed = parseTomlTree(text);
  if ('error' in parsed) {
    const { message } = parsed.error;
    let offset = parsed.error.offset;
    // "value missing at end of file" reads better on the line that lacks it than past its end.
    if (offset === text.length) while (offset > 0 && /\s/.test(text[offset - 1]!)) offset--;
    return { diagnostics: [{ code: Code.TomlSyntax, severity: 'error', message: `TOML syntax: ${message}`, start: offset, end: Math.min(offset + 1, text.length) }] };
  }
  const r = new Reader(text, opts);
  r.checkTable(parsed.tree, ENV_SCHEMA, []);
  const spec = r.build(parsed.tree);
  r.diags.sort((a, b) => a.start - b.start || a.code - b.code);
  return { ...(spec && !hasErrors(r.diags) ? { spec } : {}), diagnostics: r.diags, tree: parsed.tree };
}

function tableLabel(p: readonly string[]): string {
  return p.length === 0 ? 'at the top level' : `in [${p.join('.')}]`;
}

class Reader {
  readonly diags: EnvDiagnostic[] = [];
  /** Values that failed the schema: the semantic pass leaves them alone (one finding each). */
  private readonly invalid = new Set<TomlValue>();
  private readonly host: EnvHost;
  private readonly fileDir: string;

  constructor(private readonly text: string, private readonly opts: ReadOptions) {
    this.host = opts.host ?? nodeHost;
    this.fileDir = path.dirname(path.resolve(opts.file));
  }

  private readonly report: Report = (code, severity, message, start, end, fix) => {
    this.diags.push({ code, severity, message, start, end, ...(fix ? { fix } : {}) });
  };

  // ---- schema pass -------------------------------------------------------------------------

  checkTable(t: TomlTable, schema: FieldSchema, where: string[]): void {
    const fields = schema.fields ?? {};
    for (const e of t.entries) {
      const f = fields[e.key];
      if (!f) {
        const guess = closest(e.key, Object.keys(fields));
        const known = Object.keys(fields).join(', ');
        this.report(Code.UnknownKey, 'error',
          `unknown key "${e.key}" ${tableLabel(where)}${guess ? `; did you mean "${guess}"?` : `; known keys: ${known}`}`,
          e.keyStart, e.keyEnd, guess ? { title: `Change to "${guess}"`, text: guess } : undefined);
        this.invalid.add(e.value);
        continue;
      }
      this.checkValue(e, f, [...where, e.key]);
    }
    for (const [k, f] of Object.entries(fields)) {
      if (f.required && !findEntry(t, k)) {
        this.report(Code.MissingKey, 'error', `[${where.join('.')}] needs "${k}": ${firstSentence(f.doc)}`, t.anchorStart, t.anchorEnd);
      }
    }
  }

  private wrongType(e: TomlEntry, v: TomlValue, f: FieldSchema, where: string[]): void {
    const start = v.type === 'table' && v.header ? v.anchorStart : v.start;
    const end = v.type === 'table' && v.header ? v.anchorEnd : v.end;
    let hint = '';
    if (f.type === 'table-array' && v.type === 'table') hint = `; write [[${where.join('.')}]], one table per item`;
    else if (f.type === 'string' && (v.type === 'integer' || v.type === 'float' || v.type === 'boolean')) hint = `; quote it: "${this.text.slice(v.start, v.end)}"`;
    const fix = f.type === 'string' && (v.type === 'integer' || v.type === 'float' || v.type === 'boolean')
      ? { title: 'Quote the value', text: JSON.stringify(this.text.slice(v.start, v.end)) } : undefined;
    this.report(Code.WrongType, 'error', `"${where.join('.') || e.key}" must be ${typeName(f.type)}, not ${describe(v)}${hint}`, start, end, fix);
    this.invalid.add(v);
  }

  private checkValue(e: TomlEntry, f: FieldSchema, where: string[]): void {
    const v = e.value;
    switch (f.type) {
      case 'string':
        if (v.type !== 'string') return this.wrongType(e, v, f, where);
        return this.checkString(v, f, where);
      case 'integer':
        if (v.type !== 'integer') return this.wrongType(e, v, f, where);
        return;
      case 'boolean':
        if (v.type !== 'boolean') return this.wrongType(e, v, f, where);
        return;
      case 'size':
        if (v.type === 'integer' && v.value > 0) return;
        if (v.type === 'string' && SIZE.test(v.value.trim())) return;
        if (v.type === 'string' || v.type === 'integer') {
          this.report(Code.BadFormat, 'error', `"${where.join('.')}" = ${this.text.slice(v.start, v.end)} is not a size; write a number of bytes, or "512m", "2g" (k, m, g, t)`, v.start, v.end);
          this.invalid.add(v);
          return;
        }
        return this.wrongType(e, v, f, where);
      case 'string-array':
        if (v.type !== 'array' || v.ofTables) return this.wrongType(e, v, f, where);
        for (const item of v.items) {
          if (item.type !== 'string') {
            this.report(Code.WrongType, 'error', `items of "${where.join('.')}" must be strings, not ${describe(item)}`, item.start, item.end);
            this.invalid.add(item);
          } else if (f.format && !f.format.test.test(item.value)) {
            this.report(Code.BadFormat, 'error', `items of "${where.join('.')}" must each be ${f.format.expected}`, item.start, item.end);
            this.invalid.add(item);
          }
        }
        return;
      case 'string-map':
        if (v.type !== 'table') return this.wrongType(e, v, f, where);
        for (const m of v.entries) {
          if (m.value.type === 'string') continue;
          const scalar = m.value.type === 'integer' || m.value.type === 'float' || m.value.type === 'boolean';
          const raw = this.text.slice(m.value.start, m.value.end);
          this.report(Code.WrongType, 'error', `${where.join('.')}.${m.key} must be a string, not ${describe(m.value)}${scalar ? `; quote it: "${raw}"` : ''}`,
            m.value.start, m.value.end, scalar ? { title: 'Quote the value', text: JSON.stringify(raw) } : undefined);
          this.invalid.add(m.value);
        }
        return;
      case 'table':
        if (v.type !== 'table') return this.wrongType(e, v, f, where);
        return this.checkTable(v, f, where);
      case 'table-array':
        if (v.type !== 'array') return this.wrongType(e, v, f, where);
        for (const item of v.items) {
          if (item.type !== 'table') {
            this.report(Code.WrongType, 'error', `items of "${where.join('.')}" must be tables, not ${describe(item)}`, item.start, item.end);
            this.invalid.add(item);
          } else {
            this.checkTable(item, f, where);
          }
        }
        return;
    }
  }

  private checkString(v: Extract<TomlValue, { type: 'string' }>, f: FieldSchema, where: string[]): void {
    if (f.strict && f.values && !f.values.some((x) => x.value === v.value)) {
      const names = f.values.map((x) => x.value);
      const guess = closest(v.value, names);
      this.report(Code.NotAllowedValue, 'error',
        `"${where.join('.')}" cannot be "${v.value}"; it is one of: ${names.join(', ')}${guess ? ` (did you mean "${guess}"?)` : ''}`,
        v.start, v.end, guess ? { title: `Change to "${guess}"`, text: JSON.stringify(guess) } : undefined);
      this.invalid.add(v);
    } else if (f.format && !f.format.test.test(v.value)) {
      this.report(Code.BadFormat, 'error', `"${where.join('.')}" must be ${f.format.expected}`, v.start, v.end);
      this.invalid.add(v);
    }
  }

  // ---- semantic pass -----------------------------------------------------------------------

  /** The entry when present and well-typed. */
  private get(t: TomlTable | undefined, key: string): TomlEntry | undefined {
    const e = t && findEntry(t, key);
    return e && !this.invalid.has(e.value) ? e : undefined;
  }

  private str(t: TomlTable | undefined, key: string): (TomlEntry & { value: { type: 'string'; value: string } }) | undefined {
    const e = this.get(t, key);
    return e?.value.type === 'string' ? (e as TomlEntry & { value: { type: 'string'; value: string } }) : undefined;
  }

  private table(t: TomlTable | undefined, key: string): TomlTable | undefined {
    const v = this.get(t, key)?.value;
    return v?.type === 'table' ? v : undefined;
  }

  private strings(t: TomlTable | undefined, key: string): string[] {
    const v = this.get(t, key)?.value;
    if (v?.type !== 'array') return [];
    return v.items.flatMap((i) => (i.type === 'string' && !this.invalid.has(i) ? [i.value] : []));
  }

  private subst(ctx: SubstitutionContext, v: { value: string; start: number; end: number }, asHostPath = false): string {
    const r = asHostPath ? expandHostPath(v.value, ctx) : substitute(v.value, ctx);
    for (const p of r.problems) this.report(p.code, p.severity, p.message, v.start, v.end);
    return r.value;
  }

  /** The EnvSpec; undefined when there is no usable source (an error says why). */
  build(root: TomlTable): EnvSpec | undefined {
    const workspaceFolder = this.fileDir;
    const ctx: SubstitutionContext = { host: this.host, fileDir: this.fileDir, workspaceFolder };

    const nameE = this.str(root, 'name');
    const arch = this.arch(root);
    const source = this.source(root, ctx, arch);

    const setup = this.table(root, 'setup');
    const packages = this.strings(setup, 'packages');
    const network = this.table(root, 'network');
    const mode = (this.str(network, 'mode')?.value.value ?? 'host') as 'host' | 'none' | 'private';
    if (mode === 'none' && packages.length > 0) {
      const p = this.get(setup, 'packages')!;
      this.report(Code.OfflineSetup, 'warning', '[network] mode = "none" also applies while the env is built, so these packages cannot be downloaded; use mode = "host", or put them in the image', p.keyStart, p.keyEnd);
    }

    const wsE = this.str(this.table(root, 'workspace'), 'path');
    let wsPath = DEFAULT_WORKSPACE_PATH;
    if (wsE) {
      wsPath = this.subst(ctx, wsE.value);
      if (!wsPath.startsWith('/')) {
        this.report(Code.RelativeInsidePath, 'error', `workspace.path ${shownValue(wsE.value.value, `"${wsPath}"`)} must be an absolute path inside the env, such as "/workspace"`, wsE.value.start, wsE.value.end);
      } else {
        wsPath = normalizeInsidePath(wsPath);
        checkInsidePath(wsPath, wsE.value, 'workspace.path', this.report);
      }
    }
    const insideCtx = { ...ctx, containerWorkspaceFolder: wsPath };

    const env: Record<string, string> = {};
    const envT = this.table(root, 'env');
    for (const e of envT?.entries ?? []) {
      if (!VARIABLE_NAME.test(e.key)) this.report(Code.BadEnvName, 'warning', `"${e.key}" is not a usual variable name (letters, digits, _; not starting with a digit): shells cannot read it as $${e.key}`, e.keyStart, e.keyEnd);
      if (e.value.type === 'string' && !this.invalid.has(e.value)) env[e.key] = this.subst(insideCtx, e.value);
    }

    const shellT = this.table(root, 'shell');
    const shellE = this.str(shellT, 'path');
    if (shellE && !shellE.value.value.startsWith('/')) {
      this.report(Code.RelativeInsidePath, 'error', `shell.path "${shellE.value.value}" must be an absolute path inside the env, such as "/bin/bash"`, shellE.value.start, shellE.value.end);
    }

    const limitsT = this.table(root, 'limits');
    const limits: EnvSpec['limits'] = {};
    const mem = this.get(limitsT, 'memory')?.value;
    if (mem?.type === 'integer') limits.memoryBytes = mem.value;
    if (mem?.type === 'string') limits.memoryBytes = parseSize(mem.value);
    const pids = this.get(limitsT, 'pids')?.value;
    if (pids?.type === 'integer') {
      if (pids.value < 1) this.report(Code.BadFormat, 'error', 'limits.pids must be at least 1', pids.start, pids.end);
      else limits.pids = pids.value;
    }

    const idle = this.str(this.table(root, 'instance'), 'idle-timeout');
    const idleTimeout = idle && !this.invalid.has(idle.value) ? parseDuration(idle.value.value) : undefined;

    const native = this.get(this.table(root, 'tools'), 'native-compilers')?.value;
    const tools = native?.type === 'boolean' ? { nativeCompilers: native.value } : undefined;

    const mounts = this.mounts(root, insideCtx, wsPath);
    if (!source) return undefined;
    return {
      file: path.resolve(this.opts.file),
      workspaceFolder,
      name: nameE?.value.value ?? envNameFrom(path.basename(workspaceFolder)),
      arch,
      source,
      setup: { packages, run: this.strings(setup, 'run') },
      env,
      workspace: { path: wsPath },
      mounts,
      shell: { ...(shellE ? { path: shellE.value.value } : {}), user: this.str(shellT, 'user')?.value.value ?? 'root' },
      network: { mode },
      limits,
      ...(idleTimeout !== undefined ? { idleTimeout } : {}),
      ...(tools ? { tools } : {}),
      lifecycle: emptyLifecycle(),
      settings: {},
    };
  }

  private arch(root: TomlTable): ArchName {
    const e = this.str(root, 'arch');
    const checked = e && checkArch(e.value.value, e.value, this.host, this.report);
    return checked ?? nativeArch(this.host);
  }

  private source(root: TomlTable, ctx: SubstitutionContext, arch: ArchName): Source | undefined {
    const imageEntry = findEntry(root, 'image');
    const sourceEntry = findEntry(root, 'source');
    if (imageEntry && sourceEntry) {
      this.report(Code.ImageAndSource, 'error', 'both "image" and [source] say where the root filesystem comes from; keep one (image = "…" is short for [source] kind = "image")', imageEntry.keyStart, imageEntry.keyEnd);
      return undefined;
    }
    if (!imageEntry && !sourceEntry) {
      const firstLineEnd = this.text.indexOf('\n');
      this.report(Code.NoSource, 'error', 'the env has no root filesystem: add image = "debian:bookworm" (or any image), or a [source] table', 0, firstLineEnd < 0 ? this.text.length : firstLineEnd);
      return undefined;
    }
    const image = this.str(root, 'image');
    if (image) return this.imageRef(image.value) ? { kind: 'image', ref: image.value.value } : undefined;

    const t = this.table(root, 'source');
    const kindE = this.str(t, 'kind');
    if (!t || !kindE) return undefined;
    const kind = kindE.value.value as TomlSourceKind;
    const fields = ENV_SCHEMA.fields!.source!.fields!;
    for (const e of t.entries) {
      const kinds = fields[e.key]?.kinds;
      if (kinds && !kinds.includes(kind)) {
        this.report(Code.KeyNotForKind, 'error', `"${e.key}" does not apply to kind = "${kind}"; it is for ${kinds.map((k) => `"${k}"`).join(', ')}`, e.keyStart, e.keyEnd);
      }
    }
    const need = (key: string): void => {
      if (!findEntry(t, key)) this.report(Code.MissingKey, 'error', `[source] of kind "${kind}" needs "${key}": ${firstSentence(fields[key]!.doc)}`, t.anchorStart, t.anchorEnd);
    };
    switch (kind) {
      case 'image': {
        need('ref');
        const ref = this.str(t, 'ref');
        return ref && this.imageRef(ref.value) ? { kind, ref: ref.value.value } : undefined;
      }
      case 'debian': {
        need('suite');
        const suiteE = this.str(t, 'suite');
        if (!suiteE) return undefined;
        const suite = suiteE.value.value;
        if (ARCHES[arch].minSuite === 'trixie' && OLD_SUITES.includes(suite)) {
          this.report(Code.SuiteLacksArch, 'error', `Debian ${suite} has no ${arch} port (it arrived with trixie); use suite = "trixie" or later`, suiteE.value.start, suiteE.value.end, { title: 'Change to "trixie"', text: '"trixie"' });
        }
        const opt = (k: string): string | undefined => this.str(t, k)?.value.value;
        const packages = this.strings(t, 'packages');
        return {
          kind, suite,
          ...(opt('variant') !== undefined ? { variant: opt('variant') } : {}),
          ...(opt('snapshot') !== undefined ? { snapshot: opt('snapshot') } : {}),
          ...(opt('mirror') !== undefined ? { mirror: opt('mirror') } : {}),
          ...(packages.length ? { packages } : {}),
        };
      }
      default: {
        need('path');
        const p = this.str(t, 'path');
        if (!p) return undefined;
        const resolved = this.subst(ctx, p.value, true);
        const want = kind === 'dir' || kind === 'oci-layout' ? 'dir' : 'file';
        const found = this.host.pathKind(resolved);
        if (found === undefined) {
          this.report(Code.PathNotFound, 'error', `${shownValue(p.value.value, resolved)} does not exist (relative paths start at the env file's folder)`, p.value.start, p.value.end);
        } else if (found !== want) {
          this.report(Code.PathNotFound, 'error', `${shownValue(p.value.value, resolved)} is a ${found === 'dir' ? 'directory' : 'file'}, but kind "${kind}" needs a ${want === 'dir' ? 'directory' : 'file'}`, p.value.start, p.value.end);
        }
        const ref = this.str(t, 'ref')?.value.value;
        if (kind === 'rootfs-tar' || kind === 'dir') return { kind, path: resolved };
        return { kind, path: resolved, ...(ref !== undefined ? { ref } : {}) };
      }
    }
  }

  private imageRef(v: { value: string; start: number; end: number }): boolean {
    return checkImageRef(v.value, v, this.report);
  }

  private mounts(root: TomlTable, ctx: SubstitutionContext, wsPath: string): Mount[] {
    const list = new MountList(this.host, wsPath, this.report);
    const arr = this.get(root, 'mount')?.value;
    for (const item of arr?.type === 'array' ? arr.items : []) {
      if (item.type !== 'table' || this.invalid.has(item)) continue;
      const src = this.str(item, 'source');
      const tgt = this.str(item, 'target');
      if (!src || !tgt) continue;
      const ro = this.get(item, 'readonly')?.value;
      list.add(this.subst(ctx, src.value, true), src.value, this.subst(ctx, tgt.value), tgt.value, ro?.type === 'boolean' ? ro.value : false,
        { source: src.value.value, target: tgt.value.value });
    }
    return list.mounts;
  }
}

function describe(v: TomlValue): string {
  switch (v.type) {
    case 'table': return 'a table';
    case 'array': return v.ofTables ? 'an array of tables' : 'an array';
    case 'string': return 'a string';
    case 'integer': return 'an integer';
    case 'float': return 'a number';
    case 'boolean': return 'a boolean';
    case 'datetime': return 'a date';
  }
}

function firstSentence(doc: string): string {
  const m = /^.*?[.!?](\s|$)/.exec(doc);
  return (m ? m[0] : doc).trim();
}

/** "2g" → 2 GiB in bytes. */
export function parseSize(s: string): number | undefined {
  const m = SIZE.exec(s.trim());
  if (!m) return undefined;
  const unit = { k: 1, m: 2, g: 3, t: 4 }[(m[2] ?? '').toLowerCase() as 'k'] ?? 0;
  return Math.round(Number(m[1]) * 1024 ** unit);
}
