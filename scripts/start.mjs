// `npm start`: the example env (examples/arm64-c: an arm64 Debian C project) on any host. Provisions and
// builds first so a fresh clone works, then hands over to the CLI (`crossroot shell`, or
// `crossroot exec` with --command): the env lifecycle lives in src/core/env, not here.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ensureNodeModules, ensureDebianPackages } from './provision.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const USAGE = `usage: npm start [-- [--shell] [--command CMD] [--no-build] [--env-file FILE]]
  --shell          a shell in the env on this terminal (crossroot shell)
  --command CMD    run CMD with /bin/sh -c in the env instead (crossroot exec)
  --no-build       use the helper and bundles already built (npm test builds them first)
  --env-file FILE  another env file instead of examples/arm64-c/crossroot.toml`;

function parseArgs(argv) {
  const o = { command: undefined, build: true, envFile: path.join(root, 'examples', 'arm64-c', 'crossroot.toml') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value\n${USAGE}`);
      return argv[++i];
    };
    if (a === '--command' || a === '-c') o.command = value();
    else if (a === '--shell') o.command = undefined;
    else if (a === '--no-build') o.build = false;
    else if (a === '--env-file') o.envFile = path.resolve(value());
    else if (a === '--help' || a === '-h') { console.log(USAGE); process.exit(0); }
    else fail(`unknown argument ${a}\n${USAGE}`);
  }
  return o;
}

function fail(message) {
  console.error(`crossroot: ${message}`);
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));
if (opts.build) {
  ensureNodeModules();
  if (!ensureDebianPackages(['build', 'run', 'fixtures'])) process.exit(1);
  // After ensureNodeModules: build.mjs needs esbuild.
  const { buildAll } = await import('./build.mjs');
  await buildAll({ quiet: true });
}

const cli = path.join(root, 'dist', 'cli.cjs');
const args = opts.command === undefined
  ? ['shell', '--file', opts.envFile]
  : ['exec', '--file', opts.envFile, '--', '/bin/sh', '-c', opts.command];
// The terminal's ^C and ^Z go to the whole foreground group; the shell inside handles them.
for (const s of ['SIGINT', 'SIGQUIT', 'SIGTSTP']) process.on(s, () => {});
const child = spawn(process.execPath, [cli, ...args], { stdio: 'inherit' });
for (const s of ['SIGTERM', 'SIGHUP']) process.on(s, () => child.kill(s));
child.on('close', (code, signal) => process.exit(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)));
