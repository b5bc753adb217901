// Finds the qemu-user interpreter for a foreign arch, the way the helper does, so the env file
// can warn before a build and `check` can name the package to install.
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { type ArchInfo, hostArch } from '../arch';

/** The usual places: Debian/Ubuntu (qemu-user-static), Fedora, Arch (qemu-user-static{,-binfmt}). */
export const QEMU_DIRS = ['/usr/bin', '/usr/local/bin', '/usr/libexec/qemu-binfmt', '/usr/lib/qemu'];

export function qemuCandidates(arch: ArchInfo): string[] {
  const names = [`qemu-${arch.qemu}-static`, `qemu-${arch.qemu}`];
  return QEMU_DIRS.flatMap((d) => names.map((n) => path.join(d, n)));
}

/** Returns the interpreter path, or undefined when none is installed. */
export function findQemu(arch: ArchInfo, explicit?: string): string | undefined {
  for (const p of explicit ? [explicit] : qemuCandidates(arch)) {
    try {
      accessSync(p, constants.X_OK);
      return p;
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
