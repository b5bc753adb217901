// A real VS Code for end-to-end tests: code-server 4.100.3 (VS Code 1.100) from npm, cached as a
// heavy fixture keyed by its inputs outside the repo's dependencies (it is 300 MB with native
// modules built on install; `npm ci` stays fast), started fresh per test with its own
// user-data-dir, extensions dir, config and XDG dirs, on 127.0.0.1 with a port of its choosing.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { cacheDir } from '../../lib/harness';
import { artifactsDir } from './workbench';

export const CODE_SERVER_VERSION = '4.100.3';
/** @vscode/ripgrep's postinstall looks for this file before it downloads (GitHub is not reachable). */
const RIPGREP_CACHE = ['vscode-ripgrep-cache-1.15.11', 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz'] as const;

export function codeServerPrerequisites(): string | undefined {
  for (const [file, pkg] of [['/usr/bin/chromium', 'chromium'], ['/usr/bin/rg', 'ripgrep'], ['/usr/include/krb5.h', 'libkrb5-dev']] as const) {
    if (!existsSync(file)) return `${file} (Debian package ${pkg}; node scripts/provision.mjs e2e)`;
  }
  return undefined;
}

function npmVersion(): string {
  return execFileSync('npm', ['--version'], { encoding: 'utf8' }).trim();
}

/**
 * The installed code-server's entry script. Installs once per (version, node major, npm version,
 * arch) into the test cache: in a temp dir renamed into place when complete, so an interrupted
 * install is never taken for a whole one.
 */
export function codeServerEntry(log: (m: string) => void = () => {}, base = cacheDir('code-server')): string {
  const key = createHash('sha256').update(JSON.stringify({ v: CODE_SERVER_VERSION, node: process.versions.node.split('.')[0], npm: npmVersion(), arch: process.arch })).digest('hex').slice(0, 16);
  mkdirSync(base, { recursive: true });
  const dir = path.join(base, `${CODE_SERVER_VERSION}-${key}`);
  const entry = path.join(dir, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
  if (existsSync(entry)) return entry;
  const work = mkdtempSync(path.join(base, '.install-'));
  try {
    log(`installing code-server ${CODE_SERVER_VERSION} into ${dir} (once; several minutes)`);
    writeFileSync(path.join(work, 'package.json'), JSON.stringify({ name: 'crossroot-e2e-code-server', private: true }));
    const tmp = path.join(work, 'tmp');
    mkdirSync(path.join(tmp, RIPGREP_CACHE[0]), { recursive: true });
    // The tarball holds Debian's rg at its top, where the postinstall unpacks it into bin/.
    execFileSync('tar', ['-C', '/usr/bin', '-czf', path.join(tmp, ...RIPGREP_CACHE), 'rg']);
    const r = spawnSync('npm', ['install', '--save-exact', '--no-audit', '--no-fund', `code-server@${CODE_SERVER_VERSION}`], {
      cwd: work, encoding: 'utf8',
      env: { ...process.env, TMPDIR: tmp, npm_config_unsafe_perm: 'true', npm_config_yes: 'true' },
    });
    if (r.status !== 0 || !existsSync(path.join(work, 'node_modules', 'code-server', 'out', 'node', 'entry.js'))) {
      throw new Error(`npm install code-server@${CODE_SERVER_VERSION} failed (${r.status}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    }
    rmSync(tmp, { recursive: true, force: true });
    try {
      renameSync(work, dir);
    } catch (e) {
      // Another run finished the same install first: theirs is as good.
      if (!existsSync(entry)) throw e;
      rmSync(work, { recursive: true, force: true });
    }
    return entry;
  } finally {
    if (existsSync(work)) rmSync(work, { recursive: true, force: true });
  }
}

export interface CodeServer {
  url: string;
  port: number;
  userDataDir: string;
  extensionsDir: string;
  /** Everything code-server printed (its log), for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export interface CodeServerOptions {
  /** User settings (settings.json of the fresh user-data-dir). */
  settings?: Record<string, unknown>;
  /** User keybindings. */
  keybindings?: unknown[];
  /** VSIX files installed with --install-extension before the server starts. */
  vsix?: string[];
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts a fresh code-server; when the test ends it is stopped (its whole process group), its
 * logs (extension host, every output channel: the extension's log, the language server's
 * stderr) are kept with the screenshots in e2e/logs/TEST-NAME, and its dirs are removed.
 */
export async function startCodeServer(t: TestContext, entry: string, o: CodeServerOptions = {}): Promise<CodeServer> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'crossroot-e2e-'));
  let server: CodeServer | undefined;
  t.after(async () => {
    await server?.stop();
    const logs = path.join(home, 'user-data', 'logs');
    if (existsSync(logs)) {
      const name = t.name.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 80);
      const dest = path.join(artifactsDir('logs'), name);
      rmSync(dest, { recursive: true, force: true });
      cpSync(logs, dest, { recursive: true });
    }
    rmSync(home, { recursive: true, force: true });
  });
  server = await launchCodeServer(entry, home, o);
  return server;
}

/**
 * Starts code-server with its user-data-dir, extensions, config and XDG dirs under `home` (a
 * fresh temp dir for tests; a kept one for `npm start`), on 127.0.0.1 with a port of its choosing.
 */
export async function launchCodeServer(entry: string, home: string, o: CodeServerOptions & { port?: number } = {}): Promise<CodeServer & { exited: Promise<void> }> {
  const userDataDir = path.join(home, 'user-data'), extensionsDir = path.join(home, 'extensions'), config = path.join(home, 'config.yaml');
  mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  mkdirSync(extensionsDir, { recursive: true });
  if (o.settings) {
    writeFileSync(path.join(userDataDir, 'User', 'settings.json'), JSON.stringify(o.settings, null, 2));
    // Settings of "machine" scope (crossroot.storeDir, crossroot.helperPath) are read from the
    // server's Machine settings, as under Remote-SSH: a User value shows only until the remote
    // configuration has loaded, then the setting falls back to its default.
    mkdirSync(path.join(userDataDir, 'Machine'), { recursive: true });
    writeFileSync(path.join(userDataDir, 'Machine', 'settings.json'), JSON.stringify(o.settings, null, 2));
  }
  if (o.keybindings) writeFileSync(path.join(userDataDir, 'User', 'keybindings.json'), JSON.stringify(o.keybindings, null, 2));
  writeFileSync(config, 'auth: none\ncert: false\n');
  const xdg = Object.fromEntries(['CONFIG', 'DATA', 'STATE', 'CACHE'].map((k) => [`XDG_${k}_HOME`, path.join(home, `xdg-${k.toLowerCase()}`)]));
  const env = { ...process.env, ...xdg, ...o.env };
  const common = ['--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, '--config', config];
  for (const vsix of o.vsix ?? []) {
    const r = spawnSync(process.execPath, [entry, ...common, '--install-extension', vsix, '--force'], { env, encoding: 'utf8' });
    if (r.status !== 0 || !/successfully installed/.test(r.stdout)) throw new Error(`--install-extension ${vsix} failed:\n${r.stdout}${r.stderr}`);
  }
  const child: ChildProcess = spawn(process.execPath, [entry, ...common, '--bind-addr', `127.0.0.1:${o.port ?? 0}`, '--auth', 'none',
    '--disable-telemetry', '--disable-update-check', '--ignore-last-opened'], {
    env, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (b: Buffer): void => {
      out += b.toString();
      const m = /HTTP server listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      if (m) resolve(Number(m[1]));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`code-server exited (${code}) before listening:\n${out}`)));
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // The server, its extension hosts and pty host are one process group; terminals' shells
    // (sessions of their own) get SIGHUP when the pty host goes.
    try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
    await exited;
  };
  return { url: `http://127.0.0.1:${port}`, port, userDataDir, extensionsDir, output: () => out, stop, exited };
}

