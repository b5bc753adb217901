// Makes a fresh clone runnable: npm deps when node_modules is missing, Debian packages when root
// (otherwise prints the exact apt line). `npm start`, `npm test` and `.ci/run` all go through here.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

// What each job needs from Debian. Keep the reason next to each package: this list is the
// answer to "why does crossroot's test suite want X on my machine".
export const DEBIAN_PACKAGES = {
  build: [
    'gcc', 'make', 'libc6-dev',
    'zlib1g-dev',        // static libz.a for the helper's gzip layers
    'libzstd-dev',       // static libzstd.a for zstd layers
  ],
  run: [
    'qemu-user-static',  // foreign-arch interpreters registered in the private binfmt_misc
    'uidmap',            // newuidmap/newgidmap for full subuid maps
  ],
  fixtures: [
    'mmdebstrap',        // Debian rootfs fixtures and the `debian` source
    'arch-test',         // mmdebstrap uses it to check a foreign arch can run
    'docker-registry',   // a real Distribution registry on loopback
    'apache2-utils',     // htpasswd -B for the basic-auth registry
    'skopeo', 'umoci', 'buildah', // fixture images made by real tools
    'zstd', 'xz-utils',
    'attr',              // setfattr/getfattr: xattrs in unpack fixtures and the owner record
    'libcap2-bin',       // setcap: the helper's refusal of file capabilities is tested on a copy
    'bubblewrap',        // a seccomp-restricted sandbox simulates AppArmor's user namespace restriction in check tests
  ],
  bench: ['bubblewrap', 'proot', 'hyperfine', 'podman'],
};

export function missingDebianPackages(groups) {
  const wanted = [...new Set(groups.flatMap((g) => DEBIAN_PACKAGES[g]))];
  if (!existsSync('/usr/bin/dpkg-query')) return [];
  return wanted.filter((p) => {
    const r = spawnSync('dpkg-query', ['-W', '-f=${db:Status-Status}', p], { encoding: 'utf8' });
    return r.status !== 0 || r.stdout.trim() !== 'installed';
  });
}

export function ensureDebianPackages(groups, { log = console.error } = {}) {
  const missing = missingDebianPackages(groups);
  if (missing.length === 0) return true;
  const line = `apt-get install -y ${missing.join(' ')}`;
  if (process.getuid?.() !== 0) {
    log(`crossroot: missing Debian packages; install them with:\n  sudo ${line}`);
    return false;
  }
  log(`crossroot: installing ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lists = '/var/lib/apt/lists';
  const stale = !existsSync(lists) || Date.now() - statSync(lists).mtimeMs > 6 * 3600e3;
  if (stale) execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
  const args = ['install', '-y', '-q', '--no-install-recommends', '-o', 'DPkg::Lock::Timeout=600', ...missing];
  const r = spawnSync('apt-get', args, { stdio: 'inherit', env });
  if (r.status !== 0) {
    // A stale list is the usual cause; one retry after an update.
    execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
    execFileSync('apt-get', args, { stdio: 'inherit', env });
  }
  return true;
}

export function ensureNodeModules() {
  const marker = path.join(root, 'node_modules', '.package-lock.json');
  if (existsSync(marker)) return;
  console.error('crossroot: node_modules missing, running npm ci');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  ensureNodeModules();
  const groups = process.argv.slice(2);
  const ok = ensureDebianPackages(groups.length ? groups : Object.keys(DEBIAN_PACKAGES));
  process.exit(ok ? 0 : 1);
}
