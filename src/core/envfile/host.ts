// What reading an env file asks of the machine: files, environment, home, and which arches it
// runs. Behind an interface so the language service and tests can answer without touching the
// real host. The arch answer is the helper's (sandbox/arches.ts), never a lookup of our own.
import os from 'node:os';
import path from 'node:path';
import { cachedFeatureDir } from '../features/feature';
import { defaultStoreRoot } from '../store/store';
import { hostArch, type ArchName } from '../arch';
import { readSmallFile } from '../smallfile';
import { hostArches, hostArchesIfKnown, type ArchSupport, type HostArches } from '../sandbox/arches';
import { findHelper } from '../sandbox/helper';
import { nodeLookup } from './names';

export interface EnvHost {
  /** 'file', 'dir', or undefined when nothing is there. */
  pathKind(path: string): 'file' | 'dir' | undefined;
  getenv(name: string): string | undefined;
  homedir(): string;
  /** The arch this machine runs natively. */
  hostArch(): ArchName;
  /**
   * How the helper would run `arch` here (natively, through which qemu, or why not); undefined
   * while that is not known (the question is asked in the background) or no helper is built.
   */
  archSupport(arch: ArchName): ArchSupport | undefined;
  /** Names in a folder (empty when it is not one); optional, for hosts that only answer paths. */
  listDir?(path: string): string[];
  /** A small regular file's text (a local Feature's devcontainer-feature.json); undefined when unreadable. */
  readFile?(path: string): string | undefined;
  /** devcontainer-feature.json of an OCI or tarball Feature, when a build fetched it into the store. */
  featureMetadata?(ref: string): string | undefined;
}

function helperPath(): string | undefined {
  try {
    return findHelper();
  } catch {
    return undefined; // no helper, no answer: the diagnostics say nothing rather than guess
  }
}

export const nodeHost: EnvHost = {
  pathKind: nodeLookup.pathKind,
  listDir: nodeLookup.listDir!,
  readFile(p) {
    try {
      return readSmallFile(p, 1 << 20).toString('utf8');
    } catch {
      return undefined;
    }
  },
  featureMetadata(ref) {
    const dir = cachedFeatureDir(defaultStoreRoot(), ref);
    return dir ? nodeHost.readFile?.(path.join(dir, 'devcontainer-feature.json')) : undefined;
  },
  getenv: (name) => process.env[name],
  homedir: () => os.homedir(),
  hostArch: () => hostArch().name,
  archSupport(arch) {
    const helper = helperPath();
    return helper ? hostArchesIfKnown(helper)?.arches[arch] : undefined;
  },
};

/**
 * Asks the helper now, so nodeHost's answers are complete from the next read on: `lint` awaits
 * it; the language server awaits it in the background and then refreshes its diagnostics.
 * Resolves undefined when there is no helper or it cannot answer.
 */
export async function askNodeHost(): Promise<HostArches | undefined> {
  const helper = helperPath();
  return helper ? hostArches(helper).catch(() => undefined) : undefined;
}

/** The arch this host runs natively (asked through the Host, so tests stay machine-independent). */
export function nativeArch(host: EnvHost): ArchName {
  return host.hostArch();
}
