// Reads .devcontainer/devcontainer.json (JSON with comments) into the same EnvSpec as
// crossroot.toml; what Crossroot cannot honour gets a diagnostic saying so, and why.
import path from 'node:path';
// The ESM build: esbuild cannot follow the UMD build's dynamic requires (./impl/format).
import { getNodeValue, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser/lib/esm/main.js';
import { isCrossrootError } from '../errors';
import { optionEnv, parseFeatureMetadata, parseFeatureRef, runtimeNotes, type FeatureMetadata } from '../features/feature';
import { readCompose, readDockerBuild, type ComposeService } from './devbuild';
import { checkArch, checkImageRef, checkInsidePath, normalizeInsidePath, shownValue, MountList, type Report } from './checks';
import { Code, closest, hasErrors, type EnvDiagnostic } from './diagnostics';
import { nativeArch, nodeHost } from './host';
import { emptyLifecycle, envNameFrom, parseMountString, resolveContainerEnv, volumeName, type EnvFeatures, type EnvSpec, type LifecycleCommand, type VscodeCustomizations } from './spec';
import { expandHostPath, substitute, type SubstitutionContext } from './substitute';
import type { EnvFileResult, ReadOptions } from './toml';
import type { ArchName } from '../arch';

const LIFECYCLE = {
  initializeCommand: 'initialize',
  onCreateCommand: 'onCreate',
  updateContentCommand: 'updateContent',
  postCreateCommand: 'postCreate',
  postStartCommand: 'postStart',
  postAttachCommand: 'postAttach',
} as const;

/** What Crossroot does with each property it honours, for hover. */
const HONOURED: Record<string, string> = {
  name: 'the env\'s name (made safe for folders and hostnames: "Python 3" becomes "Python-3")',
  image: 'the registry image used as the env\'s root filesystem, for the env\'s arch',
  build: 'a Dockerfile (dockerfile, context, args, target) built without Docker, each instruction a cached layer, for the env\'s arch',
  dockerFile: 'a Dockerfile built without Docker (legacy form of build.dockerfile)',
  context: 'the build context of dockerFile (legacy form of build.context)',
  dockerComposeFile: 'the Compose file(s) whose "service" the env is made from: its image or build, environment, bind volumes and working_dir',
  service: 'the Compose service the env is made from (the other services do not run)',
  containerEnv: 'variables for every process of the env',
  remoteEnv: 'variables for terminals and tasks, over containerEnv; may use ${containerEnv:VAR}',
  remoteUser: 'the user terminals and tasks run as',
  containerUser: 'the user terminals run as when remoteUser is not set',
  workspaceFolder: 'where the workspace folder appears inside the env',
  workspaceMount: 'its target is where the workspace folder appears; the workspace folder itself is always the source',
  mounts: 'bind mounts of host folders (type=bind), and volumes (type=volume) kept as folders of the env in Crossroot\'s store',
  runArgs: 'only --platform (the env\'s arch), -e/--env and -v/--volume (host folders and volumes)',
  customizations: 'vscode.settings and vscode.extensions (for the editor), and crossroot.arch for the env\'s CPU arch',
  settings: 'legacy spelling of customizations.vscode.settings (customizations win)',
  extensions: 'legacy spelling of customizations.vscode.extensions',
  $schema: 'for editors only',
  features: 'Dev Container Features (OCI references, ./local folders, https tarballs): each install.sh runs as root over the image, one cached layer per Feature, in the spec\'s order; their digests go into crossroot.lock',
  overrideFeatureInstallOrder: 'the Features installed first, as far as their dependsOn allow',
  initializeCommand: 'runs on the host before the env starts',
  onCreateCommand: 'runs inside the env once, after it is created',
  updateContentCommand: 'runs inside the env once, after onCreateCommand',
  postCreateCommand: 'runs inside the env once, after onCreateCommand and updateContentCommand',
  postStartCommand: 'runs inside the env each time it starts',
  postAttachCommand: 'runs inside the env each time a terminal or editor attaches',
  shutdownAction: '"none" keeps the env running until `crossroot stop`; otherwise it stops after its idle timeout with nothing running in it',
};

const INIT_NOTE = 'not needed: the env always has an init process that reaps zombies';

/** Properties Crossroot does not honour: severity and the reason, in users' words. */
const UNSUPPORTED: Record<string, ['error' | 'warning' | 'info', string]> = {
  runServices: ['warning', 'only the devcontainer\'s own "service" runs: Crossroot makes one env without a container engine'],
  privileged: ['warning', 'the env runs as your own user in a user namespace and cannot be given host privileges'],
  capAdd: ['warning', 'the env runs as your own user in a user namespace; extra capabilities would not reach the host'],
  securityOpt: ['warning', 'there is no container runtime whose security options could apply'],
  init: ['info', INIT_NOTE],
  devPort: ['info', 'not needed: VS Code runs beside your files, so no server port is opened in the env'],
  forwardPorts: ['info', 'not needed: the env shares the host network, so its ports are already reachable'],
  appPort: ['info', 'not needed: the env shares the host network, so its ports are already reachable'],
  portsAttributes: ['info', 'not used: the env shares the host network and nothing is forwarded'],
  otherPortsAttributes: ['info', 'not used: the env shares the host network and nothing is forwarded'],
  overrideCommand: ['info', 'not used: there is no container entrypoint to override'],
  updateRemoteUserUID: ['info', 'not needed (a no-op): inside the user namespace your host uid is already the env user\'s, so files in the workspace are always yours'],
  userEnvProbe: ['info', 'not supported yet: terminals start a login shell of their own'],
  waitFor: ['info', 'not supported: Crossroot runs the lifecycle commands in order before the first terminal opens'],
  hostRequirements: ['info', 'not checked: Crossroot runs on this machine as it is'],
  secrets: ['info', 'not supported: pass values through containerEnv with ${localEnv:VAR}'],
};

// A `docker run` flag without `=value`: its value, if any, is the next argument.
const BARE_FLAG = /^--?[a-zA-Z][\w-]*$/;

/** Hover text for a top-level devcontainer.json property: what Crossroot does with it, or why not. */
export function devcontainerPropertyDoc(name: string): string | undefined {
  if (name in HONOURED) return `**${name}** · honoured by Crossroot: ${HONOURED[name]}.`;
  const u = UNSUPPORTED[name];
  return u ? `**${name}** · not supported by Crossroot: ${u[1]}.` : undefined;
}

/**
 * The debugger idiom (`--cap-add=SYS_PTRACE`, `seccomp=unconfined`): what debugging needs in
 * Crossroot instead, which depends on whether the env's arch runs natively.
 */
function debuggerNote(native: boolean): string {
  return native
    ? 'not needed for debugging: gdb and lldb can trace the env\'s processes, which are yours, without extra capabilities'
    : 'not needed, and not enough for debugging in this env: its programs run under qemu-user, which cannot be traced with ptrace; debug through qemu\'s gdbstub instead (start the program with QEMU_GDB=1234 set, then attach gdb-multiarch with `target remote :1234`)';
}

/**
 * The workspace folder of a devcontainer.json: the folder holding .devcontainer/ (also for
 * .devcontainer/NAME/devcontainer.json, one of several configs), else the file's own folder.
 */
export function devcontainerWorkspaceFolder(file: string): string {
  const dir = path.dirname(path.resolve(file));
  if (path.basename(dir) === '.devcontainer') return path.dirname(dir);
  if (path.basename(path.dirname(dir)) === '.devcontainer' && path.basename(file) === 'devcontainer.json') return path.dirname(path.dirname(dir));
  return dir;
}

/** "publisher.name", optionally @version; a leading "-" removes an extension something else asked for. */
const EXTENSION_ID = /^-?[A-Za-z0-9][\w-]*\.[A-Za-z0-9][\w.-]*(@[\w.+-]+)?$/;

// Docker's -v option list: access, SELinux relabelling, consistency, propagation, copy.
const VOLUME_OPTIONS = new Set(['ro', 'readonly', 'rw', 'z', 'Z', 'consistent', 'cached', 'delegated', 'shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate', 'nocopy']);

export function readDevcontainer(text: string, opts: ReadOptions): EnvFileResult {
  const diags: EnvDiagnostic[] = [];
  const report: Report = (code, severity, message, start, end, fix) => {
    diags.push({ code, severity, message, start, end, ...(fix ? { fix } : {}) });
  };
  const errors: ParseError[] = [];
  // A UTF-8 BOM (Windows editors write one) is read as a space, so offsets stay the editor's.
  const root = parseTree(text.charCodeAt(0) === 0xfeff ? ` ${text.slice(1)}` : text, errors, { allowTrailingComma: true, disallowComments: false });
  for (const e of errors) {
    report(Code.JsonSyntax, 'error', `JSON syntax: ${printParseErrorCode(e.error).replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()}`, e.offset, Math.min(text.length, e.offset + Math.max(e.length, 1)));
  }
  if (errors.length > 0 || !root) return finish(diags);
  if (root.type !== 'object') {
    report(Code.WrongType, 'error', 'devcontainer.json must hold one JSON object', root.offset, root.offset + root.length);
    return finish(diags);
  }
  const host = opts.host ?? nodeHost;
  const file = path.resolve(opts.file);
  const fileDir = path.dirname(file);
  const workspaceFolder = devcontainerWorkspaceFolder(file);
  const ctx: SubstitutionContext = { host, fileDir, workspaceFolder, file };

  const props = new Map<string, { key: Node; value: Node }>();
  for (const p of root.children ?? []) {
    const [key, value] = p.children ?? [];
    if (key && value) props.set(String(key.value), { key, value });
  }
  const span = (n: Node) => ({ start: n.offset, end: n.offset + n.length });
  const wrongType = (n: Node, name: string, expected: string): void => report(Code.WrongType, 'error', `"${name}" must be ${expected}`, n.offset, n.offset + n.length);
  const str = (name: string): { value: string; node: Node } | undefined => {
    const p = props.get(name);
    if (!p) return undefined;
    if (p.value.type !== 'string') { wrongType(p.value, name, 'a string'); return undefined; }
    return { value: p.value.value as string, node: p.value };
  };
  const subst = (v: string, n: Node, c: SubstitutionContext, asHostPath = false): string => {
    const r = asHostPath ? expandHostPath(v, c) : substitute(v, c);
    for (const p of r.problems) report(p.code, p.severity, p.message, n.offset, n.offset + n.length);
    return r.value;
  };

  const debuggerIdioms: Node[] = [];
  for (const [name, { key, value }] of props) {
    if (name in HONOURED) continue;
    // capAdd: ["SYS_PTRACE"] and securityOpt: ["seccomp=unconfined"] are asked for debuggers.
    const idiom = name === 'capAdd' ? ['SYS_PTRACE'] : name === 'securityOpt' ? ['seccomp=unconfined', 'seccomp:unconfined'] : [];
    if (idiom.length && value.type === 'array' && value.children?.length && value.children.every((c) => idiom.includes(String(c.value)))) {
      debuggerIdioms.push(key);
      continue;
    }
    const known = UNSUPPORTED[name];
    if (known) {
      report(Code.DevcontainerUnsupported, known[0], `"${name}" is not supported: ${known[1]}`, key.offset, key.offset + key.length);
    } else {
      const guess = closest(name, [...Object.keys(HONOURED), ...Object.keys(UNSUPPORTED)]);
      report(Code.DevcontainerUnknown, 'warning', `unknown property "${name}"${guess ? `; did you mean "${guess}"?` : ''}`, key.offset, key.offset + key.length,
        guess ? { title: `Change to "${guess}"`, text: JSON.stringify(guess) } : undefined);
    }
  }

  // Source: an image, a Dockerfile build, or a Compose service's image or build.
  const image = str('image');
  let source: EnvSpec['source'] | undefined;
  let compose: ComposeService | undefined;
  let dockerfile: string | undefined;
  const buildCtx = {
    fileDir, report, subst: (v: string, n: Node) => subst(v, n, ctx), getenv: (n: string) => host.getenv(n), onDockerfile: (f: string) => { dockerfile = f; },
    ...(host.readFile ? { readFile: host.readFile.bind(host) } : {}),
  };
  if (image) {
    if (checkImageRef(image.value, span(image.node), report)) source = { kind: 'image', ref: image.value };
  } else if (props.has('dockerComposeFile')) {
    compose = readCompose(props.get('dockerComposeFile')!.value, props.get('service')?.value, buildCtx);
    if (compose?.source.kind === 'image' && !checkImageRef(compose.source.ref, span(props.get('dockerComposeFile')!.value), report)) compose = undefined;
    source = compose?.source;
  } else if (props.has('build') || props.has('dockerFile')) {
    source = readDockerBuild(props.get('build')?.value, { dockerFile: props.get('dockerFile')?.value, context: props.get('context')?.value }, buildCtx);
  } else {
    report(Code.NoSource, 'error', 'no "image", "build" or "dockerComposeFile": Crossroot needs an image or a Dockerfile for the env\'s root filesystem', root.offset, root.offset + 1);
  }

  // Arch: customizations.crossroot.arch, else runArgs --platform, else the host.
  let arch: ArchName | undefined;
  const env: Record<string, string> = {};
  const runMounts: Array<({ source: string; volume?: undefined } | { volume: string }) & { sourceAt: Node; target: string; readonly: boolean }> = [];
  const runArgs = props.get('runArgs')?.value;
  if (runArgs && runArgs.type !== 'array') wrongType(runArgs, 'runArgs', 'an array of strings');
  const args = runArgs?.type === 'array' ? runArgs.children ?? [] : [];
  for (let i = 0; i < args.length; i++) {
    const n = args[i]!;
    if (n.type !== 'string') { wrongType(n, 'runArgs items', 'strings'); continue; }
    const a = n.value as string;
    const m = /^(--platform|-e|--env|-v|--volume)(?:=(.*))?$/.exec(a) ?? (/^-[ev]./.test(a) ? [a, a.slice(0, 2), a.slice(2)] : null);
    const flag = /^--?[\w-]+/.exec(a)?.[0];
    const inline = a.includes('=') ? a.slice(a.indexOf('=') + 1) : undefined;
    const nextValue = (): string | undefined => (args[i + 1]?.type === 'string' ? String(args[i + 1]!.value) : undefined);
    if (!m && (flag === '--cap-add' || flag === '--security-opt')) {
      const v = inline ?? nextValue();
      if (inline === undefined && v !== undefined) i++;
      if (v === 'SYS_PTRACE' || v === 'seccomp=unconfined' || v === 'seccomp:unconfined') { debuggerIdioms.push(n); continue; }
      report(Code.DevcontainerRunArg, 'warning', `runArgs "${a}${inline === undefined && v !== undefined ? ` ${v}` : ''}" is not supported: ${UNSUPPORTED[flag === '--cap-add' ? 'capAdd' : 'securityOpt']![1]}`, n.offset, n.offset + n.length);
      continue;
    }
    if (!m && a === '--init') { report(Code.DevcontainerRunArg, 'info', `runArgs "--init" is ${INIT_NOTE}`, n.offset, n.offset + n.length); continue; }
    if (!m) {
      report(Code.DevcontainerRunArg, 'warning', `runArgs "${a}" is not supported: Crossroot honours only --platform, -e/--env and -v/--volume (there is no container engine to pass it to)`, n.offset, n.offset + n.length);
      // Skip the flag's value, if it has one as the next argument.
      const next = args[i + 1];
      if (BARE_FLAG.test(a) && next?.type === 'string' && !String(next.value).startsWith('-')) i++;
      continue;
    }
    let valueNode = n;
    let value = m[2];
    if (value === undefined) {
      const next = args[i + 1];
      if (next?.type !== 'string') { report(Code.DevcontainerRunArg, 'error', `runArgs "${a}" needs a value`, n.offset, n.offset + n.length); continue; }
      valueNode = next;
      value = next.value as string;
      i++;
    }
    if (m[1] === '--platform') {
      arch = checkArch(value, span(valueNode), host, report, true) ?? arch;
    } else if (m[1] === '-e' || m[1] === '--env') {
      const eq = value.indexOf('=');
      if (eq <= 0) {
        // `-e VAR` passes the host's value through, as docker does.
        const v = host.getenv(value);
        if (v !== undefined) env[value] = v;
      } else {
        env[value.slice(0, eq)] = subst(value.slice(eq + 1), valueNode, ctx);
      }
    } else {
      const parts = value.split(':');
      // `-v /target` (anonymous) and `-v name:/target` are volumes; a source that looks like a path is a bind.
      const volume = parts.length === 1 || (parts.length <= 3 && !/^[./~$]/.test(parts[0]!));
      if (parts.length > 3 || (volume && parts.length === 1 && !parts[0]!.startsWith('/'))) {
        report(Code.DevcontainerMount, 'warning', `runArgs volume "${value}" is not understood: write -v /host/path:/target[:ro] for a bind, -v NAME:/target for a volume`, valueNode.offset, valueNode.offset + valueNode.length);
        continue;
      }
      // Never wider than written: any read-only option (or one we cannot read) keeps it read-only.
      const options = parts[2] === undefined ? [] : parts[2].split(',');
      const unknown = options.filter((o) => !VOLUME_OPTIONS.has(o));
      if (unknown.length) {
        report(Code.DevcontainerMount, 'warning', `runArgs volume "${value}": unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((o) => `"${o}"`).join(', ')}; Docker knows ro, rw, z, Z, cached, delegated, consistent and the propagation modes. The mount is made read-only until that is fixed`, valueNode.offset, valueNode.offset + valueNode.length);
      }
      const readonly = unknown.length > 0 || options.includes('ro') || options.includes('readonly');
      if (readonly && options.includes('rw')) report(Code.DevcontainerMount, 'warning', `runArgs volume "${value}" asks for both ro and rw; it is mounted read-only`, valueNode.offset, valueNode.offset + valueNode.length);
      runMounts.push(parts.length === 1 ? { volume: '', sourceAt: valueNode, target: parts[0]!, readonly } : volume
        ? { volume: parts[0]!, sourceAt: valueNode, target: parts[1]!, readonly }
        : { source: parts[0]!, sourceAt: valueNode, target: parts[1]!, readonly });
    }
  }

  const customizations = props.get('customizations')?.value;
  const child = (n: Node | undefined, key: string): Node | undefined => n?.type === 'object' ? n.children?.find((p) => p.children?.[0]?.value === key)?.children?.[1] : undefined;
  // customizations.vscode, after the legacy top-level settings/extensions (as devcontainers/cli
  // merges them: the customizations' settings win, the extension lists add up).
  const vscodeSpec: VscodeCustomizations = { extensions: [], settings: [] };
  const readSettings = (n: Node | undefined, name: string): void => {
    if (!n) return;
    if (n.type !== 'object') return wrongType(n, name, 'an object');
    for (const p of n.children ?? []) {
      const [k, v] = p.children ?? [];
      if (!k || !v) continue;
      const key = String(k.value);
      const entry = { key, value: JSON.parse(JSON.stringify(getNodeValue(v))) as unknown, start: p.offset, end: p.offset + p.length };
      const i = vscodeSpec.settings.findIndex((x) => x.key === key);
      if (i >= 0) vscodeSpec.settings[i] = entry; else vscodeSpec.settings.push(entry);
    }
  };
  const readExtensions = (n: Node | undefined, name: string): void => {
    if (!n) return;
    if (n.type !== 'array') return wrongType(n, name, 'an array of extension ids ("publisher.name")');
    for (const e of n.children ?? []) {
      if (e.type !== 'string') { wrongType(e, `${name} items`, 'extension ids ("publisher.name")'); continue; }
      const id = e.value as string;
      // A leading "-" removes an extension an image's metadata asked for.
      if (!EXTENSION_ID.test(id)) {
        report(Code.BadFormat, 'warning', `"${id}" is not an extension id; write "publisher.name", as the Marketplace shows it (e.g. "ms-python.python")`, e.offset, e.offset + e.length);
        continue;
      }
      vscodeSpec.extensions.push({ value: id, start: e.offset, end: e.offset + e.length });
    }
  };
  readSettings(props.get('settings')?.value, 'settings');
  readExtensions(props.get('extensions')?.value, 'extensions');
  if (customizations) {
    if (customizations.type !== 'object') wrongType(customizations, 'customizations', 'an object');
    const vscode = child(customizations, 'vscode');
    const vscodeNode = customizations.type === 'object' ? customizations.children?.find((p) => p.children?.[0]?.value === 'vscode')?.children?.[1] : undefined;
    if (vscodeNode && vscodeNode.type !== 'object') wrongType(vscodeNode, 'customizations.vscode', 'an object with "extensions" and "settings"');
    readSettings(child(vscode, 'settings'), 'customizations.vscode.settings');
    readExtensions(child(vscode, 'extensions'), 'customizations.vscode.extensions');
    const cr = child(customizations, 'crossroot');
    const a = child(cr, 'arch');
    if (a) {
      if (a.type === 'string') arch = checkArch(a.value as string, span(a), host, report) ?? arch;
      else wrongType(a, 'customizations.crossroot.arch', 'a string');
    }
  }

  // Workspace: workspaceFolder, else workspaceMount's target, else where Dev Containers puts it.
  let wsPath = `/workspaces/${path.basename(workspaceFolder)}`;
  const wsMount = str('workspaceMount');
  if (wsMount) {
    const m = parseMountString(wsMount.value);
    if (!m.target) report(Code.DevcontainerMount, 'error', 'workspaceMount needs a target (source=…,target=/workspaces/…,type=bind)', wsMount.node.offset, wsMount.node.offset + wsMount.node.length);
    else wsPath = subst(m.target, wsMount.node, ctx);
    if (m.source && subst(m.source, wsMount.node, ctx, true) !== workspaceFolder) {
      report(Code.DevcontainerMount, 'warning', `workspaceMount source is not the workspace folder: Crossroot always mounts ${workspaceFolder} itself; add another mount for other folders`, wsMount.node.offset, wsMount.node.offset + wsMount.node.length);
    }
  }
  // A Compose service mounts the workspace itself (`..:/workspaces/app`) or names a working_dir.
  const composeWs = compose?.binds.find((b) => b.source === workspaceFolder)?.target ?? compose?.workingDir;
  if (composeWs?.startsWith('/') && !wsMount) wsPath = normalizeInsidePath(composeWs);
  const wsFolder = str('workspaceFolder');
  if (wsFolder) wsPath = subst(wsFolder.value, wsFolder.node, ctx);
  const wsNode = wsFolder?.node ?? wsMount?.node;
  if (wsNode) {
    if (!wsPath.startsWith('/')) {
      const written = wsFolder?.value ?? (wsMount ? parseMountString(wsMount.value).target ?? '' : '');
      report(Code.RelativeInsidePath, 'error', `the workspace folder ${shownValue(written, `"${wsPath}"`)} must be an absolute path inside the env`, wsNode.offset, wsNode.offset + wsNode.length);
    } else {
      wsPath = normalizeInsidePath(wsPath);
      checkInsidePath(wsPath, span(wsNode), 'the workspace folder', report);
    }
  }
  const inside: SubstitutionContext = { ...ctx, containerWorkspaceFolder: wsPath };

  // Env: containerEnv, then remoteEnv over it (remoteEnv may use ${containerEnv:VAR}).
  const readEnv = (name: 'containerEnv' | 'remoteEnv'): void => {
    const n = props.get(name)?.value;
    if (!n) return;
    if (n.type !== 'object') return wrongType(n, name, 'an object of strings');
    for (const p of n.children ?? []) {
      const [k, v] = p.children ?? [];
      if (!k || !v) continue;
      const key = String(k.value);
      if (v.type === 'null' && name === 'remoteEnv') { delete env[key]; continue; }
      if (v.type !== 'string') { wrongType(v, `${name}.${key}`, 'a string'); continue; }
      const value = subst(v.value as string, v, { ...inside, allowContainerEnv: name === 'remoteEnv' });
      // What containerEnv itself sets is known now; the image's own variables only at start.
      env[key] = name === 'remoteEnv' ? resolveContainerEnv({ [key]: value }, containerEnv, true)[key]! : value;
    }
  };
  // The Compose service's environment, under containerEnv.
  for (const [k, v] of Object.entries(compose?.env ?? {})) if (!(k in env)) env[k] = v;
  readEnv('containerEnv');
  const containerEnv = { ...env };
  readEnv('remoteEnv');

  // Mounts: `mounts` (strings or objects) and runArgs -v.
  const list = new MountList(host, wsPath, report);
  const mountsNode = props.get('mounts')?.value;
  if (mountsNode && mountsNode.type !== 'array') wrongType(mountsNode, 'mounts', 'an array');
  for (const n of mountsNode?.type === 'array' ? mountsNode.children ?? [] : []) {
    let m: { type?: string; source?: string; target?: string; readonly?: boolean };
    if (n.type === 'string') m = parseMountString(n.value as string);
    else if (n.type === 'object') {
      // Each field checked where it is written: a number or list here must not reach substitution.
      m = {};
      let ok = true;
      const index = mountsNode!.children!.indexOf(n);
      for (const p of n.children ?? []) {
        const [k, v] = p.children ?? [];
        if (!k || !v) continue;
        const key = String(k.value);
        const field = `mounts[${index}].${key}`;
        if (key === 'readonly') {
          if (v.type === 'boolean') m.readonly = v.value as boolean;
          else { wrongType(v, field, 'true or false'); ok = false; }
        } else if (key === 'type' || key === 'source' || key === 'target') {
          if (v.type === 'string') m[key] = v.value as string;
          else { wrongType(v, field, 'a string'); ok = false; }
        }
      }
      if (!ok) continue;
    } else { wrongType(n, 'mounts items', 'strings or objects'); continue; }
    if (m.type === 'volume') {
      if (!m.target) { report(Code.DevcontainerMount, 'error', 'a volume needs a target (source=NAME,target=/path,type=volume)', n.offset, n.offset + n.length); continue; }
      list.addVolume(volumeName(m.source ? subst(m.source, n, inside) : undefined, m.target), subst(m.target, n, inside), span(n), m.readonly === true, m.target);
      continue;
    }
    if ((m.type ?? 'bind') !== 'bind') {
      report(Code.DevcontainerMount, 'warning', `mount type "${m.type}" is not supported: Crossroot makes bind mounts of host folders (type=bind) and volumes (type=volume)`, n.offset, n.offset + n.length);
      continue;
    }
    if (!m.source || !m.target) { report(Code.DevcontainerMount, 'error', 'a mount needs source and target (source=…,target=…,type=bind)', n.offset, n.offset + n.length); continue; }
    list.add(subst(m.source, n, inside, true), span(n), subst(m.target, n, inside), span(n), m.readonly === true, { source: m.source, target: m.target });
  }
  const composeAt = props.get('dockerComposeFile')?.value;
  for (const b of compose?.binds ?? []) {
    if (b.source === workspaceFolder || !composeAt) continue; // the workspace is always mounted
    if (b.volume !== undefined) { list.addVolume(volumeName(b.volume, b.target), b.target, span(composeAt), b.readonly, b.target); continue; }
    list.add(subst(b.source, composeAt, inside, true), span(composeAt), b.target, span(composeAt), b.readonly, { source: b.source, target: b.target });
  }
  for (const m of runMounts) {
    if (m.volume !== undefined) list.addVolume(volumeName(m.volume, m.target), subst(m.target, m.sourceAt, inside), span(m.sourceAt), m.readonly, m.target);
    else list.add(subst(m.source, m.sourceAt, inside, true), span(m.sourceAt), subst(m.target, m.sourceAt, inside), span(m.sourceAt), m.readonly, { source: m.source, target: m.target });
  }

  const lifecycle = emptyLifecycle();
  for (const [prop, phase] of Object.entries(LIFECYCLE)) {
    const p = props.get(prop);
    if (!p) continue;
    lifecycle[phase].push(...lifecycleCommands(p.value, prop, wrongType));
    if (phase === 'initialize') report(Code.DevcontainerHostCommand, 'info', 'initializeCommand runs on the host, outside the env, before it starts', p.key.offset, p.key.offset + p.key.length);
  }

  // Features: references and option values are checked here; what an OCI or tarball Feature
  // declares is known once it is fetched (at build), a local one's right away.
  const featureList: EnvFeatures['list'] = [];
  // A Feature's customizations.vscode (and those of the Features it depends on, when at hand)
  // go before devcontainer.json's own, as Dev Containers merges them: extension lists add up
  // (devcontainer.json's "-id" removes one), devcontainer.json's settings win. They point at the
  // Feature's key in this file.
  const fromFeatures: VscodeCustomizations = { extensions: [], settings: [] };
  const seenFeatures = new Set<string>();
  const featureVscode = (ref: string, at: { start: number; end: number }, meta: FeatureMetadata, isLocal: boolean): void => {
    if (seenFeatures.has(ref)) return;
    seenFeatures.add(ref);
    for (const [dep] of Object.entries(meta.dependsOn)) {
      let text: string | undefined;
      try {
        const src = parseFeatureRef(dep, fileDir);
        // Only the user's own (local) Features may name local folders (as the build enforces).
        text = src.kind === 'local' ? (isLocal ? host.readFile?.(path.join(src.path, 'devcontainer-feature.json')) : undefined) : host.featureMetadata?.(dep);
        if (text) featureVscode(dep, at, parseFeatureMetadata(text, `${dep}/devcontainer-feature.json`), isLocal && src.kind === 'local');
      } catch (e) {
        if (!isCrossrootError(e)) throw e; // the build reports a broken dependency
      }
    }
    for (const id of meta.vscode.extensions) {
      if (EXTENSION_ID.test(id)) fromFeatures.extensions.push({ value: id, ...at, from: ref });
    }
    for (const [key, value] of Object.entries(meta.vscode.settings)) {
      const i = fromFeatures.settings.findIndex((x) => x.key === key);
      const entry = { key, value, ...at, from: ref };
      if (i >= 0) fromFeatures.settings[i] = entry; else fromFeatures.settings.push(entry);
    }
  };
  const featuresNode = props.get('features')?.value;
  if (featuresNode && featuresNode.type !== 'object') wrongType(featuresNode, 'features', 'an object of Feature references and their options');
  for (const p of featuresNode?.type === 'object' ? featuresNode.children ?? [] : []) {
    const [k, v] = p.children ?? [];
    if (!k || !v) continue;
    const ref = String(k.value);
    const keyAt = span(k);
    let local: string | undefined;
    try {
      const source = parseFeatureRef(ref, fileDir);
      if (source.kind === 'local') local = source.path;
    } catch (e) {
      if (!isCrossrootError(e)) throw e;
      report(Code.FeatureRef, 'error', e.fix ? `${e.message}; ${e.fix}` : e.message, keyAt.start, keyAt.end);
      continue;
    }
    const options: Record<string, string | boolean> = {};
    const optionAt = new Map<string, Node>();
    if (v.type === 'string') {
      options.version = v.value as string; // the short form: "feature": "version"
      optionAt.set('version', v);
    } else if (v.type === 'object') {
      for (const o of v.children ?? []) {
        const [ok, ov] = o.children ?? [];
        if (!ok || !ov) continue;
        if (ov.type === 'string' || ov.type === 'boolean') {
          options[String(ok.value)] = ov.value as string | boolean;
          optionAt.set(String(ok.value), ov);
        } else wrongType(ov, `option "${String(ok.value)}" of Feature ${ref}`, 'a string or true/false');
      }
    } else if (v.type !== 'boolean') {
      wrongType(v, `Feature ${ref}`, 'an object of options (or a version string)');
      continue;
    }
    // Options are checked against the Feature's own declaration when it is at hand: a local
    // folder, or an OCI/tarball Feature a build has fetched into the store.
    let metaText: string | undefined;
    if (local !== undefined) {
      metaText = host.pathKind(path.join(local, 'devcontainer-feature.json')) === 'file' ? host.readFile?.(path.join(local, 'devcontainer-feature.json')) ?? '' : undefined;
      if (metaText === undefined || host.pathKind(path.join(local, 'install.sh')) !== 'file') {
        report(Code.FeatureRef, 'error', `local Feature ${ref} needs a folder ${local} with devcontainer-feature.json and install.sh`, keyAt.start, keyAt.end);
        continue;
      }
    } else {
      metaText = host.featureMetadata?.(ref);
    }
    if (metaText) {
      try {
        const meta = parseFeatureMetadata(metaText, `${ref}/devcontainer-feature.json`);
        const problems = optionEnv(meta, options).problems;
        for (const [name, n] of optionAt) {
          for (const m of problems.filter((x) => x.includes(`"${name}"`))) report(Code.FeatureOption, 'warning', m, n.offset, n.offset + n.length);
        }
        for (const n of runtimeNotes(meta, host.archSupport(arch ?? nativeArch(host))?.native ?? (arch ?? nativeArch(host)) === nativeArch(host))) {
          report(Code.FeatureRuntime, n.severity, `Feature ${ref}: ${n.message}`, keyAt.start, keyAt.end);
        }
        // The build does not make a fetched Feature's binds of host folders: say so where the Feature is named.
        for (const m of local === undefined ? meta.mounts.filter((x) => x.type === 'bind') : []) {
          report(Code.DevcontainerMount, 'warning', `Feature ${ref}: its bind mount of ${m.source ?? '(no source)'} at ${m.target} is not made: only devcontainer.json and local Features may bind folders of this machine; add it to "mounts" here if you want it`, keyAt.start, keyAt.end);
        }
        featureVscode(ref, keyAt, meta, local !== undefined);
      } catch (e) {
        if (!isCrossrootError(e)) throw e;
        report(Code.FeatureRef, 'error', e.message, keyAt.start, keyAt.end);
        continue;
      }
    }
    featureList.push({ value: ref, ...keyAt, options });
  }
  vscodeSpec.extensions.unshift(...fromFeatures.extensions);
  vscodeSpec.settings.unshift(...fromFeatures.settings.filter((x) => !vscodeSpec.settings.some((y) => y.key === x.key)));
  const settings: Record<string, unknown> = Object.fromEntries(vscodeSpec.settings.map((e) => [e.key, e.value]));
  const orderNode = props.get('overrideFeatureInstallOrder')?.value;
  const installOrder: string[] = [];
  if (orderNode) {
    if (orderNode.type !== 'array') wrongType(orderNode, 'overrideFeatureInstallOrder', 'an array of Feature references');
    for (const n of orderNode.type === 'array' ? orderNode.children ?? [] : []) {
      if (n.type === 'string') installOrder.push(n.value as string);
      else wrongType(n, 'overrideFeatureInstallOrder items', 'Feature references');
    }
  }

  const remoteUser = str('remoteUser')?.value;
  const containerUser = str('containerUser')?.value;
  const user = remoteUser ?? containerUser ?? compose?.user ?? 'root';
  const envArch = arch ?? nativeArch(host);
  const native = host.archSupport(envArch)?.native ?? envArch === nativeArch(host);
  for (const n of debuggerIdioms) {
    const what = n.type === 'string' && String(n.value).startsWith('-') ? `runArgs "${String(n.value)}"` : `"${String(n.value)}"`;
    report(Code.DevcontainerIgnored, 'info', `${what} is ${debuggerNote(native)}`, n.offset, n.offset + n.length);
  }
  if (!source) return finish(diags, undefined, dockerfile);
  const spec: EnvSpec = {
    file, workspaceFolder,
    // Dev Containers names are display text ("Python 3"); ours name a folder and a hostname.
    name: envNameFrom(str('name')?.value ?? path.basename(workspaceFolder)),
    arch: envArch,
    source,
    setup: { packages: [], run: [] },
    env,
    workspace: { path: wsPath },
    mounts: list.mounts,
    shell: { user },
    network: { mode: 'host' },
    limits: {},
    ...(str('shutdownAction')?.value === 'none' ? { idleTimeout: 0 } : {}),
    lifecycle,
    settings,
    vscode: vscodeSpec,
    ...(featureList.length ? {
      features: {
        list: featureList, installOrder, baseDir: fileDir,
        ...(remoteUser !== undefined ? { remoteUser } : {}),
        ...(containerUser !== undefined ? { containerUser } : {}),
      },
    } : {}),
  };
  return finish(diags, spec, dockerfile);
}

function finish(diags: EnvDiagnostic[], spec?: EnvSpec, dockerfile?: string): EnvFileResult {
  diags.sort((a, b) => a.start - b.start || a.code - b.code);
  const built = dockerfile ? { dockerfile } : {};
  return hasErrors(diags) || !spec ? { diagnostics: diags, ...built } : { spec, diagnostics: diags, ...built };
}

/** The three forms: "cmd" (shell), ["argv", …] (no shell), { name: "cmd" | [argv] } (Dev Containers runs these in parallel). */
function lifecycleCommands(n: Node, prop: string, wrongType: (n: Node, name: string, expected: string) => void): LifecycleCommand[] {
  const one = (v: Node, name?: string): LifecycleCommand[] => {
    const named = name !== undefined ? { name } : {};
    if (v.type === 'string') return [{ ...named, shell: v.value as string }];
    if (v.type === 'array' && (v.children ?? []).every((c) => c.type === 'string')) return [{ ...named, argv: (v.children ?? []).map((c) => c.value as string) }];
    wrongType(v, name ? `${prop}.${name}` : prop, 'a string, an array of strings, or an object of those');
    return [];
  };
  if (n.type !== 'object') return one(n);
  return (n.children ?? []).flatMap((p) => {
    const [k, v] = p.children ?? [];
    return k && v ? one(v, String(k.value)) : [];
  });
}
