// What an env's own configuration needs so that its tools work under the id map it runs with.
// The helper makes chown work in a single-id map (a seccomp supervisor records owners the map
// lacks, native/README.md "chown in a single-id map"), but it cannot know a package manager:
// apt drops privileges to `_apt` for downloads (setgroups + setresuid), which a single-id map
// cannot do ("setgroups 0 failed … Method http has died"). The env lifecycle writes these files
// into the env's writable layer (or a setup layer) before running anything in it.

/** One file to place in the env, relative to its root. */
export interface EnvConfigFile {
  /** Path inside the env without a leading slash, e.g. `etc/apt/apt.conf.d/00crossroot-sandbox`. */
  path: string;
  content: string;
  mode: number;
}

/** apt's own setting for a sandbox user that exists: with only root mapped, that is root. */
export const APT_SANDBOX_ROOT: EnvConfigFile = {
  path: 'etc/apt/apt.conf.d/00crossroot-sandbox-user',
  content: [
    '// Written by crossroot: this env runs with a single-id map (no subordinate ids for your user),',
    '// where only root exists, so apt cannot drop to _apt for downloads.',
    'APT::Sandbox::User "root";',
    '',
  ].join('\n'),
  mode: 0o644,
};

/**
 * The files an env needs for the id map it runs with (the mode the helper actually used: `auto`
 * resolves to `full` only with a subuid range and working newuidmap; `crossroot-helper check
 * --json` reports it as the `idmap-full` check). `has(path)` says whether a path (relative, no
 * leading slash) exists in the env's tree, so a distro without apt gets no apt config.
 *
 * Full map: nothing (apt's `_apt` exists). Single map: apt's sandbox user is root.
 */
export function idmapConfigFiles(idmap: 'single' | 'full', has: (path: string) => boolean): EnvConfigFile[] {
  if (idmap === 'full') return [];
  return has('etc/apt/apt.conf.d') ? [APT_SANDBOX_ROOT] : [];
}
