// Every `crossroot` subcommand. Each module is loaded only when its command runs, so `crossroot
// pull` does not pay for parsing and starting the language server. Add a line when adding a command.
import type { Command } from '../command';

export interface CommandEntry {
  readonly name: string;
  /** One line for `crossroot --help`. */
  readonly summary: string;
  load(): Promise<Command>;
}

export const commands: CommandEntry[] = [
  { name: 'shell', summary: 'open a shell in the project\'s env (built and started when needed)', load: async () => (await import('./shell')).shellCommand },
  { name: 'exec', summary: 'run a command in the project\'s env; its exit code is the command\'s', load: async () => (await import('./exec')).execCommand },
  { name: 'build', summary: 'build the env: base image and one cached layer per setup step', load: async () => (await import('./build')).buildCommand },
  { name: 'status', summary: 'show the env: built or not, layers and sizes, running or not', load: async () => (await import('./status')).statusCommand },
  { name: 'stop', summary: 'stop the env (every process in it)', load: async () => (await import('./stop')).stopCommand },
  { name: 'check', summary: 'check that this machine can run envs (user namespaces, overlay, binfmt, qemu)', load: async () => (await import('./check')).check },
  { name: 'lint', summary: 'check crossroot.toml (or devcontainer.json) and print its problems', load: async () => (await import('./lint')).lint },
  { name: 'lsp', summary: 'run the crossroot.toml / devcontainer.json language server', load: async () => (await import('./lsp')).lsp },
  { name: 'pull', summary: 'get an image (registry or local path) into the store, ready to run', load: async () => (await import('./pull')).pullCommand },
  { name: 'run', summary: 'run a command in a throwaway env of an image (like docker run --rm)', load: async () => (await import('./run')).runCommand },
  { name: 'gc', summary: 'list (or with --force remove) store entries nothing refers to', load: async () => (await import('./gc')).gcCommand },
  { name: 'lock', summary: 'pin the env\'s image to digests in crossroot.lock (--update moves them)', load: async () => (await import('./lock')).lockCommand },
];
