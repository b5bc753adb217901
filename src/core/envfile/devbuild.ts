// devcontainer.json sources that are built rather than pulled: `build` (Dockerfile, context,
// args, target), legacy `dockerFile`/`context`, and `dockerComposeFile` + `service`, whose one
// service gives the image or build, variables, binds and working dir. The Compose file is YAML,
// read with the `yaml` library; only the named service runs, and the file is told so.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { getNodeValue, type Node } from 'jsonc-parser/lib/esm/main.js';
import { isMap, isScalar, parseDocument, type Document } from 'yaml';
import { Code } from './diagnostics';
import { parseDockerfile } from './dockerfile';
import type { Report } from './checks';
import type { Source } from '../source';

type DockerfileSource = Extract<Source, { kind: 'dockerfile' }>;

export interface BuildContext {
  /** The devcontainer.json's folder: `build` paths start there. */
  fileDir: string;
  report: Report;
  /** ${localEnv:…} and friends, reported at the node. */
  subst: (value: string, at: Node) => string;
  /** The host's variables, for Compose's own `${VAR}` interpolation. */
  getenv: (name: string) => string | undefined;
  /** Told the Dockerfile the build names, before it is checked (so also when it has errors). */
  onDockerfile?: (file: string) => void;
  /**
   * Reads a Compose file through the host (EnvHost.readFile), so a recording host stamps it: the
   * warm path (env/plan.ts) must see an edited Compose file as a change. Default: the file system.
   */
  readFile?: (file: string) => string | undefined;
}

/** Compose interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `$$` for a dollar. */
function interpolate(v: unknown, getenv: (n: string) => string | undefined): unknown {
  if (typeof v === 'string') {
    return v.replace(/\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (whole, braced?: string, op?: string, dflt?: string, bare?: string) => {
      if (whole === '$$') return '$';
      const value = getenv((braced ?? bare)!);
      if (op === ':-') return value ? value : dflt ?? '';
      if (op === '-') return value ?? dflt ?? '';
      return value ?? '';
    });
  }
  if (Array.isArray(v)) return v.map((x) => interpolate(x, getenv));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolate(x, getenv)]));
  return v;
}

const span = (n: Node) => ({ start: n.offset, end: n.offset + n.length });
const child = (n: Node | undefined, key: string): Node | undefined => n?.type === 'object' ? n.children?.find((p) => p.children?.[0]?.value === key)?.children?.[1] : undefined;

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Checks a Dockerfile where a devcontainer.json (or Compose file) names it: a missing file or one
 * with errors is reported at `at`, naming the Dockerfile's own line (the editor shows the
 * Dockerfile's problems at their instruction when it is open, through the language server).
 */
function checkDockerfile(file: string, at: { start: number; end: number }, report: Report, target?: string): boolean {
  const text = readText(file);
  if (text === undefined) {
    report(Code.PathNotFound, 'error', `the Dockerfile ${file} does not exist (paths start at the devcontainer.json's folder)`, at.start, at.end);
    return false;
  }
  const parsed = parseDockerfile(text);
  let ok = true;
  for (const d of parsed.diagnostics.filter((x) => x.severity === 'error')) {
    const line = text.slice(0, d.start).split('\n').length;
    report(d.code, 'error', `${path.basename(file)} line ${line}: ${d.message}`, at.start, at.end);
    ok = false;
  }
  if (target && !parsed.stages.some((s) => s.name === target.toLowerCase())) {
    report(Code.DockerfileSyntax, 'error', `build target "${target}" is not a stage of ${path.basename(file)} (stages: ${parsed.stages.map((s) => s.name ?? String(s.index)).join(', ') || 'none'})`, at.start, at.end);
    ok = false;
  }
  return ok;
}

function stringMap(n: Node | undefined, name: string, c: BuildContext): Record<string, string> {
  const out: Record<string, string> = {};
  if (!n) return out;
  if (n.type !== 'object') { c.report(Code.WrongType, 'error', `"${name}" must be an object of strings`, n.offset, n.offset + n.length); return out; }
  for (const p of n.children ?? []) {
    const [k, v] = p.children ?? [];
    if (!k || !v) continue;
    if (v.type !== 'string') { c.report(Code.WrongType, 'error', `"${name}.${String(k.value)}" must be a string`, v.offset, v.offset + v.length); continue; }
    out[String(k.value)] = c.subst(v.value as string, v);
  }
  return out;
}

/** `build` (or legacy `dockerFile` + `context`) as a Dockerfile source; undefined after reporting why not. */
export function readDockerBuild(build: Node | undefined, legacy: { dockerFile?: Node; context?: Node }, c: BuildContext): DockerfileSource | undefined {
  const str = (n: Node | undefined, name: string): string | undefined => {
    if (!n) return undefined;
    if (n.type !== 'string') { c.report(Code.WrongType, 'error', `"${name}" must be a string`, n.offset, n.offset + n.length); return undefined; }
    return c.subst(n.value as string, n);
  };
  if (build && build.type !== 'object') {
    c.report(Code.WrongType, 'error', '"build" must be an object such as { "dockerfile": "Dockerfile", "context": ".." }', build.offset, build.offset + build.length);
    return undefined;
  }
  const dfNode = child(build, 'dockerfile') ?? legacy.dockerFile;
  const dockerfile = str(dfNode, build ? 'build.dockerfile' : 'dockerFile');
  if (!dockerfile || !dfNode) {
    if (build) c.report(Code.MissingKey, 'error', '"build" needs "dockerfile": the Dockerfile\'s path from this folder', build.offset, build.offset + 1);
    return undefined;
  }
  const ctxNode = child(build, 'context') ?? legacy.context;
  const context = str(ctxNode, build ? 'build.context' : 'context') ?? '.';
  const args = stringMap(child(build, 'args'), 'build.args', c);
  const targetNode = child(build, 'target');
  const target = str(targetNode, 'build.target');
  for (const k of ['options', 'cacheFrom']) {
    const n = build?.children?.find((p) => p.children?.[0]?.value === k)?.children?.[0];
    if (n) c.report(Code.DevcontainerIgnored, 'info', `build.${k} is for docker build and is not used: Crossroot builds each instruction as a cached layer of its own`, n.offset, n.offset + n.length);
  }
  const file = path.resolve(c.fileDir, dockerfile);
  const contextDir = path.resolve(c.fileDir, context);
  if (ctxNode && !isDir(contextDir)) c.report(Code.PathNotFound, 'error', `the build context ${contextDir} is not a directory`, ctxNode.offset, ctxNode.offset + ctxNode.length);
  c.onDockerfile?.(file);
  if (!checkDockerfile(file, span(dfNode), c.report, target)) return undefined;
  return { kind: 'dockerfile', file, context: contextDir, args, ...(target ? { target } : {}) };
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** `environment` as a map: a list of `K=V` (a bare `K` takes nothing here) or a map. */
function envMap(v: unknown): Record<string, string> {
  const env: Record<string, string> = {};
  if (Array.isArray(v)) {
    for (const e of v) { const s = String(e); const eq = s.indexOf('='); if (eq > 0) env[s.slice(0, eq)] = s.slice(eq + 1); }
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (x !== null && x !== undefined) env[k] = String(x);
  }
  return env;
}

/** A later Compose file over an earlier one: fields replace, environment merges, volumes add up (as Compose merges them). */
function mergeService(a: Record<string, unknown> | undefined, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a, ...b };
  if (a?.environment !== undefined && b.environment !== undefined) out.environment = { ...envMap(a.environment), ...envMap(b.environment) };
  if (Array.isArray(a?.volumes) && Array.isArray(b.volumes)) out.volumes = [...a.volumes, ...b.volumes];
  return out;
}

export interface ComposeService {
  source: Source;
  env: Record<string, string>;
  /** Host-path binds (source resolved from the Compose file's folder), and volumes (`volume`: its name, '' when anonymous). */
  binds: Array<{ source: string; target: string; readonly: boolean; volume?: string }>;
  workingDir?: string;
  user?: string;
}

/**
 * The devcontainer's Compose service. Problems inside the Compose file are reported at
 * `dockerComposeFile` in devcontainer.json, naming the file and line.
 */
export function readCompose(filesNode: Node, serviceNode: Node | undefined, c: BuildContext): ComposeService | undefined {
  const at = span(filesNode);
  const files = filesNode.type === 'string' ? [filesNode.value as string] : filesNode.type === 'array' && (filesNode.children ?? []).every((n) => n.type === 'string') ? getNodeValue(filesNode) as string[] : undefined;
  if (!files?.length) { c.report(Code.WrongType, 'error', '"dockerComposeFile" must be a path or an array of paths', at.start, at.end); return undefined; }
  if (!serviceNode || serviceNode.type !== 'string') {
    c.report(Code.MissingKey, 'error', '"dockerComposeFile" needs "service": the Compose service the env is made from', at.start, at.end);
    return undefined;
  }
  const name = serviceNode.value as string;
  // Later files override earlier ones, field by field (as `docker compose -f a -f b` merges them).
  let svc: Record<string, unknown> | undefined;
  let projectDir: string | undefined;
  const others = new Set<string>();
  for (const f of files) {
    const file = path.resolve(c.fileDir, c.subst(f, filesNode));
    projectDir ??= path.dirname(file);
    const text = c.readFile ? c.readFile(file) : readText(file);
    if (text === undefined) { c.report(Code.PathNotFound, 'error', `the Compose file ${file} does not exist (paths start at the devcontainer.json's folder)`, at.start, at.end); return undefined; }
    const doc: Document = parseDocument(text, { prettyErrors: false });
    if (doc.errors.length) {
      const e = doc.errors[0]!;
      c.report(Code.ComposeFile, 'error', `${path.basename(file)} line ${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`, at.start, at.end);
      return undefined;
    }
    const services = doc.get('services');
    if (!isMap(services)) continue;
    for (const item of services.items) {
      const key = isScalar(item.key) ? String(item.key.value) : String(item.key);
      if (key !== name) { others.add(key); continue; }
      const value = (item.value && 'toJSON' in (item.value as object) ? (item.value as { toJSON(): unknown }).toJSON() : item.value) as Record<string, unknown> | null;
      if (value && typeof value === 'object') svc = mergeService(svc, interpolate(value, c.getenv) as Record<string, unknown>);
    }
  }
  if (!svc) { c.report(Code.ComposeFile, 'error', `the Compose file has no service "${name}"`, serviceNode.offset, serviceNode.offset + serviceNode.length); return undefined; }
  others.delete(name);
  if (others.size) {
    c.report(Code.ComposeIgnored, 'warning', `only the service "${name}" runs: Crossroot makes one env without a container engine, so ${[...others].map((o) => `"${o}"`).join(', ')} ${others.size === 1 ? 'does' : 'do'} not start (run ${others.size === 1 ? 'it' : 'them'} with docker compose or podman-compose; the env shares the host network, so localhost reaches ${others.size === 1 ? 'it' : 'them'})`, at.start, at.end);
  }
  const dir = projectDir!;
  let source: Source | undefined;
  if (typeof svc.build === 'string' || (svc.build && typeof svc.build === 'object')) {
    const b = typeof svc.build === 'string' ? { context: svc.build } : svc.build as Record<string, unknown>;
    const context = path.resolve(dir, typeof b.context === 'string' ? b.context : '.');
    const file = path.resolve(context, typeof b.dockerfile === 'string' ? b.dockerfile : 'Dockerfile');
    const args: Record<string, string> = {};
    if (Array.isArray(b.args)) for (const a of b.args) { const s = String(a); const eq = s.indexOf('='); if (eq > 0) args[s.slice(0, eq)] = s.slice(eq + 1); }
    else if (b.args && typeof b.args === 'object') for (const [k, v] of Object.entries(b.args as Record<string, unknown>)) args[k] = String(v ?? '');
    const target = typeof b.target === 'string' ? b.target : undefined;
    c.onDockerfile?.(file);
    if (!checkDockerfile(file, at, c.report, target)) return undefined;
    source = { kind: 'dockerfile', file, context, args, ...(target ? { target } : {}) };
  } else if (typeof svc.image === 'string') {
    source = { kind: 'image', ref: svc.image };
  } else {
    c.report(Code.ComposeFile, 'error', `the Compose service "${name}" has neither "image" nor "build"`, serviceNode.offset, serviceNode.offset + serviceNode.length);
    return undefined;
  }
  const env = envMap(svc.environment);
  const binds: ComposeService['binds'] = [];
  for (const v of Array.isArray(svc.volumes) ? svc.volumes : []) {
    let m: { source?: string; target?: string; readonly: boolean; type: string };
    if (typeof v === 'string') {
      const parts = v.split(':');
      const src = parts[0] ?? '';
      const isPath = /^[./~]/.test(src);
      m = parts.length === 1 ? { target: src, readonly: false, type: 'volume' } : { source: src, target: parts[1], readonly: (parts[2] ?? '').split(',').includes('ro'), type: isPath ? 'bind' : 'volume' };
    } else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      m = { type: String(o.type ?? 'volume'), readonly: o.read_only === true, ...(typeof o.source === 'string' ? { source: o.source } : {}), ...(typeof o.target === 'string' ? { target: o.target } : {}) };
    } else continue;
    if (m.type === 'volume' && m.target) {
      // A named or anonymous volume: a folder of the env in the store (see volumeName).
      binds.push({ source: '', target: m.target, readonly: m.readonly, volume: m.source ?? '' });
      continue;
    }
    if (m.type !== 'bind' || !m.source || !m.target) {
      c.report(Code.ComposeIgnored, 'warning', `the Compose volume ${JSON.stringify(typeof v === 'string' ? v : m.target)} is not mounted: Crossroot makes binds of host folders (./dir:/target) and volumes (NAME:/target)`, at.start, at.end);
      continue;
    }
    const src = m.source.startsWith('~') ? m.source : path.resolve(dir, m.source);
    binds.push({ source: src, target: m.target, readonly: m.readonly });
  }
  for (const k of ['ports', 'networks', 'depends_on', 'privileged', 'cap_add', 'env_file', 'command', 'entrypoint']) {
    if (k in svc) c.report(Code.ComposeIgnored, 'info', `the service's "${k}" is not used: ${k === 'ports' ? 'the env shares the host network, so its ports are reachable as they are' : k === 'env_file' ? 'put the variables in "environment" or containerEnv' : 'Crossroot runs one env without a container engine'}`, at.start, at.end);
  }
  return {
    source, env, binds,
    ...(typeof svc.working_dir === 'string' ? { workingDir: svc.working_dir } : {}),
    ...(typeof svc.user === 'string' ? { user: svc.user } : {}),
  };
}
