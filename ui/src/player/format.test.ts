import { describe, expect, it, vi } from 'vitest';
import { debounce, formatDuration, nextRepeat } from './format';

describe('formatDuration', () => {
  it('shows minutes and two-digit seconds', () => {
    expect(formatDuration(65_000)).toBe('1:05');
    expect(formatDuration(0)).toBe('0:00');
  });
  it('adds hours for long tracks', () => {
    expect(formatDuration(3_725_000)).toBe('1:02:05');
  });
  it('treats missing or negative times as zero', () => {
    expect(formatDuration(null)).toBe('0:00');
    expect(formatDuration(-5)).toBe('0:00');
  });
});

describe('nextRepeat', () => {
  it('cycles off, all, one and back', () => {
    expect(nextRepeat('off')).toBe('all');
    expect(nextRepeat('all')).toBe('one');
    expect(nextRepeat('one')).toBe('off');
  });
});

describe('debounce', () => {
  it('calls once with the last arguments after the quiet period', () => {
    vi.useFakeTimers();
    const seen: string[] = [];
    const typed = debounce((q: string) => seen.push(q), 200);
    typed('a');
    typed('ab');
    vi.advanceTimersByTime(199);
    expect(seen).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(seen).toEqual(['ab']);
    vi.useRealTimers();
  });
});
