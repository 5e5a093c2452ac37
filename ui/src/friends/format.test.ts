import { describe, expect, it } from 'vitest';
import type { Friend } from '../bindings/api';
import { ago, expiresIn, presence, shortPeer, sortFriends } from './format';

const NOW = 1_800_000_000_000;
const friend = (name: string, connection: Friend['connection'], last_seen: number | null = null): Friend => ({
  peer_id: `12D3KooW${name}`,
  display_name: name,
  connection,
  since: NOW,
  last_seen,
});

describe('friends wording', () => {
  it('shortens a peer id to its tail', () => {
    expect(shortPeer('12D3KooWabcdefXYZ123')).toBe('Peer …XYZ123');
  });

  it('says how long ago something happened', () => {
    expect(ago(NOW - 10_000, NOW)).toBe('just now');
    expect(ago(NOW - 5 * 60_000, NOW)).toBe('5 minutes ago');
    expect(ago(NOW - 3 * 3_600_000, NOW)).toBe('3 hours ago');
    expect(ago(NOW - 26 * 3_600_000, NOW)).toBe('yesterday');
  });

  it('describes how a friend is connected', () => {
    expect(presence(friend('A', 'direct'), NOW)).toMatch(/direct/);
    expect(presence(friend('A', 'relayed'), NOW)).toMatch(/relay/);
    expect(presence(friend('A', null, NOW - 120_000), NOW)).toBe('Offline · seen 2 minutes ago');
    expect(presence(friend('A', null), NOW)).toBe('Offline · not seen yet');
  });

  it('lists online friends first, then by name', () => {
    const sorted = sortFriends([friend('Zed', 'direct'), friend('Bea', null), friend('Amy', 'relayed')]);
    expect(sorted.map((f) => f.display_name)).toEqual(['Amy', 'Zed', 'Bea']);
  });

  it('says when an invite expires', () => {
    expect(expiresIn(NOW + 24 * 3_600_000, NOW)).toBe('in 24 hours');
    expect(expiresIn(NOW + 5 * 60_000, NOW)).toBe('in 5 minutes');
  });
});
