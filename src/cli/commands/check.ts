// `crossroot check [--arch A] [--rootfs DIR] [--json]`: can this machine run envs (of arch A)?
// Asks the helper to probe the host; exits 1 when something required is missing.
import { parseArgs } from 'node:util';
import type { Command } from '../command';
import { CrossrootError } from '../../core/errors';
import { parseArch } from '../../core/arch';
import { findHelper } from '../../core/sandbox/helper';
import { checkHost, formatReport } from '../../core/sandbox/check';

export const check: Command = {
  name: 'check',
  usage: [
    'usage: crossroot check [--arch ARCH] [--qemu PATH] [--rootfs DIR] [--json]',
    '',
    'Probes user namespaces, the full uid map (newuidmap + /etc/subuid), overlay and private',
    'binfmt_misc inside a user namespace, and the qemu interpreter for ARCH (default: this',
    'machine\'s), and for a foreign ARCH the host\'s cross compilers that gcc in its envs can run',
    'natively (not required). Prints one line per check with a fix for each failure, or with --json the',
    'report {ok, arch, checks: [{name, ok, required, detail, fix}]}. Exits 1 when a required',
    'check fails.',
  ].join('\n'),
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: { arch: { type: 'string' }, qemu: { type: 'string' }, rootfs: { type: 'string' }, json: { type: 'boolean', default: false } },
      strict: true,
    });
    if (values.arch && !parseArch(values.arch)) {
      throw new CrossrootError('EUSAGE', `unknown architecture "${values.arch}"`, { fix: 'use amd64, arm64, armhf, riscv64, ppc64el, s390x or i386' });
    }
    const report = await checkHost(findHelper(), {
      arch: values.arch ? parseArch(values.arch)!.name : undefined,
      qemu: values.qemu,
      rootfs: values.rootfs,
    });
    console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
    return report.ok ? 0 : 1;
  },
};
