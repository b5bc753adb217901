// Every `crossroot` subcommand, one import per file. Add a line when adding a command.
import type { Command } from '../command';
import { check } from './check';
import { lint } from './lint';
import { lsp } from './lsp';

export const commands: Command[] = [
  check,
  lint,
  lsp,
];
