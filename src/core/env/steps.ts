// The build plan of an env: which steps run over its base image, in order, each becoming one
// cached layer: [setup] packages (through the image's own package manager), each [setup] run
// command, then devcontainer onCreateCommand and postCreateCommand.
import { lstatSync } from 'node:fs';
import path from 'node:path';
import type { EnvSpec, LifecycleCommand } from '../envfile/spec';
import type { Bind } from '../sandbox/helper';

export type StepKind = 'packages' | 'run' | 'onCreate' | 'postCreate';

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

export interface PlanContext {
  spec: EnvSpec;
  pm: PackageManager | undefined;
  /** Host dir for downloaded packages of this (distro, arch). */
  packageCache: string;
  /** Variables of every step: the image's Env plus the env file's. */
  env: Record<string, string>;
}

/** The steps of an env, in build order. */
export function planSteps(c: PlanContext): Step[] {
  const { spec } = c;
  const steps: Step[] = [];
  if (spec.setup.packages.length) {
    const pm = c.pm;
    steps.push({
      kind: 'packages',
      label: `[setup] packages: ${spec.setup.packages.join(' ')}`,
      text: `${pm ?? 'none'}\n${spec.setup.packages.join('\n')}`,
      command: pm ? packagesCommand(pm, spec.setup.packages) : [],
      binds: [{ source: c.packageCache, target: PACKAGE_CACHE_TARGET }],
      env: { ...c.env, DEBIAN_FRONTEND: 'noninteractive' },
      cwd: '/',
      perEnv: false,
    });
  }
  for (const line of spec.setup.run) {
    steps.push({ kind: 'run', label: `[setup] run: ${line}`, text: line, command: ['/bin/sh', '-c', line], binds: [], env: c.env, cwd: '/', perEnv: false });
  }
  const workspace: Bind = { source: spec.workspaceFolder, target: spec.workspace.path };
  for (const [kind, list, name] of [['onCreate', spec.lifecycle.onCreate, 'onCreateCommand'], ['postCreate', spec.lifecycle.postCreate, 'postCreateCommand']] as const) {
    for (const cmd of list) {
      steps.push({
        kind, label: `${name}${cmd.name ? ` (${cmd.name})` : ''}: ${lifecycleText(cmd)}`, text: lifecycleText(cmd),
        command: lifecycleArgv(cmd), binds: [workspace], env: c.env, cwd: spec.workspace.path, perEnv: true,
      });
    }
  }
  return steps;
}

export { lifecycleArgv, lifecycleText };
