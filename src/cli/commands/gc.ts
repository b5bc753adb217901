// `crossroot gc [--dry-run|--force] [--json] [--store DIR]`: lists (by default) or removes store
// entries that no registered crossroot.lock, env or running command refers to.
import { parseArgs } from 'node:util';
import type { Command } from '../command';
import { CrossrootError } from '../../core/errors';
import { collectGarbage } from '../../core/store/gc';
import { STORE_OPTIONS, storeOption } from './pull';

function size(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`;
}

export const gcCommand: Command = {
  name: 'gc',
  usage: [
    'usage: crossroot gc [--dry-run | --force] [--json] [--store DIR [--shared-store]]',
    '',
    'Keeps every image and Feature pinned by a crossroot.lock this store has seen (`crossroot',
    'lock`, builds), every image, setup layer and Feature an env records, and images in use by a',
    'running env or `crossroot run`; lists the rest (unpacked images, their blobs, setup layers,',
    'fetched Features, leftovers of interrupted pulls). Nothing is removed without --force.',
    'Waits for running pulls and builds to finish first.',
  ].join('\n'),
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: { 'dry-run': { type: 'boolean', default: false }, force: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, ...STORE_OPTIONS },
    });
    if (positionals.length) throw new CrossrootError('EUSAGE', `gc takes no arguments (got ${positionals.join(' ')})`);
    if (values.force && values['dry-run']) throw new CrossrootError('EUSAGE', '--force and --dry-run contradict each other', { fix: 'pass one of them' });
    const store = storeOption(values);
    const r = await collectGarbage(store, {
      dryRun: !values.force,
      onWait: (pid) => process.stderr.write(`waiting for a running pull${pid ? ` (pid ${pid})` : ''} to finish…\n`),
    });
    if (values.json) {
      console.log(JSON.stringify(r, null, 2));
      return 0;
    }
    const verb = r.dryRun ? 'would remove' : 'removed';
    for (const i of r.remove) {
      const what = i.kind === 'image' ? `image ${i.id}${i.source ? ` (${i.source})` : ''}`
        : i.kind === 'feature' ? `Feature ${i.id}${i.source ? ` (${i.source})` : ''}`
        : i.kind === 'layer' ? `setup layer ${i.id}` : i.kind === 'blob' ? `blob ${i.id}` : `leftover ${i.id}`;
      console.log(`${verb} ${what}  ${size(i.bytes)}`);
    }
    for (const d of r.inUse) console.log(`kept image ${d}: in use by a running env or command`);
    for (const f of r.goneLockfiles) console.log(`${r.dryRun ? 'would forget' : 'forgot'} lockfile ${f} (it no longer exists)`);
    const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
    console.log(`${r.remove.length ? `${verb} ${r.remove.length} entr${r.remove.length === 1 ? 'y' : 'ies'}, ${size(r.bytes)}` : 'nothing to remove'}; kept ${n(r.kept.images, 'image')}, ${n(r.kept.blobs, 'blob')}, ${n(r.kept.layers, 'setup layer')} and ${n(r.kept.features, 'Feature')}`);
    if (r.dryRun && r.remove.length) console.log('run `crossroot gc --force` to remove them');
    return 0;
  },
};
