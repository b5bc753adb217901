// Progress of getting an image ready (resolve, download, verify, unpack), as typed events that
// the CLI renders as lines and the extension as a notification; the pipeline never prints.

export type PullPhase =
  /** Looking up what a tag or local source names (manifest, index, platform). */
  | 'resolve'
  /** Another process holds the entry; we wait for it instead of doing the work twice. */
  | 'wait'
  /** Bytes of one blob arriving (from a registry or copied from a local archive). */
  | 'download'
  /** A blob's sha256 checked and the blob kept. */
  | 'verify'
  /** Layers being applied to the rootfs; `done`/`total` count layers. */
  | 'unpack'
  /** The rootfs is ready; `cached` when nothing had to be fetched or unpacked. */
  | 'done';

export interface PullProgress {
  phase: PullPhase;
  /** 1-based layer number, for download/verify/unpack of a layer. */
  layer?: number;
  /** Number of layers in the image. */
  layers?: number;
  digest?: string;
  /** Bytes (download) or layers (unpack) done so far. */
  done?: number;
  /** Bytes (download) or layers (unpack) in all, when known. */
  total?: number;
  /** Human text: what is resolved, who we wait for, a tag that moved. */
  message?: string;
  cached?: boolean;
}

export type ProgressListener = (e: PullProgress) => void;

/** A listener that drops everything, for callers that do not show progress. */
export const noProgress: ProgressListener = () => {};
