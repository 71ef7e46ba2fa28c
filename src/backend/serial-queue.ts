/**
 * A promise queue: tasks run one after another, in call order. A task that
 * fails does not stop the ones behind it.
 */
export interface SerialQueue {
  /** Runs `task` after every task queued before it has settled. */
  run<T>(task: () => Promise<T>): Promise<T>;
  /** Tasks queued or running. */
  readonly size: number;
}

/**
 * @example
 * const gpu = createSerialQueue();
 * const [a, b] = await Promise.all([gpu.run(() => s1.run(f1)), gpu.run(() => s2.run(f2))]);
 */
export function createSerialQueue(): SerialQueue {
  let tail: Promise<unknown> = Promise.resolve();
  let size = 0;
  return {
    run<T>(task: () => Promise<T>): Promise<T> {
      size++;
      const result = tail.then(task);
      const settled = result.then(
        () => void size--,
        () => void size--,
      );
      tail = settled;
      return result;
    },
    get size() {
      return size;
    },
  };
}
