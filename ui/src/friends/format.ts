// Wording for friends' states, kept apart from components so it can be tested.
import type { Friend } from '../bindings/api';

/** "Peer …abc123": how a peer without a name is shown. */
export function shortPeer(peerId: string): string {
  return `Peer …${peerId.slice(-6)}`;
}

/** "just now", "5 minutes ago", "yesterday", or a date, relative to `now` (ms). */
export function ago(then: number, now: number): string {
  const seconds = Math.max(0, Math.round((now - then) / 1000));
  if (seconds < 45) return 'just now';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return minutes === 1 ? 'a minute ago' : `${minutes} minutes ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return hours === 1 ? 'an hour ago' : `${hours} hours ago`;
  const days = Math.round(hours / 24);
  if (days === 1) return 'yesterday';
  if (days < 7) return `${days} days ago`;
  return new Date(then).toLocaleDateString();
}

/** "Online · direct", "Online · via a relay", "Offline · seen 5 minutes ago". */
export function presence(friend: Friend, now: number): string {
  switch (friend.connection) {
    case 'direct':
      return 'Online · direct connection';
    case 'relayed':
      return 'Online · through a relay';
    default:
      return friend.last_seen === null ? 'Offline · not seen yet' : `Offline · seen ${ago(friend.last_seen, now)}`;
  }
}

/** Friends online first, then by name. */
export function sortFriends(friends: Friend[]): Friend[] {
  return [...friends].sort((a, b) => {
    const online = Number(b.connection !== null) - Number(a.connection !== null);
    return online !== 0 ? online : a.display_name.localeCompare(b.display_name);
  });
}

/** When an invite expires, in words: "in 24 hours", "in 5 minutes". */
export function expiresIn(expiresAt: number, now: number): string {
  const minutes = Math.max(0, Math.round((expiresAt - now) / 60000));
  if (minutes < 1) return 'in less than a minute';
  if (minutes < 60) return minutes === 1 ? 'in a minute' : `in ${minutes} minutes`;
  const hours = Math.round(minutes / 60);
  return hours === 1 ? 'in an hour' : `in ${hours} hours`;
}
