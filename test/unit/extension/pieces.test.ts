import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cliCommand, execArgs, shQuote, taskShellScript } from '../../../src/extension/cli';
import { chooseEnvFile, devcontainerFiles } from '../../../src/extension/envFiles';
import { applyRouting, AUTOMATION_PROFILE, DEFAULT_PROFILE } from '../../../src/extension/routing';
import { actionsFor, statusView } from '../../../src/extension/status';
import { checkDefinition, taskProcess } from '../../../src/extension/tasks';
import { terminalSpec } from '../../../src/extension/terminals';
import { progressOf, statusFrom } from '../../../src/extension/lifecycle';
import { tempDir } from '../../lib/harness';
import { MemoryWorkspace } from './fake-ui';

const cli = cliCommand('/ext', '/vscode/node', { helper: '/opt/crossroot-helper', store: '/s', idleTimeout: 60 });

test('the CLI runs with the extension host\'s node as node, with the settings in its environment and options', () => {
  assert.equal(cli.command, '/vscode/node');
  assert.deepEqual(cli.args, ['/ext/dist/cli.cjs']);
  assert.deepEqual(cli.env, { ELECTRON_RUN_AS_NODE: '1', CROSSROOT_HELPER: '/opt/crossroot-helper', CROSSROOT_STORE: '/s' });
  assert.deepEqual(cli.options, ['--idle-timeout', '60']);
});

test('the Crossroot terminal is named "arch · name" and runs `crossroot shell --file F`', () => {
  const t = terminalSpec(cli, '/w/crossroot.toml', { name: 'firmware', arch: 'arm64' }, '/w');
  assert.equal(t.name, 'arm64 · firmware');
  assert.equal(t.shellPath, '/vscode/node');
  assert.deepEqual(t.shellArgs, ['/ext/dist/cli.cjs', 'shell', '--file', '/w/crossroot.toml', '--idle-timeout', '60']);
  assert.equal(t.cwd, '/w');
  // From the profile provider: no cwd, so VS Code's own (e.g. a subfolder's "Open in Integrated Terminal") applies.
  assert.equal('cwd' in terminalSpec(cli, '/w/crossroot.toml', { name: 'firmware', arch: 'arm64' }, undefined), false);
});

test('a crossroot task runs `crossroot exec` from its host cwd (the CLI maps it) with its args untouched', () => {
  const def = checkDefinition({ type: 'crossroot', command: 'gcc', args: ['-c', 'a file.c'], cwd: 'src' });
  const p = taskProcess(cli, def, '/w', '/w/crossroot.toml');
  assert.equal(p.process, '/vscode/node');
  assert.deepEqual(p.args, ['/ext/dist/cli.cjs', 'exec', '--file', '/w/crossroot.toml', '--idle-timeout', '60', '--', 'gcc', '-c', 'a file.c']);
  assert.equal(p.cwd, '/w/src');
});

test('a crossroot task without a command says what to write', () => {
  assert.throws(() => checkDefinition({ type: 'crossroot' }), /needs "command"/);
  assert.throws(() => checkDefinition({ type: 'crossroot', command: 'make', args: [1] }), /"args" must be a list of strings/);
});

test('a task names its own env file relative to the folder', () => {
  const p = taskProcess(cli, { type: 'crossroot', command: 'true', envFile: 'envs/riscv.toml' }, '/w', '/w/crossroot.toml');
  assert.deepEqual(p.args.slice(1, 4), ['exec', '--file', '/w/envs/riscv.toml']);
});

test('the task shell script quotes paths so a quote in them stays a quote', (t) => {
  assert.equal(shQuote(`it's`), `'it'\\''s'`);
  const dir = tempDir(t);
  const odd = cliCommand(`/ext/it's here`, '/bin/echo');
  const script = path.join(dir, 'shell');
  writeFileSync(script, taskShellScript(odd, `/w/x'y/crossroot.toml`), { mode: 0o700 });
  // /bin/echo stands in for node: prints the argv the script would hand it.
  const r = spawnSync(script, ['-c', 'make all'], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.stdout.trim(), `/ext/it's here/dist/cli.cjs exec --file /w/x'y/crossroot.toml -- /bin/sh -c make all`);
});

test('the status bar shows name, arch and state; an untrusted folder says so', () => {
  const s = { name: 'firmware', arch: 'arm64' as const, state: 'running' as const };
  assert.equal(statusView(s, true).text, '$(vm-running) arm64 · firmware: running');
  assert.equal(statusView({ ...s, state: 'error', detail: 'boom' }, true).error, true);
  assert.match(statusView({ ...s, state: 'error', detail: 'boom' }, true).tooltip, /boom/);
  assert.equal(statusView(s, false).text, '$(shield) arm64 · firmware: untrusted');
  assert.deepEqual(actionsFor(s).map((a) => a.command).slice(0, 3), ['crossroot.openTerminal', 'crossroot.runCommand', 'crossroot.stop']);
  assert.equal(actionsFor({ ...s, state: 'not built' })[0]!.command, 'crossroot.build');
});

test('the env file is crossroot.toml, else devcontainer.json, unless the user chose one', (t) => {
  const w = tempDir(t);
  mkdirSync(path.join(w, '.devcontainer'));
  writeFileSync(path.join(w, '.devcontainer/devcontainer.json'), '{}');
  assert.equal(chooseEnvFile([w], undefined), path.join(w, '.devcontainer/devcontainer.json'));
  writeFileSync(path.join(w, 'crossroot.toml'), '');
  assert.equal(chooseEnvFile([w], undefined), path.join(w, 'crossroot.toml'));
  assert.equal(chooseEnvFile([w], path.join(w, '.devcontainer/devcontainer.json')), path.join(w, '.devcontainer/devcontainer.json'));
  // A remembered choice outside the workspace is not taken.
  assert.equal(chooseEnvFile([w], '/etc/passwd'), path.join(w, 'crossroot.toml'));
  assert.deepEqual(devcontainerFiles([w]), [path.join(w, '.devcontainer/devcontainer.json')]);
});

test('routing writes the default terminal and automation profile, and removes only its own', async () => {
  const ws = new MemoryWorkspace();
  assert.deepEqual(await applyRouting(ws, { defaultTerminal: true, routeTasks: true }, '/s/crossroot-task-shell'), [DEFAULT_PROFILE, AUTOMATION_PROFILE]);
  assert.equal(ws.workspace[DEFAULT_PROFILE], 'Crossroot');
  assert.deepEqual(ws.workspace[AUTOMATION_PROFILE], { path: '/s/crossroot-task-shell' });
  assert.deepEqual(await applyRouting(ws, { defaultTerminal: true, routeTasks: true }, '/s/crossroot-task-shell'), []);
  await applyRouting(ws, { defaultTerminal: false, routeTasks: false }, '/s/crossroot-task-shell');
  assert.deepEqual(ws.workspace, {});
  // A profile the user set is left alone.
  ws.workspace[DEFAULT_PROFILE] = 'zsh';
  ws.workspace[AUTOMATION_PROFILE] = { path: '/bin/zsh' };
  assert.deepEqual(await applyRouting(ws, { defaultTerminal: false, routeTasks: false }, '/s/crossroot-task-shell'), []);
  assert.equal(ws.workspace[DEFAULT_PROFILE], 'zsh');
});

test('execArgs puts the command after --, so its options never reach the CLI', () => {
  assert.deepEqual(execArgs(cli, '/w/crossroot.toml', ['--help']).slice(-2), ['--', '--help']);
});

test('lifecycle events become the lines a build notification shows; step output only goes to the log', () => {
  assert.deepEqual(progressOf({ phase: 'pull', pull: { phase: 'download', blob: { layer: 1, layers: 2, digest: 'sha256:ab', size: 63_100_000 }, done: 12_500_000 } }), { message: 'layer 1/2: 12.5 MB / 63.1 MB', detail: false });
  assert.deepEqual(progressOf({ phase: 'step', index: 2, total: 4, label: '[setup] packages: gcc', key: 'k', cached: false }), { message: 'step 2/4: [setup] packages: gcc', fraction: 0.25 });
  assert.equal(progressOf({ phase: 'step-output', index: 2, stream: 'stdout', line: 'Unpacking gcc' })?.detail, true);
  assert.deepEqual(progressOf({ phase: 'warning', message: 'limits not applied', fix: 'delegate a cgroup' }), { message: 'warning: limits not applied (fix: delegate a cgroup)' });
});

test('the core\'s env status maps to the status bar\'s words', () => {
  const base = { id: 'x', name: 'fw', arch: 'arm64', file: '/w/crossroot.toml', workspaceFolder: '/w', layers: [], upperBytes: 0 };
  assert.deepEqual(statusFrom({ ...base, state: 'not-built' }), { name: 'fw', arch: 'arm64', state: 'not built' });
  assert.deepEqual(statusFrom({ ...base, state: 'running', instance: { pid: 5, processes: 2 } }), { name: 'fw', arch: 'arm64', state: 'running', detail: '2 processes in it', processes: 2 });
});

test('the status tooltip says whether gcc in the env is the host\'s compiler, and why not with the package to install', () => {
  const base = { id: 'x', name: 'fw', arch: 'riscv64', file: '/w/crossroot.toml', workspaceFolder: '/w', layers: [], upperBytes: 0, state: 'running' as const, instance: { pid: 5, processes: 1 } };
  const off = statusFrom({ ...base, nativeCompilers: { state: 'off', reason: 'the env\'s gcc is 14 and this host has gcc-12-riscv64-linux-gnu', fix: 'install gcc-14-riscv64-linux-gnu' } });
  assert.equal(off.detail, '1 process in it\nnative compilers off: the env\'s gcc is 14 and this host has gcc-12-riscv64-linux-gnu (install gcc-14-riscv64-linux-gnu)');
  assert.match(statusView(off, true).tooltip, /^native compilers off: .*gcc-14-riscv64-linux-gnu\)$/m);
  assert.equal(statusFrom({ ...base, nativeCompilers: { state: 'on', reason: 'gcc runs the host\'s' } }).detail, '1 process in it\nnative compilers on');
});
