// Bounded parallel work where the first failure cancels the rest: how blobs are downloaded,
// by the registry client and by the pull pipeline (which adds a store lock per blob).

/**
 * Runs `fn` on every item, at most `limit` at a time, in order of the list. The first failure
 * aborts the signal handed to the others, and is what this rejects with once all have stopped.
 */
export async function inParallel<T>(
  items: readonly T[], limit: number, fn: (item: T, signal: AbortSignal) => Promise<void>, signal?: AbortSignal,
): Promise<void> {
  const stop = new AbortController();
  const both = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure && !both.aborted) {
      const item = items[next++]!;
      try {
        await fn(item, both);
      } catch (e) {
        failure ??= { error: e };
        stop.abort(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
  if (signal?.aborted) throw signal.reason;
}
