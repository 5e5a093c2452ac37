// Wording for friends' states, kept apart from components so it can be tested.
import type { Friend, LinkPreview, NearbyPeer } from '../bindings/api';

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

/** When an invite expires, in words: "in 24 hours", "in 5 minutes", "in 3 days". */
export function expiresIn(expiresAt: number, now: number): string {
  const minutes = Math.max(0, Math.round((expiresAt - now) / 60000));
  if (minutes < 1) return 'in less than a minute';
  if (minutes < 60) return minutes === 1 ? 'in a minute' : `in ${minutes} minutes`;
  const hours = Math.round(minutes / 60);
  if (hours <= 36) return hours === 1 ? 'in an hour' : `in ${hours} hours`;
  return `in ${Math.round(hours / 24)} days`;
}

/** What the confirmation for an `earshot://` link says, and whether it offers to add the friend. */
export interface LinkWording {
  title: string;
  detail: string;
  canAdd: boolean;
}

/** The confirmation's wording for a link's preview, given where its sender stands with us. */
export function describeLink(preview: LinkPreview, now: number): LinkWording {
  const name = preview.display_name;
  if (preview.expires_at <= now) {
    return {
      title: 'This invite has expired',
      detail: `It expired ${ago(preview.expires_at, now)}. Ask ${name ?? 'the person who sent it'} for a new link.`,
      canAdd: false,
    };
  }
  switch (preview.standing) {
    case 'friend':
      return { title: `${name ?? 'This person'} is already your friend`, detail: 'There is nothing to add.', canAdd: false };
    case 'blocked':
      return {
        title: 'You blocked this person',
        detail: 'To add them, unblock them first (Friends, Blocked), then open the link again.',
        canAdd: false,
      };
    case 'requested_in':
      return {
        title: `Add ${name ?? 'this person'} as a friend?`,
        detail: 'They already asked to be your friend; this invite makes you friends at once.',
        canAdd: true,
      };
    case 'requested_out':
      return {
        title: `Add ${name ?? 'this person'} as a friend?`,
        detail: 'You already sent them a request; this invite makes you friends at once.',
        canAdd: true,
      };
    case 'stranger':
      return {
        title: 'Add this person as a friend?',
        detail: 'Check the fingerprint with the person who sent you the link. Nothing is sent until you add them.',
        canAdd: true,
      };
  }
}

/**
 * Peers found on the LAN, split: friends among them are marked on their own row (their ids), and
 * only the others are listed under Nearby, so a friend never shows up a second time as a stranger.
 */
export function splitNearby(nearby: NearbyPeer[], friends: Friend[]): { others: NearbyPeer[]; friendIds: Set<string> } {
  const friendIds = new Set(friends.map((f) => f.peer_id));
  const nearbyFriends = new Set(nearby.filter((p) => p.relationship === 'friend' || friendIds.has(p.peer_id)).map((p) => p.peer_id));
  return { others: nearby.filter((p) => !nearbyFriends.has(p.peer_id)), friendIds: nearbyFriends };
}
