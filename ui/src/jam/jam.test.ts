import { describe, expect, it, vi } from 'vitest';
import type { Event, JamInvite, JamState } from '../bindings/api';

let emit: (event: Event) => void = () => {};

const backend = vi.hoisted(() => ({
  getJam: vi.fn(),
  startJam: vi.fn(),
  acceptJam: vi.fn(),
  declineJam: vi.fn(),
  requestJam: vi.fn(),
  leaveJam: vi.fn(),
  saveJamQueue: vi.fn(),
}));
vi.mock('../backend', () => ({
  ...backend,
  onEngineEvent: vi.fn(async (handler: (event: Event) => void) => {
    emit = handler;
    return () => {};
  }),
  toBackendError: (error: unknown) => ({ message: String(error) }),
}));

const { cardInvites, followJam, jamBadge, jamState, outgoingRequest, timeLeft } = await import('./jam.svelte');

const person = (name: string, host: boolean, you = false) => ({ peer_id: `peer-${name}`, display_name: name, is_host: host, is_you: you, sync: null, error_us: null });

function jam(overrides: Partial<JamState> = {}): JamState {
  return {
    jam_id: 'j1',
    host_peer_id: 'peer-Robin',
    host_name: 'Robin',
    you_host: false,
    participants: [person('Robin', true), person('Ada', false, true)],
    queue: [],
    current: null,
    playing: true,
    position_ms: 0,
    as_of: 0,
    guest_controls: false,
    can_control: false,
    sync: 'measuring',
    offset_to_host_us: null,
    rtt_us: null,
    error_us: null,
    output_offset_ms: 0,
    ...overrides,
  };
}

const invite = (id: string, overrides: Partial<JamInvite> = {}): JamInvite => ({
  invite_id: id,
  kind: 'invite',
  incoming: true,
  peer_id: 'peer-Robin',
  display_name: 'Robin',
  playing: null,
  expires_in_ms: 120_000,
  ...overrides,
});

describe("the window's view of the jam", () => {
  const joined = vi.fn();

  it('loads, follows invitations with their deadlines and keeps what the host plays', async () => {
    backend.getJam.mockResolvedValue({ jam: null, invites: [] });
    await followJam(joined);
    expect(jamState.loaded).toBe(true);
    expect(jamBadge()).toBeNull();

    emit({ type: 'jam_invited', ...invite('i1', { playing: 'Kites' }) });
    emit({ type: 'jam_invites_changed', invites: [invite('i1'), invite('r1', { kind: 'request', incoming: false, peer_id: 'peer-Bo' })] });
    expect(cardInvites().map((i) => [i.invite_id, i.playing])).toEqual([['i1', 'Kites']]);
    expect(outgoingRequest('peer-Bo')?.invite_id).toBe('r1');
    expect(jamBadge()).toBe('1');
    expect(timeLeft(cardInvites()[0]!)).toBeGreaterThan(119_000);

    // Two minutes on, the cards are gone even before the engine says so.
    jamState.now += 120_001;
    expect(cardInvites()).toEqual([]);
    expect(outgoingRequest('peer-Bo')).toBeNull();
  });

  it("opens the panel on joining someone's jam, and says when the host changes", () => {
    emit({ type: 'jam_changed', jam: jam() });
    expect(joined).toHaveBeenCalledTimes(1);
    expect(jamState.notice).toBe('Joined Robin’s jam');
    expect(jamBadge()).toBe('Live');

    emit({ type: 'jam_changed', jam: jam({ host_peer_id: 'peer-Cy', host_name: 'Cy' }) });
    expect(jamState.notice).toBe('Cy hosts now');
    expect(joined).toHaveBeenCalledTimes(1);
  });

  it('remembers an ended jam to offer saving its queue', () => {
    const entry = { entry_id: 1, hash: 'h', title: 'Kites', artist: 'Robin', album: '', duration_ms: 1000, added_by: 'peer-Robin', added_by_name: 'Robin', in_library: false };
    emit({ type: 'jam_changed', jam: jam({ host_peer_id: 'peer-Cy', host_name: 'Cy', queue: [entry] }) });
    emit({ type: 'jam_ended', reason: 'ended' });
    emit({ type: 'jam_changed', jam: null });
    expect(jamState.jam).toBeNull();
    expect(jamState.ended).toEqual({ reason: 'ended', hostName: 'Cy', names: ['Robin'], tracks: 1, saved: null, noticed: false });
  });
});
