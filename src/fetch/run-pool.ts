/**
 * Runs tasks with at most `concurrency` in flight. The first failure aborts
 * the shared controller (cancelling the requests in flight) and is the error
 * the pool rejects with, once every running task has settled: nothing keeps
 * writing after the load has failed.
 */

/**
 * @example
 * await runPool(chunks, 6, controller, (chunk) => fetchChunk(chunk, controller.signal));
 */
export async function runPool<T>(
  items: readonly T[],
  concurrency: number,
  controller: AbortController,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && !controller.signal.aborted && next < items.length) {
      const item = items[next++] as T;
      try {
        await task(item);
      } catch (error) {
        if (!failure) {
          failure = { error };
          controller.abort(error);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  if (failure) throw failure.error;
}
