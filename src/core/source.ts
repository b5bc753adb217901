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
  /** A Debian bootstrap through mmdebstrap. */
  | { kind: 'debian'; suite: string; variant?: string; snapshot?: string; packages?: string[]; mirror?: string };

export type SourceKind = Source['kind'];
export const SOURCE_KINDS: readonly SourceKind[] = ['image', 'oci-layout', 'oci-archive', 'docker-archive', 'rootfs-tar', 'dir', 'debian'];
