import { describe, expect, it } from 'vitest';
import type { Friend, LinkPreview, NearbyPeer } from '../bindings/api';
import { ago, describeLink, expiresIn, presence, sortFriends, splitNearby } from './format';

const NOW = 1_800_000_000_000;
const friend = (name: string, connection: Friend['connection'], last_seen: number | null = null): Friend => ({
  peer_id: `12D3KooW${name}`,
  fingerprint: `fp-${name}`,
  display_name: name,
  connection,
  since: NOW,
  last_seen,
});

describe('friends wording', () => {
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
    expect(expiresIn(NOW + 7 * 24 * 3_600_000, NOW)).toBe('in 7 days');
  });
});

describe('nearby peers', () => {
  const nearby = (name: string, relationship: NearbyPeer['relationship']): NearbyPeer => ({
    peer_id: `12D3KooW${name}`,
    fingerprint: `fp-${name}`,
    display_name: relationship ? name : null,
    relationship,
  });

  it('lists a friend on the LAN once, on their own row, not again as a stranger', () => {
    const { others, friendIds } = splitNearby([nearby('Robin', 'friend'), nearby('Sam', null), nearby('Kim', 'requested_in')], [friend('Robin', 'direct')]);
    expect(others.map((p) => p.peer_id)).toEqual(['12D3KooWSam', '12D3KooWKim']);
    expect([...friendIds]).toEqual(['12D3KooWRobin']);
  });

  it('treats a friend as a friend even when the nearby list has not caught up', () => {
    const { others, friendIds } = splitNearby([nearby('Robin', null)], [friend('Robin', 'direct')]);
    expect(others).toEqual([]);
    expect(friendIds.has('12D3KooWRobin')).toBe(true);
  });
});

describe('the question a link asks', () => {
  const preview = (standing: LinkPreview['standing'], display_name: string | null = null, expires_at = NOW + 3_600_000): LinkPreview => ({
    kind: 'invite',
    inviter: '12D3KooWRobin',
    fingerprint: 'ab12 cd34',
    expires_at,
    standing,
    display_name,
  });

  it('asks before adding a stranger', () => {
    const wording = describeLink(preview('stranger'), NOW);
    expect(wording.title).toBe('Add this person as a friend?');
    expect(wording.canAdd).toBe(true);
  });

  it('names someone who already asked, and offers to add them', () => {
    expect(describeLink(preview('requested_in', 'Robin'), NOW)).toMatchObject({ title: 'Add Robin as a friend?', canAdd: true });
    expect(describeLink(preview('requested_out', 'Robin'), NOW).canAdd).toBe(true);
  });

  it('offers nothing for a friend, a blocked peer or an expired invite', () => {
    expect(describeLink(preview('friend', 'Robin'), NOW)).toMatchObject({ title: 'Robin is already your friend', canAdd: false });
    expect(describeLink(preview('blocked'), NOW).canAdd).toBe(false);
    const expired = describeLink(preview('stranger', null, NOW - 2 * 3_600_000), NOW);
    expect(expired).toMatchObject({ title: 'This invite has expired', canAdd: false });
    expect(expired.detail).toMatch(/2 hours ago/);
  });
});
