// `npm run package`: one VSIX per platform (linux-x64, linux-arm64) with @vscode/vsce, each
// holding the minified extension and CLI bundles, the static helper built for that platform (Debian's cross
// compiler for arm64, checked under qemu), the grammar, icon, walkthrough, README, CHANGELOG and
// LICENSE, and nothing else: the file list is checked against `vsce ls` before packing.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { ensureNodeModules, ensureDebianPackages } from './provision.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

/** VS Code target → GNU triplet of its helper, and how to run that helper here. */
export const TARGETS = {
  'linux-x64': { triplet: 'x86_64-linux-gnu', run: [] },
  'linux-arm64': { triplet: 'aarch64-linux-gnu', run: ['qemu-aarch64-static'] },
};

/** What a VSIX may hold besides vsce's own manifest files, as `vsce ls` prints it. */
export const VSIX_FILES = [
  'CHANGELOG.md', 'LICENSE', 'README.md', 'package.json',
  // The language server is `crossroot lsp --stdio` of cli.cjs (which loads core.cjs for it).
  'dist/cli.cjs', 'dist/core.cjs', 'dist/extension.cjs', 'dist/extension-heavy.cjs',
  'media/crossroot.png',
  'media/walkthrough/build.md', 'media/walkthrough/check.md', 'media/walkthrough/envfile.md', 'media/walkthrough/terminal.md',
  'native/out/crossroot-helper',
  'native/out/crossroot-cc',      // the compiler wrapper bound into foreign-arch envs (native compilers)
  'syntaxes/toml.language-configuration.json', 'syntaxes/toml.tmLanguage.json',
];

function log(m) { console.error(`package: ${m}`); }

const vsce = path.join(root, 'node_modules', '@vscode', 'vsce', 'vsce');

/** Copies what the VSIX holds into a staging dir, with the target's stripped helper. */
function stage(target) {
  const { triplet, run } = TARGETS[target];
  const helper = path.join(root, 'native', 'out', triplet, 'crossroot-helper');
  const wrapper = path.join(root, 'native', 'out', triplet, 'crossroot-cc');
  execFileSync('make', ['-C', 'native', '-s', ...[helper, wrapper].map((f) => path.relative(path.join(root, 'native'), f))], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  const dir = mkdtempSync(path.join(os.tmpdir(), `crossroot-vsix-${target}-`));
  for (const f of VSIX_FILES.filter((f) => !f.startsWith('native/out/'))) {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    cpSync(path.join(root, f), path.join(dir, f));
  }
  cpSync(path.join(root, '.vscodeignore'), path.join(dir, '.vscodeignore'));
  mkdirSync(path.join(dir, 'native', 'out'), { recursive: true });
  const staged = path.join(dir, 'native', 'out', 'crossroot-helper');
  execFileSync(`${triplet}-strip`, ['-o', staged, helper]);
  execFileSync(`${triplet}-strip`, ['-o', path.join(dir, 'native', 'out', 'crossroot-cc'), wrapper]);
  // The helper must run on its platform: the arm64 one under qemu-user.
  const [cmd, ...args] = [...run, staged, '--version'];
  const version = execFileSync(cmd, args, { encoding: 'utf8' }).trim();
  if (version !== `crossroot-helper ${pkg.version}`) throw new Error(`${target} helper printed "${version}"`);
  log(`${target}: ${version} (${triplet}, ${run.length ? run[0] : 'native'})`);
  return dir;
}

function vsceRun(dir, args) {
  const r = spawnSync(process.execPath, [vsce, ...args, '--no-dependencies'], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vsce ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Builds (minified) and writes crossroot-TARGET-VERSION.vsix files into outDir; returns their paths. */
export async function packageAll({ targets = Object.keys(TARGETS), outDir = root } = {}) {
  const { buildAll } = await import('./build.mjs');
  await buildAll({ quiet: true, minify: true });
  const out = [];
  for (const target of targets) {
    const dir = stage(target);
    try {
      const listed = vsceRun(dir, ['ls']).split('\n').filter(Boolean).sort();
      const extra = listed.filter((f) => !VSIX_FILES.includes(f));
      const missing = VSIX_FILES.filter((f) => !listed.includes(f));
      if (extra.length || missing.length) throw new Error(`vsce ls for ${target}: extra ${extra.join(', ') || 'none'}; missing ${missing.join(', ') || 'none'}`);
      const file = path.join(outDir, `${pkg.name}-${target}-${pkg.version}.vsix`);
      // No repository field: README links stay as written rather than rewritten to a guessed host.
      vsceRun(dir, ['package', '--target', target, '--out', file, '--allow-missing-repository', '--no-rewrite-relative-links']);
      log(`${path.relative(process.cwd(), file) || file}: ${listed.length} files`);
      out.push(file);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  ensureNodeModules();
  if (!ensureDebianPackages(['build', 'run', 'package'])) process.exit(1);
  await packageAll();
}
