/**
 * Requests- and tokens-per-minute caps for on-demand calls (docs/on-demand.md, "Quotas"), kept as a
 * sliding window: in any minute, at most `rpm` requests start and at most `tpm` tokens are reserved.
 * A window is the strictest reading of "per minute": a caller that keeps to it keeps to a token
 * bucket or a fixed window of the same size too (a token bucket that starts full would let twice the
 * cap through in one sliding minute, and a service counting that way throttles it).
 *
 * Bedrock reserves tokens-per-minute quota at the start of a request for its input tokens plus its
 * output budget (`max_tokens`) and settles to what the answer billed when it ends; `acquire` reserves
 * and the ticket's `settle` does the rest. A request stays in the window from its start until a
 * minute after it settled: the service saw it arrive somewhere in between, so a new request is sent
 * only once the service has let the old one go too, whatever the clocks and the latency. A request
 * that costs more than a whole minute's tokens (one record with a huge budget under a small cap) goes
 * alone, once the window is empty, rather than waiting forever.
 *
 * Callers are served in the order they asked (FIFO), one at a time, so a large request is not
 * starved by small ones. Time comes from a `Clock`, injected in tests (a fake clock whose `sleep`
 * advances its `now`), so waits are checked without a wall clock.
 */
import { BatchError } from '../errors.js';
import { sleep } from '../jobs/backoff.js';

/** Where time comes from: the real one (`systemClock`) or a test's. */
export interface Clock {
  now(): number;
  /** Wait `ms`; rejects with the signal's reason when it is aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) => sleep(Math.max(0, ms), signal),
};

/** A minute, in the clock's milliseconds. */
export const MINUTE_MS = 60_000;

export interface RateLimits {
  /** Requests per minute (undefined: no cap). */
  rpm?: number | undefined;
  /** Tokens per minute, input + output budget (undefined: no cap). */
  tpm?: number | undefined;
}

/** One request in the window: when it leaves (Infinity while it runs) and the tokens it holds. */
interface Entry {
  until: number;
  tokens: number;
}

/** What `acquire` gives: settle it once the request ended, with the tokens it billed (undefined: as reserved). */
export interface Ticket {
  settle(tokens?: number): void;
}

const NO_TICKET: Ticket = { settle: () => {} };

/** Both caps, served in order. */
export class RateLimiter {
  private readonly rpm: number | undefined;
  private readonly tpm: number | undefined;
  private entries: Entry[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  /** Resolves the waiter that waits for a running request to settle. */
  private wake: (() => void) | undefined;
  /** Total time callers were told to sleep, in the clock's ms (for reports and tests). */
  waitedMs = 0;

  constructor(
    limits: RateLimits,
    private readonly clock: Clock = systemClock,
  ) {
    for (const [name, v] of Object.entries(limits)) {
      if (v !== undefined && !(typeof v === 'number' && v > 0 && Number.isFinite(v))) {
        throw new BatchError('E_BAD_OPTION', `the on-demand ${name} cap must be a number above 0, got ${String(v)}`);
      }
    }
    this.rpm = limits.rpm;
    this.tpm = limits.tpm;
  }

  /** Resolves once one request of `tokens` fits under both caps (and every earlier caller's did). */
  acquire(tokens: number, signal?: AbortSignal): Promise<Ticket> {
    if (this.rpm === undefined && this.tpm === undefined) return signal?.aborted ? Promise.reject(signal.reason) : Promise.resolve(NO_TICKET);
    const turn = this.queue.then(() => this.take(Math.max(0, tokens), signal));
    // the next caller waits for this one, whether it got through or gave up
    this.queue = turn.catch(() => {});
    return turn;
  }

  /** Requests and tokens in the window now (for tests and reports). */
  inWindow(): { requests: number; tokens: number } {
    this.expire(this.clock.now());
    return { requests: this.entries.length, tokens: this.entries.reduce((n, e) => n + e.tokens, 0) };
  }

  private expire(now: number): void {
    if (this.entries.some((e) => e.until <= now)) this.entries = this.entries.filter((e) => e.until > now);
  }

  /** How long until a request of `tokens` fits: 0 now, Infinity while only running requests are in the way. */
  private waitFor(tokens: number, now: number): number {
    this.expire(now);
    let wait = 0;
    if (this.rpm !== undefined && this.entries.length >= this.rpm) {
      // the (n - rpm + 1)-th to leave makes room
      const leaving = this.entries.map((e) => e.until).sort((a, b) => a - b);
      wait = Math.max(wait, leaving[this.entries.length - this.rpm]! - now);
    }
    if (this.tpm !== undefined) {
      let held = this.entries.reduce((n, e) => n + e.tokens, 0);
      const room = tokens > this.tpm ? 0 : this.tpm - tokens;
      if (held > room) {
        const leaving = [...this.entries].sort((a, b) => a.until - b.until);
        let until = Infinity;
        for (const e of leaving) {
          held -= e.tokens;
          if (held <= room) {
            until = e.until;
            break;
          }
        }
        wait = Math.max(wait, until - now);
      }
    }
    return wait;
  }

  private async take(tokens: number, signal?: AbortSignal): Promise<Ticket> {
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      const now = this.clock.now();
      const wait = this.waitFor(tokens, now);
      if (wait <= 0) break;
      if (wait === Infinity) {
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => reject(signal!.reason);
          signal?.addEventListener('abort', onAbort, { once: true });
          this.wake = () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          };
        });
      } else {
        this.waitedMs += wait;
        await this.clock.sleep(wait, signal);
      }
    }
    const entry: Entry = { until: Infinity, tokens };
    this.entries.push(entry);
    let settled = false;
    return {
      settle: (billed?: number) => {
        if (settled) return;
        settled = true;
        if (billed !== undefined && billed >= 0) entry.tokens = billed;
        entry.until = this.clock.now() + MINUTE_MS;
        const wake = this.wake;
        this.wake = undefined;
        wake?.();
      },
    };
  }
}
