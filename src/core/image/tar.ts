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

export type Compression = 'gzip' | 'zstd' | 'xz' | 'bzip2' | 'none';

/** The compression of a file from its first bytes. */
export function sniffCompression(file: string): Compression {
  const fd = openSync(file, 'r');
  const b = Buffer.alloc(6);
  try {
    readSync(fd, b, 0, 6, 0);
  } finally {
    closeSync(fd);
  }
  if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (b[0] === 0xfd && b.subarray(1, 6).toString('latin1') === '7zXZ\0') return 'xz';
  if (b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  return 'none';
}

/** The tar stream of a file, gunzipped when it is gzip; zstd/xz need a tool we do not ship here. */
export function openTar(file: string): Readable {
  const c = sniffCompression(file);
  if (c === 'none') return createReadStream(file);
  // pipeline() so that destroying the result also closes the file.
  if (c === 'gzip') return pipeline(createReadStream(file), createGunzip(), () => {});
  throw new CrossrootError('EARCHIVE', `${file} is ${c}-compressed; image archives are read plain or gzip-compressed`, {
    fix: `decompress it first (e.g. ${c === 'zstd' ? 'zstd -d' : c === 'xz' ? 'xz -d' : 'bunzip2'} ${file})`,
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
  return sum === octal(h, 148, 8, 'checksum');
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
            meta = [];
            metaType = type;
            sink = undefined;
            continue;
          }
          if (type === 'g') { sink = undefined; continue; }
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
