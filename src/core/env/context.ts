// The build context of a Dockerfile: `.dockerignore`, and the files a COPY/ADD names (globs,
// directories), read without ever leaving the context (a `..` or a symlink that points out is an
// error), hashed for the layer key and written as the tar the helper applies inside the env.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, constants, type Stats } from 'node:fs';
import path from 'node:path';
import { CrossrootError } from '../errors';
import { copyFd, type TarHeader, type TarWriter } from '../image/tarwrite';

/** Docker's `filepath.Match` for one path component: `*`, `?`, `[…]`, `\` escapes. */
function componentRegex(p: string): string {
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < p.length) re += p[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    else if (c === '[') {
      const end = p.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else { re += `[${p.slice(i + 1, end).replace(/^[!^]/, '^').replace(/\\/g, '\\\\')}]`; i = end; }
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return re;
}

export const hasGlob = (p: string): boolean => /[*?[]/.test(p);

/** A slash-separated pattern as a regex source: each component matched as Docker's filepath.Match does. */
export function globPattern(p: string): string {
  return p.split('/').map(componentRegex).join('/');
}

/** `.dockerignore` rules: the last pattern that matches a path (or one of its parent dirs) decides. */
export class DockerIgnore {
  private readonly rules: Array<{ re: RegExp; negate: boolean }> = [];

  constructor(text: string) {
    for (let line of text.split(/\r?\n/)) {
      line = line.trim();
      if (!line || line.startsWith('#')) continue;
      const negate = line.startsWith('!');
      if (negate) line = line.slice(1).trim();
      let p = path.posix.normalize(line).replace(/^\/+/, '').replace(/\/+$/, '');
      if (p === '.' || p === '') p = '**';
      const parts = p.split('/').map((c) => (c === '**' ? '(?:.*)' : componentRegex(c)));
      // `**/` may match no directory at all.
      const re = parts.join('/').replace(/\(\?:\.\*\)\//g, '(?:.*/)?');
      this.rules.push({ re: new RegExp(`^${re}(?:/.*)?$`, 's'), negate });
    }
  }

  get hasExceptions(): boolean {
    return this.rules.some((r) => r.negate);
  }

  /** True when `rel` (a context-relative path with `/`) is left out of the build. */
  excludes(rel: string): boolean {
    let out = false;
    for (const r of this.rules) if (r.re.test(rel)) out = !r.negate;
    return out;
  }

  /** The context's rules: `<Dockerfile>.dockerignore` beside the Dockerfile wins over `.dockerignore` in the context. */
  /** Where a build looks for its ignore file, first found wins: `Dockerfile.dockerignore` beside it, then the context's. */
  static candidates(context: string, dockerfile: string): string[] {
    return [`${dockerfile}.dockerignore`, path.join(context, '.dockerignore')];
  }

  static forContext(context: string, dockerfile: string): { ignore: DockerIgnore; text: string } {
    for (const f of DockerIgnore.candidates(context, dockerfile)) {
      try {
        const text = readFileSync(f, 'utf8');
        return { ignore: new DockerIgnore(text), text };
      } catch { /* next */ }
    }
    return { ignore: new DockerIgnore(''), text: '' };
  }
}

export interface CopyItem {
  /** Host path (inside the context), or undefined for a directory made only to hold others. */
  host: string;
  /** Entry name in the tar (the path inside the env, without the leading /). */
  name: string;
  st: Stats;
  linkname?: string;
}

/**
 * Where a source inside the context really is: `..` may not climb out, and a symlink on the way
 * is followed only while it stays inside the context (as Docker scopes them).
 */
function resolveInContext(contextReal: string, rel: string, written: string, seen?: ContextSeen): string {
  const joined = path.join(contextReal, rel);
  let real: string;
  try {
    real = realpathSync(joined);
  } catch {
    throw new CrossrootError('ECOPY', `${written}: no such file or directory in the build context ${contextReal}`, { fix: 'check the path (it is relative to the build context) and .dockerignore' });
  }
  seen?.realpaths.set(joined, real);
  if (real !== contextReal && !real.startsWith(contextReal + path.sep)) {
    throw new CrossrootError('ECOPY', `${written} resolves outside the build context (${real}); a COPY/ADD source must be inside ${contextReal}`, { fix: 'move the file into the build context, or widen build.context' });
  }
  return real;
}

/**
 * What copies read of the build context, so that an unchanged context can be told without
 * hashing it again (env/plan.ts asks each of these again): folders listed, paths resolved,
 * files and symlinks copied.
 */
export interface ContextSeen {
  dirs: Set<string>;
  realpaths: Map<string, string>;
  files: Set<string>;
  links: Set<string>;
}

export function contextSeen(): ContextSeen {
  return { dirs: new Set(), realpaths: new Map(), files: new Set(), links: new Set() };
}

/** Context-relative paths a source names: itself, or what its glob matches (ignored files left out). */
function expand(contextReal: string, src: string, ignore: DockerIgnore, seen?: ContextSeen): string[] {
  const clean = path.posix.normalize(`/${src}`).slice(1);
  if (path.posix.normalize(src).startsWith('..')) {
    throw new CrossrootError('ECOPY', `${src} is outside the build context: a COPY/ADD source cannot use ".." to leave it`, { fix: 'move the file into the build context, or widen build.context' });
  }
  if (!hasGlob(clean)) return [clean === '' ? '.' : clean];
  let found = [''];
  for (const comp of clean.split('/')) {
    const next: string[] = [];
    for (const dir of found) {
      if (!hasGlob(comp)) { next.push(dir ? `${dir}/${comp}` : comp); continue; }
      const re = new RegExp(`^${componentRegex(comp)}$`, 's');
      let names: string[] = [];
      seen?.dirs.add(path.join(contextReal, dir));
      try {
        names = readdirSync(path.join(contextReal, dir));
      } catch { /* not a dir */ }
      for (const n of names.sort()) if (re.test(n)) next.push(dir ? `${dir}/${n}` : n);
    }
    found = next;
  }
  return found.filter((r) => !ignore.excludes(r));
}

/**
 * The entries a COPY/ADD of local `sources` to `dest` (absolute, inside the env) makes. Docker's
 * rules: a directory's contents (not the directory itself) go into dest; several sources, or a
 * dest ending in `/` (or an existing dir, `destIsDir`), take files into dest by their name.
 */
export interface CollectOptions {
  /** COPY --exclude: patterns (.dockerignore syntax) matched against paths relative to each source (a file source: its name). */
  exclude?: DockerIgnore;
  /** COPY --parents: each match keeps its path from the context (or from a `/./` in the source) under dest. */
  parents?: boolean;
}

export function collectLocal(context: string, sources: string[], dest: string, destIsDir: boolean, ignore: DockerIgnore, seen?: ContextSeen, o: CollectOptions = {}): CopyItem[] {
  const contextReal = realpathSync(context);
  seen?.realpaths.set(context, contextReal);
  const rels = sources.flatMap((s) => {
    // `a/./b/c` with --parents: what is kept starts after the `/./`.
    const pivot = o.parents ? s.replace(/^\.\//, '').indexOf('/./') : -1;
    const written = pivot >= 0 ? s.replace(/^\.\//, '').replace('/./', '/') : s;
    const keepFrom = pivot >= 0 ? path.posix.normalize(s.replace(/^\.\//, '').slice(0, pivot)).replace(/^\/+/, '') : '';
    let r = expand(contextReal, written, ignore, seen);
    if (o.exclude && hasGlob(written)) r = r.filter((rel) => !o.exclude!.excludes(path.posix.basename(rel)));
    if (r.length === 0) throw new CrossrootError('ECOPY', `${s} matches no file in the build context ${contextReal} (or .dockerignore or --exclude leaves them out)`, { fix: 'check the pattern, --exclude and .dockerignore' });
    return r.map((rel) => ({ rel, written: s, keepFrom }));
  });
  const intoDir = destIsDir || dest.endsWith('/') || rels.length > 1 || !!o.parents;
  const destClean = path.posix.normalize(dest).replace(/^\/+/, '').replace(/\/+$/, '');
  const items: CopyItem[] = [];
  const made = new Set<string>();
  for (const { rel, written, keepFrom } of rels) {
    if (rel !== '.' && ignore.excludes(rel)) {
      throw new CrossrootError('ECOPY', `${written} is excluded by .dockerignore`, { fix: 'remove it from .dockerignore, or do not COPY it' });
    }
    const host = resolveInContext(contextReal, rel, written, seen);
    const st = lstatSync(host);
    // --parents: the path from the context (or the pivot) to the match, kept under dest.
    const kept = o.parents && rel !== '.' ? path.posix.relative(keepFrom || '.', rel) : '';
    if (kept) parentDirs(contextReal, keepFrom, path.posix.dirname(rel), destClean, made, items);
    if (st.isDirectory()) {
      walk(host, kept ? path.posix.join(destClean, kept) : destClean, rel === '.' ? '' : rel, ignore, items, seen, o.exclude, rel === '.' ? '' : rel);
    } else {
      const name = kept ? path.posix.join(destClean, kept) : intoDir ? path.posix.join(destClean, path.basename(host)) : destClean;
      items.push({ host, name, st });
      seen?.files.add(host);
    }
  }
  return items;
}

/** --parents: the directories between the pivot and a match, with their own modes, made once. */
function parentDirs(contextReal: string, from: string, to: string, destClean: string, made: Set<string>, out: CopyItem[]): void {
  const rel = path.posix.relative(from || '.', to);
  if (!rel || rel === '.' || rel.startsWith('..')) return;
  let cur = from;
  for (const part of rel.split('/')) {
    cur = cur ? `${cur}/${part}` : part;
    const name = path.posix.join(destClean, path.posix.relative(from || '.', cur));
    if (made.has(name)) continue;
    made.add(name);
    const host = path.join(contextReal, cur);
    out.push({ host, name, st: lstatSync(host) });
  }
}

/** A directory's contents, recursively; symlinks are copied as symlinks, never followed. */
function walk(dir: string, destName: string, rel: string, ignore: DockerIgnore, out: CopyItem[], seen?: ContextSeen, exclude?: DockerIgnore, base = ''): void {
  seen?.dirs.add(dir);
  for (const n of readdirSync(dir).sort()) {
    const r = rel ? `${rel}/${n}` : n;
    const host = path.join(dir, n);
    const st = lstatSync(host);
    const excluded = ignore.excludes(r);
    // An excluded dir is skipped whole unless an exception (`!pattern`) may bring back what is below it.
    if (excluded && !(st.isDirectory() && ignore.hasExceptions)) continue;
    // --exclude, relative to the copied folder: an excluded folder goes whole unless an exception may bring back some of it.
    const dropped = exclude?.excludes(base ? r.slice(base.length + 1) : r) ?? false;
    if (dropped && !(st.isDirectory() && exclude!.hasExceptions)) continue;
    const name = path.posix.join(destName, n);
    if (st.isDirectory()) {
      if (!excluded && !dropped) out.push({ host, name, st });
      walk(host, name, r, ignore, out, seen, exclude, base);
    } else if (st.isSymbolicLink()) {
      out.push({ host, name, st, linkname: readlinkSync(host) });
      seen?.links.add(host);
    } else if (st.isFile()) {
      out.push({ host, name, st });
      seen?.files.add(host);
    }
  }
}

export interface Ownership {
  uid?: number;
  gid?: number;
  /** --chmod: an octal mode for every entry, or (symbolic) a change of each entry's own mode. */
  mode?: number | ((mode: number, isDir: boolean) => number);
  /** --chmod as written: part of the layer key (a function is not). */
  chmod?: string;
}

/** An entry's mode after --chmod. */
export function entryMode(own: Ownership, mode: number, isDir: boolean): number {
  if (own.mode === undefined) return mode & 0o7777;
  return typeof own.mode === 'number' ? own.mode : own.mode(mode & 0o7777, isDir) & 0o7777;
}

/**
 * `--chmod`: octal (`755`), or symbolic as chmod(1) takes it (`u+x`, `a=rX`, `go-w,u=rwx`), which
 * BuildKit accepts since Dockerfile 1.14: each clause changes the entry's own mode; `X` is x for
 * directories and for files that are executable by someone already. No who means all (no umask).
 */
export function parseChmod(spec: string): Ownership['mode'] | undefined {
  if (/^[0-7]{3,4}$/.test(spec)) return parseInt(spec, 8);
  const clauses: Array<{ who: number; ops: Array<{ op: string; perm: string }> }> = [];
  for (const c of spec.split(',')) {
    const m = /^([ugoa]*)((?:[-+=](?:[rwxXst]*|[ugo]))+)$/.exec(c);
    if (!m) return undefined;
    const who = m[1] ? [...m[1]].reduce((w, ch) => w | ({ u: 0o4700, g: 0o2070, o: 0o1007, a: 0o7777 } as Record<string, number>)[ch]!, 0) : 0o7777;
    clauses.push({ who, ops: [...m[2]!.matchAll(/([-+=])([ugo]|[rwxXst]*)/g)].map((x) => ({ op: x[1]!, perm: x[2]! })) });
  }
  return (mode: number, isDir: boolean) => {
    for (const { who, ops } of clauses) {
      for (const { op, perm } of ops) {
        let bits = 0;
        if (/^[ugo]$/.test(perm)) {
          // Copy another class's permissions: u=g takes g's rwx into u.
          const shift = { u: 6, g: 3, o: 0 }[perm as 'u' | 'g' | 'o'];
          const rwx = (mode >> shift) & 7;
          bits = rwx * 0o111;
        } else {
          for (const ch of perm) {
            bits |= { r: 0o444, w: 0o222, x: 0o111, X: isDir || (mode & 0o111) ? 0o111 : 0, s: 0o6000, t: 0o1000 }[ch as 'r'] ?? 0;
          }
        }
        bits &= who;
        if (op === '+') mode |= bits;
        else if (op === '-') mode &= ~bits;
        else mode = (mode & ~(who & 0o777)) | bits;
      }
    }
    return mode;
  };
}

function headerFor(item: CopyItem, own: Ownership): TarHeader {
  const st = item.st;
  const type = st.isDirectory() ? '5' : st.isSymbolicLink() ? '2' : '0';
  return {
    name: item.name, type, mode: type === '2' ? st.mode & 0o7777 : entryMode(own, st.mode, type === '5'), uid: own.uid ?? 0, gid: own.gid ?? 0,
    mtime: Math.floor(st.mtimeMs / 1000), size: type === '0' ? st.size : 0, ...(item.linkname !== undefined ? { linkname: item.linkname } : {}),
  };
}

/** Hash of what a copy puts in the env: names, types, modes, owners, link targets and contents (not times). */
export function hashItems(items: CopyItem[], own: Ownership): string {
  const h = createHash('sha256');
  for (const it of items) {
    const hd = headerFor(it, own);
    h.update(JSON.stringify([hd.name, hd.type, hd.mode, hd.uid, hd.gid, hd.linkname ?? '', hd.size]));
    if (hd.type === '0') {
      const fd = openSync(it.host, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        copyFd(fd, fstatSync(fd).size, (c) => h.update(c));
      } finally {
        closeSync(fd);
      }
    }
  }
  return h.digest('hex');
}

export function writeItems(tar: TarWriter, items: CopyItem[], own: Ownership): void {
  for (const it of items) {
    const hd = headerFor(it, own);
    tar.entry(hd);
    if (hd.type === '0') {
      const fd = openSync(it.host, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        tar.body((w) => copyFd(fd, hd.size, w), hd.size);
      } finally {
        closeSync(fd);
      }
    }
  }
}
