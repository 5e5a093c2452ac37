import { describe, expect, it } from 'vitest';
import type { Activity, FriendActivity } from '../bindings/api';
import { livePosition, progressPercent, sortActivity, statusLine, transferPercent } from './format';

function activity(state: Activity['state'], position_ms: number, as_of: number, duration_ms = 200_000): Activity {
  return {
    track: { hash: 'ab', title: 'Gulls', artist: 'The Earshots', album: 'Shore', duration_ms, cover: null },
    state,
    position_ms,
    as_of,
    in_library: false,
  };
}

function friend(name: string, a: Activity | null): FriendActivity {
  return { peer_id: name, fingerprint: 'f', display_name: name, online: true, activity: a };
}

describe('livePosition', () => {
  it('advances a playing track from as_of', () => {
    expect(livePosition(activity('playing', 10_000, 1_000), 6_000)).toBe(15_000);
  });
  it('stops at the end of the track', () => {
    expect(livePosition(activity('playing', 190_000, 0, 200_000), 60_000)).toBe(200_000);
  });
  it('never goes back when our clock does', () => {
    expect(livePosition(activity('playing', 10_000, 5_000), 1_000)).toBe(10_000);
  });
  it('keeps a paused track where it stopped', () => {
    expect(livePosition(activity('paused', 10_000, 0), 60_000)).toBe(10_000);
  });
  it('gives a percentage, 0 when the length is unknown', () => {
    expect(progressPercent(activity('paused', 50_000, 0), 0)).toBe(25);
    expect(progressPercent(activity('playing', 50_000, 0, 0), 0)).toBe(0);
  });
});

describe('statusLine', () => {
  const now = 10 * 60_000;
  it('says listening now while playing', () => {
    expect(statusLine(activity('playing', 0, now), now)).toBe('Listening now');
  });
  it('says how long ago a pause began', () => {
    expect(statusLine(activity('paused', 0, now - 5 * 60_000), now)).toBe('Paused · 5 minutes ago');
  });
  it('says how long ago the last track was played', () => {
    expect(statusLine(activity('last_played', 0, now - 3 * 60_000), now)).toBe('Played 3 minutes ago');
    expect(statusLine(activity('last_played', 0, now - 1000), now)).toBe('Played just now');
  });
});

describe('sortActivity', () => {
  it('puts friends playing now first and the silent last', () => {
    const sorted = sortActivity([
      friend('Zed', null),
      friend('Old', activity('last_played', 0, 1)),
      friend('Pau', activity('paused', 0, 5)),
      friend('Ada', activity('playing', 0, 3)),
      friend('Bo', null),
    ]);
    expect(sorted.map((f) => f.display_name)).toEqual(['Ada', 'Pau', 'Old', 'Bo', 'Zed']);
  });
});

describe('transferPercent', () => {
  it('is null until the size is known, then a whole percentage', () => {
    expect(transferPercent(undefined)).toBeNull();
    expect(transferPercent({ received: 0, total: 0 })).toBeNull();
    expect(transferPercent({ received: 333, total: 1000 })).toBe(33);
  });
});
