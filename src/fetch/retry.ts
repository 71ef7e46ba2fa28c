/**
 * Retry with exponential backoff and full jitter (delay = random(0, min(max,
 * base * 2^attempt))), the variant that spreads retries of many clients best
 * (AWS Architecture Blog, "Exponential Backoff And Jitter"). Waits honour the
 * AbortSignal and remove their listener afterwards.
 */
import { TesseraError, isTesseraError } from '../errors.ts';

export interface RetryOptions {
  /** Total tries including the first; default 4. */
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export const DEFAULT_RETRY: Required<RetryOptions> = { attempts: 4, baseDelayMs: 250, maxDelayMs: 5000 };

/** Errors worth another try: the server or the network had a bad moment, or bytes arrived damaged. */
export function isRetriable(err: unknown): boolean {
  if (!isTesseraError(err)) return false;
  switch (err.code) {
    case 'network-error':
    case 'truncated-body':
    case 'integrity-error':
    case 'timeout':
      return true;
    case 'http-error': {
      const status = err.details.status;
      return typeof status === 'number' && (status >= 500 || status === 408 || status === 429);
    }
    default:
      return false;
  }
}

/** The wait before retry number `attempt` (0-based). */
export function backoffDelay(attempt: number, options: Required<RetryOptions>, random: () => number = Math.random): number {
  return random() * Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** attempt);
}

/**
 * @example
 * const bytes = await withRetry(() => fetchRange(...), { retry: { attempts: 5 }, signal, onRetry: () => stats.retries++ });
 */
export async function withRetry<T>(
  work: (attempt: number) => Promise<T>,
  options: {
    retry?: RetryOptions | undefined;
    signal?: AbortSignal | undefined;
    onRetry?: (err: unknown, attempt: number) => void;
    random?: () => number;
    sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  } = {},
): Promise<T> {
  const retry = { ...DEFAULT_RETRY, ...options.retry };
  const sleep = options.sleep ?? abortableSleep;
  for (let attempt = 0; ; attempt++) {
    try {
      return await work(attempt);
    } catch (err) {
      if (options.signal?.aborted || attempt + 1 >= retry.attempts || !isRetriable(err)) throw err;
      options.onRetry?.(err, attempt);
      await sleep(backoffDelay(attempt, retry, options.random), options.signal);
    }
  }
}

/** setTimeout as a promise that rejects with `aborted` and cleans up after itself. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function abortedError(signal: AbortSignal | undefined): TesseraError {
  return new TesseraError('aborted', 'The load was aborted', { cause: signal?.reason });
}
