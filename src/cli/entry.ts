// dist/cli.cjs, what `crossroot` runs (bin/crossroot, terminals, tasks, the language client): the
// warm path of exec/shell/build first (quick.ts, a few dozen KiB), then, for everything else, the
// full CLI in dist/core.cjs, loaded only then. core.cjs is also the extension's core library.
import path from 'node:path';
import { quick } from './quick';

quick(process.argv.slice(2)).then((code) => {
  if (code === undefined) require(path.join(__dirname, 'core.cjs'));
  else process.exitCode = code;
}).catch((e: unknown) => {
  console.error('crossroot: internal error:', e);
  process.exitCode = 125;
});
