// Host readiness as the helper probes it (`crossroot-helper check --json`): user namespaces,
// full id map, overlay, private binfmt_misc, qemu, rootfs; each failure with its fix-it.
import type { ArchName } from '../arch';
import { CrossrootError } from '../errors';
import { hostArches, type ArchSupport } from './arches';
import { callHelper } from './client';

export interface HostCheck {
  name: string;
  ok: boolean;
  /** False for checks whose failure only degrades (e.g. a single-uid map instead of a full one). */
  required: boolean;
  detail: string;
  fix: string;
}

export interface HostReport {
  /** Every required check passed. */
  ok: boolean;
  arch: string;
  checks: HostCheck[];
}

export interface CheckOptions {
  arch?: string;
  qemu?: string;
  rootfs?: string;
  env?: NodeJS.ProcessEnv;
}

function checkArgv(o: CheckOptions): string[] {
  const a = ['check', '--json'];
  if (o.arch) a.push('--arch', o.arch);
  if (o.qemu) a.push('--qemu', o.qemu);
  if (o.rootfs) a.push('--rootfs', o.rootfs);
  return a;
}

/** Runs the helper's probe; exit 1 (something required is missing) is a report, not an error. */
export async function checkHost(helper: string, o: CheckOptions = {}): Promise<HostReport> {
  // check answers on stdout (its report is the output, as `crossroot check --json` prints it).
  const r = await callHelper(helper, { argv: checkArgv(o), status: false, expect: 'report', ...(o.env ? { helperEnv: o.env } : {}) });
  let report: HostReport;
  try {
    report = parseReport(r.stdout);
  } catch (e) {
    throw new CrossrootError('ECHECK', `crossroot-helper check printed no report: ${r.stdout.slice(0, 200)}`, { cause: e });
  }
  // Native compilers for the arch: from the helper's one answer about this host (arches --json).
  const arch = (await hostArches(helper, o.env ?? process.env)).arches[report.arch as ArchName];
  if (arch && !arch.native) report.checks.push(compilersCheck(arch));
  return report;
}

/** Not required: without a matching cross compiler, gcc in the env runs emulated (slower, same result). */
export function compilersCheck(a: ArchSupport): HostCheck {
  const cross = a.cross ?? [];
  const t = a.triplet ?? a.name;
  if (cross.length) {
    return {
      name: 'compilers', ok: true, required: false, fix: '',
      detail: `native compilers for ${a.name} envs whose gcc is ${cross.map((c) => c.major).join(' or ')}: ${cross.map((c) => `${c.gcc}${c.gxx ? ` (+ ${c.gxx.split('/').pop()})` : ''}`).join(', ')}`,
    };
  }
  return {
    name: 'compilers', ok: false, required: false,
    detail: `no cross gcc for ${a.name} on this host: gcc in ${a.name} envs runs emulated`,
    fix: `install the cross compiler matching the env's gcc, e.g. apt-get install gcc-12-${t} g++-12-${t} for Debian 12 envs (gcc-14-${t} for Debian 13)`,
  };
}

function parseReport(json: string): HostReport {
  const r = JSON.parse(json) as HostReport;
  if (typeof r.ok !== 'boolean' || !Array.isArray(r.checks)) throw new Error('not a check report');
  return r;
}

/** One line per check, fix-its under failures, as `crossroot check` prints it. */
export function formatReport(r: HostReport): string {
  return r.checks.flatMap((c) => {
    const mark = c.ok ? 'ok  ' : c.required ? 'FAIL' : 'note';
    const line = `${mark}  ${c.name.padEnd(10)} ${c.detail}`;
    return c.ok || !c.fix ? [line] : [line, `      ${''.padEnd(10)} fix: ${c.fix}`];
  }).join('\n');
}
