import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandHeredoc, processWord, processWords, splitRaw } from '../../../src/core/envfile/dockerwords';
import { chompHeredoc, parseDockerfile } from '../../../src/core/envfile/dockerfile';
import { Code } from '../../../src/core/envfile/diagnostics';

const vars = { A: 'one', EMPTY: '', PATHV: '/usr/local/bin:/usr/bin', FILE: 'archive.tar.gz' };

test('substitution follows Docker: $A, ${A}, defaults, alternates, quotes and escapes', () => {
  assert.equal(processWord('$A-${A}', vars), 'one-one');
  assert.equal(processWord('${UNSET:-dflt} ${EMPTY:-dflt} ${EMPTY-kept}', vars), 'dflt dflt ');
  assert.equal(processWord('${A:+alt}|${EMPTY:+alt}|${EMPTY+alt}|${UNSET+alt}', vars), 'alt||alt|');
  assert.equal(processWord('\'$A\' "$A" \\$A', vars), '$A one $A');
  assert.equal(processWord('"a \\"q\\" \\n"', vars), 'a "q" \\n');
  assert.equal(processWord('$ alone, $1x', vars), '$ alone, x');
  assert.equal(processWord('${FILE%.*} ${FILE%%.*} ${FILE#*.} ${FILE##*.}', vars), 'archive.tar archive tar.gz gz');
  assert.equal(processWord('${PATHV/usr/opt}', vars), '/opt/local/bin:/usr/bin');
  assert.throws(() => processWord('${UNSET:?must be set}', vars), /UNSET: must be set/);
  assert.throws(() => processWord('"open', vars), /unmatched " quote/);
});

test('words split on unquoted whitespace; a variable\'s value is not split again', () => {
  assert.deepEqual(processWords('a* "b c" \'$A d\' $A /dst/', vars), ['a*', 'b c', '$A d', 'one', '/dst/']);
  assert.deepEqual(processWords('x${A}y   z', { A: 'p q' }), ['xp qy', 'z']);
  assert.deepEqual(processWords('a`b c', vars, '`'), ['ab', 'c']);
  assert.deepEqual(splitRaw('A=1 B="two words" C=\'$x y\' D=a\\ b'), ['A=1', 'B="two words"', 'C=\'$x y\'', 'D=a\\ b']);
});

test('a Dockerfile becomes stages with ARGs before FROM, flags and the exec form', () => {
  const p = parseDockerfile([
    'ARG BASE=debian:bookworm',
    'FROM --platform=$BUILDPLATFORM ${BASE} AS Build',
    'RUN --mount=type=cache,target=/var/cache/apt apt-get update && \\',
    '    apt-get install -y hello',
    'FROM ${BASE}',
    'COPY --from=build --chown=1000:1000 /out /app',
    'CMD ["/app/run"]',
  ].join('\n'));
  assert.equal(p.globalArgs.length, 1);
  assert.deepEqual(p.stages.map((s) => [s.index, s.name, s.image, s.platform]), [[0, 'build', '${BASE}', '$BUILDPLATFORM'], [1, undefined, '${BASE}', undefined]]);
  const run = p.stages[0]!.instructions[0]!;
  assert.equal(run.keyword, 'RUN');
  assert.equal(run.line, 3);
  assert.match(run.args, /^apt-get update && +apt-get install -y hello$/);
  assert.deepEqual(run.flags, [{ name: 'mount', value: 'type=cache,target=/var/cache/apt' }]);
  assert.deepEqual(p.stages[1]!.instructions[1]!.json, ['/app/run']);
  assert.deepEqual(p.diagnostics.map((d) => [d.code, d.severity]), [[Code.DockerfileRecorded, 'info']]);
});

test('Dockerfile problems point at their instruction', () => {
  const text = 'FROM debian\nRUN --mount=type=secret,id=x cat /run/secrets/x\nFROBNICATE now\nCOPY onlyone\nEXPOSE 8080\n';
  const p = parseDockerfile(text);
  const at = (d: { start: number; end: number }) => text.slice(d.start, d.end);
  assert.deepEqual(p.diagnostics.map((d) => [d.code, d.severity, at(d)]), [
    [Code.DockerfileUnsupported, 'error', 'RUN --mount=type=secret,id=x cat /run/secrets/x'],
    [Code.DockerfileSyntax, 'error', 'FROBNICATE now'],
    [Code.DockerfileSyntax, 'error', 'COPY onlyone'],
    [Code.DockerfileRecorded, 'info', 'EXPOSE 8080'],
  ]);
  assert.match(p.diagnostics[0]!.message, /only type=cache/);
  assert.match(parseDockerfile('RUN echo\n').diagnostics[0]!.message, /RUN before the first FROM/);
  assert.match(parseDockerfile('# just a comment\n').diagnostics[0]!.message, /no FROM/);
});

test('heredocs: each body with its delimiter, <<- and quoting noted, the instruction keeps only its own line', () => {
  const p = parseDockerfile('FROM b\nRUN <<EOF\necho one\nEOF\nCOPY <<-\'A\' <<"B" /dir/\n\tx\n\tA\ny\nB\nRUN <<EOF\nEOF\nRUN echo after\n');
  const [run, copy, empty, after] = p.stages[0]!.instructions;
  assert.deepEqual([run!.args, run!.heredocs], ['<<EOF', [{ name: 'EOF', content: 'echo one\n', chomp: false, expand: true }]]);
  assert.deepEqual([copy!.args, copy!.line, copy!.heredocs], ['<<-\'A\' <<"B" /dir/', 5, [
    { name: 'A', content: '\tx\n', chomp: true, expand: false }, { name: 'B', content: 'y\n', chomp: false, expand: false }]]);
  assert.deepEqual(empty!.heredocs, [{ name: 'EOF', content: '', chomp: false, expand: true }]);
  assert.deepEqual([after!.args, after!.heredocs, after!.line], ['echo after', undefined, 12]);
  assert.deepEqual(p.diagnostics, []);
  assert.equal(chompHeredoc('\t\ta\n\tb\n c\n'), 'a\nb\n c\n');
  // Blank lines are lines: first, last and only ones too.
  const blank = parseDockerfile('FROM b\nRUN <<EOF\n\nEOF\nRUN <<EOF\n\n\necho x\n\nEOF\n').stages[0]!.instructions;
  assert.deepEqual(blank.map((i) => i.heredocs![0]!.content), ['\n', '\n\necho x\n\n']);
});

test('a heredoc without its closing line, or in the exec form, is an error at the instruction', () => {
  const open = parseDockerfile('FROM b\nRUN <<EOF\necho never closed\n');
  assert.deepEqual(open.diagnostics.map((d) => [d.code, d.message]), [[Code.DockerfileSyntax, 'the heredoc <<EOF has no closing "EOF" line']]);
});

test('a COPY heredoc with an unquoted delimiter substitutes variables and keeps quotes and other escapes', () => {
  assert.equal(expandHeredoc('a=$A "b=${A}" \\$HOME \\n ${UNSET:-d}\n', vars), 'a=one "b=one" $HOME \\n d\n');
});
