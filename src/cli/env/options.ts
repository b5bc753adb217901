// What every env command (shell, exec, build, status, stop) shares: the env file (--file, else
// found upward from the cwd), the store and helper, and how lifecycle events reach stderr.
import path from 'node:path';
import { CrossrootError } from '../../core/errors';
import { ENV_FILE_NAMES, findEnvFileUpward } from '../../core/envfile/load';
import { parseDuration } from '../../core/envfile/spec';
import { Env } from '../../core/env/env';
import type { EnvEvent } from '../../core/env/events';
import { storeOption } from '../commands/pull';
import { progressRenderer } from '../progress';
import type { EnvFlags } from './flags';

export { ENV_OPTIONS, ENV_OPTIONS_USAGE } from './flags';

/** --idle-timeout: the env file's duration syntax. */
export function durationOption(text: string): number {
  const n = parseDuration(text);
  if (n === undefined) throw new CrossrootError('EUSAGE', `bad duration "${text}"`, { fix: 'write seconds or a number with s, m or h (90s, 15m, 2h), or never' });
  return n;
}

export function envFile(flags: EnvFlags, cwd = process.cwd()): string {
  if (flags.file) return path.resolve(flags.file);
  const found = findEnvFileUpward(cwd);
  if (!found) {
    throw new CrossrootError('ENOENVFILE', `no env file in ${cwd} or any folder above it (looked for ${ENV_FILE_NAMES.join(', ')})`, {
      fix: 'run this in a project with a crossroot.toml, or name one with --file FILE',
    });
  }
  return found;
}

/** Opens the env of the flags, with its events rendered on stderr (or, with --json, as JSON lines on stdout). */
export function openEnv(flags: EnvFlags, o: { quiet?: boolean } = {}): { env: Env; finish(): void } {
  const render = flags.json ? jsonEvents() : stderrEvents({ verbose: !!flags.verbose, quiet: !!o.quiet });
  const env = Env.open(envFile(flags), {
    store: storeOption(flags),
    ...(flags['idle-timeout'] !== undefined ? { idleTimeout: durationOption(flags['idle-timeout']) } : {}),
    ...idmapFromEnvironment(),
    onEvent: render.listener,
  });
  return { env, finish: render.finish };
}

/**
 * CROSSROOT_IDMAP=single|full|auto: the id map envs run with (default auto). `single` shows what a
 * host without a subuid range gets; `full` fails with a fix-it where no range exists.
 */
function idmapFromEnvironment(): { idmap?: 'auto' | 'single' | 'full' } {
  const v = process.env.CROSSROOT_IDMAP;
  if (v === undefined || v === '') return {};
  if (v !== 'auto' && v !== 'single' && v !== 'full') throw new CrossrootError('EUSAGE', `CROSSROOT_IDMAP=${v} is not an id map mode`, { fix: 'set it to auto, single or full, or unset it' });
  return { idmap: v };
}

function jsonEvents(): { listener: (e: EnvEvent) => void; finish(): void } {
  return { listener: (e) => process.stdout.write(JSON.stringify({ event: e.phase, ...e }) + '\n'), finish: () => {} };
}

/**
 * Lines on stderr, never stdout (which belongs to the command in the env). A cached env says
 * nothing: cached steps are held back until a step really runs (or always shown with --verbose);
 * with `quiet` (exec), only warnings and real work are shown.
 */
export function stderrEvents(o: { verbose: boolean; quiet: boolean }): { listener: (e: EnvEvent) => void; finish(): void } {
  const out = process.stderr;
  const pull = progressRenderer(out, { quietIfCached: true });
  let held: string[] = [];
  const say = (line: string) => {
    for (const h of held) out.write(h + '\n');
    held = [];
    out.write(line + '\n');
  };
  const listener = (e: EnvEvent) => {
    switch (e.phase) {
      // A moved tag also comes as the env's own warning, with its fix.
      case 'pull': if (e.pull.phase !== 'moved') pull.listener(e.pull); break;
      case 'step': {
        const line = `crossroot: step ${e.index}/${e.total} ${e.label}${e.cached ? ' (cached)' : ''}`;
        if (!e.cached) say(line);
        else if (o.verbose) out.write(line + '\n');
        else held.push(line);
        break;
      }
      case 'step-output': say(`  │ ${e.line}`); break;
      case 'step-done': say(`crossroot: step ${e.index} done in ${(e.ms / 1000).toFixed(1)} s`); break;
      case 'instance':
        if (e.state === 'stopped') say(`crossroot: env stopped (${e.reason ?? ''})`);
        else if (o.verbose || !o.quiet) {
          if (e.state === 'starting') say('crossroot: starting the env');
        }
        break;
      case 'lifecycle': say(`crossroot: ${e.hook}Command: ${e.label}`); break;
      case 'output': say(`  │ ${e.line}`); break;
      case 'warning': say(`crossroot: warning: ${e.message}${e.fix ? `\n  fix: ${e.fix}` : ''}`); break;
      case 'note': if (o.verbose || !o.quiet) say(`crossroot: ${e.message}`); break;
    }
  };
  return { listener, finish: () => pull.finish() };
}
