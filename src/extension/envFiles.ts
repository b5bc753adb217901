// Which env file a workspace uses: the one the user chose (Reopen devcontainer.json with
// Crossroot), else the first folder's crossroot.toml, else its devcontainer.json. Names only:
// activation calls this, so it parses nothing.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { envFileKind, findEnvFile, findEnvFiles } from '../core/envfile/names';

/** The documents the language server sees: env files by name, whatever language mode they are in. */
export const ENV_FILE_SELECTOR = [
  { scheme: 'file', pattern: '**/crossroot.toml' },
  { scheme: 'untitled', pattern: '**/crossroot.toml' },
  { scheme: 'file', pattern: '**/.devcontainer/devcontainer.json' },
  { scheme: 'file', pattern: '**/.devcontainer.json' },
  // Dockerfiles (build.dockerfile may be "../Dockerfile"): the server reports what Crossroot
  // cannot build in those a devcontainer.json builds, and nothing in the others.
  { scheme: 'file', pattern: '**/{Dockerfile,Dockerfile.*,*.Dockerfile}' },
];

export function chooseEnvFile(folders: readonly string[], chosen: string | undefined): string | undefined {
  if (chosen && existsSync(chosen) && folders.some((f) => chosen.startsWith(f + path.sep))) return chosen;
  for (const folder of folders) {
    let file: string | undefined;
    try {
      file = findEnvFile(folder);
    } catch {
      // Several .devcontainer/NAME configs: the first until the user picks one (Reopen with Crossroot).
      file = findEnvFiles(folder)[0];
    }
    if (file) return file;
  }
  return undefined;
}

/** The devcontainer.json files of the folders, .devcontainer/NAME/ ones too (for "Reopen devcontainer.json with Crossroot"). */
export function devcontainerFiles(folders: readonly string[]): string[] {
  return folders.flatMap((f) => findEnvFiles(f)).filter((f) => envFileKind(f) === 'devcontainer');
}
