// `npm start`: a shell in the example env (example/crossroot.toml: arm64 Debian) on any host.
// Provisions and builds first so a fresh clone works; `--command CMD` runs CMD instead of a shell.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ensureNodeModules, ensureDebianPackages } from './provision.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const USAGE = `usage: npm start [-- [--command CMD] [--no-build] [--env-file FILE]]
  --command CMD    run CMD (with the env's shell, -lc) instead of an interactive shell
  --no-build       use the helper and bundles already built (npm test builds them first)
  --env-file FILE  another env file instead of example/crossroot.toml`;

function parseArgs(argv) {
  const o = { command: undefined, build: true, envFile: path.join(root, 'example', 'crossroot.toml') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value\n${USAGE}`);
      return argv[++i];
    };
    if (a === '--command' || a === '-c') o.command = value();
    else if (a === '--no-build') o.build = false;
    else if (a === '--env-file') o.envFile = path.resolve(value());
    else if (a === '--help' || a === '-h') { console.log(USAGE); process.exit(0); }
    else fail(`unknown argument ${a}\n${USAGE}`);
  }
  return o;
}

function fail(message, fix) {
  console.error(`crossroot: ${message}${fix ? `\n  fix: ${fix}` : ''}`);
  process.exit(1);
}

function log(message) { console.error(`crossroot: ${message}`); }

const opts = parseArgs(process.argv.slice(2));
if (opts.build) {
  ensureNodeModules();
  if (!ensureDebianPackages(['build', 'run', 'fixtures'])) process.exit(1);
  // After ensureNodeModules: build.mjs needs esbuild.
  const { buildAll } = await import('./build.mjs');
  await buildAll({ quiet: true });
}

// The env is read and built by the product's own core modules, run from source through tsx.
const { register } = await import('tsx/esm/api');
register();
const core = (p) => import(path.join(root, 'src/core', p));
const [{ loadEnvSpec }, { Store }, { pull }, { ARCHES }, { findHelper, runArgv }, { isCrossrootError }] = await Promise.all([
  core('envfile/load.ts'), core('store/store.ts'), core('image/pull.ts'), core('arch.ts'), core('sandbox/helper.ts'), core('errors.ts'),
]);

try {
  process.exitCode = await start(opts);
} catch (e) {
  if (!isCrossrootError(e)) throw e;
  fail(e.message, e.fix);
}

async function start(o) {
  const spec = loadEnvSpec(o.envFile);
  const helper = findHelper(undefined, root);
  const store = Store.open(undefined, { helper });
  if (spec.setup.packages.length || spec.setup.run.length) log('note: npm start does not run [setup]; `crossroot build` does');
  // The base is kept marked in use while the shell runs, so `crossroot gc` leaves it alone.
  const image = await pull(spec.source, {
    store, arch: ARCHES[spec.arch], lockfileDir: path.dirname(spec.file), use: true, // crossroot.lock sits beside the env file
    onProgress: (e) => { if (e.message && e.phase !== 'done' && e.phase !== 'download' && e.phase !== 'verify') log(e.message); },
  });
  const rootfs = image.rootfs;

  // The env's own writable layer over the shared base; a new base starts it afresh, since an
  // upper made against another lower would show a mix of both.
  const envDir = path.join(store.root, 'envs', spec.name);
  const upper = path.join(envDir, 'upper'), work = path.join(envDir, 'work'), baseFile = path.join(envDir, 'base');
  if (existsSync(baseFile) && readFileSync(baseFile, 'utf8').trim() !== rootfs) {
    log(`the base of env ${spec.name} changed; starting its writable layer afresh`);
    store.removeTree(upper);
    store.removeTree(work);
  }
  mkdirSync(upper, { recursive: true });
  mkdirSync(work, { recursive: true });
  writeFileSync(baseFile, rootfs + '\n');
  // Pins the base for `crossroot gc` for as long as the env dir builds on it.
  if (image.digest) store.setRoot(`npm-start-${spec.name}`, [image.digest]);

  const shell = spec.shell.path ?? '/bin/sh';
  const command = o.command === undefined ? [shell, '-l'] : [shell, '-lc', o.command];
  const argv = runArgv({
    rootfs, upper, work,
    arch: spec.arch,
    binds: [{ source: spec.workspaceFolder, target: spec.workspace.path }, ...spec.mounts.map((m) => ({ source: m.source, target: m.target, readonly: m.readonly }))],
    cwd: spec.workspace.path,
    env: { TERM: process.env.TERM ?? 'xterm-256color', ...spec.env },
    hostname: spec.name,
    network: spec.network.mode,
    // Applied through a delegated cgroup v2; elsewhere the helper warns once and runs unlimited.
    limits: spec.limits,
  }, command);
  if (o.command === undefined && process.stdin.isTTY) log(`shell in ${spec.name} (${spec.arch}); ${spec.workspaceFolder} is ${spec.workspace.path}; exit to leave`);

  // The terminal sends ^C and ^Z to the whole foreground group; the shell inside handles them.
  const ignore = () => {};
  for (const s of ['SIGINT', 'SIGQUIT', 'SIGTSTP']) process.on(s, ignore);
  const child = spawn(helper, argv, { stdio: 'inherit' });
  for (const s of ['SIGTERM', 'SIGHUP']) process.on(s, () => child.kill(s));
  try {
    return await new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)));
    });
  } finally {
    image.inUse?.release();
  }
}
