// The one schema of crossroot.toml: every key, its type, allowed values and documentation.
// Validation, completion, hover and the README reference all read this table, so they agree.
import { ARCH_NAMES, ARCHES } from '../arch';
import { DEBIAN_MIRROR, DEBIAN_PACKAGE, DEBIAN_SNAPSHOT, DEBIAN_SUITE, SOURCE_KINDS, type SourceKind, type TomlSourceKind } from '../source';
import { ENV_NAME } from './spec';

export type FieldType =
  | 'string' | 'integer' | 'boolean' | 'string-array'
  /** A table whose keys are free (environment variable names) and values strings. */
  | 'string-map'
  /** A byte size: "2g", "512m", "1.5G", or an integer number of bytes. */
  | 'size'
  | 'table'
  /** `[[name]]`: an array of tables. */
  | 'table-array';

export interface ValueDoc {
  readonly value: string;
  readonly doc: string;
}

export interface FieldSchema {
  readonly type: FieldType;
  /** Markdown shown on hover and in the README. */
  readonly doc: string;
  /** What applies when the key is absent, in words. */
  readonly default?: string;
  readonly required?: boolean;
  /** Values offered by completion; with `strict` they are the only ones allowed. */
  readonly values?: readonly ValueDoc[];
  readonly strict?: boolean;
  /** Checked after the type (for string arrays, on each item): what a valid value looks like. */
  readonly format?: { readonly test: RegExp; readonly expected: string };
  /** For [source] keys: the kinds that take this key. */
  readonly kinds?: readonly SourceKind[];
  /** Tables: their keys, in the order docs and formatting present them. */
  readonly fields?: Readonly<Record<string, FieldSchema>>;
  /** A TOML snippet for the README. */
  readonly example?: string;
}

const PATH_KINDS: readonly SourceKind[] = ['oci-layout', 'oci-archive', 'docker-archive', 'rootfs-tar', 'dir'];

const KIND_DOCS: Record<TomlSourceKind, string> = {
  image: 'A registry image; `ref` names it (same as top-level `image`).',
  'oci-layout': 'An OCI image layout directory (has `oci-layout` and `index.json`), e.g. from `skopeo copy … oci:DIR`.',
  'oci-archive': 'A tar of an OCI image layout (`skopeo copy … oci-archive:FILE`).',
  'docker-archive': 'A `docker save` / `podman save` tarball.',
  'rootfs-tar': 'A plain root filesystem tarball: `.tar`, `.tar.gz`/`.tgz`, `.tar.zst`.',
  dir: 'A directory used as the root filesystem; it stays untouched (writes go to the env\'s own layer).',
  debian: 'A Debian tree bootstrapped with mmdebstrap (needs `mmdebstrap` on the host).',
};

export const SHELL_PATHS: readonly ValueDoc[] = [
  { value: '/bin/bash', doc: 'GNU Bash' },
  { value: '/bin/sh', doc: 'POSIX shell (dash on Debian, busybox ash on Alpine)' },
  { value: '/bin/zsh', doc: 'Z shell' },
  { value: '/usr/bin/fish', doc: 'fish' },
  { value: '/bin/ash', doc: 'busybox ash' },
];

export const ENV_SCHEMA: FieldSchema = {
  type: 'table',
  doc: 'A Crossroot env: which root filesystem, for which CPU architecture, set up how.',
  fields: {
    name: {
      type: 'string',
      doc: 'The env\'s name, shown in terminal profiles ("arm64 · name") and `crossroot` output; it also names the env\'s state folder and is its hostname.',
      default: 'the name of the folder holding the env file (other characters become "-")',
      format: { test: ENV_NAME, expected: 'letters, digits, ".", "_" or "-", starting with a letter or digit' },
      example: 'name = "firmware"',
    },
    arch: {
      type: 'string',
      doc: 'CPU architecture of the env. Foreign architectures run through qemu-user, registered in a private binfmt_misc (no host setup). Aliases such as `aarch64` or `x86_64` are accepted.',
      default: 'the host\'s architecture',
      values: ARCH_NAMES.map((n) => ({ value: n, doc: `\`uname -m\` prints ${ARCHES[n].uname}; OCI platform linux/${ARCHES[n].oci.architecture}${ARCHES[n].oci.variant ? '/' + ARCHES[n].oci.variant : ''}` })),
      example: 'arch = "arm64"',
    },
    image: {
      type: 'string',
      doc: 'A registry image to use as the root filesystem: `debian:bookworm`, `ghcr.io/org/img:tag`, `repo@sha256:…`. Short names mean Docker Hub. The platform is picked by `arch`. Shorthand for `[source] kind = "image"`; use one or the other.',
      example: 'image = "docker.io/library/debian:bookworm"',
    },
    source: {
      type: 'table',
      doc: 'Where the root filesystem comes from, when it is not a registry `image`: a local OCI layout or archive, a rootfs tarball or directory, or a Debian bootstrap.',
      example: '[source]\nkind = "debian"\nsuite = "bookworm"\nvariant = "minbase"',
      fields: {
        kind: {
          type: 'string', required: true, strict: true,
          doc: 'The kind of source.',
          values: SOURCE_KINDS.map((k) => ({ value: k, doc: KIND_DOCS[k] })),
        },
        path: {
          type: 'string', kinds: PATH_KINDS,
          doc: 'The file or directory, relative to the env file\'s folder; `~` and `${localEnv:VAR}` expand.',
        },
        ref: {
          type: 'string', kinds: ['image', 'oci-layout', 'oci-archive', 'docker-archive'],
          doc: 'For `image`: the image reference. For layouts and archives: which image inside (its `org.opencontainers.image.ref.name` or repo:tag) when there are several.',
        },
        suite: {
          type: 'string', kinds: ['debian'],
          doc: 'Debian suite or codename: `bookworm`, `trixie`, `sid`, `stable`… (riscv64 needs trixie or later).',
          values: ['bookworm', 'trixie', 'sid', 'stable', 'testing', 'unstable'].map((s) => ({ value: s, doc: `Debian ${s}` })),
          format: { test: DEBIAN_SUITE, expected: 'a suite name such as "bookworm": letters, digits, ".", "_", "+" or "-", starting with a letter or digit' },
        },
        variant: {
          type: 'string', kinds: ['debian'], strict: true,
          doc: 'mmdebstrap variant: how much gets installed.',
          default: '"minbase"',
          values: [
            { value: 'extract', doc: 'Only unpack the essential packages, do not configure them.' },
            { value: 'essential', doc: 'Essential packages only.' },
            { value: 'apt', doc: 'Essential packages and apt.' },
            { value: 'minbase', doc: 'Essential and required-priority packages with apt (smallest usable system).' },
            { value: 'required', doc: 'Essential and required-priority packages.' },
            { value: 'buildd', doc: 'minbase plus build-essential.' },
            { value: 'important', doc: 'Required and important-priority packages.' },
            { value: 'standard', doc: 'Up to standard priority: a normal Debian system.' },
          ],
        },
        snapshot: {
          type: 'string', kinds: ['debian'],
          doc: 'A snapshot.debian.org timestamp: the exact archive state to bootstrap from, for reproducible trees.',
          format: { test: DEBIAN_SNAPSHOT, expected: 'a timestamp like "20250101T000000Z"' },
        },
        packages: {
          type: 'string-array', kinds: ['debian'],
          doc: 'Extra packages included in the bootstrap itself: names, optionally with `:arch`, `=version` or `/release`.',
          format: { test: DEBIAN_PACKAGE, expected: 'a Debian package name such as "build-essential" (optionally with :arch, =version or /release)' },
        },
        mirror: {
          type: 'string', kinds: ['debian'],
          doc: 'Debian mirror URL.',
          default: '"http://deb.debian.org/debian"',
          format: { test: DEBIAN_MIRROR, expected: 'an http(s):// or file:// URL' },
        },
      },
    },
    setup: {
      type: 'table',
      doc: 'Steps run once when the env is built, each cached as its own layer: packages first (through the image\'s package manager), then `run` commands.',
      example: '[setup]\npackages = ["build-essential", "cmake"]\nrun = ["echo ready > /etc/motd"]',
      fields: {
        packages: { type: 'string-array', doc: 'Packages to install with the image\'s package manager (apt, apk or dnf). Needs network access.' },
        run: { type: 'string-array', doc: 'Shell commands run in order as root inside the env (`/bin/sh -c`), after `packages`.' },
      },
    },
    env: {
      type: 'string-map',
      doc: 'Environment variables set in every terminal and task of the env. Values may use `${localEnv:VAR}`, `${workspaceFolder}` and `${workspaceFolderBasename}`.',
      example: '[env]\nCC = "gcc"\nHOST_HOME = "${localEnv:HOME}"',
    },
    workspace: {
      type: 'table',
      doc: 'Where the workspace folder appears inside the env.',
      example: '[workspace]\npath = "/workspace"',
      fields: {
        path: {
          type: 'string', doc: 'Absolute path inside the env where the workspace folder is mounted; terminals start there.', default: '"/workspace"',
        },
      },
    },
    mount: {
      type: 'table-array',
      doc: 'Extra host paths made visible inside the env. One `[[mount]]` table per mount.',
      example: '[[mount]]\nsource = "~/.ccache"\ntarget = "/root/.ccache"\n\n[[mount]]\nsource = "${localEnv:HOME}/datasets"\ntarget = "/data"\nreadonly = true',
      fields: {
        source: { type: 'string', required: true, doc: 'Host path, relative to the env file\'s folder; `~` and `${localEnv:VAR}` expand.' },
        target: { type: 'string', required: true, doc: 'Absolute path inside the env.' },
        readonly: { type: 'boolean', doc: 'Mount read-only.', default: 'false' },
      },
    },
    shell: {
      type: 'table',
      doc: 'The shell that terminals open.',
      example: '[shell]\npath = "/bin/bash"\nuser = "root"',
      fields: {
        path: { type: 'string', doc: 'Absolute path of the shell inside the env.', default: 'the user\'s login shell from the env\'s /etc/passwd, else /bin/sh', values: SHELL_PATHS },
        user: { type: 'string', doc: 'User name or numeric uid inside the env. Inside the user namespace, root is you on the host.', default: '"root"' },
      },
    },
    network: {
      type: 'table',
      doc: 'Network access from inside the env.',
      example: '[network]\nmode = "none"',
      fields: {
        mode: {
          type: 'string', strict: true, default: '"host"',
          doc: 'Whether the env shares the host\'s network. "host" shares everything the host\'s network namespace holds, including its loopback services and its abstract unix sockets (X11, some D-Bus and IDE sockets), which code in the env can then connect to as you. "private" keeps those out of reach and still has outbound access (through slirp4netns); "none" has no network at all.',
          values: [
            { value: 'host', doc: 'Share the host\'s network: ports the env listens on are reachable from the host, and the env reaches everything the host reaches, the host\'s loopback services and its abstract unix sockets included (X11, some D-Bus and IDE sockets): code in the env can connect to them as you. Use "private" to keep them out of reach.' },
            { value: 'none', doc: 'Only a loopback interface: nothing gets in or out.' },
            { value: 'private', doc: 'A network of the env\'s own with outbound access through slirp4netns (as rootless podman does): it reaches the internet and other hosts, DNS through slirp4netns, but not the host\'s loopback services or abstract unix sockets, and nothing outside reaches its ports. Needs slirp4netns and a /dev/net/tun you may open.' },
          ],
        },
      },
    },
    instance: {
      type: 'table',
      doc: 'The running env that every terminal, task and `crossroot exec` joins.',
      example: '[instance]\nidle-timeout = "1h"',
      fields: {
        'idle-timeout': {
          type: 'string', default: '"15m"',
          doc: 'How long the env keeps running with nothing running in it before it stops on its own: seconds, or a number with s, m or h; `"never"` keeps it until `crossroot stop`.',
          format: { test: /^(\d+[smh]?|never)$/, expected: 'a duration such as "90s", "15m", "2h", or "never"' },
        },
      },
    },
    tools: {
      type: 'table',
      doc: 'Host tools inside the env.',
      example: '[tools]\nnative-compilers = false',
      fields: {
        'native-compilers': {
          type: 'boolean', default: 'true',
          doc: 'In a foreign-arch Debian env, `gcc`, `cc`, `g++`, `c++`, `cpp` and their `<triplet>-` names run the host\'s cross compiler natively (against the env\'s own headers and libraries) when its major version matches the env\'s gcc — `gcc-12-aarch64-linux-gnu` for a bookworm arm64 env. The env\'s own `/usr/bin/gcc` stays there, emulated. `crossroot status` says why when they are not used. `false` always uses the env\'s own compilers.',
        },
      },
    },
    limits: {
      type: 'table',
      doc: 'Resource limits for the env\'s processes, applied through cgroup v2 when the host delegates a cgroup to you; otherwise Crossroot warns and runs without them.',
      example: '[limits]\nmemory = "2g"\npids = 512',
      fields: {
        memory: { type: 'size', doc: 'Memory limit: bytes as an integer, or a string with a unit: "512m", "2g", "1.5G" (k, m, g, t; powers of 1024).' },
        pids: { type: 'integer', doc: 'Maximum number of processes and threads.' },
      },
    },
  },
};

/** The schema of the table at a key path (e.g. ['source']), undefined for unknown paths. */
export function schemaAt(path: readonly string[]): FieldSchema | undefined {
  let s: FieldSchema | undefined = ENV_SCHEMA;
  for (const k of path) s = s?.fields?.[k];
  return s;
}

/** "string", "array of strings", …: how messages name a type. */
export function typeName(t: FieldType): string {
  switch (t) {
    case 'string-array': return 'an array of strings';
    case 'string-map': return 'a table of strings';
    case 'table': return 'a table';
    case 'table-array': return 'an array of tables ([[…]])';
    case 'size': return 'a size such as "2g" or an integer';
    case 'integer': return 'an integer';
    case 'boolean': return 'true or false';
    case 'string': return 'a string';
  }
}
