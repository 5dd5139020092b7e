import { describe, expect, it } from 'vitest';
import { RunSlots } from '../../src/local/slots.js';

describe('run slots', () => {
  it('gives slots first come first served, and a released slot to the next waiter', async () => {
    const slots = new RunSlots(1);
    const signal = new AbortController().signal;
    const first = await slots.acquire(signal);
    const order: string[] = [];
    const second = slots.acquire(signal).then((r) => (order.push('second'), r));
    const third = slots.acquire(signal).then((r) => (order.push('third'), r));
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual([]);
    first!();
    (await second)!();
    (await third)!();
    expect(order).toEqual(['second', 'third']);
  });

  it('a waiter whose deadline passes gets undefined and does not hold a slot', async () => {
    const slots = new RunSlots(1);
    const signal = new AbortController().signal;
    const held = await slots.acquire(signal);
    expect(await slots.acquire(signal, Date.now() + 20)).toBeUndefined();
    held!();
    const next = await slots.acquire(signal, Date.now() + 1000);
    expect(next).toBeTypeOf('function');
  });

  it('rejects with the reason of a signal that aborts while waiting, or had aborted already', async () => {
    const slots = new RunSlots(1);
    const held = await slots.acquire(new AbortController().signal);
    const ac = new AbortController();
    const waiting = slots.acquire(ac.signal);
    ac.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    await expect(slots.acquire(AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
    held!();
    expect(await slots.acquire(new AbortController().signal, Date.now() + 1000)).toBeTypeOf('function');
  });
});
