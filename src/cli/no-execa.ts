// Stands in for execa in dist/cli.cjs only (scripts/build.mjs aliases it there). That bundle is the
// warm path (quick.ts), which starts the helper solely on the user's terminal, through client.ts's
// own terminal path; execa, even unloaded, cost its parse time (about 290 KiB) on every
// warm `crossroot exec`. Anything else falls through to dist/core.cjs, which bundles the real one.
export function execa(): never {
  throw new Error('crossroot: dist/cli.cjs has no execa; only dist/core.cjs pipes the helper (this is a bug)');
}
