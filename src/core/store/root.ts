// Where the store is and whether it is private: light on purpose (no other import of the store),
// since the warm path of exec/shell/build (src/cli/quick.ts) checks the same root before it trusts
// anything in it.
import type { Stats } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CrossrootError } from '../errors';

/** `$CROSSROOT_STORE`, else `$XDG_CACHE_HOME/crossroot`, else `~/.cache/crossroot`. */
export function defaultStoreRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CROSSROOT_STORE) return path.resolve(env.CROSSROOT_STORE);
  const cache = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(cache, 'crossroot');
}

/** CROSSROOT_SHARED_STORE=1 (or any value but "" and "0"): the env var form of `--shared-store`. */
export function sharedStoreFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.CROSSROOT_SHARED_STORE;
  return v !== undefined && v !== '' && v !== '0';
}

/** What a store others can enter gives them, for the refusal and for the opt-in's warning. */
const EXPOSES = 'other users who can enter it can read every image and blob in it, and run its images\' setuid programs as the user who unpacked them';

/**
 * Refuses a store root that is not a directory of ours closed to everyone else, unless `shared`;
 * then returns the warning to show when others can enter it.
 */
export function checkPrivate(dir: string, st: Stats, shared: boolean): string | undefined {
  if (!st.isDirectory()) {
    throw new CrossrootError('ESTORE', `the image store ${dir} is not a directory`, { fix: 'choose another store with --store DIR or CROSSROOT_STORE' });
  }
  const uid = process.getuid?.();
  const foreign = uid !== undefined && st.uid !== uid;
  // Group bits count too: a group holds other users, and with an ACL they show its mask.
  const open = (st.mode & 0o077) !== 0;
  if (!foreign && !open) return undefined;
  const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
  const what = foreign ? `belongs to uid ${st.uid}, not to you (uid ${uid})` : `can be entered by other users (mode ${mode})`;
  if (shared) return `the image store ${dir} is shared: it ${what}; ${EXPOSES}`;
  throw new CrossrootError('ESTORE', `the image store ${dir} ${what}; ${EXPOSES}`, {
    fix: foreign
      ? `use a store of your own (--store DIR or CROSSROOT_STORE), or, to share this one on purpose, pass --shared-store (CROSSROOT_SHARED_STORE=1)`
      : `chmod 700 ${dir}; or, to share it on purpose, pass --shared-store (CROSSROOT_SHARED_STORE=1)`,
  });
}
