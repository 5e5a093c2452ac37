import { afterAll, describe, expect, it, vi } from 'vitest';

vi.useFakeTimers();
const { clock, onClockTick, CLOCK_MS } = await import('./clock.svelte');

describe("the window's one clock for relative times", () => {
  afterAll(() => vi.useRealTimers());

  it('moves every 30 s on one timer, telling whoever listens', () => {
    expect(vi.getTimerCount()).toBe(1);
    const heard = vi.fn();
    const stop = onClockTick(heard);
    const before = clock.now;

    vi.advanceTimersByTime(CLOCK_MS - 1);
    expect(clock.now).toBe(before);
    vi.advanceTimersByTime(1);
    expect(clock.now).toBe(Date.now());
    expect(heard).toHaveBeenCalledWith(clock.now);

    stop();
    vi.advanceTimersByTime(CLOCK_MS);
    expect(heard).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(1);
  });
});
