// Every `crossroot` subcommand, one import per file. Add a line when adding a command.
import type { Command } from '../command';

export const commands: Command[] = [
];
