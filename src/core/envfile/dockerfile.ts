// Reads a Dockerfile (through dockerfile-ast, the parser of VS Code's Docker tooling) into stages
// of instructions with their ranges, and finds what Crossroot cannot build, at the instruction.
// Building it is src/core/env/dockerfile.ts; words and variables follow dockerwords.ts.
import { DockerfileParser, type Heredoc, type Instruction } from 'dockerfile-ast';
import { Code, type EnvDiagnostic } from './diagnostics';

/** A here-document (BuildKit syntax): `RUN <<EOF` … `EOF`, `COPY <<EOF /path`. */
export interface DockerHeredoc {
  /** The delimiter (`EOF`): a COPY into a directory names the file after it. */
  name: string;
  /** The lines between the instruction's line and the delimiter, each ending in "\n", as written. */
  content: string;
  /** `<<-`: leading tabs are removed from each line. */
  chomp: boolean;
  /** An unquoted delimiter: COPY/ADD substitute the build's variables in the content. */
  expand: boolean;
}

export interface DockerInstruction {
  /** Upper-case keyword: RUN, COPY, … */
  keyword: string;
  /** The arguments after the flags, continuation lines joined (as Docker reads them); with heredocs only the instruction's own line. */
  args: string;
  /** Its here-documents, in the order of their `<<` on the line (dockerfile-ast finds them). */
  heredocs?: DockerHeredoc[];
  /** `--name=value` flags before the arguments. */
  flags: Array<{ name: string; value: string | null }>;
  /** The exec (JSON array) form, when the arguments are one. */
  json?: string[];
  /** Offsets into the Dockerfile's text, and the 1-based line, for diagnostics and errors. */
  start: number;
  end: number;
  line: number;
}

export interface DockerStage {
  /** Position in the file, from 0 (`COPY --from=0`). */
  index: number;
  /** `AS name`, lower-cased as Docker matches it. */
  name?: string;
  /** The FROM image as written (variables not yet substituted) and its `--platform`. */
  image: string;
  platform?: string;
  from: DockerInstruction;
  instructions: DockerInstruction[];
}

export interface ParsedDockerfile {
  escape: string;
  /** ARGs before the first FROM: usable in FROM lines, and in stages that declare them again. */
  globalArgs: DockerInstruction[];
  stages: DockerStage[];
  diagnostics: EnvDiagnostic[];
}

/** A Dockerfile by its name: `Dockerfile`, `Dockerfile.dev`, `app.Dockerfile`. */
export function isDockerfileName(file: string): boolean {
  const base = file.split(/[\\/]/).pop() ?? '';
  return base === 'Dockerfile' || base.startsWith('Dockerfile.') || base.endsWith('.Dockerfile');
}

/** What each instruction becomes, for the keywords that build nothing. */
export const RECORDED: Record<string, string> = {
  EXPOSE: 'recorded in the image config; the env shares the host network, so its ports need no publishing',
  CMD: 'recorded in the image config; Crossroot starts no container command (terminals and tasks run their own)',
  ENTRYPOINT: 'recorded in the image config; Crossroot starts no container entrypoint (terminals and tasks run their own)',
  VOLUME: 'recorded in the image config; the path stays part of the env\'s own writable layer (bind a host folder with "mounts" to keep it outside)',
  HEALTHCHECK: 'recorded in the image config; Crossroot does not run health checks',
  STOPSIGNAL: 'recorded in the image config; `crossroot stop` ends the env\'s processes with SIGTERM, then SIGKILL',
  ONBUILD: 'ignored: ONBUILD triggers apply to images built FROM this one, and Crossroot builds no image for others',
  MAINTAINER: 'recorded as the label "maintainer"',
};

const BUILDS = ['FROM', 'ARG', 'ENV', 'RUN', 'COPY', 'ADD', 'WORKDIR', 'USER', 'LABEL', 'SHELL'];
const FLAGS: Record<string, string[]> = {
  FROM: ['platform'],
  RUN: ['mount', 'network', 'security'],
  COPY: ['from', 'chown', 'chmod', 'link', 'parents', 'exclude'],
  ADD: ['chown', 'chmod', 'link', 'checksum', 'keep-git-dir', 'exclude'],
  HEALTHCHECK: ['interval', 'timeout', 'start-period', 'start-interval', 'retries'],
};

const HEREDOC_KEYWORDS = ['RUN', 'COPY', 'ADD'];

function heredoc(h: Heredoc, text: string, offset: (p: { line: number; character: number }) => number): DockerHeredoc {
  const op = text.slice(offset(h.getStartRange().start), offset(h.getStartRange().end));
  const c = h.getContentRange();
  const body = c ? text.slice(offset({ line: c.start.line, character: 0 }), offset(c.end)).replace(/\r$/gm, '') : '';
  // The range ends where the last line ends (a blank last line: at its start), so every line, blank ones too, gets its "\n".
  return { name: h.getName(), content: c ? `${body}\n` : '', chomp: op.startsWith('<<-'), expand: !/["']/.test(op) };
}

/** Leading tabs off each line, as `<<-` asks. */
export function chompHeredoc(content: string): string {
  return content.replace(/^\t+/gm, '');
}

/** Splits Docker's `type=cache,target=/x,id=y` mount syntax into its fields. */
export function mountFields(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    const k = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (k) out[k] = eq < 0 ? 'true' : part.slice(eq + 1).trim();
  }
  return out;
}

/** The exec form: a JSON array of strings; anything else is the shell form, as in Docker. */
function execForm(args: string): string[] | undefined {
  const t = args.trim();
  if (!t.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}

export function parseDockerfile(text: string): ParsedDockerfile {
  const diagnostics: EnvDiagnostic[] = [];
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') lineStarts.push(i + 1);
  const offset = (p: { line: number; character: number }) => Math.min(text.length, (lineStarts[p.line] ?? text.length) + p.character);
  const df = DockerfileParser.parse(text);
  const escape = df.getEscapeCharacter();
  const report = (ins: DockerInstruction, severity: EnvDiagnostic['severity'], message: string, code: number = Code.DockerfileUnsupported) =>
    diagnostics.push({ code: code as EnvDiagnostic['code'], severity, message, start: ins.start, end: ins.end });

  const stages: DockerStage[] = [];
  const globalArgs: DockerInstruction[] = [];
  for (const i of df.getInstructions()) {
    const range = i.getRange();
    const flags = 'getFlags' in i ? (i as Instruction & { getFlags(): Array<{ getName(): string; getValue(): string | null }> }).getFlags().map((f) => ({ name: f.getName(), value: f.getValue() })) : [];
    let args = i.getArgumentsContent() ?? '';
    const keyword = i.getKeyword().toUpperCase();
    const found = HEREDOC_KEYWORDS.includes(keyword) ? (i as unknown as { getHeredocs(): Heredoc[] }).getHeredocs() : [];
    const heredocs = found.map((h) => heredoc(h, text, offset));
    // The bodies follow the instruction's line: its words are on that line alone.
    if (found.length && args.includes('\n')) args = args.slice(0, args.indexOf('\n'));
    const json = execForm(args);
    const ins: DockerInstruction = {
      keyword, args, flags, ...(json ? { json } : {}), ...(heredocs.length ? { heredocs } : {}),
      start: offset(range.start), end: offset(range.end), line: range.start.line + 1,
    };
    const kw = ins.keyword;
    for (const h of found) {
      if (!h.getDelimiterRange()) report(ins, 'error', `the heredoc <<${h.getName()} has no closing "${h.getName()}" line`, Code.DockerfileSyntax);
    }
    if (found.length && json) report(ins, 'error', `${kw} in the exec form (JSON array) cannot take a heredoc: use the shell form`, Code.DockerfileSyntax);
    if (!BUILDS.includes(kw) && !(kw in RECORDED)) {
      report(ins, 'error', `unknown instruction ${i.getKeyword()}`, Code.DockerfileSyntax);
      continue;
    }
    for (const f of flags) {
      if (!(FLAGS[kw] ?? []).includes(f.name)) report(ins, 'error', `${kw} has no --${f.name} flag`, Code.DockerfileSyntax);
      else if (kw === 'RUN' && f.name === 'mount') {
        const type = mountFields(f.value ?? '').type ?? 'bind';
        if (type !== 'cache') {
          report(ins, 'error', `RUN --mount=type=${type} is not supported: only type=cache (a persistent host cache dir) is; ${type === 'secret' || type === 'ssh' ? 'pass secrets as build args or files in the build context instead' : 'COPY what the step needs first'}`);
        }
      } else if (kw === 'RUN' && f.name === 'security') {
        report(ins, 'error', 'RUN --security is not supported: a build step runs as your own user in a user namespace and cannot gain host privileges');
      } else if (kw === 'ADD' && f.name === 'keep-git-dir') {
        report(ins, 'error', 'ADD --keep-git-dir is not supported: Crossroot does not ADD git repositories; clone it in a RUN step, or put the checkout in the build context');
      }
    }
    if (kw === 'FROM') {
      const words = args.trim().split(/\s+/);
      if (!words[0]) { report(ins, 'error', 'FROM needs an image', Code.DockerfileSyntax); continue; }
      if (words.length !== 1 && !(words.length === 3 && words[1]!.toLowerCase() === 'as')) {
        report(ins, 'error', 'FROM takes an image and optionally "AS name"', Code.DockerfileSyntax);
        continue;
      }
      const platform = flags.find((f) => f.name === 'platform')?.value;
      stages.push({
        index: stages.length, image: words[0], from: ins, instructions: [],
        ...(words[2] ? { name: words[2].toLowerCase() } : {}), ...(platform ? { platform } : {}),
      });
      continue;
    }
    const stage = stages[stages.length - 1];
    if (!stage) {
      if (kw === 'ARG') globalArgs.push(ins);
      else report(ins, 'error', `${kw} before the first FROM: only ARG may come before FROM`, Code.DockerfileSyntax);
      continue;
    }
    if (kw in RECORDED) report(ins, 'info', `${kw} is ${RECORDED[kw]}`, Code.DockerfileRecorded);
    if ((kw === 'COPY' || kw === 'ADD') && !json && args.trim().split(/\s+/).length < 2) {
      report(ins, 'error', `${kw} needs at least one source and a destination`, Code.DockerfileSyntax);
    }
    if ((kw === 'RUN' || kw === 'WORKDIR' || kw === 'USER' || kw === 'SHELL') && !args.trim()) {
      report(ins, 'error', `${kw} needs an argument`, Code.DockerfileSyntax);
    }
    if (kw === 'SHELL' && !json) report(ins, 'error', 'SHELL takes the exec form: SHELL ["/bin/bash", "-c"]', Code.DockerfileSyntax);
    stage.instructions.push(ins);
  }
  if (stages.length === 0) diagnostics.push({ code: Code.DockerfileSyntax, severity: 'error', message: 'the Dockerfile has no FROM instruction', start: 0, end: Math.min(text.length, 1) });
  const names = new Set<string>();
  for (const s of stages) {
    if (s.name && names.has(s.name)) report(s.from, 'error', `two stages are named "${s.name}"`, Code.DockerfileSyntax);
    if (s.name) names.add(s.name);
  }
  diagnostics.sort((a, b) => a.start - b.start);
  return { escape, globalArgs, stages, diagnostics };
}
