/**
 * The on-demand caps (src/ondemand/limiter.ts) on a fake clock: its `sleep` moves `now` on at once,
 * so the waits the caps impose are checked as virtual time, never against a wall clock.
 */
import { describe, expect, it } from 'vitest';
import { RateLimiter, type Clock } from '../../src/ondemand/limiter.js';

class FakeClock implements Clock {
  t = 0;
  readonly sleeps: number[] = [];
  now(): number {
    return this.t;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw signal.reason;
    this.sleeps.push(ms);
    await Promise.resolve();
    this.t += ms;
  }
}

/** Take a request through and end it at once, billing `billed` tokens (default: as reserved). */
async function instant(limiter: RateLimiter, tokens: number, billed?: number): Promise<void> {
  (await limiter.acquire(tokens)).settle(billed);
}

describe('requests per minute', () => {
  it('lets a minute of requests through, then none until the first of them is a minute old', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ rpm: 60 }, clock);
    const at: number[] = [];
    for (let i = 0; i < 60; i++) {
      await instant(limiter, 1);
      at.push(clock.now());
      clock.t += 500; // one every half second
    }
    // at 30 s the window holds 60 requests: the 61st waits until the first leaves (0 + 60 s)
    await instant(limiter, 1);
    at.push(clock.now());
    expect(at[59]).toBe(29_500);
    expect(at[60]).toBe(60_000);
    // in no minute did more than 60 start
    for (let i = 0; i + 60 < at.length; i++) expect(at[i + 60]! - at[i]!).toBeGreaterThanOrEqual(60_000);
  });

  it('counts a running request until a minute after it ended, and wakes the next caller when it ends', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ rpm: 2 }, clock);
    const a = await limiter.acquire(1);
    const b = await limiter.acquire(1);
    let third = false;
    const c = limiter.acquire(1).then((t) => {
      third = true;
      return t;
    });
    await new Promise((r) => setImmediate(r));
    expect(third).toBe(false); // both still running: no time to sleep for, only their end to wait on
    clock.t = 5_000;
    a.settle();
    b.settle();
    (await c).settle();
    expect(clock.now()).toBe(65_000);
  });

  it('does not wait at all without caps', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({}, clock);
    for (let i = 0; i < 1000; i++) await instant(limiter, 50_000);
    expect(clock.sleeps).toEqual([]);
  });
});

describe('tokens per minute', () => {
  it("reserves each request's tokens and waits until enough of them leave the window", async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ tpm: 1000 }, clock);
    await instant(limiter, 400);
    clock.t = 10_000;
    await instant(limiter, 400);
    await instant(limiter, 400); // the one of 0 s must leave first
    expect(clock.now()).toBe(60_000);
    expect(limiter.inWindow()).toEqual({ requests: 2, tokens: 800 });
  });

  it('settles a request to what it billed', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ tpm: 1000 }, clock);
    await instant(limiter, 1000, 300);
    await instant(limiter, 700);
    expect(clock.now()).toBe(0);
    await instant(limiter, 1, 0);
    expect(clock.now()).toBe(60_000);
  });

  it('lets a request above the whole cap go alone, once the window is empty', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ tpm: 1000 }, clock);
    await instant(limiter, 1500);
    expect(clock.now()).toBe(0);
    await instant(limiter, 100);
    expect(clock.now()).toBe(60_000);
    await instant(limiter, 5000);
    expect(clock.now()).toBe(120_000);
  });

  it('counts both caps: the slower one decides', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ rpm: 600, tpm: 6000 }, clock);
    for (let i = 0; i < 12; i++) await instant(limiter, 1000);
    // 6 requests of 1,000 tokens fill a minute; requests alone would allow all 12 at once
    expect(clock.now()).toBe(60_000);
  });
});

describe('order and abort', () => {
  it('serves callers in the order they asked: a large request is not overtaken by small ones', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ tpm: 1000 }, clock);
    await instant(limiter, 600);
    clock.t = 30_000;
    await instant(limiter, 300);
    const order: string[] = [];
    await Promise.all([
      limiter.acquire(800).then((t) => (order.push(`big@${clock.now()}`), t.settle())),
      limiter.acquire(10).then((t) => (order.push(`small@${clock.now()}`), t.settle())),
    ]);
    // the small one fitted at 30 s (900 + 10), but waited behind the big one, which needs both
    // earlier requests gone (90 s)
    expect(order).toEqual(['big@90000', 'small@90000']);
  });

  it('a waiter whose signal aborts gives up, and the next one still gets its turn', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ rpm: 1 }, clock);
    await instant(limiter, 1);
    const ac = new AbortController();
    ac.abort(new Error('stopped'));
    await expect(limiter.acquire(1, ac.signal)).rejects.toThrow('stopped');
    await instant(limiter, 1);
    expect(clock.now()).toBe(60_000);
  });

  it('a waiter for a running request gives up when its signal aborts', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ rpm: 1 }, clock);
    const running = await limiter.acquire(1);
    const ac = new AbortController();
    const waiting = limiter.acquire(1, ac.signal);
    ac.abort(new Error('stopped'));
    await expect(waiting).rejects.toThrow('stopped');
    running.settle();
  });

  it('refuses a cap that is not a positive number', () => {
    expect(() => new RateLimiter({ rpm: 0 }, new FakeClock())).toThrow(/rpm cap must be a number above 0/);
    expect(() => new RateLimiter({ tpm: Number.NaN }, new FakeClock())).toThrow(/tpm cap/);
  });
});
