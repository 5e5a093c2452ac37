// Wording and arithmetic for friends' Listening Activity, kept apart from components so it can be
// tested. Times are unix milliseconds on this machine's clock (the engine converts a friend's
// "N ms ago" into our `as_of` on arrival, so no clock skew reaches here).
import type { Activity, FriendActivity } from '../bindings/api';
import { ago } from '../friends/format';

/**
 * Where a friend's track is at `now`: a playing track advances from `position_ms` at `as_of`
 * (never past its end, never before `position_ms` if our clock steps back); a paused or last
 * played one stays where it was.
 */
export function livePosition(activity: Activity, now: number): number {
  if (activity.state !== 'playing') return activity.position_ms;
  const moved = activity.position_ms + Math.max(0, now - activity.as_of);
  const end = activity.track.duration_ms;
  return end > 0 ? Math.min(moved, end) : moved;
}

/** The share of the track played at `now`, 0–100 (0 when the length is unknown). */
export function progressPercent(activity: Activity, now: number): number {
  const end = activity.track.duration_ms;
  if (end <= 0) return 0;
  return Math.min(100, Math.max(0, (100 * livePosition(activity, now)) / end));
}

/** "Listening now", "Paused · 5 minutes ago", "Played 2 hours ago". */
export function statusLine(activity: Activity, now: number): string {
  switch (activity.state) {
    case 'playing':
      return 'Listening now';
    case 'paused':
      return `Paused · ${ago(activity.as_of, now)}`;
    case 'last_played': {
      const when = ago(activity.as_of, now);
      return when === 'just now' ? 'Played just now' : `Played ${when}`;
    }
  }
}

/** Friends playing now first, then paused, then by how recently they played; the silent last, by name. */
export function sortActivity(friends: FriendActivity[]): FriendActivity[] {
  const rank = (f: FriendActivity) => (f.activity === null ? 3 : f.activity.state === 'playing' ? 0 : f.activity.state === 'paused' ? 1 : 2);
  return [...friends].sort((a, b) => {
    const byRank = rank(a) - rank(b);
    if (byRank !== 0) return byRank;
    const byTime = (b.activity?.as_of ?? 0) - (a.activity?.as_of ?? 0);
    return byTime !== 0 ? byTime : a.display_name.localeCompare(b.display_name);
  });
}

/** "42%" of a transfer, or null before its size is known. */
export function transferPercent(progress: { received: number; total: number } | undefined): number | null {
  if (!progress || progress.total <= 0) return null;
  return Math.min(100, Math.floor((100 * progress.received) / progress.total));
}
