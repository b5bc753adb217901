// `crossroot stop`: ends every process of the workspace's env; its files stay for the next start.
import { parseArgs } from 'node:util';
import type { Command } from '../command';
import { ENV_OPTIONS, ENV_OPTIONS_USAGE, openEnv } from '../env/options';

export const stopCommand: Command = {
  name: 'stop',
  usage: [
    'usage: crossroot stop [--file FILE]',
    '',
    'Stops the env: every process in it ends (shells, tasks, servers). Its writable layer is kept;',
    'the next shell or exec starts it again. Stopping an env that does not run is not an error.',
    '',
    ENV_OPTIONS_USAGE,
  ].join('\n'),
  async run(argv) {
    const { values } = parseArgs({ args: argv, options: ENV_OPTIONS, strict: true });
    const { env } = openEnv({ ...values, json: false });
    const r = await env.stop();
    if (values.json) console.log(JSON.stringify({ event: 'stopped', env: env.spec.name, stopped: r.stopped }));
    else process.stderr.write(`crossroot: env ${env.spec.name} ${r.stopped ? 'stopped' : 'was not running'}\n`);
    return 0;
  },
};
