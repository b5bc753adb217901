import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { need, ROOT, tempDir } from '../lib/harness';

// `npm run package` as a user runs it: both platform VSIX files, only the files they should
// hold, and a helper in each that runs on its platform (arm64: under qemu-user).
test('npm run package writes linux-x64 and linux-arm64 VSIX files holding only the extension and its helper', async (t) => {
  const cross = existsSync('/usr/bin/aarch64-linux-gnu-gcc') && ['libzstd.a', 'libz.a', 'liblzma.a', 'libbz2.a'].every((a) => existsSync(`/usr/lib/aarch64-linux-gnu/${a}`));
  if (!need(t, cross, 'gcc-aarch64-linux-gnu and libzstd-dev:arm64 zlib1g-dev:arm64 liblzma-dev:arm64 libbz2-dev:arm64 (node scripts/provision.mjs package)')) return;
  if (!need(t, existsSync('/usr/bin/qemu-aarch64-static') && existsSync('/usr/bin/unzip'), 'qemu-user-static and unzip')) return;
  const out = tempDir(t);
  const { packageAll, VSIX_FILES } = await import(path.join(ROOT, 'scripts/package.mjs'));
  const files: string[] = await packageAll({ outDir: out });
  assert.deepEqual(files.map((f) => path.basename(f)), ['crossroot-linux-x64-0.1.0.vsix', 'crossroot-linux-arm64-0.1.0.vsix']);
  let bundles = 0;
  for (const [file, machine, run] of [[files[0]!, 'x86-64', []], [files[1]!, 'ARM aarch64', ['/usr/bin/qemu-aarch64-static']]] as const) {
    const listing = execFileSync('unzip', ['-Z1', file], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
    const expected = ['[Content_Types].xml', 'extension.vsixmanifest', ...VSIX_FILES.map((f: string) => `extension/${f
      .replace(/^README\.md$/, 'readme.md').replace(/^CHANGELOG\.md$/, 'changelog.md').replace(/^LICENSE$/, 'LICENSE.txt')}`)].sort();
    assert.deepEqual(listing, expected, file);
    const manifest = execFileSync('unzip', ['-p', file, 'extension.vsixmanifest'], { encoding: 'utf8' });
    assert.match(manifest, new RegExp(`TargetPlatform="${path.basename(file).split('-').slice(1, 3).join('-')}"`));
    const dir = tempDir(t);
    execFileSync('unzip', ['-q', file, 'extension/native/out/crossroot-helper', 'extension/dist/*', '-d', dir]);
    const helper = path.join(dir, 'extension/native/out/crossroot-helper');
    assert.match(execFileSync('file', ['-b', helper], { encoding: 'utf8' }), new RegExp(`${machine}.*statically linked`));
    const [cmd, ...args] = [...run, helper, '--version'];
    const r = spawnSync(cmd!, args, { encoding: 'utf8' });
    assert.equal(r.stdout.trim(), 'crossroot-helper 0.1.0', r.stderr);
    const js = listing.filter((f) => f.startsWith('extension/dist/'));
    bundles = js.reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
    // What activation loads registers things only: the core and the language client are in
    // extension-heavy.cjs, loaded on first use (activation budget 50 ms).
    const activation = statSync(path.join(dir, 'extension/dist/extension.cjs')).size;
    assert.ok(activation <= 64 * 1024, `extension.cjs is ${activation} bytes`);
  }
  // The size budget of the bundles a VSIX ships (bench prints the figure).
  assert.ok(bundles <= 1.5 * 1024 * 1024, `bundles are ${bundles} bytes`);
});
