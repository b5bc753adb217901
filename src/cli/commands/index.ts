// Every `crossroot` subcommand, one import per file. Add a line when adding a command.
import type { Command } from '../command';
import { check } from './check';
import { lint } from './lint';
import { lsp } from './lsp';
import { gcCommand } from './gc';
import { lockCommand } from './lock';
import { pullCommand } from './pull';
import { runCommand } from './run';

export const commands: Command[] = [
  check,
  lint,
  lsp,
  pullCommand,
  runCommand,
  gcCommand,
  lockCommand,
];
