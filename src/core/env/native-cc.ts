// Native-speed compilers in foreign-arch envs: decides whether `gcc` & co. typed in the env run
// the host's cross compiler (same major version as the env's gcc, Debian env) and, if so, what the
// instance binds: the host toolchain's closure under /usr/lib/crossroot/host, its libraries and
// loader at their multiarch paths, the static crossroot-cc wrapper at /usr/local/bin/NAME and its
// config. The env's own /usr/bin/gcc stays where it is, emulated.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, rmSync, rmdirSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { EnvSpec } from '../envfile/spec';
import { hostArches, type ArchSupport, type CrossCompiler } from '../sandbox/arches';
import type { Bind } from '../sandbox/helper';
import { hostToolchain } from '../sandbox/host-tools';

/** Where the host toolchain appears inside the env (a path no Debian package uses). */
export const HOST_PREFIX = '/usr/lib/crossroot/host';
/** The wrapper's config inside the env (read by native/cc/crossroot-cc.c). */
export const CONF_PATH = '/usr/lib/crossroot/cc.conf';

/** What `crossroot status` says about the env's compilers. */
export interface NativeCompilers {
  state: 'on' | 'off';
  /** One sentence: what runs, or why the env's own (emulated) compilers run. */
  reason: string;
  /** What would turn them on (the Debian package to install on the host). */
  fix?: string;
  /** The names that run the host compiler (gcc, cc, g++, …). */
  names?: string[];
}

export interface NativePlan {
  status: NativeCompilers;
  binds: Bind[];
}

export interface PlanInput {
  spec: EnvSpec;
  /** The env's trees top-down (its upper first), to read its gcc without running it. */
  trees: string[];
  helper: string;
  /** The static wrapper (native/out/crossroot-cc). */
  wrapper: string;
  /** Where the wrapper's config is written on the host (bound read-only at CONF_PATH). */
  confFile: string;
  /** Cache of the env gcc's search dirs: JSON file on the host. */
  cacheFile: string;
  /** Where the host toolchain's closure is kept between runs (the store's cache). */
  hostCacheDir?: string;
  /** Runs a shell line with the env's own tools (emulated) and returns its stdout. */
  probe: (script: string) => Promise<string>;
}

function off(reason: string, fix?: string): NativePlan {
  return { status: { state: 'off', reason, ...(fix ? { fix } : {}) }, binds: [] };
}

/** The plan for the next instance; undefined when the env's arch runs natively (nothing to accelerate). */
export async function planNativeCompilers(o: PlanInput): Promise<NativePlan | undefined> {
  const arch: ArchSupport | undefined = (await hostArches(o.helper)).arches[o.spec.arch];
  if (!arch || arch.native) return undefined;
  if (o.spec.tools?.nativeCompilers === false) return off('turned off by [tools] native-compilers = false; the env\'s own compilers run (emulated)');
  const triplet = arch.triplet;
  if (!triplet || !treeEntry(o.trees, 'etc/debian_version')) {
    return off('not a Debian env: native compilers need Debian\'s multiarch layout, so the env\'s own compilers run (emulated)');
  }
  const major = envGccMajor(o.trees, triplet);
  if (major === undefined) return off('the env has no gcc (install it with [setup] packages = ["gcc"])');
  const pkg = `gcc-${major}-${triplet}`;
  const cc: CrossCompiler | undefined = (arch.cross ?? []).find((c) => c.major === major);
  if (!cc) {
    const have = (arch.cross ?? []).map((c) => `gcc-${c.major}-${triplet}`);
    return off(`the env's gcc is ${major} and this host has ${have.length ? have.join(', ') : `no cross gcc for ${o.spec.arch}`}; the versions must match, so the env's own gcc runs (emulated)`,
      `install ${pkg} g++-${major}-${triplet} on the host (apt-get install ${pkg} g++-${major}-${triplet}), then restart the env (crossroot stop)`);
  }
  if (!existsSync(o.wrapper)) return off(`${o.wrapper} is missing, so the env's own compilers run (emulated)`, 'build it with `make -C native`');
  let tc;
  try {
    tc = await hostToolchain(cc, triplet, o.hostCacheDir);
  } catch (e) {
    return off(`the files of ${pkg} cannot be listed (${(e as Error).message}); the env's own compilers run (emulated)`);
  }

  const drivers: Record<'gcc' | 'gxx' | 'cpp', string | undefined> = { gcc: cc.gcc, gxx: cc.gxx, cpp: cc.cpp };
  const names: Array<[string, 'gcc' | 'gxx' | 'cpp']> = [
    ['gcc', 'gcc'], ['cc', 'gcc'], [`gcc-${major}`, 'gcc'], [`${triplet}-gcc`, 'gcc'], [`${triplet}-gcc-${major}`, 'gcc'],
    ['g++', 'gxx'], ['c++', 'gxx'], [`g++-${major}`, 'gxx'], [`${triplet}-g++`, 'gxx'], [`${triplet}-g++-${major}`, 'gxx'],
    ['cpp', 'cpp'], [`cpp-${major}`, 'cpp'], [`${triplet}-cpp`, 'cpp'], [`${triplet}-cpp-${major}`, 'cpp'],
  ];
  // Only names the env itself has (so a missing g++ stays "command not found"), and never over a
  // program the env put in /usr/local/bin itself.
  const wrapped = names.filter(([n, d]) => drivers[d] && treeEntry(o.trees, `usr/bin/${n}`) && !treeEntry(o.trees, `usr/local/bin/${n}`));
  if (!wrapped.length) return off('the env has no gcc in /usr/bin');

  const dirs = await searchDirs(o, major, triplet, wrapped.some(([, d]) => d === 'gxx'));
  if (!dirs) return off('the env\'s gcc did not tell its include directories (gcc -E -v), so it runs itself (emulated)');
  const gccLib = `/usr/lib/gcc/${triplet}/${major}/`;
  const conf = [
    ...wrapped.map(([n, d]) => `tool ${n} ${HOST_PREFIX}${drivers[d]}`),
    // The env is the sysroot; the host's compiler programs (cc1, collect2, as, ld) come first,
    // then the env's own gcc dir for crt*.o, libgcc and libstdc++; the include search is the
    // env's gcc's, per language (cc1 reads C_INCLUDE_PATH, cc1plus CPLUS_INCLUDE_PATH).
    'arg --sysroot=/',
    `arg -B${HOST_PREFIX}/usr/lib/gcc-cross/${triplet}/${major}/`,
    `arg -B${gccLib}`,
    'arg -nostdinc',
    `env C_INCLUDE_PATH ${dirs.c.join(':')}`,
    ...(dirs.cxx.length ? [`env CPLUS_INCLUDE_PATH ${dirs.cxx.join(':')}`] : []),
  ].join('\n') + '\n';
  writeFileSync(o.confFile, conf);

  const ro = (source: string, target: string): Bind => ({ source, target, readonly: true });
  const binds = [
    ...tc.files.map((f) => ro(f, `${HOST_PREFIX}${f}`)),
    // At their /usr path: the loader searches /lib/TRIPLET and /usr/lib/TRIPLET, and /lib is a link
    // to usr/lib in merged-/usr envs, where a mount point under /lib would land in /usr/lib anyway.
    ...tc.libs.map((l) => ro(l.source, l.path.startsWith('/lib/') ? `/usr${l.path}` : l.path)),
    ro(tc.loader.source, tc.loader.path),
    ro(o.confFile, CONF_PATH),
    ...wrapped.map(([n]) => ro(o.wrapper, `/usr/local/bin/${n}`)),
  ];
  const host = path.basename(cc.gcc);
  return {
    status: { state: 'on', reason: `${wrapped.map(([n]) => n).filter((n) => !n.includes('-')).join(', ')} (and their versioned and ${triplet}- names) run the host's ${host} natively against the env's own headers and libraries (${tc.packages.join(', ')}); /usr/bin/gcc is the env's own, emulated`, names: wrapped.map(([n]) => n) },
    binds,
  };
}

/** The env gcc's include search lists for C and C++, asked once (emulated) and cached per gcc install. */
async function searchDirs(o: PlanInput, major: number, triplet: string, cxx: boolean): Promise<{ c: string[]; cxx: string[] } | undefined> {
  const key = createHash('sha256').update(JSON.stringify([major, cxx, ...o.trees.flatMap((t) => [`usr/lib/gcc/${triplet}/${major}`, `usr/include/c++/${major}`, 'usr/include'].map((p) => {
    const st = lstatOrUndefined(path.join(t, p));
    return st ? `${t}:${p}:${st.mtimeMs}:${st.ino}` : '';
  }))])).digest('hex');
  try {
    const hit = JSON.parse(readFileSync(o.cacheFile, 'utf8')) as { key: string; c: string[]; cxx: string[] };
    if (hit.key === key) return hit;
  } catch { /* not cached yet */ }
  const out = await o.probe(`/usr/bin/gcc -E -v -xc /dev/null 2>&1 >/dev/null; echo '#crossroot'; ${cxx ? '/usr/bin/g++ -E -v -xc++ /dev/null 2>&1 >/dev/null' : 'true'}`);
  const [c, cx] = out.split('#crossroot\n').map(includeList);
  if (!c?.length) return undefined;
  const answer = { key, c, cxx: cx ?? [] };
  writeFileSync(o.cacheFile, JSON.stringify(answer));
  return answer;
}

/** The `#include <...>` search list of `gcc -v` output. */
export function includeList(text: string): string[] {
  const lines = text.split('\n');
  const from = lines.findIndex((l) => l.startsWith('#include <...> search starts here:'));
  if (from < 0) return [];
  const to = lines.findIndex((l, i) => i > from && l.startsWith('End of search list.'));
  return lines.slice(from + 1, to < 0 ? undefined : to).map((l) => l.trim()).filter((l) => l.startsWith('/')).map((l) => path.normalize(l));
}

/** The major version /usr/bin/gcc of the env names (gcc -> gcc-12 on Debian), else the newest gcc dir. */
function envGccMajor(trees: string[], triplet: string): number | undefined {
  const gcc = treeEntry(trees, 'usr/bin/gcc');
  if (!gcc) return undefined;
  if (gcc.stat.isSymbolicLink()) {
    const m = /-(\d+)$/.exec(readlinkSync(gcc.path));
    if (m) return Number(m[1]);
  }
  const majors = trees.flatMap((t) => {
    try {
      return readdirSync(path.join(t, 'usr/lib/gcc', triplet)).filter((d) => /^\d+$/.test(d)).map(Number);
    } catch {
      return [];
    }
  });
  return majors.length ? Math.max(...majors) : undefined;
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/** A path of the env's tree through its overlay stack (top-down); a whiteout hides what is below. */
function treeEntry(trees: string[], file: string): { path: string; stat: Stats } | undefined {
  for (const t of trees) {
    const p = path.join(t, file);
    const st = lstatOrUndefined(p);
    if (!st) continue;
    if (st.isCharacterDevice() && st.rdev === 0) return undefined;
    return { path: p, stat: st };
  }
  return undefined;
}

/**
 * The helper makes a mount point for each bind inside the env (an empty file or directory in
 * the writable layer it runs over). They are removed again while still empty: before an
 * instance starts (those of the last start, under the env lock, none running), so an empty
 * /usr/local/bin/gcc never hides the env's own gcc once native compilers are off; and after a
 * setup step, so none lands in its layer.
 */
export function removeMountPoints(upper: string, targets: string[]): void {
  const dirs = new Set<string>();
  for (const target of targets) {
    const p = path.join(upper, target);
    const st = lstatOrUndefined(p);
    if (st?.isFile() && st.size === 0) unlinkSync(p);
    else if (st?.isDirectory()) dirs.add(target);
    for (let d = path.dirname(target); d !== '/'; d = path.dirname(d)) dirs.add(d);
  }
  // Deepest first; only directories that are now empty (and were made for these mount points).
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) {
    if (['/usr', '/usr/lib', '/usr/local', '/usr/local/bin'].includes(d)) continue;
    try {
      rmdirSync(path.join(upper, d));
    } catch { /* not empty, or not there */ }
  }
}

/** removeMountPoints() for those an instance was last started with (recorded by recordMountPoints). */
export function clearMountPoints(upper: string, recordFile: string): void {
  try {
    removeMountPoints(upper, JSON.parse(readFileSync(recordFile, 'utf8')) as string[]);
  } catch { /* none recorded */ }
  rmSync(recordFile, { force: true });
}

/** Remembers the mount points an instance is started with, for clearMountPoints(). */
export function recordMountPoints(recordFile: string, binds: Bind[]): void {
  writeFileSync(recordFile, JSON.stringify(binds.map((b) => b.target)));
}
