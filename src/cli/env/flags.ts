// The options of the env commands (shell, exec, build, status, stop), apart from what they do:
// light on purpose, since the warm path of exec/shell/build (src/cli/quick.ts) parses them the
// same way before it decides whether it can answer.

export const ENV_OPTIONS = {
  file: { type: 'string', short: 'f' },
  store: { type: 'string' },
  'shared-store': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  verbose: { type: 'boolean', short: 'v', default: false },
  'idle-timeout': { type: 'string' },
} as const;

export const ENV_OPTIONS_USAGE = [
  '  -f, --file FILE        the env file (default: crossroot.toml or .devcontainer/devcontainer.json',
  '                         in the current folder or the nearest folder above it; a folder with several',
  '                         .devcontainer/NAME/devcontainer.json lists them, and you name one)',
  '  --store DIR            the image store (default: $CROSSROOT_STORE, else $XDG_CACHE_HOME/crossroot)',
  '  --shared-store         accept a store other users can enter (CROSSROOT_SHARED_STORE=1); see docs/security.md',
  '  --idle-timeout T       stop the env after T with nothing running in it: 90s, 15m, 2h or never',
  '                         (default: [instance] idle-timeout, else 15m)',
  '  -v, --verbose          show every step, also cached ones',
].join('\n');

export interface EnvFlags {
  file?: string | undefined;
  store?: string | undefined;
  'shared-store'?: boolean | undefined;
  json?: boolean | undefined;
  verbose?: boolean | undefined;
  'idle-timeout'?: string | undefined;
}

/** exec's own options on top of the env ones. */
export const EXEC_OPTIONS = { ...ENV_OPTIONS, cwd: { type: 'string' as const }, env: { type: 'string' as const, multiple: true, default: [] as string[] } };

/** build's own options on top of the env ones. */
export const BUILD_OPTIONS = { ...ENV_OPTIONS, rebuild: { type: 'boolean' as const, default: false }, pull: { type: 'boolean' as const, default: false } };

/** Index of the first word of the command: after `--`, or the first word that is not an option (or an option's value). */
export function commandStart(argv: string[], options: Record<string, { type: string; short?: string }>): number {
  const takesValue = new Set<string>();
  for (const [name, o] of Object.entries(options)) {
    if (o.type === 'string') { takesValue.add(`--${name}`); if (o.short) takesValue.add(`-${o.short}`); }
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--' || !a.startsWith('-') || a === '-') return i;
    if (takesValue.has(a)) i++;
  }
  return argv.length;
}
