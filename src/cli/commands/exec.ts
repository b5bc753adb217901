// `crossroot exec [--] CMD…`: runs one command in the workspace's env (starting it when needed),
// stdio and exit code passed through, for scripts, CI, tasks and other editors.
import { parseArgs } from 'node:util';
import type { Command } from '../command';
import { CrossrootError } from '../../core/errors';
import { ENV_OPTIONS_USAGE, EXEC_OPTIONS, commandStart } from '../env/flags';
import { openEnv } from '../env/options';

export const execCommand: Command = {
  name: 'exec',
  usage: [
    'usage: crossroot exec [--file FILE] [--cwd DIR] [--env K=V]... [OPTIONS] [--] CMD [ARGS...]',
    '',
    'Runs CMD in the env, joining its running instance (started, and built, when needed). stdin,',
    'stdout and stderr are CMD\'s own, so it works in pipes and without a terminal; the exit code is',
    'CMD\'s (128+N when killed by signal N; 125 when Crossroot itself fails, 127 when CMD is not',
    'found). The working dir is the current folder\'s place in the workspace, when it is inside',
    'the workspace folder; else the workspace path.',
    '',
    '  --cwd DIR              working dir inside the env',
    '  --env K=V              an extra variable (repeatable)',
    ENV_OPTIONS_USAGE,
    '',
    'examples:',
    '  crossroot exec uname -m',
    '  crossroot exec -- make -j2 test',
    '  echo "int main(){}" | crossroot exec -- gcc -x c -o /tmp/a -',
  ].join('\n'),
  async run(argv) {
    // Options end at `--` or at the first word that is not one, as with `docker exec`: in
    // `crossroot exec sh -c 'exit 7'` the -c is the command's.
    const options = EXEC_OPTIONS;
    const end = commandStart(argv, options);
    const { values } = parseArgs({ args: argv.slice(0, end), strict: true, options });
    const command = argv[end] === '--' ? argv.slice(end + 1) : argv.slice(end);
    if (!command.length) throw new CrossrootError('EUSAGE', 'the command to run is missing', { fix: 'crossroot exec -- uname -m' });
    const extra: Record<string, string> = {};
    for (const kv of values.env) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new CrossrootError('EUSAGE', `--env ${kv} is not NAME=VALUE`);
      extra[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    const { env, finish } = openEnv({ ...values, json: false }, { quiet: true });
    try {
      return await env.exec(command, { hostCwd: process.cwd(), ...(values.cwd ? { cwd: values.cwd } : {}), env: extra, stdio: 'inherit' });
    } finally {
      finish();
    }
  },
};

