// The window's view of friends, requests, nearby and blocked peers and the invites this peer made:
// loaded on demand and kept current from engine events. Components read `friendsState`; only this
// module writes it.
import { listBlocked, listFriends, listInvites, listNearby, listRequests, onEngineEvent, toBackendError } from '../backend';
import type { Friend, InviteInfo, NearbyPeer, PeerCard } from '../bindings/api';

interface FriendsState {
  friends: Friend[];
  incoming: PeerCard[];
  outgoing: PeerCard[];
  nearby: NearbyPeer[];
  blocked: PeerCard[];
  /** Invites this peer made that have not expired, newest first. */
  invites: InviteInfo[];
  loaded: boolean;
  /** Why the last refresh failed, if it did. */
  error: string | null;
}

export const friendsState: FriendsState = $state({
  friends: [],
  incoming: [],
  outgoing: [],
  nearby: [],
  blocked: [],
  invites: [],
  loaded: false,
  error: null,
});

let following = false;

/** Reloads every list from the engine. */
export async function refreshFriends(): Promise<void> {
  try {
    const [friends, requests, nearby, blocked, invites] = await Promise.all([
      listFriends(),
      listRequests(),
      listNearby(),
      listBlocked(),
      listInvites(),
    ]);
    friendsState.friends = friends;
    friendsState.incoming = requests.incoming;
    friendsState.outgoing = requests.outgoing;
    friendsState.nearby = nearby;
    friendsState.blocked = blocked;
    friendsState.invites = newestFirst(invites);
    friendsState.error = null;
  } catch (error) {
    friendsState.error = toBackendError(error).message;
  } finally {
    friendsState.loaded = true;
  }
}

/** Reloads the invites alone (after one is made, used, revoked or purged). */
export async function refreshInvites(): Promise<void> {
  try {
    friendsState.invites = newestFirst(await listInvites());
  } catch (error) {
    friendsState.error = toBackendError(error).message;
  }
}

function newestFirst(invites: InviteInfo[]): InviteInfo[] {
  return [...invites].sort((a, b) => b.created_at - a.created_at);
}

function upsert(friend: Friend) {
  const index = friendsState.friends.findIndex((f) => f.peer_id === friend.peer_id);
  if (index === -1) friendsState.friends.push(friend);
  else friendsState.friends[index] = friend;
}

/** Loads the lists once and follows the engine's friend events from then on. */
export async function followFriends(): Promise<void> {
  if (following) return;
  following = true;
  await onEngineEvent((event) => {
    switch (event.type) {
      case 'friend_added':
      case 'friend_updated':
        upsert(event);
        break;
      case 'friend_removed':
        friendsState.friends = friendsState.friends.filter((f) => f.peer_id !== event.peer_id);
        break;
      case 'nearby_changed':
        friendsState.nearby = event.peers;
        break;
      case 'requests_changed':
      case 'request_received':
      case 'blocked_changed':
        void refreshFriends();
        break;
      case 'invites_changed':
        void refreshInvites();
        break;
    }
  });
  await refreshFriends();
}
