// `crossroot stop`: ends every process of the workspace's env; its files stay for the next start.
import { parseArgs } from 'node:util';
import type { Command } from '../command';
import { ENV_OPTIONS, ENV_OPTIONS_USAGE, openEnv } from '../env/options';
import { stopAllEnvs } from '../../core/env/env';
import { Store, defaultStoreRoot } from '../../core/store/store';

export const stopCommand: Command = {
  name: 'stop',
  usage: [
    'usage: crossroot stop [--file FILE] [--all]',
    '',
    'Stops the env: every process in it ends (shells, tasks, servers). Its writable layer is kept;',
    'the next shell or exec starts it again. Stopping an env that does not run is not an error.',
    '',
    '  --all                  stop every running env of the store, not only this project\'s',
    ENV_OPTIONS_USAGE,
  ].join('\n'),
  async run(argv) {
    const { values } = parseArgs({ args: argv, options: { ...ENV_OPTIONS, all: { type: 'boolean', default: false } }, strict: true });
    if (values.all) {
      const names = await stopAllEnvs(Store.open(values.store ?? defaultStoreRoot()));
      if (values.json) console.log(JSON.stringify({ event: 'stopped', envs: names }));
      else process.stderr.write(`crossroot: ${names.length ? `stopped ${names.join(', ')}` : 'no env was running'}\n`);
      return 0;
    }
    const { env } = openEnv({ ...values, json: false });
    const r = await env.stop();
    if (values.json) console.log(JSON.stringify({ event: 'stopped', env: env.spec.name, stopped: r.stopped }));
    else process.stderr.write(`crossroot: env ${env.spec.name} ${r.stopped ? 'stopped' : 'was not running'}\n`);
    return 0;
  },
};
