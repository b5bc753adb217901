// The host files a cross toolchain needs to run somewhere else: its Debian packages' files
// (`dpkg -L`) and the shared libraries they load (the ELF NEEDED closure, as the host's own loader
// resolves it), plus that loader. Which toolchains exist is the helper's answer (arches.ts); this
// only turns a driver path into the minimal set of files to bind read-only into an env.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { CrossCompiler } from './arches';

const run = promisify(execFile);

export interface HostToolchain {
  /** Debian packages the files come from (gcc-12-aarch64-linux-gnu, binutils-aarch64-linux-gnu, …). */
  packages: string[];
  /** Regular files of those packages (host paths), docs and man pages left out. */
  files: string[];
  /** Shared libraries they load: the path the loader asks for, and the file it is on the host. */
  libs: Array<{ path: string; source: string }>;
  /** The ELF interpreter (/lib64/ld-linux-x86-64.so.2) and its file on the host. */
  loader: { path: string; source: string };
}

const cache = new Map<string, Promise<HostToolchain>>();

/**
 * The closure of a cross toolchain, computed once per process, and kept in `cacheDir` (when
 * given) for as long as dpkg's database and the drivers are unchanged: listing it spawns the
 * loader once per ELF file, seconds that every instance start would otherwise pay.
 */
export function hostToolchain(cc: CrossCompiler, triplet: string, cacheDir?: string): Promise<HostToolchain> {
  const key = createHash('sha256').update(JSON.stringify([cc, triplet, ...['/var/lib/dpkg/status', cc.gcc, cc.gxx, cc.cpp].map(signature)])).digest('hex');
  let p = cache.get(key);
  if (!p) {
    p = cached(key, cacheDir, () => closure(cc, triplet));
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return p;
}

function signature(file: string | undefined): string {
  try {
    const st = statSync(file ?? '');
    return `${file}:${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return '';
  }
}

async function cached(key: string, dir: string | undefined, make: () => Promise<HostToolchain>): Promise<HostToolchain> {
  const file = dir ? path.join(dir, `${key.slice(0, 32)}.json`) : undefined;
  if (file) {
    try {
      const hit = JSON.parse(readFileSync(file, 'utf8')) as HostToolchain;
      // Still there (a package may have been removed behind dpkg's back): else list again.
      if ([...hit.files, ...hit.libs.map((l) => l.source), hit.loader.source].every((f) => existsSync(f))) return hit;
    } catch { /* not cached */ }
  }
  const tc = await make();
  if (file) {
    mkdirSync(dir!, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}`;
    writeFileSync(tmp, JSON.stringify(tc));
    renameSync(tmp, file);
  }
  return tc;
}

async function closure(cc: CrossCompiler, triplet: string): Promise<HostToolchain> {
  // The drivers' packages, and binutils for as/ld (collect2 runs TRIPLET/bin/ld).
  const owners = [cc.gcc, cc.gxx, cc.cpp, `/usr/bin/${triplet}-as`].filter((p): p is string => !!p);
  const packages = [...new Set((await Promise.all(owners.map(ownerPackage))).filter((p): p is string => !!p))];
  if (!packages.length) throw new Error(`dpkg knows no package of ${cc.gcc}`);
  const { stdout } = await run('dpkg', ['-L', ...packages], { maxBuffer: 16 << 20 });
  const files = [...new Set(stdout.split('\n'))].filter((f) => f.startsWith('/') && !f.startsWith('/usr/share/') && !/\/(ldscripts|bfd-plugins)\//.test(f) && isFile(f));
  const interp = elfInterpreter(cc.gcc);
  if (!interp) throw new Error(`${cc.gcc} has no ELF interpreter`);
  const libs = new Map<string, string>();
  // Every ELF file, plugins too (dlopened, so no one's NEEDED names them), a few at a time.
  const elves = files.filter(isElf);
  for (let i = 0; i < elves.length; i += 8) {
    const lists: string[] = await Promise.all(elves.slice(i, i + 8).map((f): Promise<string> => run(interp, ['--list', f]).then((r) => r.stdout, () => '')));
    for (const line of lists.join('\n').split('\n')) {
      const m: RegExpExecArray | null = /=>\s+(\/\S+)\s+\(/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
      if (m && m[1] !== interp) libs.set(m[1]!, realpathSync(m[1]!));
    }
  }
  return {
    packages, files,
    libs: [...libs].map(([path, source]) => ({ path, source })).sort((a, b) => a.path.localeCompare(b.path)),
    loader: { path: interp, source: realpathSync(interp) },
  };
}

async function ownerPackage(file: string): Promise<string | undefined> {
  try {
    const { stdout } = await run('dpkg', ['-S', realpathSync(file)]);
    return stdout.split(':')[0]?.trim() || undefined;
  } catch {
    return undefined;
  }
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function readHead(p: string, n: number, at = 0): Buffer {
  const fd = openSync(p, 'r');
  try {
    const b = Buffer.alloc(n);
    return b.subarray(0, readSync(fd, b, 0, n, at));
  } finally {
    closeSync(fd);
  }
}

function isElf(p: string): boolean {
  try {
    return readHead(p, 4).toString('latin1') === '\x7fELF';
  } catch {
    return false;
  }
}

/** PT_INTERP of a little-endian ELF64 executable (the host's tools; Debian's hosts are LE 64-bit here). */
export function elfInterpreter(p: string): string | undefined {
  const h = readHead(p, 64);
  if (h.length < 64 || h.toString('latin1', 0, 4) !== '\x7fELF' || h[4] !== 2 || h[5] !== 1) return undefined;
  const phoff = Number(h.readBigUInt64LE(32)), phentsize = h.readUInt16LE(54), phnum = h.readUInt16LE(56);
  const ph = readHead(p, phentsize * phnum, phoff);
  for (let i = 0; i < phnum; i++) {
    const e = ph.subarray(i * phentsize);
    if (e.readUInt32LE(0) !== 3) continue; // PT_INTERP
    const off = Number(e.readBigUInt64LE(8)), size = Number(e.readBigUInt64LE(32));
    return readHead(p, size, off).toString('latin1').replace(/\0.*$/s, '');
  }
  return undefined;
}
