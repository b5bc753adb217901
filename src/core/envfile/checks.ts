// Checks that mean the same in crossroot.toml and devcontainer.json: arch (and qemu for it),
// image references, mounts. Each reports through a callback, at the span it is given.
import path from 'node:path';
import { ARCH_NAMES, parseArch, type ArchName } from '../arch';
import { isCrossrootError } from '../errors';
import { parseImageRef } from '../image/ref';
import { Code, closest, type DiagnosticCode, type EnvDiagnostic, type Severity } from './diagnostics';
import type { EnvHost } from './host';
import type { Mount } from './spec';

export type Report = (code: DiagnosticCode, severity: Severity, message: string, start: number, end: number, fix?: EnvDiagnostic['fix']) => void;
export interface Span { start: number; end: number }

/**
 * The arch a user wrote, resolved; reports unknown names, a missing qemu and (unless the
 * file's own convention is another spelling, as `--platform linux/arm64` is) aliases.
 */
export function checkArch(written: string, at: Span, host: EnvHost, report: Report, aliasesAreNative = false): ArchName | undefined {
  const info = parseArch(written);
  if (!info) {
    const guess = closest(written, ARCH_NAMES);
    report(Code.UnknownArch, 'error', `unknown arch "${written}"; valid: ${ARCH_NAMES.join(', ')}${guess ? ` (did you mean "${guess}"?)` : ''}`,
      at.start, at.end, guess ? { title: `Change to "${guess}"`, text: JSON.stringify(guess) } : undefined);
    return undefined;
  }
  if (info.name !== written && !aliasesAreNative) {
    report(Code.ArchAlias, 'info', `"${written}" means ${info.name}; Crossroot writes it "${info.name}"`, at.start, at.end, { title: `Change to "${info.name}"`, text: JSON.stringify(info.name) });
  }
  // The helper's answer, the one `run` acts on; unknown yet (or no helper) means no claim either way.
  const support = host.archSupport(info.name);
  if (support && !support.runs) {
    report(Code.NoQemu, 'warning', `this machine cannot run ${info.name} programs: ${support.detail}${support.fix ? `; ${support.fix}` : ''}`, at.start, at.end);
  }
  return info.name;
}

/** Reports a bad image reference with its fix-it; true when the reference is valid. */
export function checkImageRef(ref: string, at: Span, report: Report): boolean {
  // Expanding them would make the lockfile's key (the ref as written) differ from host to host.
  if (ref.includes('${')) {
    report(Code.BadImageRef, 'error', `variables are not expanded in an image reference ("${ref}"); write the reference out, e.g. debian:bookworm`, at.start, at.end);
    return false;
  }
  try {
    parseImageRef(ref);
    return true;
  } catch (e) {
    if (!isCrossrootError(e)) throw e;
    report(Code.BadImageRef, 'error', e.fix ? `${e.message}; ${e.fix}` : e.message, at.start, at.end);
    return false;
  }
}

/** `/a//b/` → `/a/b`: the form mount targets are compared and stored in. */
export function normalizeInsidePath(p: string): string {
  return path.posix.normalize(p).replace(/(.)\/$/, '$1');
}

// The env's own root and the kernel filesystems the helper mounts: nothing may be mounted there.
const RESERVED = ['/', '/proc', '/sys', '/dev'];

/** Reports a mount target or workspace path that would cover the env's root, /proc, /sys or /dev. */
export function checkInsidePath(target: string, at: Span, what: string, report: Report): boolean {
  if (!RESERVED.includes(target)) return true;
  report(Code.ReservedTarget, 'error', `${what} cannot be ${target}: Crossroot mounts the env's ${target === '/' ? 'root filesystem' : target} there; pick a folder such as /workspace or /mnt/data`, at.start, at.end);
  return false;
}

/**
 * How a message names a value the user wrote: as written when it holds `${…}` variables (their
 * values may be secrets, and lint output lands in CI logs), else as it expanded (a resolved path
 * tells more than a relative one).
 */
export function shownValue(written: string, expanded: string): string {
  return written.includes('${') ? `"${written}"` : expanded;
}

/** Collects an env's mounts, reporting relative, duplicate and workspace-hiding targets. */
export class MountList {
  readonly mounts: Mount[] = [];
  private readonly seen = new Set<string>();

  constructor(private readonly host: EnvHost, private readonly workspacePath: string, private readonly report: Report) {}

  /** `source` and `written` are expanded; `as` is the text of each as the file has it, for messages. */
  add(source: string, sourceAt: Span, written: string, targetAt: Span, readonly: boolean, as: { source: string; target: string }): void {
    if (this.host.pathKind(source) === undefined) {
      this.report(Code.PathNotFound, 'warning', `mount source ${shownValue(as.source, source)} does not exist on this machine; create it, or the env will not start`, sourceAt.start, sourceAt.end);
    }
    const target = this.target(written, targetAt, as.target);
    if (target !== undefined) this.mounts.push({ source, target, readonly });
  }

  /** A volume: a folder of the env in the store named `name` (see volumeName), mounted at `written`. */
  addVolume(name: string, written: string, targetAt: Span, readonly: boolean, asTarget: string): void {
    const target = this.target(written, targetAt, asTarget);
    if (target !== undefined) this.mounts.push({ source: '', target, readonly, volume: name });
  }

  /** The normalised target, or undefined (reported) when it cannot be one. */
  private target(written: string, targetAt: Span, asTarget: string): string | undefined {
    const as = { target: asTarget };
    if (!written.startsWith('/')) {
      const example = as.target.includes('${') ? '"/…"' : `"/${written.replace(/^\.?\/*/, '')}"`;
      this.report(Code.RelativeMountTarget, 'error', `mount target ${shownValue(as.target, `"${written}"`)} must be an absolute path inside the env, such as ${example}`, targetAt.start, targetAt.end);
      return undefined;
    }
    const target = normalizeInsidePath(written);
    if (!checkInsidePath(target, targetAt, 'a mount target', this.report)) return undefined;
    if (this.seen.has(target)) {
      this.report(Code.DuplicateMountTarget, 'error', `two mounts have target ${shownValue(as.target, target)}; the second would hide the first`, targetAt.start, targetAt.end);
      return undefined;
    }
    this.seen.add(target);
    if (target === this.workspacePath) {
      this.report(Code.MountHidesWorkspace, 'warning', 'this mount\'s target is where the workspace folder is mounted, so it hides the workspace; change the workspace path or this target', targetAt.start, targetAt.end);
    }
    return target;
  }
}
