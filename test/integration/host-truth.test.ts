// One source of host truth: the editor's diagnostic, `crossroot lint`, `crossroot check` and
// `crossroot run` all take the helper's answer on which arches run here, so they agree, whatever
// CROSSROOT_QEMU_DIRS holds: only a dynamically linked qemu (unusable after pivot_root), only a
// static one, or none. Before, the TypeScript side had its own lookup that could say otherwise.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { ArchName } from '../../src/core/arch';
import { askNodeHost } from '../../src/core/envfile/host';
import { createLanguageService } from '../../src/core/lang/service';
import { hostArches } from '../../src/core/sandbox/arches';
import { HELPER, need, tempDir } from '../lib/harness';
import { busyboxRootfs, mmdebstrapAvailable, qemuFor } from '../fixtures/rootfs';
import { crossrootAsync, storeDir } from './image-trees';

interface Verdicts { editor: boolean; lint: boolean; check: boolean; run: boolean; runOutput: string }

/** What each of the four says about running `arch` with this qemu dir: true = it runs. */
async function verdicts(t: TestContext, arch: ArchName, env: Record<string, string>): Promise<Verdicts> {
  const dir = tempDir(t);
  const file = path.join(dir, 'crossroot.toml');
  const text = `image = "debian:bookworm"\narch = "${arch}"\n`;
  writeFileSync(file, text);

  // The language server's path: nodeHost, asked in the background, then validated anew.
  const saved = { ...process.env };
  Object.assign(process.env, env, { CROSSROOT_HELPER: HELPER });
  let editor: boolean;
  try {
    await askNodeHost();
    const service = createLanguageService();
    const diags = service.validate(TextDocument.create(`file://${file}`, 'toml', 1, text));
    editor = !diags.some((d) => /cannot run/.test(d.message));
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }

  const cliEnv = { ...env, CROSSROOT_HELPER: HELPER };
  const lint = await crossrootAsync(['lint', '--format', 'json', file], cliEnv);
  const check = await crossrootAsync(['check', '--arch', arch, '--json'], cliEnv);
  const qemuRow = (JSON.parse(check.stdout) as { checks: { name: string; ok: boolean }[] }).checks.find((c) => c.name === 'qemu');
  const rootfs = await busyboxRootfs(arch);
  const run = await crossrootAsync(['run', '--arch', arch, '--store', storeDir(t), rootfs, '--', 'uname', '-m'], cliEnv);
  return {
    editor,
    lint: !(JSON.parse(lint.stdout) as { diagnostics: { message: string }[] }).diagnostics.some((d) => /cannot run/.test(d.message)),
    check: qemuRow?.ok === true,
    run: run.code === 0,
    runOutput: `${run.code}: ${run.stdout}${run.stderr}`,
  };
}

function qemuDirs(t: TestContext, arch: ArchName, name: string): { none: string; dynamic: string; static: string } {
  const base = tempDir(t);
  const none = path.join(base, 'none');
  const dynamic = path.join(base, 'dynamic');
  const stat = path.join(base, 'static');
  for (const d of [none, dynamic, stat]) mkdirSync(d);
  copyFileSync('/bin/true', path.join(dynamic, `qemu-${name}`)); // a dynamically linked ELF, as Fedora's qemu-user is
  copyFileSync(qemuFor(arch)!, path.join(stat, `qemu-${name}-static`));
  return { none, dynamic, static: stat };
}

function ready(t: TestContext, arch: ArchName): boolean {
  return need(t, existsSync(HELPER), 'the helper is not built (make -C native)')
    && need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap)')
    && need(t, qemuFor(arch) !== undefined, `no qemu for ${arch} (apt-get install qemu-user-static)`);
}

test('the editor, lint, check and run agree on an arm64 env: only a dynamic qemu, only a static one, none', async (t) => {
  if (!ready(t, 'arm64')) return;
  const dirs = qemuDirs(t, 'arm64', 'aarch64');
  for (const [which, runs] of [['none', false], ['dynamic', false], ['static', true]] as const) {
    const v = await verdicts(t, 'arm64', { CROSSROOT_QEMU_DIRS: dirs[which] });
    assert.deepEqual([v.editor, v.lint, v.check, v.run], [runs, runs, runs, runs], `${which}: ${JSON.stringify(v)}`);
    if (runs) assert.match(v.runOutput, /^0: aarch64\n/);
    else assert.match(v.runOutput, /^125: .*qemu-aarch64-static/s);
  }
});

test('on a kernel that refuses 32-bit x86 binaries, i386 runs through qemu-i386, and all four say so', async (t) => {
  if (!ready(t, 'i386')) return;
  const dirs = qemuDirs(t, 'i386', 'i386');
  // CROSSROOT_ASSUME_NO_IA32 makes the helper treat the kernel as one without ia32 emulation (this
  // test VM's kernel is one; elsewhere the knob gets the same path).
  for (const [which, runs] of [['none', false], ['static', true]] as const) {
    const v = await verdicts(t, 'i386', { CROSSROOT_QEMU_DIRS: dirs[which], CROSSROOT_ASSUME_NO_IA32: '1' });
    assert.deepEqual([v.editor, v.lint, v.check, v.run], [runs, runs, runs, runs], `${which}: ${JSON.stringify(v)}`);
    if (runs) assert.match(v.runOutput, /^0: i686\n/);
    else assert.match(v.runOutput, /^125: .*refuses 32-bit x86 binaries/s);
  }
  // Whatever the kernel: qemu-i386 is registered in the env's own binfmt_misc (behind the
  // kernel's loader, which takes 32-bit binaries first where it can), and i386 binaries run.
  const r = await crossrootAsync(['run', '--arch', 'i386', '--store', storeDir(t), await busyboxRootfs('i386'), '--',
    'sh', '-c', 'cat /proc/sys/fs/binfmt_misc/qemu-i386; sh -c "uname -m"'], { CROSSROOT_HELPER: HELPER });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^enabled\n/);
  assert.match(r.stdout, new RegExp(`^interpreter ${qemuFor('i386')}$`, 'm'));
  assert.match(r.stdout, /^i686\n$/m);
});

test('the binfmt line the helper answers (which the Debian bootstrap registers) is the one the sandbox registers', async (t) => {
  if (!ready(t, 'arm64')) return;
  const answer = (await hostArches(HELPER)).arches.arm64!;
  // What an arm64 sandbox has in its private binfmt_misc, read from inside it.
  const rootfs = await busyboxRootfs('arm64');
  const r = await crossrootAsync(['run', '--arch', 'arm64', '--store', storeDir(t), rootfs, '--', 'cat', '/proc/sys/fs/binfmt_misc/qemu-aarch64'],
    { CROSSROOT_HELPER: HELPER });
  assert.equal(r.code, 0, r.stderr);
  const [, , , , magic, mask, interpreter, flags] = answer.binfmt!.split(':'); // :name:M:offset:magic:mask:qemu:flags
  assert.match(r.stdout, new RegExp(`^interpreter ${interpreter}$`, 'm'));
  assert.deepEqual([.../^flags: (\S+)$/m.exec(r.stdout)![1]!].sort(), [...flags!].sort());
  const hex = (escaped: string) => escaped.replaceAll('\\x', '');
  assert.match(r.stdout, new RegExp(`^magic ${hex(magic!)}$`, 'm'));
  assert.match(r.stdout, new RegExp(`^mask ${hex(mask!)}$`, 'm'));
});
