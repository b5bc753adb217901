// Where an env's root filesystem comes from. Shared by the env file (EnvSpec.source), the CLI
// (`crossroot pull/run SOURCE`) and the image pipeline, so all three mean the same thing.

export type Source =
  /** A registry image: `debian:bookworm`, `ghcr.io/org/img@sha256:…`, `localhost:5000/x:y`. */
  | { kind: 'image'; ref: string }
  /** An OCI image layout directory (has `oci-layout` and `index.json`); optional ref name inside. */
  | { kind: 'oci-layout'; path: string; ref?: string }
  /** A tar of an OCI image layout (`skopeo copy … oci-archive:`). */
  | { kind: 'oci-archive'; path: string; ref?: string }
  /** A `docker save` / `podman save` tar (manifest.json at the top). */
  | { kind: 'docker-archive'; path: string; ref?: string }
  /** A plain rootfs tarball: .tar, .tar.gz/.tgz, .tar.zst. */
  | { kind: 'rootfs-tar'; path: string }
  /** A plain directory used as the rootfs (read-only lower; writes go to the env's upper). */
  | { kind: 'dir'; path: string }
  /**
   * A Dockerfile built without Docker (devcontainer.json `build`, Compose `build`): each
   * instruction a cached layer. `args` are build args; `target` the stage to stop at.
   */
  | { kind: 'dockerfile'; file: string; context: string; args: Record<string, string>; target?: string }
  /** A Debian bootstrap through mmdebstrap. */
  | { kind: 'debian'; suite: string; variant?: string; snapshot?: string; packages?: string[]; mirror?: string };

export type SourceKind = Source['kind'];
/** The kinds a crossroot.toml `[source]` names; a Dockerfile build comes from devcontainer.json `build`. */
export type TomlSourceKind = Exclude<SourceKind, 'dockerfile'>;
export const SOURCE_KINDS: readonly TomlSourceKind[] = ['image', 'oci-layout', 'oci-archive', 'docker-archive', 'rootfs-tar', 'dir', 'debian'];

// The `debian` fields reach mmdebstrap's command line (src/core/image/debian.ts), where a value
// such as "--setup-hook=…" would be an option that runs on the host. So each has a grammar that
// cannot start with "-" or hold spaces, checked in the env file's schema (editor
// and `crossroot lint` flag it) and again before mmdebstrap runs.

/** A suite or codename: bookworm, stable, bookworm-backports, jammy. */
export const DEBIAN_SUITE = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
/** A package name (Debian policy 5.6.1), optionally with :arch, =version or /release. */
export const DEBIAN_PACKAGE = /^[a-z0-9][a-z0-9+.-]+(?::[a-z0-9-]+)?(?:=[A-Za-z0-9.+~:_-]+|\/[A-Za-z0-9._+-]+)?$/;
/** A mirror URL; mmdebstrap would read other forms (a file, "-", a sources.list line) differently. */
export const DEBIAN_MIRROR = /^(?:https?|file):\/\/\S+$/;
/** A snapshot.debian.org timestamp. */
export const DEBIAN_SNAPSHOT = /^\d{8}T\d{6}Z$/;
/** mmdebstrap's variants. */
export const DEBIAN_VARIANTS = ['extract', 'custom', 'essential', 'apt', 'minbase', 'buildd', 'required', 'important', 'standard'] as const;
