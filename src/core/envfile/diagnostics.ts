// The env file's findings: stable numeric codes grouped by phase (1xxx syntax, 2xxx schema,
// 3xxx semantics, 4xxx devcontainer.json import), with offset ranges into the file's text.

export const DIAGNOSTIC_SOURCE = 'crossroot';

export const Code = {
  // 1xxx: the file cannot be read as TOML / JSON.
  TomlSyntax: 1001,
  JsonSyntax: 1002,
  // 2xxx: the file does not match the schema.
  UnknownKey: 2001,
  WrongType: 2002,
  NotAllowedValue: 2003,
  MissingKey: 2004,
  KeyNotForKind: 2005,
  BadFormat: 2006,
  // 3xxx: well-formed but wrong, or surprising.
  UnknownArch: 3001,
  NoQemu: 3002,
  BadImageRef: 3003,
  PathNotFound: 3004,
  RelativeMountTarget: 3005,
  DuplicateMountTarget: 3006,
  ImageAndSource: 3007,
  NoSource: 3008,
  UnknownVariable: 3009,
  UnsetLocalEnv: 3010,
  RelativeInsidePath: 3011,
  ArchAlias: 3012,
  OfflineSetup: 3013,
  MountHidesWorkspace: 3014,
  BadEnvName: 3015,
  SuiteLacksArch: 3016,
  ReservedTarget: 3017,
  // 4xxx: devcontainer.json features Crossroot does not (yet) honour.
  DevcontainerUnsupported: 4001,
  DevcontainerRunArg: 4002,
  DevcontainerHostCommand: 4003,
  DevcontainerMount: 4004,
  DevcontainerUnknown: 4005,
  DevcontainerIgnored: 4006,
  // 41xx: devcontainer.json Features.
  FeatureRef: 4101,
  FeatureOption: 4102,
  FeatureRuntime: 4103,
  // 5xxx: the Dockerfile or Compose file a devcontainer.json builds from.
  DockerfileSyntax: 5001,
  DockerfileUnsupported: 5002,
  DockerfileRecorded: 5003,
  ComposeFile: 5004,
  ComposeIgnored: 5005,
} as const;
export type DiagnosticCode = (typeof Code)[keyof typeof Code];

/** What each code means, for the README's table (the messages themselves say more). */
export const CODE_DOCS: Readonly<Record<DiagnosticCode, string>> = {
  1001: 'crossroot.toml is not valid TOML',
  1002: 'devcontainer.json is not valid JSON with comments',
  2001: 'unknown key (with the closest known one as a quick fix)',
  2002: 'a value of the wrong type (a string where a table belongs, `[mount]` for `[[mount]]`, …)',
  2003: 'a value outside the allowed set (`network.mode`, `source.kind`, `source.variant`)',
  2004: 'a required key is missing (`source.kind`, `mount.target`, `source.suite` for debian, …)',
  2005: 'a `[source]` key that does not apply to its kind',
  2006: 'a value in the wrong format (env name, Debian suite, package names, snapshot timestamp, mirror URL, size, pids)',
  3001: 'unknown arch; lists the valid names',
  3002: 'this machine has no qemu-user interpreter for the arch; names the package (warning)',
  3003: 'an image reference that does not follow the distribution/reference grammar',
  3004: 'a local source path that does not exist or is of the wrong kind; a missing mount source (warning)',
  3005: 'a mount target that is not an absolute path',
  3006: 'two mounts with the same target',
  3007: 'both `image` and `[source]`',
  3008: 'no root filesystem: neither `image` nor `[source]`',
  3009: 'an unknown `${…}` variable, kept as written (info)',
  3010: 'a `${localEnv:VAR}` that is not set here (warning)',
  3011: 'a path inside the env (workspace, shell) that is not absolute',
  3012: 'an arch alias such as `aarch64`; works, with a rewrite to the Crossroot name (info)',
  3013: '`[network] mode = "none"` with `[setup] packages`, which need the network (warning)',
  3014: 'a mount that hides the workspace folder (warning)',
  3015: 'an `[env]` name shells cannot read (warning)',
  3016: 'a Debian suite without a port for the arch (riscv64 before trixie)',
  3017: 'a mount target or workspace path of /, /proc, /sys or /dev',
  4001: 'a devcontainer.json property Crossroot does not support, with the reason',
  4002: 'a `runArgs` flag other than --platform, -e/--env, -v/--volume (warning)',
  4003: '`initializeCommand` runs on the host (info)',
  4004: 'a mount Crossroot cannot make (tmpfs and other types, no target, a -v it cannot read, a fetched Feature\'s bind of a host folder)',
  4005: 'an unknown devcontainer.json property (warning)',
  4101: 'a Feature reference that is not an OCI reference, ./local folder or https URL, or a local Feature without devcontainer-feature.json',
  4102: 'a Feature option that the Feature does not declare, of the wrong type, or outside its enum (warning)',
  4103: 'a Feature that asks for what a rootless env has not got (privileged, capAdd, securityOpt, init, entrypoint), with what Crossroot does instead (warning/info)',
  4006: 'something Crossroot does not need, with what works instead (the debugger idiom SYS_PTRACE, seccomp=unconfined) (info)',
  5001: 'a Dockerfile that cannot be read: an unknown instruction, no FROM, a bad FROM line or flag',
  5002: 'a Dockerfile feature Crossroot cannot build (RUN --mount other than type=cache, RUN --security, ADD --keep-git-dir)',
  5003: 'EXPOSE, CMD, ENTRYPOINT, VOLUME, HEALTHCHECK, STOPSIGNAL: recorded in the image config, not run (info)',
  5004: 'a Compose file that cannot be used: unreadable, no such service, or a service without image or build',
  5005: 'Compose settings Crossroot does not run: other services, ports, networks, tmpfs volumes (warning/info)',
};

export type Severity = 'error' | 'warning' | 'info';

export interface EnvDiagnostic {
  code: DiagnosticCode;
  severity: Severity;
  message: string;
  /** Offsets into the text: [start, end). */
  start: number;
  end: number;
  /** A quick fix: replace the diagnostic's range with `text` (a misspelt key, an arch alias…). */
  fix?: { title: string; text: string };
}

export function hasErrors(diags: readonly EnvDiagnostic[]): boolean {
  return diags.some((d) => d.severity === 'error');
}

/** 1-based line and column of an offset, for `crossroot lint` and error messages. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) { line++; lineStart = i + 1; }
  }
  return { line, column: Math.min(offset, text.length) - lineStart + 1 };
}

/** Edit distance counting a swap of neighbours as one edit (optimal string alignment), for "did you mean". */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest candidate within a distance that still reads as a typo, if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const dist = editDistance(word.toLowerCase(), c.toLowerCase());
    if (dist < bestDist) { best = c; bestDist = dist; }
  }
  return best;
}
