// The build plan of an env: which steps run over its base image, in order, each becoming one
// cached layer: [setup] packages (through the image's own package manager), each [setup] run
// command, then the devcontainer onCreate, updateContent and postCreate commands (each moment's
// Features' commands first, in install order, as Dev Containers runs them).
import { lstatSync } from 'node:fs';
import path from 'node:path';
import type { EnvSpec, LifecycleCommand } from '../envfile/spec';
import { applyContainerEnv, type FeatureLifecycle } from '../features/feature';
import type { Bind } from '../sandbox/helper';

export type StepKind = 'packages' | 'run' | 'feature' | 'onCreate' | 'postCreate';

export interface Step {
  kind: StepKind;
  /** How the user knows the step: `[setup] packages: gcc make`, `postCreateCommand: npm ci`. */
  label: string;
  /** What the cache key hashes besides parent, arch and env: the step as written. */
  text: string;
  /** argv run inside the env as root. */
  command: string[];
  /** Host dirs the step needs (the package cache; the workspace for devcontainer lifecycle steps). */
  binds: Bind[];
  env: Record<string, string>;
  cwd: string;
  /**
   * Devcontainer lifecycle steps act on the workspace (`npm ci`), so their layer belongs to this
   * env alone: another checkout of the same project must run them again.
   */
  perEnv: boolean;
}

export type PackageManager = 'apt' | 'apk' | 'dnf' | 'microdnf';

const MANAGERS: Array<[PackageManager, string]> = [['apt', 'apt-get'], ['apk', 'apk'], ['dnf', 'dnf'], ['microdnf', 'microdnf']];

/** The package manager a rootfs ships, looked up in its own bin dirs (never the host's). */
export function detectPackageManager(rootfs: string, lowers: string[] = []): PackageManager | undefined {
  const trees = [...lowers].reverse().concat(rootfs);
  for (const [pm, bin] of MANAGERS) {
    for (const dir of ['usr/bin', 'bin', 'usr/sbin', 'sbin']) {
      for (const tree of trees) {
        try {
          lstatSync(path.join(tree, dir, bin));
          return pm;
        } catch { /* not here */ }
      }
    }
  }
  return undefined;
}

/** Where each manager keeps downloaded packages inside the env, and the host cache bound there. */
export const PACKAGE_CACHE_TARGET = '/var/cache/crossroot-packages';

/**
 * The packages step's command. Packages are passed as arguments after `--`, never spliced into
 * shell text. apt keeps its downloads in the bound host cache (a dir of its own, so images'
 * docker-clean hooks that empty /var/cache/apt/archives leave it alone), so a rebuild downloads
 * nothing again; it runs as root without dropping to `_apt`, which a single-id map cannot switch to.
 */
export function packagesCommand(pm: PackageManager, packages: string[]): string[] {
  switch (pm) {
    case 'apt': {
      const o = ['-o', `Dir::Cache::Archives=${PACKAGE_CACHE_TARGET}/`, '-o', 'APT::Keep-Downloaded-Packages=true', '-o', 'APT::Sandbox::User=root'];
      const opts = o.map((x) => `'${x}'`).join(' ');
      return ['/bin/sh', '-c', `set -e; apt-get ${opts} update; apt-get ${opts} install -y -- "$@"`, 'crossroot-packages', ...packages];
    }
    case 'apk':
      return ['/bin/sh', '-c', `set -e; apk add --no-progress --cache-dir ${PACKAGE_CACHE_TARGET} -- "$@"`, 'crossroot-packages', ...packages];
    case 'dnf':
    case 'microdnf':
      return ['/bin/sh', '-c', `set -e; ${pm} install -y --setopt=keepcache=1 --setopt=cachedir=${PACKAGE_CACHE_TARGET} -- "$@"`, 'crossroot-packages', ...packages];
  }
}

function lifecycleArgv(c: LifecycleCommand): string[] {
  return 'shell' in c ? ['/bin/sh', '-c', c.shell] : c.argv;
}

function lifecycleText(c: LifecycleCommand): string {
  return 'shell' in c ? c.shell : JSON.stringify(c.argv);
}

/** A Feature to install (resolved and in install order): see src/core/features. */
export interface FeatureInstall {
  /** The reference as written, for the step's label. */
  ref: string;
  id: string;
  /** The Feature's digest: part of the layer key, so another version is another layer. */
  digest: string;
  /** Its folder on the host, bound read-only into the step. */
  dir: string;
  /** Its options as env vars. */
  options: Record<string, string>;
  /** Its containerEnv, for this step and every later one. */
  containerEnv: Record<string, string>;
  /** Its lifecycle commands (variables filled in): each moment's run before devcontainer.json's own. */
  lifecycle: FeatureLifecycle;
  /** Its folder bound read-only where `${featureRoot}` says, when its commands use it. */
  root?: Bind;
}

// Where a Feature's folder is bound (read-only) and copied to before install.sh runs, as
// devcontainers/cli lays them out; the copy is removed afterwards, so the layer holds only what
// install.sh made.
export const FEATURE_SOURCE_TARGET = '/tmp/build-features-src';
const FEATURE_SCRIPT = [
  'set -e',
  'rm -rf "$2"; mkdir -p "$2"; cp -R "$1"/. "$2"/; chmod -R 0755 "$2"; cd "$2"',
  // The users' homes, as the env's /etc/passwd has them now (an earlier Feature may have made the user).
  'home() { h=; if command -v awk >/dev/null 2>&1; then h=$(awk -F: -v u="$1" \'$1 == u { print $6; exit }\' /etc/passwd); fi;',
  '  if [ -n "$h" ]; then echo "$h"; elif [ "$1" = root ]; then echo /root; else echo "/home/$1"; fi; }',
  '_REMOTE_USER_HOME=$(home "$_REMOTE_USER"); _CONTAINER_USER_HOME=$(home "$_CONTAINER_USER")',
  'export _REMOTE_USER_HOME _CONTAINER_USER_HOME',
  'chmod +x ./install.sh',
  './install.sh',
  'cd /; rm -rf "$2"',
].join('\n');

/** The step of one Feature: install.sh as root, its options and the users in its environment. */
export function featureStep(f: FeatureInstall, index: number, env: Record<string, string>, users: { remote: string; container: string }): Step {
  const safe = f.id.replace(/[^\w.-]/g, '_');
  return {
    kind: 'feature',
    label: `feature ${f.ref}`,
    text: `${f.ref}\n${f.digest}`,
    command: ['/bin/sh', '-c', FEATURE_SCRIPT, 'crossroot-feature', `${FEATURE_SOURCE_TARGET}/${safe}`, `/tmp/dev-container-features/${safe}_${index}`],
    binds: [{ source: f.dir, target: `${FEATURE_SOURCE_TARGET}/${safe}`, readonly: true }],
    env: { ...env, ...f.options, _REMOTE_USER: users.remote, _CONTAINER_USER: users.container },
    cwd: '/',
    perEnv: false,
  };
}

export interface PlanContext {
  spec: EnvSpec;
  pm: PackageManager | undefined;
  /** Host dir for downloaded packages of this (distro, arch). */
  packageCache: string;
  /** Variables of every step: the image's Env plus the env file's. */
  env: Record<string, string>;
  /** devcontainer.json Features, in install order; they run first, over the base image. */
  features?: FeatureInstall[];
  /** _REMOTE_USER / _CONTAINER_USER for the Features. */
  users?: { remote: string; container: string };
}

/** The steps of an env, in build order. */
export function planSteps(c: PlanContext): Step[] {
  const { spec } = c;
  const steps: Step[] = [];
  // A Feature's containerEnv is ENV in Dev Containers' image: later Features and steps see it.
  let env = c.env;
  for (const [i, f] of (c.features ?? []).entries()) {
    steps.push(featureStep(f, i, env, c.users ?? { remote: 'root', container: 'root' }));
    env = applyContainerEnv(env, f.containerEnv);
  }
  // The env file's own variables still win over the Features' (they are the container's, not the image's).
  if (c.features?.length) env = { ...env, ...spec.env };
  if (spec.setup.packages.length) {
    const pm = c.pm;
    steps.push({
      kind: 'packages',
      label: `[setup] packages: ${spec.setup.packages.join(' ')}`,
      text: `${pm ?? 'none'}\n${spec.setup.packages.join('\n')}`,
      command: pm ? packagesCommand(pm, spec.setup.packages) : [],
      binds: [{ source: c.packageCache, target: PACKAGE_CACHE_TARGET }],
      env: { ...env, DEBIAN_FRONTEND: 'noninteractive' },
      cwd: '/',
      perEnv: false,
    });
  }
  for (const line of spec.setup.run) {
    steps.push({ kind: 'run', label: `[setup] run: ${line}`, text: line, command: ['/bin/sh', '-c', line], binds: [], env, cwd: '/', perEnv: false });
  }
  const workspace: Bind = { source: spec.workspaceFolder, target: spec.workspace.path };
  // Layer kinds stay 'onCreate' for updateContentCommand: both run once, after the env is made,
  // and the keys of layers built before Features could add commands stay the same.
  const moments = [['onCreate', 'onCreate', 'onCreateCommand'], ['updateContent', 'onCreate', 'updateContentCommand'], ['postCreate', 'postCreate', 'postCreateCommand']] as const;
  for (const [moment, kind, name] of moments) {
    const commands = [
      ...(c.features ?? []).flatMap((f) => (f.lifecycle[moment] ?? []).map((cmd) => ({ cmd, of: ` of Feature ${f.ref}`, root: f.root }))),
      ...spec.lifecycle[moment].map((cmd) => ({ cmd, of: '', root: undefined })),
    ];
    for (const { cmd, of, root } of commands) {
      steps.push({
        kind, label: `${name}${of}${cmd.name ? ` (${cmd.name})` : ''}: ${lifecycleText(cmd)}`, text: lifecycleText(cmd),
        command: lifecycleArgv(cmd), binds: [workspace, ...(root ? [root] : [])], env, cwd: spec.workspace.path, perEnv: true,
      });
    }
  }
  return steps;
}

export { lifecycleArgv, lifecycleText };
