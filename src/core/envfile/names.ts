// Which files are env files, and which one a folder uses: names and directory listings only,
// nothing parsed, so the VS Code extension's activation can answer without loading the readers.
// load.ts re-exports these for everyone else.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { CrossrootError } from '../errors';

/** Env file names in the order a workspace folder is searched. */
export const ENV_FILE_NAMES = ['crossroot.toml', '.devcontainer/devcontainer.json', '.devcontainer.json'] as const;

export type EnvFileKind = 'crossroot' | 'devcontainer';

export function envFileKind(file: string): EnvFileKind | undefined {
  const base = path.basename(file);
  if (base === 'crossroot.toml') return 'crossroot';
  if (base === 'devcontainer.json' || base === '.devcontainer.json') return 'devcontainer';
  return undefined;
}

/** What finding env files asks of the file system (EnvHost has both). */
export interface EnvFileLookup {
  pathKind(path: string): 'file' | 'dir' | undefined;
  listDir?(path: string): string[];
}

export const nodeLookup: EnvFileLookup = {
  pathKind(p) {
    try {
      return statSync(p).isDirectory() ? 'dir' : 'file';
    } catch {
      return undefined;
    }
  },
  listDir(p) {
    try {
      return readdirSync(p).sort();
    } catch {
      return [];
    }
  },
};

/**
 * Every env file of a workspace folder, preferred first: the fixed names, then each
 * `.devcontainer/NAME/devcontainer.json` (the Dev Containers layout for several configs) by name.
 * Editors offer this list when a folder has more than one.
 */
export function findEnvFiles(folder: string, host: EnvFileLookup = nodeLookup): string[] {
  const fixed = ENV_FILE_NAMES.map((n) => path.join(folder, n));
  const dir = path.join(folder, '.devcontainer');
  const named = (host.listDir?.(dir) ?? []).map((n) => path.join(dir, n, 'devcontainer.json'));
  return [...fixed, ...named].filter((f) => host.pathKind(f) === 'file');
}

/**
 * The env file of a workspace folder: the first fixed name, else its only
 * `.devcontainer/NAME/devcontainer.json`; undefined when it has none. Several named configs and
 * no fixed one is a choice for the user: EMANYENVFILES lists them.
 */
export function findEnvFile(folder: string, host: EnvFileLookup = nodeLookup): string | undefined {
  const all = findEnvFiles(folder, host);
  const fixed = all.filter((f) => envFileKind(f) && ENV_FILE_NAMES.some((n) => f === path.join(folder, n)));
  if (fixed.length || all.length <= 1) return fixed[0] ?? all[0];
  throw new CrossrootError('EMANYENVFILES', `${folder} has ${all.length} dev container configs:\n${all.map((f) => `  ${path.relative(folder, f)}`).join('\n')}`, {
    fix: `pick one with --file, e.g. --file ${path.relative(process.cwd(), all[0]!) || all[0]}`,
  });
}

/**
 * The env file that applies at `cwd`: the nearest folder at or above it holding one, as git finds
 * `.git`. Undefined when no folder up to the root has one.
 */
export function findEnvFileUpward(cwd: string, host: EnvFileLookup = nodeLookup): string | undefined {
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    const f = findEnvFile(dir, host);
    if (f) return f;
    if (path.dirname(dir) === dir) return undefined;
  }
}
