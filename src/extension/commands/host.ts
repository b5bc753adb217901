// Check Host (the helper's probe with its fix-its) and Pin Image (`crossroot lock`).
import path from 'node:path';
import { core } from '../lazy';
import type { CommandTable } from './index';

export const hostCommands: CommandTable = {
  // Probes this machine only (no workspace content runs), so it is allowed untrusted.
  checkHost: async (ctx) => {
    const helper = await ctx.helper();
    const arch = ctx.env.status?.arch;
    const { checkHost, formatReport } = core();
    const report = await checkHost(helper.path, { arch });
    const text = formatReport(report);
    ctx.log.info(`check${arch ? ` --arch ${arch}` : ''}:\n${text}`);
    const failed = report.checks.filter((c) => !c.ok && c.required).length;
    await ctx.ui.showText(`# crossroot check${arch ? ` --arch ${arch}` : ''}\n\n${report.ok ? 'This machine can run' : 'This machine cannot run yet'} ${arch ?? report.arch} envs.\n\n\`\`\`\n${text}\n\`\`\`\n`, 'markdown');
    if (!report.ok) void ctx.ui.warn(`Crossroot: ${failed} host check${failed === 1 ? '' : 's'} failed; each has a fix in the report.`);
  },
  // The CLI's `lock` resolves and writes crossroot.lock; run as a task so its output shows.
  pinImage: async (ctx) => {
    const file = ctx.env.envFile;
    if (!file) return;
    if (!(await ctx.env.trusted('pin the image'))) return;
    const spec = core().loadEnvSpec(file);
    if (spec.source.kind !== 'image') {
      void ctx.ui.info(`Crossroot: the env's ${spec.source.kind} source has no registry tag to pin.`);
      return;
    }
    await ctx.runCli(`lock ${path.basename(file)}`, ['lock', file]);
  },
};
