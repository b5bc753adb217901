// A machine described in a few lines (paths, env, home, qemu, native arch), so env file tests
// cover both sides of every host check without touching the real machine.
import type { ArchInfo } from '../../../src/core/arch';
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
    findQemu: (a: ArchInfo) => (m.qemu ?? ['arm64', 'armhf', 'riscv64', 'ppc64el', 's390x']).includes(a.name) ? `/usr/bin/qemu-${a.qemu}-static` : undefined,
    runsNatively: (a: ArchInfo) => a.name === native || (native === 'amd64' && a.name === 'i386'),
  };
}

/** The text a diagnostic points at. */
export function at(text: string, d: { start: number; end: number }): string {
  return text.slice(d.start, d.end);
}
