import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../lib/harness';

// The README's architecture invariants that a grep can check: what core may import, and who
// may start processes at all.

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

const rel = (p: string) => path.relative(ROOT, p);
const imports = (text: string) => [...text.matchAll(/(?:from|import\()\s*'([^']+)'/g)].map((m) => m[1]!);

test('src/core imports neither vscode nor an LSP connection, nor the layers above it', () => {
  for (const file of sources(path.join(ROOT, 'src/core'))) {
    for (const spec of imports(readFileSync(file, 'utf8'))) {
      // The LSP's data types and text documents are plain values; a connection or the editor API is not.
      const editor = spec === 'vscode' || spec.startsWith('vscode-languageclient') || /^vscode-languageserver(\/|$)/.test(spec);
      assert.ok(!editor, `${rel(file)} imports ${spec}`);
      if (spec.startsWith('.')) {
        const target = rel(path.resolve(path.dirname(file), spec));
        assert.ok(target.startsWith('src/core'), `${rel(file)} imports ${target} from outside core`);
      }
    }
  }
});

test('only the helper client and a few named host tools start processes', () => {
  // Each entry is a host command that is not the helper, with the reason it is run directly.
  const allowed: Record<string, string> = {
    'src/core/sandbox/client.ts': 'the one door to crossroot-helper',
    'src/core/image/auth.ts': 'docker-credential-* helpers named in the user\'s own config',
    'src/core/image/debian.ts': 'mmdebstrap for the debian source',
    'src/core/store/lock.ts': 'util-linux flock',
    'src/core/env/env.ts': 'devcontainer initializeCommand, on the host by design',
    'src/core/sandbox/host-tools.ts': 'dpkg -S/-L and the host loader\'s --list: the host toolchain closure native compilers bind',
    'src/extension/bootstrap.ts': 'the helper\'s --version check before the client is loaded',
    'src/extension/follow.ts': 'util-linux flock -s on an env\'s lock: the status bar waits for another process\'s build to end',
  };
  const starters = sources(path.join(ROOT, 'src')).filter((f) => /node:child_process|['"]execa['"]/.test(readFileSync(f, 'utf8')));
  const unexpected = starters.map(rel).filter((f) => !(f in allowed));
  assert.deepEqual(unexpected, [], 'start the helper through src/core/sandbox/client.ts');
});

test('the store depends on no layer above it (image pipeline, env lifecycle, language service)', () => {
  for (const file of sources(path.join(ROOT, 'src/core/store'))) {
    for (const spec of imports(readFileSync(file, 'utf8')).filter((s) => s.startsWith('.'))) {
      const target = rel(path.resolve(path.dirname(file), spec));
      assert.ok(!/^src\/core\/(image|env|lang|envfile)\//.test(target), `${rel(file)} imports ${target}`);
    }
  }
});
