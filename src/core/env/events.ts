// What the env lifecycle reports while it works, as one discriminated union: the CLI renders it
// as lines or bars on stderr, `--json` prints it, the extension shows it in a notification.
import type { PullProgress } from '../image/progress';

export type EnvEvent =
  /** Getting the base image (resolve, download, verify, unpack): the pull pipeline's own events. */
  | { phase: 'pull'; pull: PullProgress }
  /** A build step begins; `cached` steps run nothing. `index` is 1-based. */
  | { phase: 'step'; index: number; total: number; label: string; key: string; cached: boolean }
  /** A line a running step printed. */
  | { phase: 'step-output'; index: number; stream: 'stdout' | 'stderr'; line: string }
  /** A step finished and its layer is in the store. */
  | { phase: 'step-done'; index: number; key: string; ms: number }
  /** The env's instance is starting / started / stopped. */
  | { phase: 'instance'; state: 'starting' | 'started' | 'stopped'; pid?: number; reason?: string }
  /** A devcontainer postStart/postAttach command runs (its output comes as `output`). */
  | { phase: 'lifecycle'; hook: 'postStart' | 'postAttach' | 'initialize'; label: string }
  | { phase: 'output'; stream: 'stdout' | 'stderr'; line: string }
  /** Something the user should know that does not stop anything (a limit not applied, a user that does not exist). */
  | { phase: 'warning'; message: string; fix?: string }
  | { phase: 'note'; message: string };

export type EnvEventListener = (e: EnvEvent) => void;
