// `crossroot` CLI entry: dispatches to commands/, prints errors once with their fix-it, and
// maps them to exit codes (2 usage, 125 Crossroot's own failure, else the command's code).
import { isCrossrootError } from '../core/errors';
import { commands } from './commands/index';
import { LIBRARY } from './library';

const VERSION = '0.1.0';

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length), 4);
  return [
    'usage: crossroot COMMAND [OPTIONS]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `crossroot COMMAND --help` for a command\'s options.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === 'version') {
    console.log(`crossroot ${VERSION}`);
    return 0;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    console.error(`crossroot: unknown command '${name}'\n\n${help()}`);
    return 2;
  }
  const cmd = await entry.load();
  if (rest[0] === '--help' || rest[0] === '-h') {
    console.log(cmd.usage);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (isCrossrootError(e)) {
      if (!e.shown) console.error(`crossroot ${name}: ${e.describe()}`);
      if (process.env.CROSSROOT_DEBUG && e.cause) console.error(e.cause);
      return e.code === 'EUSAGE' ? 2 : 125;
    }
    if (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`crossroot ${name}: ${e.message}\n\n${cmd.usage}`);
      return 2;
    }
    throw e;
  }
}

// dist/core.cjs is also the extension's core library (library.ts): required that way, it runs nothing.
export * from './library';
if (!(globalThis as Record<symbol, unknown>)[LIBRARY]) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => {
    console.error('crossroot: internal error:', e);
    process.exitCode = 125;
  });
}
