// `crossroot shell`: an interactive login shell in the workspace's env, building and starting it
// when needed; every shell of a workspace joins the same running env.
import { parseArgs } from 'node:util';
import type { Command } from '../command';
import { ENV_OPTIONS, ENV_OPTIONS_USAGE, openEnv } from '../env/options';

export const shellCommand: Command = {
  name: 'shell',
  usage: [
    'usage: crossroot shell [--file FILE] [OPTIONS]',
    '',
    'Opens a login shell in the env (its [shell] path, else the user\'s shell from the env\'s',
    '/etc/passwd), in the same place of the workspace as the current folder. The first shell or',
    'exec builds the env when needed and starts it; later ones join the running env (one pid',
    'namespace, one writable layer). The env stops after its idle timeout once nothing runs in it.',
    '',
    ENV_OPTIONS_USAGE,
    '',
    'examples:',
    '  crossroot shell                       # the env of the project you are in',
    '  crossroot shell -f ~/fw/crossroot.toml',
  ].join('\n'),
  async run(argv) {
    const { values } = parseArgs({ args: argv, options: ENV_OPTIONS, strict: true });
    const { env, finish } = openEnv(values);
    try {
      return await env.shell({ hostCwd: process.cwd() });
    } finally {
      finish();
    }
  },
};
