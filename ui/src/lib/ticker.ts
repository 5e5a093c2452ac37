// Timers that exist only while they have something to move. An idle window should not wake at
// all: every wake-up of the web process is CPU that `earshot-node bench app` counts.

/**
 * A repeating timer switched from outside: `switchTo(true)` starts it (calling `tick` every `ms`
 * milliseconds), `switchTo(false)` removes it. Switching to the state it is in changes nothing,
 * so callers switch after every change of what the timer depends on.
 */
export function ticker(ms: number, tick: () => void): (on: boolean) => void {
  let timer: ReturnType<typeof setInterval> | null = null;
  return (on) => {
    if (on && timer === null) {
      timer = setInterval(tick, ms);
    } else if (!on && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  };
}
