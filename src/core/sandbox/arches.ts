// What this host can run, per arch, as the helper answers it (`crossroot-helper arches --json`):
// natively, or through which qemu, with the binfmt_misc line the sandbox registers. The env file
// diagnostics, `crossroot check` and the Debian bootstrap all read this one answer, which the
// helper computes as `run` decides (arch.c arch_support), so none of them can contradict `run`.
// Asked once per helper binary and environment in a process, asynchronously (the language server
// stays responsive), and peeked at synchronously by the env file checks.
import { statSync } from 'node:fs';
import { ARCH_NAMES, type ArchName } from '../arch';
import { CrossrootError } from '../errors';
import { callHelper } from './client';

export interface ArchSupport {
  name: ArchName;
  /** The kernel runs it itself (the host's arch; i386 on amd64 unless ia32 emulation is off). */
  native: boolean;
  /** Natively or through qemu. */
  runs: boolean;
  /** The static qemu-user interpreter the sandbox would register. */
  qemu?: string;
  /** The binfmt_misc `register` line for it (`:qemu-ARCH:M::magic:mask:QEMU:OPF`). */
  binfmt?: string;
  /** One sentence for users: how it runs, or why it cannot. */
  detail: string;
  /** What to do when it cannot run. */
  fix?: string;
  /** GNU triplet of Debian's cross toolchains for this arch (aarch64-linux-gnu). */
  triplet?: string;
  /** The host's cross compilers for it (Debian's gcc-N-TRIPLET), majors ascending; none for the host's own arch. */
  cross?: CrossCompiler[];
}

/** One host cross toolchain as the helper found it: the drivers' paths on the host. */
export interface CrossCompiler {
  major: number;
  gcc: string;
  gxx?: string;
  cpp?: string;
}

export interface HostArches {
  host: ArchName | undefined;
  /** Where the helper looks for qemu (`CROSSROOT_QEMU_DIRS` or its defaults). */
  qemuDirs: string;
  arches: Partial<Record<ArchName, ArchSupport>>;
}

/** The variables the helper's answer depends on (arch.c); anything else does not change it. */
const RELEVANT_ENV = ['CROSSROOT_QEMU_DIRS', 'CROSSROOT_ASSUME_NO_IA32', 'CROSSROOT_CROSS_DIR'];

const asked = new Map<string, Promise<HostArches>>();
const known = new Map<string, HostArches>();

/** One key per helper binary (path and the file's identity, so a rebuilt helper is asked again) and relevant env. */
function cacheKey(helper: string, env: NodeJS.ProcessEnv): string {
  let id = '';
  try {
    const st = statSync(helper);
    id = `${st.dev}:${st.ino}:${st.mtimeMs}:${st.size}`;
  } catch { /* a missing helper fails when asked */ }
  return JSON.stringify([helper, id, ...RELEVANT_ENV.map((k) => env[k] ?? null)]);
}

function parse(json: string): HostArches {
  const raw = JSON.parse(json) as { host?: unknown; qemuDirs?: unknown; arches?: unknown };
  if (!Array.isArray(raw.arches)) throw new Error('no arches in the answer');
  const arches: Partial<Record<ArchName, ArchSupport>> = {};
  for (const a of raw.arches as Record<string, unknown>[]) {
    const name = ARCH_NAMES.find((n) => n === a.name);
    if (!name) continue; // an arch this side does not know yet
    arches[name] = {
      name, native: a.native === true, runs: a.runs === true, detail: String(a.detail ?? ''),
      ...(typeof a.qemu === 'string' ? { qemu: a.qemu } : {}),
      ...(typeof a.binfmt === 'string' ? { binfmt: a.binfmt } : {}),
      ...(typeof a.fix === 'string' ? { fix: a.fix } : {}),
      ...(typeof a.triplet === 'string' ? { triplet: a.triplet } : {}),
      cross: (Array.isArray(a.cross) ? a.cross as Record<string, unknown>[] : []).filter((c) => typeof c.gcc === 'string' && typeof c.major === 'number').map((c) => ({
        major: c.major as number, gcc: c.gcc as string,
        ...(typeof c.gxx === 'string' ? { gxx: c.gxx } : {}), ...(typeof c.cpp === 'string' ? { cpp: c.cpp } : {}),
      })),
    };
  }
  return { host: ARCH_NAMES.find((n) => n === raw.host), qemuDirs: String(raw.qemuDirs ?? ''), arches };
}

/** The helper's answer for every arch; asked once per helper binary and relevant env in this process. */
export function hostArches(helper: string, env: NodeJS.ProcessEnv = process.env): Promise<HostArches> {
  const key = cacheKey(helper, env);
  let p = asked.get(key);
  if (!p) {
    p = callHelper(helper, { argv: ['arches', '--json'], status: false, helperEnv: env }).then((r) => {
      let answer: HostArches;
      try {
        answer = parse(r.stdout);
      } catch (e) {
        throw new CrossrootError('EBADHELPER', `${helper} arches --json gave no answer (${(e as Error).message}): ${r.stdout.slice(0, 200)}`, {
          fix: 'rebuild the helper (make -C native) so it matches this crossroot', cause: e,
        });
      }
      known.set(key, answer);
      return answer;
    });
    // A failure is not cached: the next question asks again (the helper may have been rebuilt).
    p.catch(() => asked.delete(key));
    asked.set(key, p);
  }
  return p;
}

/** The answer if it is already here, else undefined (and the question is asked, for next time). */
export function hostArchesIfKnown(helper: string, env: NodeJS.ProcessEnv = process.env): HostArches | undefined {
  const key = cacheKey(helper, env);
  const hit = known.get(key);
  if (!hit) hostArches(helper, env).catch(() => {});
  return hit;
}

/** How this host runs `arch`; throws ENOQEMU with the helper's fix when it cannot. */
export async function requireArch(helper: string, arch: ArchName, env: NodeJS.ProcessEnv = process.env): Promise<ArchSupport> {
  const a = (await hostArches(helper, env)).arches[arch];
  if (!a) throw new CrossrootError('EARCH', `${helper} does not know the arch ${arch}`, { fix: 'rebuild the helper (make -C native) so it matches this crossroot' });
  if (!a.runs) throw new CrossrootError('ENOQEMU', `this machine cannot run ${arch} programs: ${a.detail}`, a.fix ? { fix: a.fix } : {});
  return a;
}
