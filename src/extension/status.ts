// What the status bar item says about the env (name, arch, state) and what clicking it offers.
// Pure functions of the status: the item itself is made in ctx.ts.
import type { EnvStatus } from './backend';

const ICONS: Record<EnvStatus['state'], string> = {
  'not built': '$(circle-outline)',
  outdated: '$(warning)',
  building: '$(sync~spin)',
  ready: '$(check)',
  running: '$(vm-running)',
  stopping: '$(sync~spin)',
  error: '$(error)',
};

export interface StatusView {
  text: string;
  tooltip: string;
  /** Shown with the error background. */
  error: boolean;
}

export function statusView(s: EnvStatus, trusted: boolean): StatusView {
  if (!trusted) {
    return { text: `$(shield) ${s.arch} · ${s.name}: untrusted`, tooltip: `Crossroot env ${s.name} (${s.arch}): nothing runs until you trust this folder`, error: false };
  }
  const lines = [`Crossroot env ${s.name} (${s.arch}): ${s.state}`];
  if (s.detail) lines.push(s.detail);
  lines.push('Click for actions');
  return { text: `${ICONS[s.state]} ${s.arch} · ${s.name}: ${s.state}`, tooltip: lines.join('\n'), error: s.state === 'error' };
}

export interface Action {
  label: string;
  command: string;
}

/** The actions that make sense in this state, most likely first. */
export function actionsFor(s: EnvStatus | undefined): Action[] {
  const all = {
    terminal: { label: '$(terminal) Open Terminal', command: 'crossroot.openTerminal' },
    build: { label: '$(tools) Build', command: 'crossroot.build' },
    rebuild: { label: '$(refresh) Rebuild', command: 'crossroot.rebuild' },
    stop: { label: '$(debug-stop) Stop', command: 'crossroot.stop' },
    run: { label: '$(play) Run Command…', command: 'crossroot.runCommand' },
    file: { label: '$(go-to-file) Open Env File', command: 'crossroot.openEnvFile' },
    check: { label: '$(checklist) Check Host', command: 'crossroot.checkHost' },
    log: { label: '$(output) Show Log', command: 'crossroot.showLog' },
  };
  switch (s?.state) {
    case 'running': return [all.terminal, all.run, all.stop, all.rebuild, all.file, all.log];
    case 'ready': return [all.terminal, all.run, all.rebuild, all.file, all.log];
    case 'outdated': return [all.build, all.rebuild, all.terminal, all.file, all.log];
    case 'building': case 'stopping': return [all.log, all.file];
    case 'error': return [all.log, all.build, all.check, all.file];
    default: return [all.build, all.terminal, all.file, all.check, all.log];
  }
}
