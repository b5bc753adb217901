// A streaming reader for the tar files that carry images (oci-archive, docker-archive): only
// the headers and regular-file bodies those need, with PAX and GNU long names.
import { createReadStream, openSync, readSync, closeSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { pipeline, type Readable } from 'node:stream';
import { CrossrootError } from '../errors';

export interface TarEntry {
  /** Path inside the archive, without a leading "./". */
  name: string;
  /** '0' regular file, '5' directory, '2' symlink, '1' hardlink, … (ustar typeflag). */
  type: string;
  size: number;
}

/** Receives the body of one entry; returning undefined from onEntry skips the body. */
export interface EntrySink {
  write(chunk: Buffer): void | Promise<void>;
  end(): void | Promise<void>;
  /** The archive failed before the body ended: drop what was written. */
  abort?(e: unknown): void;
}

const BLOCK = 512;

/**
 * PAX and GNU long-name records bigger than this are refused, as the helper does: no archive
 * needs more, and a record is held in memory whole (a 3 MB gzip of zeros can declare gigabytes).
 */
export const MAX_META_RECORD = 16 << 20;

/** Compressions no image or rootfs tarball needs, named so that they are not taken for a damaged tar. */
const OTHER_COMPRESSIONS = [
  { name: 'xz', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], tool: 'xz' },
  { name: 'bzip2', magic: [0x42, 0x5a, 0x68], tool: 'bzip2' },
  { name: 'lz4', magic: [0x04, 0x22, 0x4d, 0x18], tool: 'lz4' },
  { name: 'lz4', magic: [0x02, 0x21, 0x4c, 0x18], tool: 'lz4' },
  { name: 'lzip', magic: [0x4c, 0x5a, 0x49, 0x50], tool: 'lzip' },
  { name: 'lzop', magic: [0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a], tool: 'lzop' },
  { name: 'lzma', magic: [0x5d, 0x00, 0x00], tool: 'lzma' },
  { name: 'compress', magic: [0x1f, 0x9d], tool: 'uncompress' },
] as const;

export type Compression = 'gzip' | 'zstd' | 'none' | (typeof OTHER_COMPRESSIONS)[number]['name'];

/** The command that writes the decompressed bytes of `file` to stdout. */
export function decompressCommand(c: Compression, file: string): string {
  const other = OTHER_COMPRESSIONS.find((o) => o.name === c);
  return `${other?.tool ?? c} -dc ${file}`;
}

/** The compression of a file from its first bytes (a valid tar header is a tar, whatever its name starts with). */
export function sniffCompression(file: string): Compression {
  const fd = openSync(file, 'r');
  const b = Buffer.alloc(BLOCK);
  let n: number;
  try {
    n = readSync(fd, b, 0, BLOCK, 0);
  } finally {
    closeSync(fd);
  }
  if (n >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (n >= 4 && b.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (n === BLOCK && checksumOk(b)) return 'none';
  for (const o of OTHER_COMPRESSIONS) {
    if (n >= o.magic.length && o.magic.every((x, i) => b[i] === x)) return o.name;
  }
  return 'none';
}

/** The tar stream of a file, gunzipped when it is gzip; zstd/xz need a tool we do not ship here. */
export function openTar(file: string): Readable {
  const c = sniffCompression(file);
  if (c === 'none') return createReadStream(file);
  // pipeline() so that destroying the result also closes the file.
  if (c === 'gzip') return pipeline(createReadStream(file), createGunzip(), () => {});
  throw new CrossrootError('EARCHIVE', `${file} is ${c}-compressed; image archives are read plain or gzip-compressed`, {
    fix: `decompress it first (e.g. ${decompressCommand(c, file)} > ${file.replace(/\.[^./]+$/, '')})`,
  });
}

function field(h: Buffer, off: number, len: number): string {
  const s = h.subarray(off, off + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

function octal(h: Buffer, off: number, len: number, what: string): number {
  // GNU base-256 for sizes of 8 GiB and more.
  if (h[off]! & 0x80) {
    let n = 0;
    for (let i = off + 1; i < off + len; i++) n = n * 256 + h[i]!;
    return n;
  }
  const s = field(h, off, len).trim();
  const n = s === '' ? 0 : Number.parseInt(s, 8);
  if (!Number.isSafeInteger(n) || n < 0 || !/^[0-7]*$/.test(s)) throw new CrossrootError('EARCHIVE', `bad tar header (${what} "${s}")`);
  return n;
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  try {
    return sum === octal(h, 148, 8, 'checksum');
  } catch {
    return false; // garbage in the field is just a bad checksum
  }
}

function paxPath(body: Buffer): string | undefined {
  let path: string | undefined;
  let i = 0;
  while (i < body.length) {
    const sp = body.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number.parseInt(body.subarray(i, sp).toString('latin1'), 10);
    if (!(len > 0)) break;
    const rec = body.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (rec.slice(0, eq) === 'path') path = rec.slice(eq + 1);
    i += len;
  }
  return path;
}

function clean(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
}

/**
 * Reads a tar stream, calling onEntry for each entry; its sink (if any) gets the body in order,
 * with backpressure. Stops early when onEntry returns 'stop'.
 */
export async function readTar(
  source: AsyncIterable<Buffer>,
  onEntry: (e: TarEntry) => Promise<EntrySink | undefined | 'stop'> | EntrySink | undefined | 'stop',
  what = 'archive',
): Promise<void> {
  let buf: Buffer = Buffer.alloc(0);
  let state: 'header' | 'body' = 'header';
  let remaining = 0; // body bytes left of the current entry
  let padding = 0; // bytes of zero padding after the body
  let sink: EntrySink | undefined;
  let meta: Buffer[] | undefined; // body of a PAX or GNU long-name header being collected
  let metaType = '';
  let nextName: string | undefined;
  let ended = false;

  try {
    await loop();
  } catch (e) {
    sink?.abort?.(e);
    throw e;
  }

  async function loop(): Promise<void> {
    for await (const chunk of source) {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (!ended) {
        if (state === 'header') {
          if (buf.length < BLOCK) break;
          const h = buf.subarray(0, BLOCK);
          buf = buf.subarray(BLOCK);
          if (h.every((b) => b === 0)) { ended = true; break; }
          if (!checksumOk(h)) throw new CrossrootError('EARCHIVE', `${what} is not a tar file or is damaged (header checksum mismatch)`);
          const type = String.fromCharCode(h[156] || 0x30);
          const size = octal(h, 124, 12, 'size');
          const prefix = h.subarray(257, 263).toString('latin1').startsWith('ustar') ? field(h, 345, 155) : '';
          const name = clean(nextName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100)));
          remaining = size;
          padding = (BLOCK - (size % BLOCK)) % BLOCK;
          state = 'body';
          if (type === 'x' || type === 'L') {
            if (size > MAX_META_RECORD) {
              throw new CrossrootError('ETOOBIG', `${what}: a ${type === 'x' ? 'PAX' : 'GNU long-name'} record of ${size} bytes is larger than the ${MAX_META_RECORD >> 20} MiB allowed`, {
                fix: 'the archive is damaged or made to exhaust memory: do not use it, or export the image again',
              });
            }
            meta = [];
            metaType = type;
            sink = undefined;
            continue;
          }
          // Global PAX records and GNU long link names: nothing the entry names need.
          if (type === 'g' || type === 'K') { sink = undefined; continue; }
          nextName = undefined;
          const r = await onEntry({ name, type, size });
          if (r === 'stop') { ended = true; return; }
          sink = r;
          if (remaining === 0) await finishEntry();
          continue;
        }
        // body
        if (remaining > 0) {
          if (buf.length === 0) break;
          const take = buf.subarray(0, Math.min(remaining, buf.length));
          buf = buf.subarray(take.length);
          remaining -= take.length;
          if (meta) meta.push(Buffer.from(take));
          else if (sink) await sink.write(take);
          if (remaining > 0) break;
          await finishEntry();
        }
        if (buf.length < padding) { padding -= buf.length; buf = Buffer.alloc(0); break; }
        buf = buf.subarray(padding);
        padding = 0;
        state = 'header';
      }
      if (ended) break;
    }
    if (!ended && (state === 'body' && remaining > 0)) throw new CrossrootError('EARCHIVE', `${what} ends in the middle of an entry (truncated)`);
  }

  async function finishEntry(): Promise<void> {
    if (meta) {
      const body = Buffer.concat(meta);
      nextName = metaType === 'L' ? field(body, 0, body.length) : paxPath(body) ?? nextName;
      meta = undefined;
    } else if (sink) {
      await sink.end();
      sink = undefined;
    }
  }
}

/** The first `max` entry names of a tar file (for telling image archives from rootfs tarballs). */
export async function firstEntries(file: string, max: number): Promise<string[]> {
  const names: string[] = [];
  const stream = openTar(file);
  try {
    await readTar(stream, (e) => {
      names.push(e.name);
      return names.length >= max ? 'stop' : undefined;
    }, file);
  } finally {
    stream.destroy();
  }
  return names;
}
