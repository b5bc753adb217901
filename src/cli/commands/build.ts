// `crossroot build [--rebuild]`: makes the env current: base image, then one cached layer per
// setup step; an unchanged env file runs nothing.
import { parseArgs } from 'node:util';
import type { Command } from '../command';
import { BUILD_OPTIONS, ENV_OPTIONS_USAGE } from '../env/flags';
import { openEnv } from '../env/options';
import { readyLine } from '../quick';

export const buildCommand: Command = {
  name: 'build',
  usage: [
    'usage: crossroot build [--rebuild] [--pull] [--file FILE] [--json] [OPTIONS]',
    '',
    'Gets the base image (pinned by crossroot.lock when there is one), then runs the setup steps',
    'in order: [setup] packages, each [setup] run command, and devcontainer.json\'s onCreateCommand',
    'and postCreateCommand. Each step\'s result is a layer in the store, keyed by the step, the layers',
    'below it, the arch and the env\'s variables: editing step k reruns steps k and later only, and',
    'an unchanged env file runs nothing. A failing step stops the build with its exit code and last',
    'lines; the env\'s previous build stays usable. A changed build restarts a running env with a',
    'fresh writable layer.',
    '',
    '  --rebuild              run every step again (new layers; other envs keep theirs)',
    '  --pull                 ask the registry what the image tag names now',
    '  --json                 events and the outcome as JSON lines on stdout',
    ENV_OPTIONS_USAGE,
    '',
    'examples:',
    '  crossroot build',
    '  crossroot build --rebuild -f examples/arm64-c/crossroot.toml',
  ].join('\n'),
  async run(argv) {
    const { values } = parseArgs({
      args: argv, strict: true,
      options: BUILD_OPTIONS,
    });
    const { env, finish } = openEnv(values);
    try {
      const r = await env.build({ rebuild: values.rebuild, pull: values.pull, initialize: true });
      if (values.json) {
        process.stdout.write(JSON.stringify({ event: 'built', env: r.record.name, id: r.record.id, arch: r.record.arch, ran: r.ran, steps: r.steps, layers: r.record.layers, changed: r.changed }) + '\n');
      } else {
        process.stderr.write(readyLine(r.record.name, r.record.arch, r.steps, r.ran) + '\n');
      }
      return 0;
    } finally {
      finish();
    }
  },
};
