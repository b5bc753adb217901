// Finding and loading a workspace's env file: crossroot.toml first, then devcontainer.json.
// Callers that need a runnable env use loadEnvSpec(); editors and `lint` use readEnvFile().
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CrossrootError } from '../errors';
import { readDevcontainer } from './devcontainer';
import { lineColumn, type EnvDiagnostic } from './diagnostics';
import { nodeHost, type EnvHost } from './host';
import type { EnvSpec } from './spec';
import { readEnvToml, type EnvFileResult } from './toml';

/** Env file names in the order a workspace folder is searched. */
export const ENV_FILE_NAMES = ['crossroot.toml', '.devcontainer/devcontainer.json', '.devcontainer.json'] as const;

export type EnvFileKind = 'crossroot' | 'devcontainer';

export function envFileKind(file: string): EnvFileKind | undefined {
  const base = path.basename(file);
  if (base === 'crossroot.toml') return 'crossroot';
  if (base === 'devcontainer.json' || base === '.devcontainer.json') return 'devcontainer';
  return undefined;
}

/**
 * Every env file of a workspace folder, preferred first: the fixed names, then each
 * `.devcontainer/NAME/devcontainer.json` (the Dev Containers layout for several configs) by name.
 * Editors offer this list when a folder has more than one.
 */
export function findEnvFiles(folder: string, host: EnvHost = nodeHost): string[] {
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
export function findEnvFile(folder: string, host: EnvHost = nodeHost): string | undefined {
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
export function findEnvFileUpward(cwd: string, host: EnvHost = nodeHost): string | undefined {
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    const f = findEnvFile(dir, host);
    if (f) return f;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** Reads env file text (saved or not) by its name. Files of another name are read as crossroot.toml. */
export function readEnvFile(text: string, file: string, host: EnvHost = nodeHost): EnvFileResult {
  return envFileKind(file) === 'devcontainer' ? readDevcontainer(text, { file, host }) : readEnvToml(text, { file, host });
}

/** One line per diagnostic, as `crossroot lint` and error messages print them. */
export function formatDiagnostic(file: string, text: string, d: EnvDiagnostic): string {
  const { line, column } = lineColumn(text, d.start);
  return `${file}:${line}:${column}: ${d.severity} ${d.code}: ${d.message}`;
}

/** Reads an env file from disk into a runnable EnvSpec; throws EENVFILE listing every error. */
export function loadEnvSpec(file: string, host: EnvHost = nodeHost): EnvSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CrossrootError('EENVFILE', `cannot read ${file}: ${(e as Error).message}`, { cause: e, fix: 'check the path; `crossroot lint` finds the env file of the current folder' });
  }
  const r = readEnvFile(text, file, host);
  if (r.spec) return r.spec;
  const errors = r.diagnostics.filter((d) => d.severity === 'error').map((d) => formatDiagnostic(file, text, d));
  throw new CrossrootError('EENVFILE', `${file} has ${errors.length} error${errors.length === 1 ? '' : 's'}:\n${errors.join('\n')}`, {
    fix: 'fix them (your editor shows them too), then run `crossroot lint` to check',
  });
}
