import { describe, expect, it, vi } from 'vitest';
import type { Event, FriendActivity } from '../bindings/api';

let emit: (event: Event) => void = () => {};
const friend = (name: string, title: string | null, online = true): FriendActivity => ({
  peer_id: `peer-${name}`,
  fingerprint: 'abcd-efgh',
  display_name: name,
  online,
  activity: title === null ? null : {
    track: { hash: `hash-${title}`, title, artist: 'The Earshots', album: 'Shore', duration_ms: 40_000, cover: null },
    state: 'playing',
    position_ms: 0,
    as_of: 1_000,
    in_library: false,
  },
});

const backend = vi.hoisted(() => ({
  friendActivity: vi.fn(),
  getActivitySettings: vi.fn(),
  setActivitySharing: vi.fn(),
  setPrivateSession: vi.fn(),
}));
vi.mock('../backend', () => ({
  ...backend,
  onEngineEvent: vi.fn(async (handler: (event: Event) => void) => {
    emit = handler;
    return () => {};
  }),
  toBackendError: (error: unknown) => ({ message: String(error) }),
}));

const { followPresence, presence, changeSharing } = await import('./presence.svelte');
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("the window's view of friends' activity", () => {
  it('loads every friend and the settings, then replaces one friend per change', async () => {
    backend.friendActivity.mockResolvedValue([friend('Ada', 'Gulls'), friend('Bo', null)]);
    backend.getActivitySettings.mockResolvedValue({ sharing: false, private_session: false });
    await followPresence();
    expect(presence.friends.map((f) => f.display_name)).toEqual(['Ada', 'Bo']);
    expect(presence.settings).toEqual({ sharing: false, private_session: false });

    emit({ type: 'friend_activity_changed', ...friend('Bo', 'Kites') });
    expect(presence.friends.find((f) => f.display_name === 'Bo')?.activity?.track.title).toBe('Kites');
    expect(presence.friends.find((f) => f.display_name === 'Ada')?.activity?.track.title).toBe('Gulls');
    expect(presence.friends).toHaveLength(2);
  });

  it('reloads when a friend is added or removed', async () => {
    backend.friendActivity.mockResolvedValue([friend('Ada', 'Gulls')]);
    emit({ type: 'friend_removed', peer_id: 'peer-Bo' });
    await settle();
    await settle();
    expect(presence.friends.map((f) => f.display_name)).toEqual(['Ada']);
  });

  it('follows the switches from events and from its own calls', async () => {
    emit({ type: 'activity_settings_changed', sharing: true, private_session: false });
    expect(presence.settings?.sharing).toBe(true);
    backend.setActivitySharing.mockResolvedValue({ sharing: false, private_session: false });
    await changeSharing(false);
    expect(backend.setActivitySharing).toHaveBeenCalledWith(false);
    expect(presence.settings?.sharing).toBe(false);
  });

  it('moves the progress once a second while a friend plays, and keeps no clock while nobody does', () => {
    const paused = (name: string, title: string): FriendActivity => {
      const f = friend(name, title);
      return { ...f, activity: f.activity && { ...f.activity, state: 'paused' } };
    };
    // Everyone paused first, so the clock started by the earlier tests is stopped for real.
    for (const f of [...presence.friends]) if (f.activity) emit({ type: 'friend_activity_changed', ...paused(f.display_name, f.activity.track.title) });
    vi.useFakeTimers();
    try {
      const still = presence.now;
      vi.advanceTimersByTime(5000);
      expect(presence.now).toBe(still);

      emit({ type: 'friend_activity_changed', ...friend('Ada', 'Gulls') });
      const started = presence.now;
      vi.advanceTimersByTime(1000);
      expect(presence.now).toBe(started + 1000);

      emit({ type: 'friend_activity_changed', ...paused('Ada', 'Gulls') });
      const stopped = presence.now;
      vi.advanceTimersByTime(5000);
      expect(presence.now).toBe(stopped);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps the progress of tracks on their way, by hash', () => {
    emit({ type: 'transfer_progress', hash: 'hash-Gulls', received: 512, total: 2048 });
    expect(presence.transfers['hash-Gulls']).toEqual({ received: 512, total: 2048 });
  });
});
