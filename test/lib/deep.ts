// Directory trees deeper than PATH_MAX, an fd limit or a recursive walker's stack, as a command
// in an env can make them: built by a child process that descends with chdir (no path is ever
// longer than one component), optionally as root of a user namespace with a full id map.
import { spawnSync } from 'node:child_process';

export interface DeepTreeOptions {
  /** A directory owned by this uid (inside the namespace) at the bottom, holding a file. */
  lockedLeafUid?: number;
}

/** Makes `root` with `depth` nested directories `d` below it, and a file `f` every 500 levels. */
export function makeDeepTree(root: string, depth: number, o: DeepTreeOptions = {}): void {
  const code = `
    const fs = require('node:fs');
    fs.mkdirSync(process.argv[1]);
    process.chdir(process.argv[1]);
    const depth = Number(process.argv[2]);
    for (let i = 0; i < depth; i++) {
      fs.mkdirSync('d');
      if (i % 500 === 0) fs.writeFileSync('f', String(i));
      process.chdir('d');
    }
    const uid = process.argv[3];
    if (uid) {
      fs.mkdirSync('locked');
      fs.writeFileSync('locked/file', 'x');
      fs.chownSync('locked', Number(uid), Number(uid));
    }`;
  const args = ['-e', code, root, String(depth), ...(o.lockedLeafUid !== undefined ? [String(o.lockedLeafUid)] : [])];
  const r = o.lockedLeafUid !== undefined
    ? spawnSync('unshare', ['--map-auto', '--map-root-user', '--', process.execPath, ...args], { encoding: 'utf8' })
    : spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`making a tree ${depth} deep in ${root} failed: ${r.stderr}`);
}
