// Finds the qemu-user interpreter for a foreign arch, the way the helper does, so the env file
// can warn before a build and `check` can name the package to install.
import { accessSync, closeSync, constants, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { type ArchInfo, hostArch } from '../arch';

/** The usual places: Debian/Ubuntu (qemu-user-static), Fedora, Arch (qemu-user-static{,-binfmt}). */
export const QEMU_DIRS = ['/usr/bin', '/usr/local/bin', '/usr/libexec/qemu-binfmt', '/usr/lib/qemu'];

export function qemuCandidates(arch: ArchInfo): string[] {
  const names = [`qemu-${arch.qemu}-static`, `qemu-${arch.qemu}`];
  return QEMU_DIRS.flatMap((d) => names.map((n) => path.join(d, n)));
}

/**
 * True for an ELF file without a PT_INTERP header: a dynamically linked qemu loses its libraries
 * once the sandbox's root replaces the host's, so the helper skips those too (arch.c qemu_unusable).
 */
export function isStaticElf(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const read = (length: number, position: number) => {
      const b = Buffer.alloc(length);
      return readSync(fd, b, 0, length, position) === length ? b : undefined;
    };
    const eh = read(64, 0);
    if (!eh || eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2 || eh[5] !== 1) return false; // 64-bit little-endian ELF
    const phoff = Number(eh.readBigUInt64LE(32)), phentsize = eh.readUInt16LE(54), phnum = eh.readUInt16LE(56);
    for (let i = 0; i < phnum; i++) {
      const ph = read(4, phoff + i * phentsize);
      if (!ph) return false;
      if (ph.readUInt32LE(0) === 3 /* PT_INTERP */) return false;
    }
    return true;
  } finally {
    closeSync(fd);
  }
}

/** Returns the interpreter path, or undefined when no usable (executable, static) one is installed. */
export function findQemu(arch: ArchInfo, explicit?: string): string | undefined {
  for (const p of explicit ? [explicit] : qemuCandidates(arch)) {
    try {
      accessSync(p, constants.X_OK);
      if (isStaticElf(p)) return p;
    } catch { /* try the next */ }
  }
  return undefined;
}

/** True when the host runs this arch natively (no qemu needed). i386 runs on amd64 hosts. */
export function runsNatively(arch: ArchInfo): boolean {
  const host = hostArch().name;
  return arch.name === host || (host === 'amd64' && arch.name === 'i386');
}

export const QEMU_PACKAGE_HINT = 'install qemu-user-static (Debian/Ubuntu: apt-get install qemu-user-static; Fedora: dnf install qemu-user-static; Arch: pacman -S qemu-user-static)';
