// The CPU architectures Crossroot knows, in every naming scheme users and tools use for them.
// One table feeds the env file schema, OCI platform choice, Debian bootstraps and qemu lookup.

export interface ArchInfo {
  /** Crossroot's (= Debian's) name, used in crossroot.toml and the lockfile. */
  readonly name: ArchName;
  /** Other spellings users write (uname -m, Docker, Go). */
  readonly aliases: readonly string[];
  /** What `uname -m` prints inside an env of this arch. */
  readonly uname: string;
  /** OCI platform: architecture and variant as registries index them. */
  readonly oci: { readonly architecture: string; readonly variant?: string };
  /** qemu-user binary suffix: qemu-<qemu>-static. */
  readonly qemu: string;
  /** Debian suite where this arch is an official port with busybox-static (riscv64 came with trixie). */
  readonly minSuite: 'bookworm' | 'trixie';
}

export const ARCH_NAMES = ['amd64', 'arm64', 'armhf', 'riscv64', 'ppc64el', 's390x', 'i386'] as const;
export type ArchName = (typeof ARCH_NAMES)[number];

export const ARCHES: Readonly<Record<ArchName, ArchInfo>> = {
  amd64: { name: 'amd64', aliases: ['x86_64', 'x86-64', 'x64'], uname: 'x86_64', oci: { architecture: 'amd64' }, qemu: 'x86_64', minSuite: 'bookworm' },
  arm64: { name: 'arm64', aliases: ['aarch64', 'arm64/v8', 'armv8'], uname: 'aarch64', oci: { architecture: 'arm64', variant: 'v8' }, qemu: 'aarch64', minSuite: 'bookworm' },
  armhf: { name: 'armhf', aliases: ['arm', 'armv7', 'armv7l', 'arm/v7'], uname: 'armv7l', oci: { architecture: 'arm', variant: 'v7' }, qemu: 'arm', minSuite: 'bookworm' },
  riscv64: { name: 'riscv64', aliases: ['riscv', 'rv64'], uname: 'riscv64', oci: { architecture: 'riscv64' }, qemu: 'riscv64', minSuite: 'trixie' },
  ppc64el: { name: 'ppc64el', aliases: ['ppc64le', 'powerpc64le'], uname: 'ppc64le', oci: { architecture: 'ppc64le' }, qemu: 'ppc64le', minSuite: 'bookworm' },
  s390x: { name: 's390x', aliases: [], uname: 's390x', oci: { architecture: 's390x' }, qemu: 's390x', minSuite: 'bookworm' },
  i386: { name: 'i386', aliases: ['x86', 'i686', '386', 'i586'], uname: 'i686', oci: { architecture: '386' }, qemu: 'i386', minSuite: 'bookworm' },
};

/** Resolves a user-written arch name or alias (case-insensitive); undefined when unknown. */
export function parseArch(input: string): ArchInfo | undefined {
  const s = input.trim().toLowerCase();
  for (const a of Object.values(ARCHES)) {
    if (a.name === s || a.aliases.includes(s) || a.uname === s) return a;
  }
  // OCI "linux/arm64" style.
  const m = /^(?:linux\/)?([a-z0-9_]+)(?:\/(v\d+))?$/.exec(s);
  if (m) {
    for (const a of Object.values(ARCHES)) {
      if (a.oci.architecture === m[1] && (!m[2] || !a.oci.variant || a.oci.variant === m[2])) return a;
    }
  }
  return undefined;
}

/** The arch of the machine running Crossroot. */
export function hostArch(): ArchInfo {
  const map: Record<string, ArchName> = { x64: 'amd64', arm64: 'arm64', arm: 'armhf', riscv64: 'riscv64', ppc64: 'ppc64el', s390x: 's390x', ia32: 'i386' };
  const name = map[process.arch];
  if (!name) throw new Error(`unsupported host architecture ${process.arch}`);
  return ARCHES[name];
}
