// Finds the helper the extension runs (setting → CROSSROOT_HELPER → the one bundled in the VSIX)
// and checks it with `--version` before first use, so a wrong path fails once, clearly.
import { execFile } from 'node:child_process';
import { CrossrootError } from '../core/errors';
import { findHelper } from '../core/sandbox/helper';

export interface Helper {
  path: string;
  version: string;
}

/** Runs `HELPER --version`; throws EBADHELPER with a fix-it when it does not answer as a helper. */
export async function checkHelper(configured: string | undefined, extensionPath: string): Promise<Helper> {
  const helper = findHelper(configured || undefined, extensionPath);
  const out = await new Promise<string>((resolve, reject) => {
    execFile(helper, ['--version'], { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new CrossrootError('EBADHELPER', `${helper} --version failed: ${(stderr || err.message).trim()}`, {
        cause: err, fix: 'set crossroot.helperPath to a working crossroot-helper, or clear it to use the bundled one',
      }));
      else resolve(stdout.trim());
    });
  });
  const m = /^crossroot-helper (\S+)$/.exec(out);
  if (!m) throw new CrossrootError('EBADHELPER', `${helper} is not a crossroot helper (it printed "${out.slice(0, 80)}")`, { fix: 'set crossroot.helperPath to a crossroot-helper binary, or clear it' });
  return { path: helper, version: m[1]! };
}
