// `crossroot lock [--update] [--arch A]... [FILE]`: resolves the env's image to digests per arch
// and writes crossroot.lock beside the env file; builds then pull exactly those digests.
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Command } from '../command';
import { CrossrootError } from '../../core/errors';
import { findEnvFile, loadEnvSpec } from '../../core/envfile/load';
import { type Lockfile, lockedFeature, lockedImage, lockfilePath, readLockfile, withLockedFeature, withLockedImage, writeLockfile } from '../../core/lockfile';
import type { EnvSpec } from '../../core/envfile/spec';
import { resolveFeatures } from '../../core/features/resolve';
import type { Store } from '../../core/store/store';
import { lockEntry } from '../../core/image/pull';
import { parseImageRef } from '../../core/image/ref';
import { RegistryClient } from '../../core/image/registry';
import { STORE_OPTIONS, archOption, exitWhenWritten, storeOption } from './pull';

export const lockCommand: Command = {
  name: 'lock',
  usage: [
    'usage: crossroot lock [--update] [--arch ARCH]... [--store DIR [--shared-store]] [FILE]',
    '',
    'Resolves the image of the env file FILE (default: the one in the current folder) for its',
    'arch (or each --arch) and records the manifest digest, index digest, platform and config',
    'digest in crossroot.lock beside FILE. Entries already there are kept unless --update, which',
    'resolves the tags again and says which moved. devcontainer.json Features (and what they',
    'dependsOn) are recorded too: the manifest digest they resolved to and their tarball\'s digest.',
    'Commit crossroot.lock to share the pins.',
  ].join('\n'),
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: { update: { type: 'boolean', default: false }, arch: { type: 'string', multiple: true, default: [] }, ...STORE_OPTIONS },
    });
    if (positionals.length > 1) throw new CrossrootError('EUSAGE', 'lock takes at most one env FILE');
    const file = positionals[0] ?? findEnvFile(process.cwd());
    if (!file) throw new CrossrootError('ENOENVFILE', `no env file in ${process.cwd()}`, { fix: 'run it in a folder with crossroot.toml (or .devcontainer/devcontainer.json), or name the file' });
    const spec = loadEnvSpec(path.resolve(file));
    const dir = path.dirname(spec.file);
    let lock = readLockfile(dir);
    const registry = new RegistryClient();
    if (spec.features?.list.length) lock = await lockFeatures(spec, lock, values.update, registry, storeOption(values));
    if (spec.source.kind !== 'image') {
      if (lock && spec.features?.list.length) {
        console.log(`wrote ${writeLockfile(dir, lock)}`);
        return exitWhenWritten(0);
      }
      console.log(`${spec.file}: the env's ${spec.source.kind} source has no registry tag to pin; nothing to lock`);
      return 0;
    }
    const refText = spec.source.ref;
    const ref = parseImageRef(refText);
    const arches = values.arch.length ? values.arch.map(archOption) : [archOption(spec.arch)];
    for (const arch of arches) {
      const before = lockedImage(lock, refText, arch.name);
      if (before && !values.update) {
        console.log(`${refText} (${arch.name}): kept ${before.manifest}`);
        continue;
      }
      const entry = lockEntry(await registry.resolve(ref, arch), arch);
      lock = withLockedImage(lock, refText, arch.name, entry);
      const note = !before ? 'locked' : before.manifest === entry.manifest ? 'unchanged' : `moved from ${before.manifest} to`;
      console.log(`${refText} (${arch.name}): ${note} ${entry.manifest}`);
    }
    const written = writeLockfile(dir, lock!);
    storeOption(values).registerLockfile(lockfilePath(dir));
    console.log(`wrote ${written}`);
    return exitWhenWritten(0);
  },
};

/** Resolves the env's Features (their dependsOn too) and records each OCI and tarball one. */
async function lockFeatures(spec: EnvSpec, lock: Lockfile | undefined, update: boolean, registry: RegistryClient, store: Store): Promise<Lockfile | undefined> {
  const f = spec.features!;
  const resolved = await resolveFeatures(f.list.map((x) => ({ ref: x.value, options: x.options })), f.installOrder, {
    store, helper: store.helper(), baseDir: f.baseDir, lock, ignoreLock: update, policy: update ? 'always' : 'missing', registry: async () => registry,
  });
  for (const r of resolved) {
    if (!r.lock) continue;
    const before = lockedFeature(lock, r.source.written);
    const note = !before ? 'locked' : before.resolved === r.lock.resolved ? (update ? 'unchanged' : 'kept') : `moved from ${before.resolved} to`;
    console.log(`feature ${r.source.written}: ${note} ${r.lock.resolved}`);
    lock = withLockedFeature(lock, r.source.written, r.lock);
  }
  return lock;
}
