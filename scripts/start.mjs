// `npm start`: builds, packages and opens the example workspace (examples/arm64-c: an arm64
// Debian C project) with the extension installed: in VS Code when `code` is on PATH
// (--extensionDevelopmentPath), else in a local code-server on 127.0.0.1 whose URL it prints.
// `--shell` (or `--command CMD`) hands over to the CLI instead (`crossroot shell` / `crossroot
// exec`): the env lifecycle lives in src/core/env, not here. Provisions first so a fresh clone works.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ensureNodeModules, ensureDebianPackages } from './provision.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const USAGE = `usage: npm start [-- [--shell] [--command CMD] [--no-build] [--env-file FILE] [--port N]]
  (no option)      the example workspace in VS Code (\`code\` on PATH) or in code-server
  --port N         code-server's port on 127.0.0.1 (default: a free one)
  --shell          a shell in the env on this terminal (crossroot shell)
  --command CMD    run CMD with /bin/sh -c in the env instead (crossroot exec)
  --no-build       use the helper and bundles already built (npm test builds them first)
  --env-file FILE  another env file instead of examples/arm64-c/crossroot.toml`;

function parseArgs(argv) {
  const o = { command: undefined, editor: true, port: 0, build: true, envFile: path.join(root, 'examples', 'arm64-c', 'crossroot.toml') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value\n${USAGE}`);
      return argv[++i];
    };
    if (a === '--command' || a === '-c') { o.command = value(); o.editor = false; }
    else if (a === '--shell') { o.command = undefined; o.editor = false; }
    else if (a === '--port') o.port = Number(value());
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
if (opts.editor) process.exit(await openEditor(opts));

/** The example folder in VS Code or code-server with the extension installed; resolves when closed. */
async function openEditor(o) {
  const folder = path.dirname(o.envFile);
  if (spawnSync('sh', ['-c', 'command -v code'], { stdio: 'ignore' }).status === 0) {
    console.error(`crossroot: opening ${folder} in VS Code, this checkout as the extension under development`);
    // VS Code runs the checkout's dist/ and native/out/ helper, as the VSIX would.
    return spawnSync('code', ['--extensionDevelopmentPath', root, folder], { stdio: 'inherit' }).status ?? 1;
  }
  if (!ensureDebianPackages(['package', 'e2e'])) return 1;
  const { packageAll } = await import('./package.mjs');
  const [vsix] = await packageAll({ targets: [process.arch === 'arm64' ? 'linux-arm64' : 'linux-x64'], outDir: path.join(root, '.crossroot') });
  // code-server is the E2E tests' one (installed once from npm, outside this package's dependencies).
  const { register } = await import('tsx/esm/api');
  register();
  const { codeServerEntry, launchCodeServer } = await import(path.join(root, 'test/e2e/lib/codeServer.ts'));
  const home = path.join(root, '.crossroot', 'code-server');
  const entry = codeServerEntry((m) => console.error(`crossroot: ${m}`), path.join(home, 'install'));
  const fresh = !existsSync(path.join(home, 'user-data', 'User', 'settings.json'));
  const server = await launchCodeServer(entry, home, { vsix: [vsix], port: o.port, ...(fresh ? { settings: { 'workbench.startupEditor': 'none' } } : {}) });
  console.log(`${server.url}/?folder=${encodeURIComponent(folder)}`);
  console.error(`crossroot: code-server serves the example with the Crossroot extension (${path.basename(vsix)}) at the URL above; open the "Crossroot" terminal for an arm64 shell; Ctrl+C stops it`);
  for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => { void server.stop(); });
  await server.exited;
  return 0;
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
