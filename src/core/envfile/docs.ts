// Words about the schema for people: hover text and the README's env file reference are both
// rendered here from schema.ts, so the editor and the docs say the same thing.
import { Code, CODE_DOCS } from './diagnostics';
import { ENV_SCHEMA, typeName, type FieldSchema } from './schema';

/** "`setup.packages`", or "`[setup]`" for tables. */
function title(path: readonly string[], f: FieldSchema): string {
  const name = path.join('.');
  if (f.type === 'table' || f.type === 'string-map') return `[${name}]`;
  if (f.type === 'table-array') return `[[${name}]]`;
  return name;
}

/** The Markdown shown when hovering a key: what it is, its type, default and values. */
export function fieldMarkdown(path: readonly string[], f: FieldSchema): string {
  const lines = [`**${title(path, f)}** · ${typeName(f.type)}${f.required ? ' · required' : ''}`, '', f.doc];
  if (f.kinds) lines.push('', `For source kinds: ${f.kinds.map((k) => `\`${k}\``).join(', ')}.`);
  if (f.default) lines.push('', `Default: ${f.default}.`);
  if (f.values) lines.push('', (f.strict ? 'One of:' : 'Common values:'), ...f.values.map((v) => `- \`${v.value}\`: ${v.doc}`));
  return lines.join('\n');
}

/** The Markdown shown when hovering a known value, such as `"arm64"` or `"debian"`. */
export function valueMarkdown(path: readonly string[], f: FieldSchema, value: string): string | undefined {
  const v = f.values?.find((x) => x.value === value);
  return v ? `**${path.join('.')} = "${v.value}"**\n\n${v.doc}` : undefined;
}

function fieldRow(path: readonly string[], f: FieldSchema): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  let doc = f.doc;
  if (f.kinds) doc += ` Kinds: ${f.kinds.map((k) => `\`${k}\``).join(', ')}.`;
  if (f.values) doc += ` ${f.strict ? 'One of' : 'E.g.'}: ${f.values.map((v) => `\`${v.value}\``).join(', ')}.`;
  return `| \`${path.join('.')}\` | ${cell(typeName(f.type))}${f.required ? ' (required)' : ''} | ${cell(f.default ?? '')} | ${cell(doc)} |`;
}

/** The whole env file reference, for README.md (scripts/gen-envfile-docs.mjs). */
export function referenceMarkdown(): string {
  const out: string[] = [
    'Generated from the schema in `src/core/envfile/schema.ts` (`node scripts/gen-envfile-docs.mjs`);',
    'the editor\'s hover and completion show the same text. `crossroot lint` checks a file.',
    '',
    'Relative host paths start at the env file\'s folder and `~` is your home. Paths and `[env]`',
    'values may use `${localEnv:VAR}` (or `${localEnv:VAR:default}`), `${workspaceFolder}` and',
    '`${workspaceFolderBasename}`. A `.devcontainer/devcontainer.json` works too (see below).',
    '',
    'Editors other than VS Code: use `crossroot lsp --stdio` as the language server for files named',
    '`crossroot.toml` (diagnostics, completion, hover, formatting, quick fixes, symbols).',
    '',
  ];
  for (const [key, f] of Object.entries(ENV_SCHEMA.fields!)) {
    out.push(`### \`${title([key], f)}\``, '', f.doc, '');
    if (f.fields) {
      out.push('| key | type | default | meaning |', '|---|---|---|---|');
      for (const [k, sub] of Object.entries(f.fields)) out.push(fieldRow([key, k], sub));
      out.push('');
    } else {
      out.push(`Type: ${typeName(f.type)}.${f.default ? ` Default: ${f.default}.` : ''}${f.values ? ` ${f.strict ? 'One of' : 'E.g.'}: ${f.values.map((v) => `\`${v.value}\``).join(', ')}.` : ''}`, '');
    }
    if (f.example) out.push('```toml', f.example, '```', '');
  }
  out.push(...DEVCONTAINER_DOC, '', ...DOCKERFILE_DOC, '', '### Diagnostic codes', '', 'Editors and `crossroot lint` report these (source `crossroot`): 1xxx syntax, 2xxx schema, 3xxx meaning, 4xxx devcontainer.json import, 5xxx its Dockerfile or Compose file. Errors unless marked; `crossroot lint` exits 1 when there is an error.', '');
  out.push('| code | meaning |', '|---|---|');
  for (const code of Object.values(Code)) out.push(`| ${code} | ${CODE_DOCS[code]} |`);
  return out.join('\n');
}

const DEVCONTAINER_DOC = [
  '### devcontainer.json',
  '',
  'Without a `crossroot.toml`, Crossroot reads `.devcontainer/devcontainer.json`, `.devcontainer.json`',
  'or `.devcontainer/NAME/devcontainer.json` (JSON with comments, a UTF-8 BOM is fine) into the same',
  'env. The workspace folder is always the project root (the folder holding `.devcontainer/`). When a',
  'project has several `.devcontainer/NAME/` configs and no default one, the CLI lists them and asks',
  'for `--file`, and the extension\'s **Reopen devcontainer.json with Crossroot** offers them in a quick',
  'pick. Honoured: `name`, `image`, `containerEnv`, `remoteEnv`',
  '(`${localEnv:VAR}`, `${containerEnv:VAR}`), `remoteUser` / `containerUser`, `workspaceFolder`,',
  '`workspaceMount` and `mounts` of type `bind` and `volume` (a volume, also `-v NAME:/target`, is a',
  'folder of the env in Crossroot\'s store, `envs/<id>/volumes/<name>`: empty and root-owned at',
  'first, kept when the env is rebuilt, removed with the env; Docker shares a named volume between',
  'containers, Crossroot keeps one per env), the lifecycle commands `onCreateCommand`,',
  '`updateContentCommand`, `postCreateCommand`, `postStartCommand`, `postAttachCommand` (string,',
  'array or object form) and `initializeCommand` (runs on the host), `runArgs` `--platform` / `-e` /',
  '`-v` (with Docker\'s option list: `ro` in any position keeps the mount read-only; an option',
  'Crossroot cannot read is reported and the mount made read-only), `customizations.vscode.settings`',
  'and `.extensions` (the legacy top-level `settings` and `extensions` map into them, as in Dev',
  'Containers), `features` and `overrideFeatureInstallOrder` (see Features below). Variables:',
  '`${localEnv:VAR}` (`${localEnv:HOME}${localEnv:USERPROFILE}` is fine when one is set),',
  '`${containerEnv:VAR}`, `${localWorkspaceFolder}`, `${localWorkspaceFolderBasename}`,',
  '`${containerWorkspaceFolder}`, `${containerWorkspaceFolderBasename}` and `${devcontainerId}` (the',
  'spec\'s label-based id); any other `${…}` stays as written, with an info. The arch comes from',
  '`customizations.crossroot.arch` or `runArgs --platform`; the workspace folder defaults to',
  '`/workspaces/<folder name>`, as in Dev Containers. `capAdd: ["SYS_PTRACE"]` /',
  '`seccomp=unconfined` get an info on debugging: natively gdb works without them; in a foreign-arch',
  'env, debug through qemu\'s gdbstub (`QEMU_GDB=1234`, then `gdb-multiarch` with `target remote',
  ':1234`). Everything else is reported as not supported, with the reason (`privileged`, other',
  '`capAdd`, other `runArgs`, …).',
  '',
  '**Features.** `features` takes OCI references (`ghcr.io/devcontainers/features/node:1`, an OCI',
  'artifact with one `application/vnd.devcontainers.layer.v1+tar` layer, fetched with Crossroot\'s',
  'registry client and its credentials for that registry only), local folders (`./my-feature`,',
  'relative to devcontainer.json) and https tarball URLs (fetched without credentials). Each',
  'Feature\'s `devcontainer-feature.json` declares its options: your values (or the defaults) become',
  'upper-case env vars (`nodeGypDependencies` → `NODEGYPDEPENDENCIES`), next to `_REMOTE_USER`,',
  '`_CONTAINER_USER`, `_REMOTE_USER_HOME` and `_CONTAINER_USER_HOME`; its `containerEnv` applies to',
  'the env (and the Features after it). `dependsOn` Features are fetched too; the order follows the',
  'spec: rounds of Features whose `dependsOn` and `installsAfter` are installed, the',
  '`overrideFeatureInstallOrder` ones first. Each `install.sh` runs as root in the env for its arch',
  '(under qemu for a foreign one), with the env\'s network, and becomes one cached layer keyed by the',
  'layer below, the Feature\'s digest and its options. Archives are unpacked by the helper\'s',
  'extractor, which never writes outside the Feature\'s folder. `crossroot lock` records each OCI and',
  'tarball Feature\'s digest in `crossroot.lock` (`features`: `resolved`, `integrity`, `version`, as',
  'the Dev Containers lockfile does), and builds use them. A Feature\'s own `onCreateCommand`,',
  '`updateContentCommand`, `postCreateCommand`, `postStartCommand` and `postAttachCommand` run at',
  'their moments, each before devcontainer.json\'s own, in install order, once each (the create ones',
  'as cached steps, postStart once per start, postAttach once per shell); the first one of a moment',
  'that fails ends that moment. In a Feature\'s commands `${devcontainerId}`,',
  '`${containerWorkspaceFolder}` and `${localWorkspaceFolder}` (and `…Basename`) are filled in, and',
  '`${featureRoot}` is the Feature\'s folder, bound read-only for the commands that use it;',
  '`${localEnv:…}` is not (a fetched Feature gets nothing from your environment). Editing a local',
  'Feature\'s files is a new build (from its layer on), as editing',
  'devcontainer.json is. `crossroot gc` removes fetched Features that no env is built with and no',
  'registered crossroot.lock names (a build fetches them again). A Feature\'s `mounts`: a',
  '`type=volume` mount is a volume as devcontainer.json\'s are; a bind of a host folder is made',
  'for local Features only (a fetched Feature\'s is not, with a warning saying how to add it to',
  '`mounts` in devcontainer.json); devcontainer.json\'s own mount of the same target wins. A',
  'Feature\'s `containerEnv` reaches every process: later steps, lifecycle commands, terminals,',
  'tasks and `crossroot exec`. `privileged`, `capAdd`, `securityOpt`, `init` and `entrypoint` have',
  'no container runtime to go to; each gets a note (code 4103) saying what happens instead. An',
  '`entrypoint` is not run: to start what it starts, add `"postStartCommand": "<entrypoint> true"`',
  'to devcontainer.json (it runs rootless: docker-in-docker\'s `dockerd` still cannot). A',
  'Feature\'s `customizations.vscode` `extensions` and `settings` join the env\'s before',
  'devcontainer.json\'s own (whose settings win and whose `"-id"` removes an extension), for the',
  'Features whose devcontainer-feature.json is at hand: local ones, and fetched ones once a build',
  'has fetched them; the extension\'s install offer includes them.',
];

const DOCKERFILE_DOC = [
  '#### Dockerfile builds and Compose',
  '',
  '`build.dockerfile` (or the legacy `dockerFile`), `build.context`, `build.args` and `build.target`',
  'are built without Docker and without root, for the env\'s arch (arm64 on an x86 host through qemu),',
  'one cached layer per `RUN`, `COPY`, `ADD` and `WORKDIR`, keyed by the layer below, the',
  'instruction, the build args and variables in effect and, for `COPY`/`ADD`, a hash of the copied',
  'files (names, modes, owners, contents): a second build runs nothing, editing line k rebuilds from',
  'line k, and `crossroot build --rebuild` ignores the cache. `FROM` pulls through Crossroot\'s',
  'registry client (`--platform`, `ARG` before `FROM`, multi-stage `AS`, `FROM stage`), `ARG`/`ENV`',
  'follow Docker\'s substitution rules (`${VAR:-x}`, `${VAR:+x}`, `${VAR#…}`, quotes, escapes), `RUN`',
  'runs in the sandbox in shell or exec form (`SHELL` too) with the env\'s network mode; `RUN',
  '--mount=type=cache` is a persistent host cache dir (other `--mount` kinds are errors); `COPY`/`ADD`',
  'take `--chown`, `--chmod`, globs, `--from=stage|image` and `.dockerignore` (or',
  '`Dockerfile.dockerignore`); a source that leaves the build context (`..`, a symlink pointing out)',
  'is an error, and symlinks inside copied folders are copied as symlinks. `ADD` unpacks a local',
  'tar (plain, gzip, bzip2, xz or zstd, found by content; a compressed file that is not a tar is',
  'copied as it is) and downloads an `http(s)` URL as Docker does (named after the URL, mode',
  '0600 unless `--chmod`, mtime from `Last-Modified`, never unpacked; `--checksum=sha256:…` checked;',
  'asked again each build with its ETag, so a changed file rebuilds the step; an error at its line',
  'when the env\'s network mode is `none`). The copy is',
  'applied inside the sandbox by the helper\'s own unpacker, which never writes outside its root.',
  '`USER`, `ENV`, `WORKDIR` and `LABEL` end in the image config and become the env\'s defaults as for',
  'a pulled image; `EXPOSE`, `CMD`, `ENTRYPOINT`, `VOLUME`, `HEALTHCHECK` and `STOPSIGNAL` are',
  'recorded there with an info (nothing runs them). Heredocs run as BuildKit runs them: `RUN <<EOF`',
  'alone runs the lines with the `SHELL` (a `#!` first line makes them a script that is executed),',
  'anything else on the line (`RUN python3 <<EOF`, several heredocs) goes to the `SHELL` as its own',
  'heredoc; `COPY <<EOF /path` writes the lines (mode 0644) with the build\'s variables substituted',
  'unless the delimiter is quoted; `<<-` removes leading tabs. `FROM scratch` starts a stage from',
  'an empty tree (for stages of copied files), and `COPY --from` takes globs and reads any stage,',
  'also one with no tar of its own (the helper packs it). `--chmod` takes octal or chmod\'s symbolic',
  'form (`u+x`, `a=rX`), `--exclude=PATTERN` (repeatable; `.dockerignore` syntax, matched below each',
  'source, also with `--from`) and `COPY --parents` (the path from the context, or from a `/./` in',
  'the source, kept under the destination; not with `--from`) work; `ADD --keep-git-dir` is an error.',
  '`updateRemoteUserUID` is a no-op:',
  'files the env writes in the workspace are always yours. The language server shows a',
  'devcontainer\'s Dockerfile problems at their instruction: any Dockerfile in a `.devcontainer`',
  'folder, and one elsewhere (`"dockerfile": "../Dockerfile"`, a Compose service\'s build) that a',
  'devcontainer.json in its folder or a folder above builds; other Dockerfiles get nothing.',
  '',
  '`dockerComposeFile` (one file or several, merged) + `service`: that service\'s `image` or `build`',
  '(context, dockerfile, args, target), `environment`, `volumes` (binds; a bind of the project folder',
  'sets the workspace path; named and anonymous volumes as devcontainer.json\'s) and `working_dir`,',
  'with Compose\'s `${VAR}` interpolation. Crossroot runs one env without a container engine: the',
  'other services get a warning saying they do not start (run them with docker compose or',
  'podman-compose; the env shares the host network), and `ports`, `networks`, tmpfs volumes and the',
  'like are reported as not used.',
];

export const REFERENCE_START = '<!-- envfile-reference:start -->';
export const REFERENCE_END = '<!-- envfile-reference:end -->';

/** README text with the env file reference between its markers brought up to date. */
export function withReference(readme: string): string {
  const start = readme.indexOf(REFERENCE_START);
  const end = readme.indexOf(REFERENCE_END);
  if (start < 0 || end < start) throw new Error(`README.md lacks the markers ${REFERENCE_START} … ${REFERENCE_END}`);
  return `${readme.slice(0, start + REFERENCE_START.length)}\n${referenceMarkdown()}\n${readme.slice(end)}`;
}
