/**
 * Backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): the n-th wait
 * is a uniform draw from [0, min(maxMs, baseMs * 2^n)], so clients that were throttled together
 * do not come back together.
 */

export interface BackoffOptions {
  /** First ceiling, in ms (default 1000). */
  baseMs?: number;
  /** Largest ceiling, in ms (default 60,000). */
  maxMs?: number;
  /** Source of randomness in [0, 1) (default Math.random). */
  random?: () => number;
}

/** The wait before retry number `attempt` (0-based). */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? 1000;
  const max = options.maxMs ?? 60_000;
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 30));
  return Math.round((options.random ?? Math.random)() * ceiling);
}

/** Sleep that rejects with the signal's reason when it is aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
