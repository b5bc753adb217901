// Which image of a multi-arch index an env of a given arch runs, and the error that lists what
// an image offers when the arch is missing. Matching follows containerd's platform rules.
import type { ArchInfo } from '../arch';
import { CrossrootError } from '../errors';
import { type Descriptor, type ImageConfig, type Index, type Platform, isManifestMediaType, platformString } from './oci';

/** The OCI platform an env of this arch asks registries for: arm64 → linux/arm64/v8, armhf → linux/arm/v7. */
export function platformFor(arch: ArchInfo): Platform {
  const p: Platform = { os: 'linux', architecture: arch.oci.architecture };
  if (arch.oci.variant) p.variant = arch.oci.variant;
  return p;
}

/** `linux/arm64/v8` for an arch. */
export function platformName(arch: ArchInfo): string {
  return platformString(platformFor(arch));
}

/** Attestations and signatures that buildkit and cosign put in indexes; never runnable. */
function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] !== undefined
    || (d.platform?.os === 'unknown' && d.platform.architecture === 'unknown');
}

/** Older arm variants a newer arm CPU (and qemu-arm) runs: an armhf env takes a v6 image when no v7 exists. */
const ARM_FALLBACK = ['v7', 'v6', 'v5'];

/**
 * How well an index entry fits the wanted platform: higher is better, 0 is no match.
 * An exact variant beats a missing one (registries often omit arm64's v8, and an unset arm
 * variant means v7), which beats an older compatible arm variant.
 */
function score(p: Platform, want: Platform): number {
  if (p.os !== want.os || p.architecture !== want.architecture) return 0;
  if (p.variant === want.variant) return 100;
  if (!p.variant) return 90;
  if (!want.variant) return 0;
  if (want.architecture === 'arm') {
    const have = ARM_FALLBACK.indexOf(p.variant), w = ARM_FALLBACK.indexOf(want.variant);
    if (have > w && w >= 0) return 80 - have;
  }
  return 0;
}

/** The runnable platforms an index offers, as `os/arch[/variant]` names, in index order, deduplicated. */
export function listPlatforms(index: Index): string[] {
  const out: string[] = [];
  for (const d of index.manifests) {
    if (!d.platform || isAttestation(d)) continue;
    const s = platformString(d.platform);
    if (!out.includes(s)) out.push(s);
  }
  return out;
}

/**
 * The index entry an env of `arch` runs. Throws ENOPLATFORM listing the platforms the image has
 * when none fits.
 */
export function selectManifest(index: Index, arch: ArchInfo, what = 'the image'): Descriptor {
  const want = platformFor(arch);
  let best: Descriptor | undefined;
  let bestScore = 0;
  for (const d of index.manifests) {
    if (!d.platform || isAttestation(d) || !isManifestMediaType(d.mediaType)) continue;
    const s = score(d.platform, want);
    if (s > bestScore) { best = d; bestScore = s; }
  }
  if (best) return best;
  const have = listPlatforms(index);
  throw new CrossrootError('ENOPLATFORM',
    `${what} has no ${platformString(want)} (${arch.name}) image; it has ${have.length ? have.join(', ') : 'no platforms listed'}`, {
      fix: have.length
        ? `set the env's arch to one the image has, or use an image built for ${arch.name}`
        : `use an image built for ${arch.name}`,
    });
}

/**
 * For a single-platform image (no index) the config says what it was built for; refuses an image
 * of another arch, since running it would fail later in a confusing way ("exec format error").
 */
export function checkImageArch(config: ImageConfig, arch: ArchInfo, what = 'the image'): void {
  const have: Platform = { os: config.os, architecture: config.architecture };
  if (config.variant) have.variant = config.variant;
  if (score(have, platformFor(arch)) > 0) return;
  throw new CrossrootError('ENOPLATFORM',
    `${what} is built for ${platformString(have)}, not ${platformName(arch)} (${arch.name})`, {
      fix: `set the env's arch to the image's, or use an image built for ${arch.name}`,
    });
}
