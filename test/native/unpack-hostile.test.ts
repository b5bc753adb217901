// Hostile layers against the extractor (release and ASan builds): nothing may be written, changed
// or removed outside the target, and each case ends in its documented error or skip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, writeFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { hostileCorpus } from '../fixtures/hostile';
import { treeListing } from '../fixtures/images';
import { HELPER, HELPER_ASAN } from '../lib/harness';
import { helper } from './sandbox';
import { scratch } from './unpack-fixtures';

/** Everything in `dir` except the target subtree: what the archive must not touch. */
function outsideListing(dir: string) {
  return treeListing(dir).filter((e) => e.path !== 'target' && !e.path.startsWith('target/'));
}

for (const [build, bin] of [['release', HELPER], ['asan', HELPER_ASAN]] as const) {
  // Only the corpus' names are needed here; the bytes depend on the test's own temp dir.
  for (const { name } of hostileCorpus('/placeholder')) {
    test(`${name} (${build})`, async (t) => {
      const dir = scratch(t, 'crossroot-hostile-');
      const outside = path.join(dir, 'outside');
      const canary = path.join(outside, 'canary');
      mkdirSync(canary, { recursive: true });
      writeFileSync(path.join(canary, 'file'), 'canary');
      writeFileSync(path.join(outside, 'top'), 'top');
      symlinkSync('canary/file', path.join(outside, 'link'));
      const c = hostileCorpus(outside).find((x) => x.name === name)!;
      const layer = path.join(outside, 'layer.tar');
      writeFileSync(layer, c.layer);
      const target = path.join(dir, 'target');
      const before = outsideListing(dir);

      const r = await helper(['unpack', '--target', target, '--layer', layer, '--status-fd', '3'], { helper: bin });

      assert.deepEqual(outsideListing(dir), before, 'nothing outside the target changed');
      assert.doesNotMatch(r.stderr, /AddressSanitizer|runtime error/, 'no memory error');
      if ('error' in c.expect) {
        assert.equal(r.code, 125, `exit 125 (stderr: ${r.stderr})`);
        assert.match(r.stderr, c.expect.error);
        const err = r.events.find((e) => e.event === 'error');
        assert.ok(err, 'an error event on the status fd');
        assert.match(String(err.message), c.expect.error);
      } else {
        assert.equal(r.code, 0, `exit 0 (stderr: ${r.stderr})`);
        for (const p of c.expect.inside ?? []) assert.ok(lstatSync(path.join(target, p), { throwIfNoEntry: false }), `${p} is inside the target`);
        const done = r.events.find((e) => e.event === 'done') as { skipped: { devices: number } } | undefined;
        assert.ok(done, 'a done event');
        assert.equal(done.skipped.devices, c.expect.skippedDevices ?? 0);
      }
    });
  }
}
