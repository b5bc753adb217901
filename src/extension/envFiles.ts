// Which env file a workspace uses: the one the user chose (Reopen devcontainer.json with
// Crossroot), else the first folder's crossroot.toml, else its devcontainer.json.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { findEnvFile } from '../core/envfile/load';

export const DEVCONTAINER_FILES = ['.devcontainer/devcontainer.json', '.devcontainer.json'] as const;

export function chooseEnvFile(folders: readonly string[], chosen: string | undefined): string | undefined {
  if (chosen && existsSync(chosen) && folders.some((f) => chosen.startsWith(f + path.sep))) return chosen;
  for (const folder of folders) {
    const file = findEnvFile(folder);
    if (file) return file;
  }
  return undefined;
}

/** The devcontainer.json files of the folders (for "Reopen devcontainer.json with Crossroot"). */
export function devcontainerFiles(folders: readonly string[]): string[] {
  return folders.flatMap((f) => DEVCONTAINER_FILES.map((n) => path.join(f, n))).filter((f) => existsSync(f));
}
