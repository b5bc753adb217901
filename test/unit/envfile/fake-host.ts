// A machine described in a few lines (paths, env, home, qemu, native arch), so env file tests
// cover both sides of every host check without touching the real machine.
import { ARCHES, type ArchName } from '../../../src/core/arch';
import type { EnvHost } from '../../../src/core/envfile/host';

export interface FakeMachine {
  /** Paths that exist: path → 'file' | 'dir'. */
  paths?: Record<string, 'file' | 'dir'>;
  env?: Record<string, string>;
  home?: string;
  /** Crossroot arch names with a qemu interpreter installed. */
  qemu?: string[];
  /** The host's own arch. */
  native?: string;
}

export function fakeHost(m: FakeMachine = {}): EnvHost {
  const native = m.native ?? 'amd64';
  return {
    pathKind: (p) => m.paths?.[p],
    getenv: (n) => m.env?.[n],
    homedir: () => m.home ?? '/home/user',
    hostArch: () => native as ArchName,
    // As the helper answers (arches --json): native, or the qemu it found, or why not.
    archSupport: (name: ArchName) => {
      const a = ARCHES[name];
      if (name === native || (native === 'amd64' && name === 'i386')) return { name, native: true, runs: true, detail: `${name} runs natively` };
      if ((m.qemu ?? ['arm64', 'armhf', 'riscv64', 'ppc64el', 's390x']).includes(name)) {
        const qemu = `/usr/bin/qemu-${a.qemu}-static`;
        return { name, native: false, runs: true, qemu, detail: `${qemu} runs ${name} binaries` };
      }
      return {
        name, native: false, runs: false, detail: `no qemu-${a.qemu}-static in /usr/bin:/usr/local/bin`,
        fix: 'install qemu-user-static (Debian/Ubuntu: sudo apt-get install qemu-user-static)',
      };
    },
  };
}

/** The text a diagnostic points at. */
export function at(text: string, d: { start: number; end: number }): string {
  return text.slice(d.start, d.end);
}
