// The order Features install in, as the Dev Containers spec computes it: rounds of the Features
// whose dependsOn and installsAfter are all installed, the highest overrideFeatureInstallOrder
// priority of each round first, ties in a stable order (resource, tag, options, digest).
import { CrossrootError } from '../errors';
import type { FeatureOptions } from './feature';

export interface OrderNode {
  /** Unique per node (the Feature and its options). */
  key: string;
  /** registry/repository (OCI), the URL, or the local folder: what installsAfter and overrides name. */
  resource: string;
  /** The reference as written (for messages and for matching overrides of local Features). */
  written: string;
  tag?: string;
  options: FeatureOptions;
  /** The digest the Feature resolved to. */
  canonical: string;
  /** Keys of the nodes this one needs first (dependsOn). */
  dependsOn: string[];
  /** Resources this one goes after when they are installed (installsAfter). */
  installsAfter: string[];
}

/** A reference without its tag or digest: what installsAfter and overrideFeatureInstallOrder compare. */
export function withoutVersion(ref: string): string {
  if (ref.startsWith('./') || ref.startsWith('../') || /^[a-z]+:\/\//i.test(ref)) return ref;
  const at = ref.indexOf('@');
  const noDigest = at >= 0 ? ref.slice(0, at) : ref;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

export function installOrder(nodes: OrderNode[], override: string[] = []): OrderNode[] {
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  const wanted = override.map(withoutVersion);
  const priority = (n: OrderNode): number => {
    const i = wanted.findIndex((w) => w === n.resource || w === withoutVersion(n.written));
    return i < 0 ? 0 : wanted.length - i;
  };
  // installsAfter only counts for Features that are installed at all.
  const after = new Map(nodes.map((n) => [n.key, nodes.filter((m) => m !== n && n.installsAfter.map(withoutVersion).includes(m.resource)).map((m) => m.key)]));
  const done = new Set<string>();
  const order: OrderNode[] = [];
  let work = [...nodes];
  while (work.length) {
    const round = work.filter((n) => [...n.dependsOn, ...after.get(n.key)!].every((k) => done.has(k) || !byKey.has(k)));
    if (!round.length) {
      throw new CrossrootError('EFEATUREORDER', `the Features ${work.map((n) => n.written).join(', ')} depend on each other in a circle (dependsOn / installsAfter)`, {
        fix: 'remove one of them, or tell the Features\' authors about the cycle',
      });
    }
    const top = Math.max(...round.map(priority));
    const commit = round.filter((n) => priority(n) === top).sort(stable);
    for (const n of commit) {
      order.push(n);
      done.add(n.key);
    }
    work = work.filter((n) => !done.has(n.key));
  }
  return order;
}

/** The spec's "round stable sort". */
function stable(a: OrderNode, b: OrderNode): number {
  return cmp(a.resource, b.resource) || compareTags(a.tag, b.tag)
    || Object.keys(b.options).length - Object.keys(a.options).length
    || cmp(Object.keys(a.options).sort().join('\0'), Object.keys(b.options).sort().join('\0'))
    || cmp(Object.keys(a.options).sort().map((k) => String(a.options[k])).join('\0'), Object.keys(b.options).sort().map((k) => String(b.options[k])).join('\0'))
    || cmp(a.canonical, b.canonical);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Oldest first; `latest` (or no tag) is the newest; numeric parts compare as numbers. */
function compareTags(a: string | undefined, b: string | undefined): number {
  const norm = (t: string | undefined) => (t === undefined || t === 'latest' ? undefined : t);
  const x = norm(a);
  const y = norm(b);
  if (x === y) return 0;
  if (x === undefined) return 1;
  if (y === undefined) return -1;
  const px = x.split(/[.-]/);
  const py = y.split(/[.-]/);
  for (let i = 0; i < Math.max(px.length, py.length); i++) {
    const p = px[i] ?? '';
    const q = py[i] ?? '';
    const d = /^\d+$/.test(p) && /^\d+$/.test(q) ? Number(p) - Number(q) : cmp(p, q);
    if (d) return d;
  }
  return 0;
}
