// Finding and loading a workspace's env file: crossroot.toml first, then devcontainer.json.
// Callers that need a runnable env use loadEnvSpec(); editors and `lint` use readEnvFile().
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CrossrootError } from '../errors';
import { readDevcontainer } from './devcontainer';
import { lineColumn, type EnvDiagnostic } from './diagnostics';
import { nodeHost, type EnvHost } from './host';
import { envFileKind, findEnvFiles } from './names';
import type { EnvSpec } from './spec';
import { readEnvToml, type EnvFileResult } from './toml';

export { ENV_FILE_NAMES, envFileKind, findEnvFile, findEnvFileUpward, findEnvFiles } from './names';

/** Reads env file text (saved or not) by its name. Files of another name are read as crossroot.toml. */
export function readEnvFile(text: string, file: string, host: EnvHost = nodeHost): EnvFileResult {
  return envFileKind(file) === 'devcontainer' ? readDevcontainer(text, { file, host }) : readEnvToml(text, { file, host });
}

/**
 * The devcontainer.json files whose build is `dockerfile` (`build.dockerfile`, legacy
 * `dockerFile`, or the Compose service's build), looked for in its folder and every folder above
 * it, where a project keeps its `.devcontainer` (`"dockerfile": "../Dockerfile"` is common); also
 * when the devcontainer.json has errors (the Dockerfile's own ones among them).
 */
export function devcontainersBuilding(dockerfile: string, host: EnvHost = nodeHost): string[] {
  const target = path.resolve(dockerfile);
  const found: string[] = [];
  for (let dir = path.dirname(target); ; dir = path.dirname(dir)) {
    for (const f of findEnvFiles(dir, host)) {
      if (envFileKind(f) !== 'devcontainer') continue;
      const text = host.readFile ? host.readFile(f) : (() => { try { return readFileSync(f, 'utf8'); } catch { return undefined; } })();
      const built = text === undefined ? undefined : readEnvFile(text, f, host).dockerfile;
      if (built && path.resolve(built) === target) found.push(f);
    }
    if (path.dirname(dir) === dir) return found;
  }
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
