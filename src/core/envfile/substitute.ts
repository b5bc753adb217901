// `${…}` variables and `~` in env file values: the Dev Containers spellings, so one file's
// habits carry over to the other. Unknown variables stay as written (as the reference
// implementation leaves them: `[${severity}]` in a command is the command's own) with a note.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Code, type DiagnosticCode, type Severity } from './diagnostics';
import type { EnvHost } from './host';

export interface SubstitutionContext {
  host: EnvHost;
  /** The env file's folder: relative paths resolve against it. */
  fileDir: string;
  /** The workspace folder on the host. */
  workspaceFolder: string;
  /** Where the workspace appears inside the env, for `${containerWorkspaceFolder}`. */
  containerWorkspaceFolder?: string;
  /** Keep `${containerEnv:VAR}` for resolveContainerEnv() (env values only). */
  allowContainerEnv?: boolean;
  /** The env file, for `${devcontainerId}` (which the spec derives from the folder and the file). */
  file?: string;
}

/**
 * `${devcontainerId}`: the spec's label-based id (sorted JSON of the labels, SHA-256, base 32,
 * 52 chars) over the labels devcontainers/cli uses, so a file gets the id it gets there.
 */
export function devcontainerId(workspaceFolder: string, file: string): string {
  const labels: Record<string, string> = { 'devcontainer.config_file': file, 'devcontainer.local_folder': workspaceFolder };
  const hash = createHash('sha256').update(JSON.stringify(labels, Object.keys(labels).sort()), 'utf8').digest('hex');
  return BigInt(`0x${hash}`).toString(32).padStart(52, '0');
}

export interface SubstitutionProblem {
  code: DiagnosticCode;
  severity: Severity;
  message: string;
}

const VARIABLE = /\$\{([^}]*)\}/g;

export function substitute(value: string, ctx: SubstitutionContext): { value: string; problems: SubstitutionProblem[] } {
  const problems: SubstitutionProblem[] = [];
  // `${localEnv:HOME}${localEnv:USERPROFILE}` is the portable idiom: one of them unset is fine.
  const unset: SubstitutionProblem[] = [];
  let anySet = false;
  const out = value.replace(VARIABLE, (whole, body: string) => {
    const colon = body.indexOf(':');
    const name = colon < 0 ? body : body.slice(0, colon);
    const arg = colon < 0 ? undefined : body.slice(colon + 1);
    switch (name) {
      case 'workspaceFolder':
      case 'localWorkspaceFolder':
        return ctx.workspaceFolder;
      case 'workspaceFolderBasename':
      case 'localWorkspaceFolderBasename':
        return path.basename(ctx.workspaceFolder);
      case 'devcontainerId':
        if (ctx.file !== undefined) return devcontainerId(ctx.workspaceFolder, ctx.file);
        break;
      case 'containerWorkspaceFolder':
      case 'containerWorkspaceFolderBasename':
        if (ctx.containerWorkspaceFolder !== undefined) {
          return name.endsWith('Basename') ? path.posix.basename(ctx.containerWorkspaceFolder) : ctx.containerWorkspaceFolder;
        }
        break;
      case 'localEnv':
      case 'env': {
        if (!arg) break;
        const sep = arg.indexOf(':');
        const varName = sep < 0 ? arg : arg.slice(0, sep);
        const fallback = sep < 0 ? undefined : arg.slice(sep + 1);
        const v = ctx.host.getenv(varName);
        if (v !== undefined) { anySet ||= v !== ''; return v; }
        if (fallback !== undefined) return fallback;
        unset.push({ code: Code.UnsetLocalEnv, severity: 'warning', message: `${whole}: ${varName} is not set on this machine, so it expands to an empty string; set it, or give a default: \${localEnv:${varName}:default}` });
        return '';
      }
      case 'containerEnv':
        if (ctx.allowContainerEnv && arg) return whole;
        break;
    }
    problems.push({
      code: Code.UnknownVariable, severity: 'info',
      message: `${whole} is not a variable Crossroot knows here, so it stays as written; the known ones are \${localEnv:VAR}, \${localWorkspaceFolder}, \${localWorkspaceFolderBasename}, \${containerWorkspaceFolder}, \${containerWorkspaceFolderBasename}, \${devcontainerId}${ctx.allowContainerEnv ? ' and ${containerEnv:VAR}' : ''}`,
    });
    return whole;
  });
  if (!anySet) problems.push(...unset);
  return { value: out, problems };
}

/** A host path: variables, then `~`, then relative to the env file's folder. */
export function expandHostPath(value: string, ctx: SubstitutionContext): { value: string; problems: SubstitutionProblem[] } {
  const r = substitute(value, ctx);
  let p = r.value;
  if (p === '~' || p.startsWith('~/')) p = path.join(ctx.host.homedir(), p.slice(1));
  return { value: path.resolve(ctx.fileDir, p), problems: r.problems };
}
