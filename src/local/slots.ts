/**
 * The run slots: how many jobs of the local service are InProgress at once. A Scheduled job waits
 * for a slot, first come first served, until one frees, its expiration time passes or its signal
 * aborts. The queue is p-limit's; a slot is held from the moment it is given until `release()`.
 */
import pLimit, { type LimitFunction } from 'p-limit';

/** Gives a slot back (once). */
export type Release = () => void;

export class RunSlots {
  private readonly limit: LimitFunction;

  constructor(concurrency: number) {
    this.limit = pLimit(concurrency);
  }

  /**
   * Wait for a slot: its release, or undefined when `deadline` (epoch milliseconds; none: wait as
   * long as it takes) passes first. Rejects with the signal's reason if it aborts while waiting.
   */
  acquire(signal: AbortSignal, deadline?: number): Promise<Release | undefined> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      let waiting = true;
      const stopWaiting = () => {
        waiting = false;
        if (timer) clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        stopWaiting();
        reject(signal.reason);
      };
      const timer =
        deadline === undefined
          ? undefined
          : setTimeout(() => {
              stopWaiting();
              resolve(undefined);
            }, Math.max(0, deadline - Date.now()));
      signal.addEventListener('abort', onAbort, { once: true });
      // p-limit counts the slot taken until the promise returned here settles, i.e. until release();
      // a waiter that gave up meanwhile passes its turn on at once.
      void this.limit(() => {
        if (!waiting) return;
        stopWaiting();
        return new Promise<void>((release) => resolve(() => release()));
      });
    });
  }
}
