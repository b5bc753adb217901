// Makes a fresh clone runnable: npm deps when node_modules is missing, Debian packages when root
// (otherwise prints the exact apt line). `npm start`, `npm test` and `.ci/run` all go through here.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
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
    'liblzma-dev', 'libbz2-dev', // static liblzma.a / libbz2.a: Dockerfile ADD of .tar.xz / .tar.bz2
  ],
  run: [
    'qemu-user-static',  // foreign-arch interpreters registered in the private binfmt_misc
    'uidmap',            // newuidmap/newgidmap for full subuid maps
    'slirp4netns',       // network = "private": outbound access for the env's own network namespace, as rootless podman
  ],
  fixtures: [
    'mmdebstrap',        // Debian rootfs fixtures and the `debian` source
    'arch-test',         // mmdebstrap uses it to check a foreign arch can run
    'docker-registry',   // a real Distribution registry on loopback
    'apache2-utils',     // htpasswd -B for the basic-auth registry
    'skopeo', 'umoci', 'buildah', // fixture images made by real tools
    'zstd', 'xz-utils', 'bzip2',
    'attr',              // setfattr/getfattr: xattrs in unpack fixtures and the owner record
    'libcap2-bin',       // setcap: the helper's refusal of file capabilities is tested on a copy
    'bubblewrap',        // a seccomp-restricted sandbox simulates AppArmor's user namespace restriction in check tests
    // Native compilers in foreign envs (issue 11): cross compilers matching bookworm's gcc 12,
    // run inside the arm64 test env; riscv64 envs are trixie (gcc 14), the mismatch case.
    'gcc-12-aarch64-linux-gnu', 'g++-12-aarch64-linux-gnu',
    'gcc-12-riscv64-linux-gnu', 'g++-12-riscv64-linux-gnu',
  ],
  // runc: rootless podman's runtime here (crun fails on this cgroup-v1 hybrid host, PEERS.md).
  bench: ['bubblewrap', 'proot', 'hyperfine', 'podman', 'runc'],
  // `npm run package`: the arm64 VSIX carries an arm64 static helper, cross-compiled here
  // (packages with :arm64 need `dpkg --add-architecture arm64`, done by ensureDebianPackages).
  package: [
    'gcc-aarch64-linux-gnu', 'libc6-dev-arm64-cross', // cross compiler, arm64 libc for -static
    'libzstd-dev:arm64', 'zlib1g-dev:arm64', // arm64 libzstd.a / libz.a for the helper's layers
    'liblzma-dev:arm64', 'libbz2-dev:arm64', // arm64 liblzma.a / libbz2.a for ADD archives
    'unzip', 'file',     // tests read the VSIX's file list and the helper's ELF machine
  ],
  // The VS Code E2E tests: code-server from npm (its native modules build against Kerberos
  // headers; its search wants ripgrep) driven by Playwright with Debian's Chromium.
  e2e: ['chromium', 'libkrb5-dev', 'ripgrep'],
};

export function missingDebianPackages(groups) {
  const wanted = [...new Set(groups.flatMap((g) => DEBIAN_PACKAGES[g]))];
  if (!existsSync('/usr/bin/dpkg-query')) return [];
  const native = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
  return wanted.filter((p) => {
    // With a foreign arch added, `dpkg-query -W gcc` lists a line per arch: an unqualified name
    // is there when its native (or arch: all) package is installed.
    const [name, arch] = p.split(':');
    const r = spawnSync('dpkg-query', ['-W', '-f=${db:Status-Status} ${Architecture}\\n', name], { encoding: 'utf8' });
    const lines = r.status === 0 ? r.stdout.split('\n').map((l) => l.split(' ')) : [];
    return !lines.some(([status, a]) => status === 'installed' && (arch ? a === arch : a === native || a === 'all'));
  });
}

// slirp4netns opens /dev/net/tun as the calling user. Debian's udev makes it 0666; some VM and
// container images ship it 0600, which leaves network = "private" to root only.
export function ensureTunDevice({ log = console.error } = {}) {
  const tun = '/dev/net/tun';
  if (!existsSync(tun) || (statSync(tun).mode & 0o666) === 0o666) return true;
  if (process.getuid?.() !== 0) {
    log(`crossroot: ${tun} is not open to users (network = "private" needs it); fix with:\n  sudo chmod 0666 ${tun}`);
    return false;
  }
  log(`crossroot: making ${tun} mode 0666, as Debian's udev does, for network = "private" (slirp4netns)`);
  chmodSync(tun, 0o666);
  return true;
}

export function ensureDebianPackages(groups, { log = console.error } = {}) {
  if (groups.includes('run')) ensureTunDevice({ log });
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
  let stale = !existsSync(lists) || Date.now() - statSync(lists).mtimeMs > 6 * 3600e3;
  // Foreign-arch packages (libzstd-dev:arm64) need that arch known to dpkg, then fresh lists.
  for (const arch of new Set(missing.map((p) => p.split(':')[1]).filter(Boolean))) {
    const known = execFileSync('dpkg', ['--print-foreign-architectures'], { encoding: 'utf8' }).split('\n');
    if (!known.includes(arch)) {
      execFileSync('dpkg', ['--add-architecture', arch], { stdio: 'inherit' });
      stale = true;
    }
  }
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
  // A dependency added since the last install (another branch landed it) counts as missing too.
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const declared = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies });
  const absent = declared.filter((d) => !existsSync(path.join(root, 'node_modules', d, 'package.json')));
  if (existsSync(marker) && absent.length === 0) return;
  console.error(`crossroot: ${existsSync(marker) ? `node_modules lacks ${absent.join(', ')}` : 'node_modules missing'}, running npm ci`);
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  ensureNodeModules();
  const groups = process.argv.slice(2);
  const ok = ensureDebianPackages(groups.length ? groups : Object.keys(DEBIAN_PACKAGES));
  process.exit(ok ? 0 : 1);
}
