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
} as const;
export type DiagnosticCode = (typeof Code)[keyof typeof Code];

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
