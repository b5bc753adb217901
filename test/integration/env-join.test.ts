// Joining a running env is the path every exec and shell takes once an env is up; it must not
// wait behind the env's lock (build, start and stop hold it), and it must not join an instance
// that no longer matches the env file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, HELPER, need, tempDir } from '../lib/harness';
import { busyboxRootfs, mmdebstrapAvailable } from '../fixtures/rootfs';
import { crossroot, storeDir, type CliResult } from './image-trees';

function cli(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('exec joins a running, unchanged env while another crossroot holds the env lock; a changed env file waits for it', { timeout: 600_000 }, async (t) => {
  if (!need(t, existsSync(HELPER) && existsSync(CLI), 'the helper and the CLI are not built (npm run build)')
    || !need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap)')) return;
  const tree = await busyboxRootfs('amd64');
  // Registered first: after-hooks run in the order they were registered, and `stop` needs the
  // project and the store that tempDir() and storeDir() remove in theirs.
  let stop = () => {};
  t.after(() => stop());
  const dir = tempDir(t, 'crossroot-project-');
  const store = storeDir(t);
  const file = path.join(dir, 'crossroot.toml');
  writeFileSync(file, `name = "join"\narch = "amd64"\n[source]\nkind = "dir"\npath = ${JSON.stringify(tree)}\n`);
  const env = { CROSSROOT_STORE: store };
  stop = () => {
    const s = crossroot(['stop'], env, dir);
    assert.equal(s.code, 0, s.stderr);
  };
  // A long idle timeout, not never: should the stop fail anyway, the instance still ends.
  let r = crossroot(['exec', '--idle-timeout', '10m', 'true'], env, dir);
  assert.equal(r.code, 0, r.stderr);
  const { id } = JSON.parse(crossroot(['status', '--json'], env, dir).stdout) as { id: string };

  // Another crossroot (as a build or a stop would) holds the env's lock until we let it go.
  const holder = spawn('flock', ['-x', path.join(store, 'locks', `env-${id}.lock`), '-c', 'echo held; read _'], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => { holder.kill(); });
  await new Promise<void>((resolve) => holder.stdout.setEncoding('utf8').on('data', (s: string) => { if (s.includes('held')) resolve(); }));

  // Before, this exec waited for the lock like a build does: the test then never got here.
  r = await cli(['exec', 'echo', 'joined'], env, dir);
  assert.deepEqual([r.code, r.stdout], [0, 'joined\n'], r.stderr);

  // An edited env file is not joined as it was: that exec takes the lock (once the holder lets
  // go) and runs with the new [env].
  writeFileSync(file, readFileSync(file, 'utf8') + '[env]\nCHANGED = "yes"\n');
  const changed = cli(['exec', 'sh', '-c', 'echo "[$CHANGED]"'], env, dir);
  holder.stdin.end('\n');
  r = await changed;
  assert.deepEqual([r.code, r.stdout], [0, '[yes]\n'], r.stderr);
});
