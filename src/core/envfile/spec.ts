// EnvSpec: what an env is, whichever file described it (crossroot.toml or devcontainer.json).
// Everything downstream (build, instances, terminals, tasks) reads this and never the files.
import { createHash } from 'node:crypto';
import type { ArchName } from '../arch';
import type { Source } from '../source';

export interface Mount {
  /** Absolute host path (substituted and resolved); empty for a volume. */
  source: string;
  /** Absolute path inside the env. */
  target: string;
  readonly: boolean;
  /** A volume (devcontainer.json `type=volume`, `-v name:/target`): a folder of the env in the store, by this name. */
  volume?: string;
}

/**
 * The folder name of a volume (`envs/<id>/volumes/<name>`): Docker names volumes freely, a
 * folder name must stay one path component; an anonymous volume is named by its target.
 */
export function volumeName(source: string | undefined, target: string): string {
  if (!source) return `anonymous-${createHash('sha256').update(target).digest('hex').slice(0, 12)}`;
  return source.replace(/[^\w.-]/g, '_').replace(/^\.+/, '_');
}

/** One lifecycle command (devcontainer.json): a shell line, or argv run without a shell. */
export type LifecycleCommand = { name?: string; shell: string } | { name?: string; argv: string[] };

export interface Lifecycle {
  /** Runs on the host before anything else (devcontainer `initializeCommand`). */
  initialize: LifecycleCommand[];
  /** Run inside the env once after it is first created, in this order. */
  onCreate: LifecycleCommand[];
  updateContent: LifecycleCommand[];
  postCreate: LifecycleCommand[];
  /** Run inside the env each time an instance starts. */
  postStart: LifecycleCommand[];
  /** Run inside the env each time a terminal/editor attaches. */
  postAttach: LifecycleCommand[];
}

export interface EnvSpec {
  /** Absolute path of the file this came from. */
  file: string;
  /** The workspace folder the env belongs to (the env file's folder; for .devcontainer/, its parent). */
  workspaceFolder: string;
  name: string;
  arch: ArchName;
  source: Source;
  setup: { packages: string[]; run: string[] };
  /**
   * Variables for every process of the env. Values from devcontainer.json may still hold
   * `${containerEnv:VAR}`, which only the image config can answer: see resolveContainerEnv().
   */
  env: Record<string, string>;
  workspace: { path: string };
  mounts: Mount[];
  /** `path` undefined: the user's login shell from the env's /etc/passwd, else /bin/sh. */
  shell: { path?: string; user: string };
  network: { mode: 'host' | 'none' | 'private' };
  limits: { memoryBytes?: number; pids?: number };
  /** `[tools]`: host tools inside the env; unset fields take their defaults. */
  tools?: { nativeCompilers?: boolean };
  /** Seconds the instance lives on with nothing running in it; 0 = until stopped; unset = the default. */
  idleTimeout?: number;
  lifecycle: Lifecycle;
  /** VS Code settings the env asks for (devcontainer `customizations.vscode.settings`). */
  settings: Record<string, unknown>;
  /** devcontainer.json `customizations.vscode` with where each entry is written (crossroot.toml has none). */
  vscode?: VscodeCustomizations;
  /** devcontainer.json Features: installed in the spec's order over the base image, one layer each. */
  features?: EnvFeatures;
}

export interface EnvFeatures {
  /** `features` in file order: the reference as written and its options. */
  list: Array<Located<string> & { options: Record<string, string | boolean> }>;
  /** `overrideFeatureInstallOrder`. */
  installOrder: string[];
  /** The folder local `./feature` references are relative to (devcontainer.json's). */
  baseDir: string;
  /** remoteUser / containerUser as written, for the Features' _REMOTE_USER / _CONTAINER_USER. */
  remoteUser?: string;
  containerUser?: string;
}

/** A value and the offsets of its text in the env file, so an editor can point at it. */
export interface Located<T> {
  value: T;
  start: number;
  end: number;
}

export interface VscodeCustomizations {
  /**
   * Extension ids ("publisher.name"; "-publisher.name" removes one): the Features' first (`from`
   * names the Feature; the position is its key in `features`), then the file's, in file order.
   */
  extensions: Array<Located<string> & { from?: string }>;
  /** Settings, the Features' first; `start`/`end` span the whole `"key": value` pair (a Feature's: its key). */
  settings: Array<Located<unknown> & { key: string; from?: string }>;
}

export const DEFAULT_WORKSPACE_PATH = '/workspace';

/** What an env name may be: it names a folder in the store and is the env's hostname. */
export const ENV_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** An env name made from free text (a folder name, a devcontainer.json "name"): "My App 2" → "My-App-2". */
export function envNameFrom(text: string): string {
  const name = text.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').replace(/-+$/, '');
  return name || 'env';
}

export function emptyLifecycle(): Lifecycle {
  return { initialize: [], onCreate: [], updateContent: [], postCreate: [], postStart: [], postAttach: [] };
}

/**
 * Fills `${containerEnv:VAR}` from the image's own environment (devcontainer.json remoteEnv such
 * as `"PATH": "${containerEnv:PATH}:/opt/bin"`). Unknown variables become their default or empty,
 * as in Dev Containers; with `keepUnknown` they stay for a later pass.
 */
export function resolveContainerEnv(env: Record<string, string>, imageEnv: Record<string, string>, keepUnknown = false): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    out[k] = v.replace(/\$\{containerEnv:([^}:]+)(?::([^}]*))?\}/g, (whole, name: string, dflt?: string) => imageEnv[name] ?? (keepUnknown ? whole : dflt ?? ''));
  }
  return out;
}

/** "source=/a,target=/b,type=bind,readonly" → fields (Docker's --mount syntax). */
export function parseMountString(s: string): { type?: string; source?: string; target?: string; readonly?: boolean } {
  const out: { type?: string; source?: string; target?: string; readonly?: boolean } = {};
  for (const part of s.split(',')) {
    const eq = part.indexOf('=');
    const k = (eq < 0 ? part : part.slice(0, eq)).trim();
    const v = eq < 0 ? undefined : part.slice(eq + 1).trim();
    if (k === 'type') out.type = v;
    else if (k === 'source' || k === 'src') out.source = v;
    else if (k === 'target' || k === 'destination' || k === 'dst') out.target = v;
    else if (k === 'readonly' || k === 'ro') out.readonly = v === undefined || v === 'true' || v === '1';
  }
  return out;
}

/** "90s", "15m", "2h", plain seconds, or "never" (0); undefined for anything else. */
export function parseDuration(text: string): number | undefined {
  if (text === 'never') return 0;
  const m = /^(\d+)([smh]?)$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
}
