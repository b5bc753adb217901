// The shape of one `crossroot` subcommand. Commands live one per file in commands/ and are
// listed (with their one-line summary) in commands/index.ts; main.ts only dispatches and turns
// errors into exit codes.

export interface Command {
  readonly name: string;
  /** Full usage text for `crossroot NAME --help`. */
  readonly usage: string;
  /** Returns the process exit code. Throw CrossrootError for user-facing failures. */
  run(argv: string[]): Promise<number>;
}
