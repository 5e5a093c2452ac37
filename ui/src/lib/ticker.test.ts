import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ticker } from './ticker';

describe('a timer that exists only while switched on', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('keeps no timer until switched on, ticks while on, and none again once off', () => {
    const tick = vi.fn();
    const switchTo = ticker(1000, tick);
    switchTo(false);
    expect(vi.getTimerCount()).toBe(0);

    switchTo(true);
    vi.advanceTimersByTime(3000);
    expect(tick).toHaveBeenCalledTimes(3);

    switchTo(false);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(3000);
    expect(tick).toHaveBeenCalledTimes(3);
  });

  it('switched on twice still ticks once per period', () => {
    const tick = vi.fn();
    const switchTo = ticker(1000, tick);
    switchTo(true);
    switchTo(true);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(tick).toHaveBeenCalledTimes(1);
    switchTo(false);
  });
});
