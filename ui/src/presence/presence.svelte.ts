// The window's view of Listening Activity: every friend's current or last track, this user's
// sharing and private-session switches, and the friend tracks being fetched (by content hash,
// from `transfer_progress`). Loaded with `friend_activity` / `get_activity_settings`, kept current
// from `friend_activity_changed` (one friend replaced), `activity_settings_changed`, and a reload
// when a friend is added or removed. Components read `presence`; only this module writes it.
import {
  friendActivity,
  getActivitySettings,
  onEngineEvent,
  setActivitySharing,
  setPrivateSession,
  toBackendError,
} from '../backend';
import type { ActivitySettings, FriendActivity } from '../bindings/api';
import { onClockTick } from '../lib/clock.svelte';
import { ticker } from '../lib/ticker';

interface PresenceState {
  friends: FriendActivity[];
  /** This user's switches; null until loaded. */
  settings: ActivitySettings | null;
  loaded: boolean;
  /** Why the last load or switch failed, if it did. */
  error: string | null;
  /** Friends' tracks on their way here, by content hash (bytes so far, of all). */
  transfers: Record<string, { received: number; total: number }>;
  /** Wall-clock now, ticking once a second while anyone is playing (drives the progress bars). */
  now: number;
}

export const presence: PresenceState = $state({
  friends: [],
  settings: null,
  loaded: false,
  error: null,
  transfers: {},
  now: Date.now(),
});

let following = false;
let loading: Promise<void> | null = null;
let loadAgain = false;

/** Reloads every friend's activity (calls during a reload fold into one more). */
export function refreshActivity(): Promise<void> {
  if (loading) {
    loadAgain = true;
    return loading;
  }
  loading = (async () => {
    do {
      loadAgain = false;
      try {
        presence.friends = await friendActivity();
        switchClocks();
        presence.error = null;
      } catch (error) {
        presence.error = toBackendError(error).message;
      } finally {
        presence.loaded = true;
      }
    } while (loadAgain);
  })().finally(() => {
    loading = null;
  });
  return loading;
}

function replace(friend: FriendActivity) {
  const index = presence.friends.findIndex((f) => f.peer_id === friend.peer_id);
  if (index === -1) presence.friends.push(friend);
  else presence.friends[index] = friend;
  switchClocks();
}

/** Turns sharing on or off; the answer (and the event after it) updates `presence.settings`. */
export async function changeSharing(on: boolean): Promise<void> {
  presence.settings = await setActivitySharing(on);
}

/** Starts or ends a private session (nothing shared until it ends or Earshot restarts). */
export async function changePrivateSession(on: boolean): Promise<void> {
  presence.settings = await setPrivateSession(on);
}

/** Forgets a track's last transfer, so a new fetch starts its progress from nothing. */
export function forgetTransfer(hash: string): void {
  delete presence.transfers[hash];
}

/** Whether any friend is playing right now. */
export function aFriendPlays(): boolean {
  return presence.friends.some((f) => f.activity?.state === 'playing');
}

/** One tick a second while a friend is playing, so their progress moves between updates; no
    timer at all while nobody plays. Switched after every change of `presence.friends`. */
const progressTick = ticker(1000, () => (presence.now = Date.now()));

/** The playing bars' step (ActivityPanel): one timer for every panel on screen, ~4 steps a
    second, only while a friend plays, and still while the window is in the background
    (`body.idle`, main.ts). */
export const playingBars = $state({ step: 0 });
const BAR_STEPS = 8;
/** Whether the window is hidden or behind others (main.ts marks `body.idle`); never without a page. */
const inBackground = () => globalThis.document?.body.classList.contains('idle') ?? false;
const barsTick = ticker(225, () => {
  if (!inBackground()) playingBars.step = (playingBars.step + 1) % BAR_STEPS;
});

function switchClocks() {
  const playing = aFriendPlays();
  progressTick(playing);
  barsTick(playing);
}

function tick() {
  switchClocks();
  // "N minutes ago" moves on too, with the window's clock.
  onClockTick((now) => (presence.now = now));
}

/** Loads activity and settings once and follows the engine's events from then on. */
export async function followPresence(): Promise<void> {
  if (following) return;
  following = true;
  tick();
  await onEngineEvent((event) => {
    switch (event.type) {
      case 'friend_activity_changed': {
        const { type: _type, ...friend } = event;
        presence.now = Date.now();
        replace(friend);
        break;
      }
      case 'activity_settings_changed': {
        const { type: _type, ...settings } = event;
        presence.settings = settings;
        break;
      }
      case 'friend_added':
      case 'friend_removed':
      case 'friend_updated':
        void refreshActivity();
        break;
      case 'transfer_progress':
        presence.transfers[event.hash] = { received: event.received, total: event.total };
        break;
      case 'track_added':
      case 'library_changed':
        // `in_library` is worked out by the engine: ask again once the library has changed.
        void refreshActivity();
        break;
    }
  });
  try {
    presence.settings = await getActivitySettings();
  } catch (error) {
    presence.error = toBackendError(error).message;
  }
  await refreshActivity();
}
