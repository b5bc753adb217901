// What reading an env file asks of the machine: files, environment, home, qemu. Behind an
// interface so the language service and tests can answer without touching the real host.
import { statSync } from 'node:fs';
import os from 'node:os';
import { ARCH_NAMES, parseArch, type ArchInfo, type ArchName } from '../arch';
import { findQemu, runsNatively } from '../sandbox/qemu';

export interface EnvHost {
  /** 'file', 'dir', or undefined when nothing is there. */
  pathKind(path: string): 'file' | 'dir' | undefined;
  getenv(name: string): string | undefined;
  homedir(): string;
  /** The qemu-user interpreter for a foreign arch, undefined when none is installed. */
  findQemu(arch: ArchInfo): string | undefined;
  runsNatively(arch: ArchInfo): boolean;
}

export const nodeHost: EnvHost = {
  pathKind(p) {
    try {
      const st = statSync(p);
      return st.isDirectory() ? 'dir' : 'file';
    } catch {
      return undefined;
    }
  },
  getenv: (name) => process.env[name],
  homedir: () => os.homedir(),
  findQemu: (arch) => findQemu(arch),
  runsNatively: (arch) => runsNatively(arch),
};

/** The arch this host runs natively (asked through the Host, so tests stay machine-independent). */
export function nativeArch(host: EnvHost): ArchName {
  return ARCH_NAMES.find((n) => n !== 'i386' && host.runsNatively(parseArch(n)!)) ?? 'amd64';
}
