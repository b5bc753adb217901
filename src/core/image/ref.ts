// Image references as Docker users write them (`debian:bookworm`, `ghcr.io/o/i@sha256:…`,
// `localhost:5000/x:y`), parsed by the distribution/reference grammar with Docker Hub defaults.
import { CrossrootError } from '../errors';

export const DOCKER_HUB = 'docker.io';
const DEFAULT_TAG = 'latest';
const NAME_MAX = 255;

// distribution/reference regexp.go, piece by piece.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_NAME = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*$/;
const IPV6 = /^\[[a-fA-F0-9:]+\]$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const BARE_ID = /^[a-f0-9]{64}$/;

export class ImageRef {
  /** `docker.io`, `ghcr.io`, `localhost:5000`, `[::1]:5000`. */
  readonly registry: string;
  /** `library/debian`, `org/img`. */
  readonly repository: string;
  /** The tag; `latest` when neither tag nor digest was written. */
  readonly tag: string | undefined;
  /** `sha256:<hex>` when pinned. */
  readonly digest: string | undefined;

  constructor(registry: string, repository: string, tag?: string, digest?: string) {
    this.registry = registry;
    this.repository = repository;
    this.tag = tag;
    this.digest = digest;
  }

  /** `registry/repository` without tag or digest. */
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** What the registry is asked for: the digest when pinned, else the tag. */
  get reference(): string {
    return this.digest ?? this.tag ?? DEFAULT_TAG;
  }

  /** The fully qualified form: `docker.io/library/debian:bookworm`. */
  toString(): string {
    return this.name + suffix(this.tag, this.digest);
  }

  /** The short form Docker prints: `debian:bookworm`, `org/img@sha256:…`, `ghcr.io/o/i:t`. */
  familiar(): string {
    let name = this.name;
    if (this.registry === DOCKER_HUB) {
      name = this.repository.startsWith('library/') && this.repository.split('/').length === 2
        ? this.repository.slice('library/'.length)
        : this.repository;
    }
    return name + suffix(this.tag, this.digest);
  }

  /** The same image pinned to a digest (the tag is kept for display). */
  withDigest(digest: string): ImageRef {
    return new ImageRef(this.registry, this.repository, this.tag, digest);
  }
}

function suffix(tag: string | undefined, digest: string | undefined): string {
  return (tag ? `:${tag}` : '') + (digest ? `@${digest}` : '');
}

function invalid(input: string, problem: string, fix?: string): CrossrootError {
  return new CrossrootError('EIMAGEREF', `invalid image reference "${input}": ${problem}`, {
    fix: fix ?? 'write it as [registry/]name[:tag][@sha256:digest], e.g. debian:bookworm or ghcr.io/org/image:1.0',
  });
}

function checkDomain(input: string, domain: string): void {
  const colon = domain.lastIndexOf(':');
  let host = domain;
  if (colon >= 0 && !domain.endsWith(']')) {
    const port = domain.slice(colon + 1);
    host = domain.slice(0, colon);
    if (!/^[0-9]+$/.test(port)) throw invalid(input, `registry port "${port}" is not a number`);
  }
  if (!DOMAIN_NAME.test(host) && !IPV6.test(host)) throw invalid(input, `"${domain}" is not a valid registry host`);
}

function checkDigestPart(input: string, digest: string): void {
  if (!DIGEST.test(digest)) throw invalid(input, `"${digest}" is not a valid digest (expected sha256:<64 hex digits>)`);
  const [alg, hex] = digest.split(':') as [string, string];
  if (alg !== 'sha256') throw invalid(input, `digest algorithm ${alg} is not supported (only sha256)`);
  if (!/^[a-f0-9]{64}$/.test(hex)) throw invalid(input, 'a sha256 digest has exactly 64 lowercase hex digits');
}

/**
 * Parses an image reference with Docker's defaults: no registry → docker.io, a one-part name on
 * Docker Hub → library/NAME, no tag and no digest → :latest. Throws EIMAGEREF saying what is wrong.
 */
export function parseImageRef(input: string): ImageRef {
  if (input === '') throw invalid(input, 'it is empty');
  if (/\s/.test(input)) throw invalid(input, 'it contains whitespace');
  if (BARE_ID.test(input)) {
    throw invalid(input, 'a bare 64-hex image id is not a reference', 'write name@sha256:<digest>, e.g. debian@sha256:…');
  }

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    checkDigestPart(input, digest);
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw invalid(input, tag === '' ? 'the tag after ":" is empty'
        : tag.length > 128 ? 'the tag is longer than 128 characters'
          : `tag "${tag}" may only contain letters, digits, "_", "." and "-" and must not start with "." or "-"`);
    }
  }
  if (rest === '') throw invalid(input, 'the image name is missing');

  // Docker's rule: the first component is a registry when it looks like a host (has "." or ":",
  // is "localhost", or has uppercase letters, which repository names never do).
  let registry = DOCKER_HUB;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase() || first.startsWith('[')) {
      registry = first;
      repository = rest.slice(slash + 1);
      checkDomain(input, registry);
    }
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;

  for (const part of repository.split('/')) {
    if (part === '') throw invalid(input, 'the name has an empty path component ("//" or a leading/trailing "/")');
    if (!PATH_COMPONENT.test(part)) {
      if (PATH_COMPONENT.test(part.toLowerCase())) {
        throw invalid(input, 'repository names must be lowercase', `write "${input.replace(part, part.toLowerCase())}"`);
      }
      throw invalid(input, `"${part}" is not a valid name component (lowercase letters and digits, separated by ".", "_", "__" or "-")`);
    }
  }
  if (registry.length + 1 + repository.length > NAME_MAX) throw invalid(input, `the name is longer than ${NAME_MAX} characters`);

  return new ImageRef(registry, repository, tag ?? (digest ? undefined : DEFAULT_TAG), digest);
}
