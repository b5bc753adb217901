import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Env } from '../../src/core/env/env';
import type { EnvEvent } from '../../src/core/env/events';
import { loadEnvSpec, readEnvFile } from '../../src/core/envfile/load';
import { Store } from '../../src/core/store/store';
import { debianImageLayout } from '../fixtures/debian-image';
import { pushImage, registryAvailable, startRegistry, type TestRegistry } from '../fixtures/registry';
import { mmdebstrapAvailable, qemuAvailable } from '../fixtures/rootfs';
import { CLI, HELPER, ROOT, need, tempDir } from '../lib/harness';
import { fullIdMap, storeDir } from './image-trees';

// The Dockerfile and Compose fixtures of test/fixtures/projects, built without Docker from the
// local registry's Debian image (made from the cached mmdebstrap trees) and run as this
// unprivileged user, for arm64 (through qemu) and amd64.

let reg: TestRegistry | undefined;
let base = '';

function ready(t: TestContext, arch: 'arm64' | 'amd64'): boolean {
  return need(t, registryAvailable(), 'docker-registry is not installed (apt-get install docker-registry)')
    && need(t, spawnSync('skopeo', ['--version']).status === 0, 'skopeo pushes the test image (apt-get install skopeo)')
    && need(t, existsSync(HELPER), 'the helper is not built (make -C native)')
    && need(t, mmdebstrapAvailable(), 'mmdebstrap makes the Debian image (apt-get install mmdebstrap arch-test)')
    && (arch === 'amd64' || need(t, qemuAvailable('arm64'), 'no qemu-aarch64-static (apt-get install qemu-user-static)'));
}

before(async () => {
  if (!registryAvailable() || !mmdebstrapAvailable() || !existsSync(HELPER) || spawnSync('skopeo', ['--version']).status !== 0) return;
  reg = await startRegistry();
  const layout = await debianImageLayout(['amd64', 'arm64']);
  base = pushImage(reg, `oci:${layout}:bookworm`, 'debian:bookworm', { all: true });
});
after(async () => { await reg?.stop(); });

/** A copy of a fixture project (the ADD archive made from its bundle/ folder). */
function project(t: TestContext, name: string): string {
  const dir = path.join(tempDir(t, `crossroot-${name}-`), name);
  cpSync(path.join(ROOT, 'test/fixtures/projects', name), dir, { recursive: true });
  if (existsSync(path.join(dir, 'bundle'))) {
    const r = spawnSync('tar', ['-czf', path.join(dir, 'bundle.tar.gz'), '-C', path.join(dir, 'bundle'), '.']);
    assert.equal(r.status, 0, String(r.stderr));
  }
  return dir;
}

interface Built { env: Env; events: EnvEvent[] }

function openEnv(dir: string, arch: string, store: Store, events: EnvEvent[]): Env {
  process.env.CROSSROOT_FIXTURE_BASE = base;
  const file = path.join(dir, '.devcontainer/devcontainer.json');
  writeFileSync(file, readFileSync(file, 'utf8').replace(/"arch": "\w+"/, `"arch": "${arch}"`));
  const env = Env.fromSpec(loadEnvSpec(path.join(dir, '.devcontainer/devcontainer.json')), { store, helper: HELPER, onEvent: (e) => events.push(e) });
  return env;
}

async function build(dir: string, arch: string, store: Store): Promise<Built> {
  const events: EnvEvent[] = [];
  const env = openEnv(dir, arch, store, events);
  await env.build();
  return { env, events };
}

async function run(env: Env, script: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await env.exec(['sh', '-c', script], { stdio: 'pipe', onStdout: (l) => { out += `${l}\n`; }, onStderr: (l) => { err += `${l}\n`; } });
  return { code, out, err };
}

const steps = (events: EnvEvent[]) => events.filter((e): e is Extract<EnvEvent, { phase: 'step' }> => e.phase === 'step');
const ranLines = (events: EnvEvent[]) => steps(events).filter((s) => !s.cached).map((s) => /:(\d+) (\w+)/.exec(s.label)!.slice(1).join(' '));

const CHECK = 'uname -m; hello; cat greeting.txt built.txt; id -un; pwd; stat -c "%U %a" conf/app.conf; cat /opt/bundle/inner/file.txt ~/made-by.txt; echo "$APP_HOME"';

test('the Dockerfile fixture builds and runs for arm64; a second build is a cache hit; editing one line rebuilds from that line', { timeout: 25 * 60_000 }, async (t) => {
  if (!ready(t, 'arm64') || !need(t, fullIdMap(), 'USER dev needs a subordinate id range (/etc/subuid)')) return;
  const dir = project(t, 'dockerfile');
  const store = Store.open(storeDir(t), { helper: HELPER });
  const first = await build(dir, 'arm64', store);
  t.after(() => first.env.stop());
  // Build stage: RUN, COPY, RUN; final stage: RUN apt-get, RUN useradd, COPY --from, COPY --chown, ADD, WORKDIR, RUN.
  assert.deepEqual(ranLines(first.events), ['5 RUN', '6 COPY', '7 RUN', '12 RUN', '13 RUN', '14 COPY', '15 COPY', '16 ADD', '17 WORKDIR', '19 RUN']);
  assert.ok(first.events.some((e) => e.phase === 'note' && /line 20: EXPOSE is recorded in the image config/.test(e.message)), 'EXPOSE is not silent');
  let r = await run(first.env, CHECK);
  assert.deepEqual([r.code, r.out], [0, 'aarch64\nHello, world!\nhi from aarch64\ncontext: ./bundle.tar.gz ./config/app.conf ./tools/make.sh \ndev\n/opt/app\ndev 640\nbundled\nmade by dev\n/opt/app\n'], r.err);

  const again = await build(dir, 'arm64', store);
  assert.equal(steps(again.events).length, 10);
  assert.deepEqual(ranLines(again.events), [], 'a second build runs nothing');

  // Line 15 is COPY --chown … --chmod=640: editing it rebuilds it and every step after it, nothing before.
  const file = path.join(dir, 'Dockerfile');
  writeFileSync(file, readFileSync(file, 'utf8').replace('--chmod=640', '--chmod=604'));
  const edited = await build(dir, 'arm64', store);
  assert.deepEqual(ranLines(edited.events), ['15 COPY', '16 ADD', '17 WORKDIR', '19 RUN']);
  r = await run(edited.env, 'stat -c "%U %a" conf/app.conf');
  assert.deepEqual([r.code, r.out], [0, 'dev 604\n'], r.err);

  // A changed file in the build context is a changed COPY: that step and the ones after it run again.
  writeFileSync(path.join(dir, 'tools/make.sh'), '#!/bin/sh\necho changed\n');
  const touched = await build(dir, 'arm64', store);
  assert.deepEqual(ranLines(touched.events).slice(0, 2), ['6 COPY', '7 RUN']);
  r = await run(touched.env, 'cat built.txt');
  assert.deepEqual([r.code, r.out], [0, 'changed\n'], r.err);
});

test('the Dockerfile fixture builds and runs for amd64', { timeout: 15 * 60_000 }, async (t) => {
  if (!ready(t, 'amd64') || !need(t, fullIdMap(), 'USER dev needs a subordinate id range (/etc/subuid)')) return;
  const dir = project(t, 'dockerfile');
  const store = Store.open(storeDir(t), { helper: HELPER });
  const { env } = await build(dir, 'amd64', store);
  t.after(() => env.stop());
  const r = await run(env, CHECK);
  assert.deepEqual([r.code, r.out], [0, 'x86_64\nHello, world!\nhi from x86_64\ncontext: ./bundle.tar.gz ./config/app.conf ./tools/make.sh \ndev\n/opt/app\ndev 640\nbundled\nmade by dev\n/opt/app\n'], r.err);

  // An unchanged Dockerfile env is told from what its build read of the context, without hashing
  // it again: a warm `crossroot build` answers from dist/cli.cjs alone (a copy with no core.cjs
  // beside it fails loudly whenever the full path would be needed).
  const cliEnv = { ...process.env, CROSSROOT_STORE: store.root, CROSSROOT_HELPER: HELPER };
  const cli = (bin: string, args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: dir, env: cliEnv, encoding: 'utf8' });
  const warm = path.join(tempDir(t, 'crossroot-warm-'), 'dist/cli.cjs');
  mkdirSync(path.dirname(warm));
  copyFileSync(CLI, warm);
  copyFileSync(path.join(ROOT, 'package.json'), path.join(path.dirname(warm), '../package.json'));
  let c = cli(CLI, ['build']);
  assert.equal(c.status, 0, c.stderr);
  c = cli(warm, ['build']);
  assert.deepEqual([c.status, c.stderr], [0, 'crossroot: env dockerfile-fixture (amd64) is ready: 10 steps, 0 run, 10 cached\n']);
  // The same bytes written again still answer; other bytes, or a new file in a copied folder, do not.
  const conf = path.join(dir, 'config/app.conf');
  writeFileSync(conf, readFileSync(conf));
  assert.equal(cli(warm, ['build']).status, 0);
  writeFileSync(path.join(dir, 'config/new.conf'), 'x\n');
  assert.match(cli(warm, ['build']).stderr, /Cannot find module '.*core\.cjs'/);
  c = cli(CLI, ['build']);
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stderr, /ready: 10 steps, [1-9]\d* run/);
  assert.equal(cli(warm, ['build']).status, 0);
  // A chmod of a copied file is a change too (COPY keeps modes).
  chmodSync(conf, 0o600);
  assert.match(cli(warm, ['build']).stderr, /Cannot find module '.*core\.cjs'/);
});

test('a single-service Compose file runs its service\'s build, environment, binds and working dir; the other service gets a diagnostic', { timeout: 10 * 60_000 }, async (t) => {
  if (!ready(t, 'amd64')) return;
  const dir = project(t, 'compose');
  const file = path.join(dir, '.devcontainer/devcontainer.json');
  process.env.CROSSROOT_FIXTURE_BASE = base;
  const lint = readEnvFile(readFileSync(file, 'utf8'), file).diagnostics;
  assert.ok(lint.some((d) => d.severity === 'warning' && /only the service "app" runs: .*"db" does not start/.test(d.message)), JSON.stringify(lint));
  const store = Store.open(storeDir(t), { helper: HELPER });
  const { env } = await build(dir, 'amd64', store);
  t.after(() => env.stop());
  const r = await run(env, 'cat /etc/app-build; echo "$APP_MODE"; pwd; cat /data/readme.txt; ls /workspaces/compose/compose.yaml; touch /data/x 2>/dev/null || echo read-only');
  assert.deepEqual([r.code, r.out], [0, 'built for x86_64\ndevelopment\n/workspaces/compose\nshared data\n/workspaces/compose/compose.yaml\nread-only\n'], r.err);
});
