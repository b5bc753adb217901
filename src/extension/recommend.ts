// Offers to install the extensions a devcontainer.json lists (customizations.vscode.extensions)
// that VS Code does not have: the extension runs beside the files, not inside the env, so they
// are installed here as usual. Asked once per env and list, with "Don't ask again".
import type { EnvSpec } from '../core/envfile/spec';
import type { Ui } from './ui';

export interface InstalledExtensions {
  has(id: string): boolean;
}

/** A memento (workspaceState) narrowed to what this needs. */
export interface Memory {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Thenable<void> | Promise<void>;
}

export const INSTALL = 'Install';
export const NOT_NOW = 'Not Now';
export const NEVER = 'Don\'t Ask Again';

/** The ids an env asks for, minus the ones it removes ("-id"), without @version; lower case. */
export function wantedExtensions(spec: EnvSpec): string[] {
  const list = spec.vscode?.extensions.map((e) => e.value.replace(/@.*$/, '').toLowerCase()) ?? [];
  const removed = new Set(list.filter((id) => id.startsWith('-')).map((id) => id.slice(1)));
  return [...new Set(list.filter((id) => !id.startsWith('-') && !removed.has(id)))];
}

/**
 * Asks about the missing extensions unless this env's user said never, or was already asked
 * about exactly these; installs them on "Install". Resolves to the ids it installed.
 */
export async function offerExtensions(spec: EnvSpec, ui: Ui, installed: InstalledExtensions, memory: Memory): Promise<string[]> {
  const missing = wantedExtensions(spec).filter((id) => !installed.has(id));
  if (!missing.length) return [];
  const key = `crossroot.extensionsOffer:${spec.file}`;
  const before = memory.get<string | string[]>(key);
  if (before === 'never') return [];
  if (Array.isArray(before) && missing.every((id) => before.includes(id))) return [];
  await memory.update(key, missing);
  const shown = missing.length > 3 ? `${missing.slice(0, 3).join(', ')} and ${missing.length - 3} more` : missing.join(', ');
  const choice = await ui.info(`The env ${spec.name} recommends extension${missing.length > 1 ? 's' : ''} that VS Code does not have: ${shown}.`, INSTALL, NOT_NOW, NEVER);
  if (choice === NEVER) {
    await memory.update(key, 'never');
    return [];
  }
  if (choice !== INSTALL) return [];
  for (const id of missing) await ui.command('workbench.extensions.installExtension', id);
  return missing;
}
