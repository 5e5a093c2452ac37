// Small pure helpers for the player and the library lists.
import type { RepeatMode } from '../bindings/api';

/** 65_000 → "1:05"; 3_725_000 → "1:02:05". Negative or missing values show as "0:00". */
export function formatDuration(ms: number | null | undefined): string {
  const total = Math.max(0, Math.floor((ms ?? 0) / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}

/** The repeat button cycles off → all → one → off. */
export function nextRepeat(mode: RepeatMode): RepeatMode {
  return mode === 'off' ? 'all' : mode === 'all' ? 'one' : 'off';
}

/** Words for the repeat button's label. */
export function repeatLabel(mode: RepeatMode): string {
  return mode === 'off' ? 'Repeat is off' : mode === 'all' ? 'Repeating the queue' : 'Repeating this track';
}

/** Runs `fn` once `delayMs` has passed without another call. */
export function debounce<A extends unknown[]>(fn: (...args: A) => void, delayMs: number): (...args: A) => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return (...args: A) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), delayMs);
  };
}
