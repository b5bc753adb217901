// Writing tar archives (ustar + PAX records for long names and big values), and reading them
// back with every header field, for what a Dockerfile build copies into a layer: the helper's
// `unpack` applies such an archive inside the sandbox, with its owners and modes.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { CrossrootError } from '../errors';

export interface TarHeader {
  /** Path inside the archive, without a leading "/" or "./"; directories without a trailing "/". */
  name: string;
  /** '0' file, '5' directory, '2' symlink, '1' hardlink, '6' fifo. */
  type: '0' | '1' | '2' | '5' | '6';
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since 1970. */
  mtime: number;
  size: number;
  linkname?: string;
}

const BLOCK = 512;

function octal(buf: Buffer, off: number, len: number, value: number): void {
  buf.write(value.toString(8).padStart(len - 1, '0').slice(-(len - 1)), off, len - 1, 'ascii');
}

function paxRecord(key: string, value: string): string {
  // The length counts itself: find the fixed point.
  const body = ` ${key}=${value}\n`;
  let n = Buffer.byteLength(body) + 1;
  while (String(n).length + Buffer.byteLength(body) !== n) n = String(n).length + Buffer.byteLength(body);
  return `${n}${body}`;
}

function header(h: Omit<TarHeader, 'name' | 'linkname'> & { name: string; linkname: string }): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(h.name, 0, 100, 'utf8');
  octal(b, 100, 8, h.mode & 0o7777);
  octal(b, 108, 8, h.uid);
  octal(b, 116, 8, h.gid);
  octal(b, 124, 12, h.size);
  octal(b, 136, 12, Math.max(0, Math.floor(h.mtime)));
  b.fill(0x20, 148, 156);
  b.write(h.type, 156, 1, 'ascii');
  b.write(h.linkname, 157, 100, 'utf8');
  b.write('ustar\u000000', 257, 8, 'binary');
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\u0000 ', 148, 8, 'binary');
  return b;
}

/** Appends entries to a tar file. Entries are written in the order given. */
export class TarWriter {
  private readonly fd: number;
  private pos = 0;

  constructor(file: string) {
    this.fd = openSync(file, 'w', 0o600);
  }

  private write(b: Buffer): void {
    let off = 0;
    while (off < b.length) off += writeSync(this.fd, b, off, b.length - off);
    this.pos += b.length;
  }

  /** Writes a header; a file's body follows through `body()` (exactly `size` bytes). */
  entry(h: TarHeader): void {
    const link = h.linkname ?? '';
    const pax: string[] = [];
    if (Buffer.byteLength(h.name) > 100) pax.push(paxRecord('path', h.name));
    if (Buffer.byteLength(link) > 100) pax.push(paxRecord('linkpath', link));
    if (h.uid > 0o7777777) pax.push(paxRecord('uid', String(h.uid)));
    if (h.gid > 0o7777777) pax.push(paxRecord('gid', String(h.gid)));
    if (h.size > 0o77777777777) pax.push(paxRecord('size', String(h.size)));
    if (pax.length) {
      const body = Buffer.from(pax.join(''));
      this.write(header({ name: 'PaxHeader', type: 'x' as TarHeader['type'], mode: 0o644, uid: 0, gid: 0, mtime: h.mtime, size: body.length, linkname: '' }));
      this.write(Buffer.concat([body, Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK)]));
    }
    const short = (s: string) => Buffer.from(s).subarray(0, 100).toString('utf8');
    this.write(header({ ...h, name: short(h.type === '5' ? `${h.name}/` : h.name), linkname: short(link),
      uid: Math.min(h.uid, 0o7777777), gid: Math.min(h.gid, 0o7777777), size: Math.min(h.size, 0o77777777777) }));
  }

  /** A file's body, then padding to the block. */
  body(read: (write: (chunk: Buffer) => void) => void, size: number): void {
    const start = this.pos;
    read((c) => this.write(c));
    if (this.pos - start !== size) throw new CrossrootError('ETAR', `a file changed size while it was copied (${size} bytes expected, ${this.pos - start} read)`, { fix: 'run the build again' });
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad) this.write(Buffer.alloc(pad));
  }

  close(): void {
    this.write(Buffer.alloc(BLOCK * 2));
    closeSync(this.fd);
  }
}

/** Copies `size` bytes of an open file into a writer callback, in chunks. */
export function copyFd(fd: number, size: number, write: (chunk: Buffer) => void, position: number | null = null): void {
  const buf = Buffer.alloc(Math.min(size, 1 << 20) || 1);
  let left = size;
  let pos = position;
  while (left > 0) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, left), pos);
    if (n === 0) break;
    write(buf.subarray(0, n));
    left -= n;
    if (pos !== null) pos += n;
  }
}

function field(h: Buffer, off: number, len: number): string {
  const end = h.indexOf(0, off);
  return h.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}

function num(h: Buffer, off: number, len: number): number {
  if (h[off]! & 0x80) { // GNU base-256
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + h[i]!;
    return v;
  }
  const t = field(h, off, len).trim();
  return t ? parseInt(t, 8) : 0;
}

function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < body.length) {
    const sp = body.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number(body.toString('ascii', i, sp));
    if (!len) break;
    const rec = body.toString('utf8', sp + 1, i + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/**
 * Reads an uncompressed tar file entry by entry with every header field; `onEntry` gets the
 * header and a function that copies the body (or nothing, when it is not called).
 */
export function readTarHeaders(file: string, onEntry: (h: TarHeader & { rawType: string }, body: (write: (c: Buffer) => void) => void) => void): void {
  const fd = openSync(file, 'r');
  try {
    let pos = 0;
    let pax: Record<string, string> = {};
    let longName: string | undefined;
    let longLink: string | undefined;
    const h = Buffer.alloc(BLOCK);
    for (;;) {
      if (readSync(fd, h, 0, BLOCK, pos) < BLOCK || h.every((x) => x === 0)) return;
      pos += BLOCK;
      const rawType = String.fromCharCode(h[156] || 0x30);
      const isMeta = 'xgLK'.includes(rawType);
      const size = !isMeta && pax.size ? Number(pax.size) : num(h, 124, 12);
      const bodyAt = pos;
      pos += Math.ceil(size / BLOCK) * BLOCK;
      const meta = (): Buffer => {
        if (size > 16 << 20) throw new CrossrootError('ETAR', `${file}: a tar metadata record of ${size} bytes is too big`, { fix: 'the archive is damaged' });
        const b = Buffer.alloc(size);
        readSync(fd, b, 0, size, bodyAt);
        return b;
      };
      if (rawType === 'x') { pax = { ...pax, ...parsePax(meta()) }; continue; }
      if (rawType === 'g') continue;
      if (rawType === 'L') { longName = meta().toString('utf8').replace(/\0+$/, ''); continue; }
      if (rawType === 'K') { longLink = meta().toString('utf8').replace(/\0+$/, ''); continue; }
      const prefix = field(h, 345, 155);
      let name = pax.path ?? longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
      name = name.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
      const linkname = pax.linkpath ?? longLink ?? field(h, 157, 100);
      const type = (rawType === '\0' || rawType === '7' ? '0' : rawType) as TarHeader['type'];
      const entry = {
        name, type, rawType, mode: num(h, 100, 8), uid: pax.uid ? Number(pax.uid) : num(h, 108, 8), gid: pax.gid ? Number(pax.gid) : num(h, 116, 8),
        mtime: pax.mtime ? Math.floor(Number(pax.mtime)) : num(h, 136, 12), size: type === '0' ? size : 0, ...(linkname ? { linkname } : {}),
      };
      pax = {};
      longName = longLink = undefined;
      if (name === '' || name === '.') continue;
      onEntry(entry, (write) => copyFd(fd, entry.size, write, bodyAt));
    }
  } finally {
    closeSync(fd);
  }
}
