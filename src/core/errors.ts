// The one error type that reaches users: what went wrong (`message`), how to fix it (`fix`),
// a stable `code` for scripts and tests, and the underlying `cause` for the log.

/** Marks every CrossrootError, whichever copy of this module made it (see hasInstance). */
const BRAND = Symbol.for('crossroot.CrossrootError');

export class CrossrootError extends Error {
  readonly [BRAND] = true;
  readonly code: string;
  readonly fix: string | undefined;
  /** The user has seen it already (the helper printed it on their terminal): report only the exit code. */
  readonly shown: boolean;

  constructor(code: string, message: string, options: { fix?: string | undefined; cause?: unknown; shown?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CrossrootError';
    this.code = code;
    this.fix = options.fix;
    this.shown = options.shown ?? false;
  }

  /**
   * `instanceof` by brand, not by prototype: the VS Code extension ships two bundles (what
   * activation loads, and the core it loads on first use), each with its own copy of this class.
   */
  static override [Symbol.hasInstance](v: unknown): boolean {
    return typeof v === 'object' && v !== null && (v as { [BRAND]?: unknown })[BRAND] === true;
  }

  /** Message and fix-it as a user reads them. */
  describe(): string {
    return this.fix ? `${this.message}\n  fix: ${this.fix}` : this.message;
  }
}

export function isCrossrootError(e: unknown): e is CrossrootError {
  return e instanceof CrossrootError;
}
