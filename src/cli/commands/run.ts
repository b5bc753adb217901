// `crossroot run [--arch A] SOURCE -- CMD…`: like `docker run --rm`: a throwaway writable layer
// over the image's shared rootfs, the command's exit code passed through, the layer removed after.
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Command } from '../command';
import { CrossrootError } from '../../core/errors';
import { pull, sourceFromArgument } from '../../core/image/pull';
import { parseImageConfig } from '../../core/image/oci';
import { runSandbox } from '../../core/sandbox/client';
import type { Bind } from '../../core/sandbox/helper';
import type { Store } from '../../core/store/store';
import { IMAGE_OPTIONS, archOption, exitWhenWritten, storeOption } from './pull';
import { progressRenderer } from '../progress';

export const WORKSPACE_TARGET = '/workspace';

/** Env and working dir the image asks for (its config), so `run` behaves as `docker run` would. */
function imageDefaults(store: Store, configDigest: string | undefined): { env: Record<string, string>; cwd?: string } {
  if (!configDigest || !store.hasBlob(configDigest)) return { env: {} };
  const config = parseImageConfig(store.readBlob(configDigest));
  const env: Record<string, string> = {};
  for (const kv of config.config?.Env ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const cwd = config.config?.WorkingDir || undefined;
  return cwd ? { env, cwd } : { env };
}

export const runCommand: Command = {
  name: 'run',
  usage: [
    'usage: crossroot run [--arch ARCH] [--store DIR [--shared-store]] [--workspace] [--bind SRC:DST[:ro]]...',
    '                     [--env K=V]... [--cwd DIR] [--network host|none|private] SOURCE -- CMD [ARGS...]',
    '',
    'Pulls SOURCE (as `crossroot pull` does; an image reference pulled before is used as it was',
    'then, without asking the registry) and runs CMD in it, as root of a user namespace.',
    'The image\'s rootfs is shared and stays untouched: writes go to a throwaway layer that is',
    'removed when CMD ends. The exit code is CMD\'s (128+N when killed by signal N; 125 when',
    'Crossroot itself fails). The image config\'s Env and WorkingDir apply.',
    '',
    `  --workspace   bind the current directory at ${WORKSPACE_TARGET} and start there`,
    '  --bind        bind a host path (repeatable)',
  ].join('\n'),
  async run(argv) {
    const dash = argv.indexOf('--');
    if (dash < 0 || dash === argv.length - 1) throw new CrossrootError('EUSAGE', 'the command to run is missing', { fix: 'crossroot run debian:bookworm -- uname -m' });
    const { values, positionals } = parseArgs({
      args: argv.slice(0, dash), allowPositionals: true, strict: true,
      options: {
        ...IMAGE_OPTIONS,
        workspace: { type: 'boolean', default: false },
        bind: { type: 'string', multiple: true, default: [] },
        env: { type: 'string', multiple: true, default: [] },
        cwd: { type: 'string' },
        network: { type: 'string' },
      },
    });
    if (positionals.length !== 1) throw new CrossrootError('EUSAGE', positionals.length ? 'run takes one SOURCE before --' : 'SOURCE is missing', { fix: 'crossroot run debian:bookworm -- uname -m' });
    if (values.network && values.network !== 'host' && values.network !== 'none' && values.network !== 'private') {
      throw new CrossrootError('EUSAGE', `unknown network mode "${values.network}"`, { fix: 'use --network host, none or private' });
    }
    const command = argv.slice(dash + 1);
    const arch = archOption(values.arch);
    const store = storeOption(values);
    const source = await sourceFromArgument(positionals[0]!);
    const render = progressRenderer(process.stderr, { quietIfCached: true });
    let pulled;
    try {
      // Marked in use, so `crossroot gc` never removes the base under a running command.
      pulled = await pull(source, { store, arch, onProgress: render.listener, use: true, policy: 'missing' });
    } finally {
      render.finish();
    }
    // Locked for as long as it lives: `crossroot gc` clears tmp/ but skips a run whose lock is held.
    let layer;
    try {
      layer = await store.runLayer();
    } catch (e) {
      pulled.inUse?.release();
      throw e;
    }
    let code: number;
    try {
      const defaults = imageDefaults(store, pulled.configDigest);
      const env = { ...defaults.env };
      for (const kv of values.env) {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new CrossrootError('EUSAGE', `--env ${kv} is not NAME=VALUE`);
        env[kv.slice(0, eq)] = kv.slice(eq + 1);
      }
      const binds: Bind[] = values.bind.map((b) => {
        const [src, dst, ro] = b.split(':');
        if (!src || !dst || (ro !== undefined && ro !== 'ro')) throw new CrossrootError('EUSAGE', `--bind ${b} is not SRC:DST[:ro]`);
        return { source: path.resolve(src), target: dst, readonly: ro === 'ro' };
      });
      if (values.workspace) binds.push({ source: process.cwd(), target: WORKSPACE_TARGET });
      const cwd = values.cwd ?? (values.workspace ? WORKSPACE_TARGET : defaults.cwd);
      const sandbox = {
        rootfs: pulled.rootfs, upper: layer.upper, work: layer.work, arch: arch.name, binds, env,
        ...(cwd ? { cwd } : {}),
        ...(values.network ? { network: values.network as 'host' | 'none' | 'private' } : {}),
      };
      // The helper inherits the locks (not the command: it closes them on exec), so if crossroot
      // is killed, a sandbox still running keeps its layer and its image safe from gc.
      const fds = [layer.lock.fd, ...(pulled.inUse ? [pulled.inUse.fd] : [])];
      code = (await runSandbox(store.helper(), sandbox, command, { stdio: 'inherit', fds })).code;
    } finally {
      store.removeTree(layer.dir);
      layer.lock.release();
      pulled.inUse?.release();
    }
    return exitWhenWritten(code);
  },
};
