// What a process inside the env gets: its variables (image Env, env file [env], HOME/USER/SHELL of
// the env's user from the env's own /etc/passwd, TERM), its user and its working directory.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { resolveContainerEnv, type EnvSpec } from '../envfile/spec';
import type { ImageConfig } from '../image/oci';
import { mapCwd } from './plan';

export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/**
 * Reads a small file of the env's tree, looking through the overlay stack top-down (the env's
 * upper, its layers, the base). Never follows a symlink: the tree is the image's, and an
 * absolute link would point at the host.
 */
export function readEnvTreeFile(trees: string[], file: string, max = 1 << 20): string | undefined {
  for (const tree of trees) {
    let fd: number;
    try {
      fd = openSync(path.join(tree, file), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      return undefined; // a symlink (ELOOP), unreadable: say nothing rather than guess
    }
    try {
      const st = fstatSync(fd);
      // A whiteout (char 0/0) in an upper hides the file from the layers below.
      if (!st.isFile()) return undefined;
      const buf = Buffer.alloc(Math.min(st.size, max));
      const n = readSync(fd, buf, 0, buf.length, 0);
      return buf.subarray(0, n).toString('utf8');
    } finally {
      closeSync(fd);
    }
  }
  return undefined;
}

/** The passwd entry for a name or numeric uid. */
export function findAccount(passwd: string | undefined, user: string): Account | undefined {
  for (const line of (passwd ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length < 7) continue;
    if (f[0] === user || (/^\d+$/.test(user) && f[2] === user)) {
      return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/', shell: f[6] || '/bin/sh' };
    }
  }
  return undefined;
}

/** `Env` of an image config as written (later entries win, as in Docker). */
export function configEnv(config: ImageConfig | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of config?.config?.Env ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}

/** The variables an image gives its processes: its `Env`, with a PATH where it sets none. */
export function imageEnv(config: ImageConfig | undefined): Record<string, string> {
  const env = configEnv(config);
  // Docker and podman give a container whose image sets no PATH this one, so a devcontainer.json
  // `${containerEnv:PATH}:/extra` means the usual dirs plus /extra there, and must here too.
  env.PATH ??= DEFAULT_PATH;
  return env;
}

/** The PATH of a container whose image sets none (Docker's and podman's default). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface Identity {
  account: Account;
  /** The env file names a user that the env's /etc/passwd lacks (it runs as root then). */
  unknownUser?: string;
}

export function identity(spec: EnvSpec, config: ImageConfig | undefined, passwd: string | undefined): Identity {
  // The env file's user wins; else the image's `User` (e.g. "node" or "1000:1000"); else root.
  const wanted = spec.shell.user !== 'root' ? spec.shell.user : (config?.config?.User?.split(':')[0] || 'root');
  const found = findAccount(passwd, wanted);
  if (found) return { account: found };
  const root = findAccount(passwd, 'root') ?? { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' };
  return wanted === 'root' || wanted === '0' ? { account: root } : { account: root, unknownUser: wanted };
}

/** Variables of every process in the env, in the order they override each other. */
export function processEnv(spec: EnvSpec, config: ImageConfig | undefined, account: Account, shell: string, term: string | undefined, featureEnv?: Record<string, string>): Record<string, string> {
  // Features' containerEnv is part of the image's env, as in the image Dev Containers builds.
  const base = featureEnv ?? imageEnv(config);
  const env: Record<string, string> = {
    ...base,
    HOME: account.home,
    USER: account.name,
    LOGNAME: account.name,
    SHELL: shell,
    ...(term ? { TERM: term } : {}),
    ...resolveContainerEnv(spec.env, base),
  };
  return env;
}

/**
 * The working dir inside for a host cwd: the same place under the workspace path when the cwd is
 * inside the workspace folder, else the image's WorkingDir, else the workspace path.
 */
export function insideCwd(spec: EnvSpec, hostCwd: string | undefined, config: ImageConfig | undefined): string {
  return mapCwd({ workspaceFolder: spec.workspaceFolder, workspacePath: spec.workspace.path, workingDir: config?.config?.WorkingDir }, hostCwd);
}
