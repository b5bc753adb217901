// Progress of getting an image ready (resolve, download, verify, unpack), as typed events that
// the CLI renders as bars or lines and the extension as a notification; the pipeline never
// prints. One discriminated union: each phase carries the fields it has and no others, so a
// renderer's `switch (e.phase)` is checked by the compiler.

/** The blob an event is about: layer `layer` of `layers`, or another blob named by `name`. */
export interface BlobInfo {
  /** Unknown for an archive entry until it has been hashed. */
  digest?: string;
  /** 1-based layer number, for a layer of the image. */
  layer?: number;
  /** Number of layers in the image. */
  layers?: number;
  /** What the blob is when it is not a layer: "config", an archive entry's name. */
  name?: string;
  /** Bytes in all, when known. */
  size?: number;
}

export type PullProgress =
  /** Looking up what a tag or local source names (manifest, index, platform). */
  | { phase: 'resolve'; source: string }
  /** The tag now names another image than crossroot.lock; the locked one is used. */
  | { phase: 'moved'; source: string; locked: string; current: string }
  /** Another process holds the image or blob; we wait for it instead of doing the work twice. */
  | { phase: 'wait'; digest: string; pid?: number; message: string }
  /** Bytes of one blob arriving (from a registry, or copied from a local archive). */
  | { phase: 'download'; blob: BlobInfo; done: number }
  /** A blob's sha256 checked and the blob kept; `cached` when it was in the store already. */
  | { phase: 'verify'; blob: BlobInfo; cached: boolean }
  /** Bytes of a layer applied to the rootfs (layers unpack while they still download). */
  | { phase: 'unpack'; layer: number; layers: number; digest?: string; done: number; size?: number }
  /** A Debian tree being made by mmdebstrap; its output goes to the log. */
  | { phase: 'bootstrap'; what: string }
  /** Something worth knowing that changes nothing (device nodes a user namespace cannot make). */
  | { phase: 'note'; message: string }
  /** The rootfs is ready; `cached` when nothing had to be fetched or unpacked. */
  | { phase: 'done'; source: string; digest?: string; cached: boolean };

export type ProgressListener = (e: PullProgress) => void;

/** A listener that drops everything, for callers that do not show progress. */
export const noProgress: ProgressListener = () => {};

/** "another crossroot (pid 42) is downloading this layer". */
export function waitMessage(pid: number | undefined, doing: string): string {
  return `another crossroot${pid ? ` (pid ${pid})` : ''} is ${doing}; waiting for it`;
}
