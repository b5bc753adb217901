// `crossroot status [--json]`: the workspace's env: built or not, its layers and sizes, whether it
// runs and how many processes are in it.
import { parseArgs } from 'node:util';
import type { Command } from '../command';
import { ENV_OPTIONS, ENV_OPTIONS_USAGE, openEnv } from '../env/options';
import { listEnvs, processesInNamespace } from '../../core/env/env';
import { Store, defaultStoreRoot } from '../../core/store/store';

function size(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
}

export const statusCommand: Command = {
  name: 'status',
  usage: [
    'usage: crossroot status [--file FILE] [--all] [--json]',
    '',
    'Shows the env: its state (not-built, outdated: the env file changed since the last build,',
    'ready, running), its base image, one line per setup layer with its size, the size of its',
    'writable layer, and when it runs, its PID 1 and the number of processes in it. In a',
    'foreign-arch env, whether gcc & co. run the host\'s cross compiler natively, or why not.',
    '',
    '  --all                  one line per env in the store: name, arch, running or not, env file',
    ENV_OPTIONS_USAGE,
  ].join('\n'),
  async run(argv) {
    const { values } = parseArgs({ args: argv, options: { ...ENV_OPTIONS, all: { type: 'boolean', default: false } }, strict: true });
    if (values.all) {
      const envs = listEnvs(Store.open(values.store ?? defaultStoreRoot()));
      if (values.json) console.log(JSON.stringify(envs.map((e) => ({ ...e.record, running: e.running ? { pid: e.running.pid, processes: processesInNamespace(e.running.pid) } : null })), null, 2));
      else console.log(envs.map((e) => `${e.record.name.padEnd(20)} ${e.record.arch.padEnd(8)} ${e.running ? `running (pid ${e.running.pid})` : 'stopped'.padEnd(20)}  ${e.record.file}`).join('\n') || 'no envs');
      return 0;
    }
    const { env } = openEnv({ ...values, json: false });
    const s = env.status();
    if (values.json) {
      console.log(JSON.stringify(s, null, 2));
      return 0;
    }
    const lines = [
      `env:       ${s.name} (${s.arch}), ${s.file}`,
      `state:     ${s.state}${s.instance ? ` (pid ${s.instance.pid}, ${s.instance.processes} process${s.instance.processes === 1 ? '' : 'es'} in it)` : ''}`,
      ...(s.record ? [`base:      ${s.record.base.source}${s.record.base.digest ? ` ${s.record.base.digest.slice(0, 19)}` : ''}`] : []),
      ...s.layers.map((l, i) => `layer ${i + 1}:   ${size(l.bytes).padStart(8)}  ${l.step}`),
      ...(s.record ? [`writable:  ${size(s.upperBytes)}`] : []),
      ...(s.nativeCompilers ? [`compilers: native ${s.nativeCompilers.state}: ${s.nativeCompilers.reason}`, ...(s.nativeCompilers.fix ? [`           fix: ${s.nativeCompilers.fix}`] : [])] : []),
    ];
    console.log(lines.join('\n'));
    return 0;
  },
};
