// Build, Rebuild, Stop and the status bar's action list.
import { actionsFor } from '../status';
import type { CommandTable } from './index';

export const envCommands: CommandTable = {
  build: (ctx) => ctx.env.build(false),
  rebuild: (ctx) => ctx.env.build(true),
  stop: (ctx) => ctx.env.stop(),
  showActions: async (ctx) => {
    const s = ctx.env.status;
    const title = s ? `${s.arch} · ${s.name}: ${s.state}` : 'Crossroot';
    const command = await ctx.ui.pick(actionsFor(s).map((a) => ({ label: a.label, value: a.command })), title);
    if (command) await ctx.ui.command(command);
  },
};
