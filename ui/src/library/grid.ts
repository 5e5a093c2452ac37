// Keyboard movement in a list of rows (the track grid): which row a key moves the focus to, or
// null when the key is not a movement. Page Up/Down move by ten rows, a screenful of tracks.
export const PAGE_ROWS = 10;

export function rowAfterKey(key: string, from: number, count: number): number | null {
  if (count === 0) return null;
  const last = count - 1;
  switch (key) {
    case 'ArrowDown':
      return Math.min(last, from + 1);
    case 'ArrowUp':
      return Math.max(0, from - 1);
    case 'Home':
      return 0;
    case 'End':
      return last;
    case 'PageDown':
      return Math.min(last, from + PAGE_ROWS);
    case 'PageUp':
      return Math.max(0, from - PAGE_ROWS);
    default:
      return null;
  }
}
