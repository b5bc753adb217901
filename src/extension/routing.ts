// Makes the env the workspace's default terminal and (opt-in) the shell of every shell task, by
// writing the workspace's terminal settings; removes only what Crossroot itself wrote.
import { PROFILE_TITLE } from './terminals';
import type { Workspace } from './ui';

export const DEFAULT_PROFILE = 'terminal.integrated.defaultProfile.linux';
export const AUTOMATION_PROFILE = 'terminal.integrated.automationProfile.linux';

export interface Routing {
  defaultTerminal: boolean;
  routeTasks: boolean;
}

/**
 * Brings the workspace settings in line with `want`. `taskShell` is the script that runs a shell
 * in the env (cli.ts taskShellScript). Returns the settings it changed, for the log.
 */
export async function applyRouting(ws: Workspace, want: Routing, taskShell: string): Promise<string[]> {
  const changed: string[] = [];
  const profile = ws.workspaceSetting(DEFAULT_PROFILE);
  if (want.defaultTerminal && profile !== PROFILE_TITLE) {
    await ws.updateWorkspaceSetting(DEFAULT_PROFILE, PROFILE_TITLE);
    changed.push(DEFAULT_PROFILE);
  } else if (!want.defaultTerminal && profile === PROFILE_TITLE) {
    await ws.updateWorkspaceSetting(DEFAULT_PROFILE, undefined);
    changed.push(DEFAULT_PROFILE);
  }
  const automation = ws.workspaceSetting(AUTOMATION_PROFILE) as { path?: string } | undefined;
  const ours = automation?.path === taskShell;
  if (want.routeTasks && !ours) {
    await ws.updateWorkspaceSetting(AUTOMATION_PROFILE, { path: taskShell });
    changed.push(AUTOMATION_PROFILE);
  } else if (!want.routeTasks && ours) {
    await ws.updateWorkspaceSetting(AUTOMATION_PROFILE, undefined);
    changed.push(AUTOMATION_PROFILE);
  }
  return changed;
}
