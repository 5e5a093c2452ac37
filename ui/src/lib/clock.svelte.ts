// The wall clock that the window's relative times read ("seen 5 min ago", "expires in 2 h",
// "Yesterday"): one timer for the whole window, every 30 s, instead of one per view — each
// wake-up of an idle window's web process is CPU that `earshot-node bench app` counts.
// Minute-precise labels are at most 30 s late.

export const CLOCK_MS = 30_000;

/** Read `clock.now` in a view; it moves every `CLOCK_MS`. */
export const clock = $state({ now: Date.now() });

const listeners = new Set<(now: number) => void>();

setInterval(() => {
  const now = Date.now();
  clock.now = now;
  for (const listener of listeners) listener(now);
}, CLOCK_MS);

/** Calls `listener` with the time on every tick of the clock; returns how to stop. */
export function onClockTick(listener: (now: number) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
