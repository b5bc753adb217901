// `crossroot lint [FILE] [--format json]`: the env file's diagnostics, as the editor shows them;
// exits 1 when there are errors, so CI can check the file.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Command } from '../command';
import { CrossrootError } from '../../core/errors';
import { lineColumn } from '../../core/envfile/diagnostics';
import { askNodeHost } from '../../core/envfile/host';
import { ENV_FILE_NAMES, findEnvFile, formatDiagnostic, readEnvFile } from '../../core/envfile/load';

export const lint: Command = {
  name: 'lint',
  usage: [
    'usage: crossroot lint [FILE] [--format text|json]',
    '',
    `Without FILE, checks the first of ${ENV_FILE_NAMES.join(', ')} in the current folder,`,
    'else its only .devcontainer/NAME/devcontainer.json (with several, it lists them: name one).',
    'Prints one line per problem (FILE:LINE:COL: SEVERITY CODE: MESSAGE), or with --format json',
    'one JSON object {file, diagnostics: [...], errors, warnings}. Exits 1 when there are errors.',
  ].join('\n'),
  async run(argv) {
    const { values, positionals } = parseArgs({ args: argv, options: { format: { type: 'string', default: 'text' } }, allowPositionals: true, strict: true });
    if (values.format !== 'text' && values.format !== 'json') throw new CrossrootError('EUSAGE', `unknown format "${values.format}"`, { fix: 'use --format text or --format json' });
    if (positionals.length > 1) throw new CrossrootError('EUSAGE', 'lint checks one file', { fix: 'crossroot lint [FILE]' });
    const file = positionals[0] ?? findEnvFile(process.cwd());
    if (!file) {
      throw new CrossrootError('ENOENVFILE', `no env file in ${process.cwd()} (looked for ${ENV_FILE_NAMES.join(', ')})`, { fix: 'create crossroot.toml (see the README\'s env file reference) or pass the file: crossroot lint FILE' });
    }
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new CrossrootError('ENOENVFILE', `cannot read ${file}: ${(e as Error).message}`, { fix: 'check the path', cause: e });
    }
    await askNodeHost(); // the helper's answer on which arches run here, for the qemu check
    const { diagnostics } = readEnvFile(text, path.resolve(file));
    const errors = diagnostics.filter((d) => d.severity === 'error').length;
    const warnings = diagnostics.filter((d) => d.severity === 'warning').length;
    if (values.format === 'json') {
      const items = diagnostics.map((d) => {
        const s = lineColumn(text, d.start);
        const e = lineColumn(text, d.end);
        return { code: d.code, severity: d.severity, message: d.message, line: s.line, column: s.column, endLine: e.line, endColumn: e.column, ...(d.fix ? { fix: d.fix } : {}) };
      });
      console.log(JSON.stringify({ file, diagnostics: items, errors, warnings }, null, 2));
    } else {
      for (const d of diagnostics) console.log(formatDiagnostic(file, text, d));
      console.log(diagnostics.length === 0 ? `${file}: no problems` : `${file}: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`);
    }
    return errors > 0 ? 1 : 0;
  },
};
