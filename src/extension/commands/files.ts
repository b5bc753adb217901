// Show Log, Open Env File, Reopen devcontainer.json with Crossroot, Restart Language Server.
import { devcontainerFiles } from '../envFiles';
import type { CommandTable } from './index';

export const fileCommands: CommandTable = {
  showLog: async (ctx) => { ctx.log.show(); },
  openEnvFile: async (ctx) => {
    if (ctx.env.envFile) await ctx.ui.open(ctx.env.envFile);
    else void ctx.ui.info('Crossroot: this workspace has no crossroot.toml or devcontainer.json.');
  },
  reopenDevcontainer: async (ctx) => {
    const files = devcontainerFiles(ctx.folders);
    const file = files.length > 1 ? await ctx.ui.pick(files.map((f) => ({ label: f, value: f })), 'Which devcontainer.json?') : files[0];
    if (!file) {
      void ctx.ui.info('Crossroot: this workspace has no devcontainer.json.');
      return;
    }
    await ctx.chooseEnvFile(file);
    ctx.log.info(`env file: ${file}`);
    if (await ctx.env.trusted('open the devcontainer env')) await ctx.ui.command('crossroot.openTerminal');
  },
  restartLanguageServer: async (ctx) => { if (ctx.client) await ctx.client.restart(); else ctx.startLanguageClient(); },
};
