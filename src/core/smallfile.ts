// Reading a small file that comes from somewhere untrusted (a workspace's crossroot.lock, an OCI
// layout's index.json and blobs): only a regular file, at most a given size, never a wait.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/** Why a file was not read: it is no regular file, or it is larger than allowed. */
export class SmallFileError extends Error {
  constructor(readonly reason: 'not-regular' | 'too-large', message: string) {
    super(message);
    this.name = 'SmallFileError';
  }
}

/**
 * The bytes of `file`, if it is a regular file (a symlink to one is fine) of at most `maxBytes`.
 * A device (`/dev/zero`), FIFO or socket is refused without reading, and opening a FIFO does not
 * wait for a writer; at most maxBytes + 1 bytes are ever read, whatever st_size says (it may
 * change while reading). Errors of open/read (ENOENT, EACCES) are thrown as they are.
 */
export function readSmallFile(file: string, maxBytes: number): Buffer {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new SmallFileError('not-regular', 'is not a regular file');
    if (st.size > maxBytes) throw new SmallFileError('too-large', `is ${st.size} bytes, more than the ${maxBytes} allowed`);
    const chunks: Buffer[] = [];
    let n = 0;
    for (let got = 1; got > 0 && n <= maxBytes;) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, maxBytes + 1 - n));
      got = readSync(fd, chunk, 0, chunk.length, null);
      chunks.push(chunk.subarray(0, got));
      n += got;
    }
    if (n > maxBytes) throw new SmallFileError('too-large', `is more than the ${maxBytes} bytes allowed`);
    return Buffer.concat(chunks, n);
  } finally {
    closeSync(fd);
  }
}
