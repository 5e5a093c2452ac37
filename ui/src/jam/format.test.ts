import { describe, expect, it } from 'vitest';
import type { JamInvite, JamState } from '../bindings/api';
import { countdown, endedLine, hostLine, inviteLine, leaveHint, livePosition, offsetLine, participantLine, playlistName, syncLabel } from './format';

const person = (name: string, host: boolean, you = false) => ({ peer_id: `peer-${name}`, display_name: name, is_host: host, is_you: you, sync: null, error_us: null });

function jam(overrides: Partial<JamState> = {}): JamState {
  return {
    jam_id: 'j1',
    host_peer_id: 'peer-Ada',
    host_name: 'Ada',
    you_host: false,
    participants: [person('Ada', true), person('Bo', false, true)],
    queue: [],
    current: null,
    playing: false,
    position_ms: 0,
    as_of: 0,
    guest_controls: false,
    can_control: false,
    sync: 'in_sync',
    offset_to_host_us: null,
    rtt_us: null,
    error_us: null,
    output_offset_ms: 0,
    ...overrides,
  };
}

describe('the jam panel’s wording', () => {
  it('says who hosts', () => {
    expect(hostLine(jam())).toBe('Ada hosts');
    expect(hostLine(jam({ you_host: true }))).toBe('You host');
  });

  it('names every sync state', () => {
    expect(['measuring', 'buffering', 'in_sync', 'idle'].map((s) => syncLabel(s as JamState['sync']))).toEqual([
      'Measuring clock…',
      'Buffering…',
      'In sync',
      'Nothing playing',
    ]);
  });

  it('states the measured offset, round trip and error, with the direction of the offset', () => {
    expect(offsetLine(jam({ offset_to_host_us: 3_214_000, rtt_us: 1_200, error_us: -40 }))).toBe(
      'Your clock is 3.214 s behind the host · round trip 1.2 ms · 0.04 ms from the beat',
    );
    expect(offsetLine(jam({ offset_to_host_us: -2_500 }))).toBe('Your clock is 2.50 ms ahead of the host');
    expect(offsetLine(jam({ offset_to_host_us: 12 }))).toBe('Your clock is 12 µs behind the host');
    expect(offsetLine(jam())).toBeNull();
    expect(offsetLine(jam({ you_host: true, rtt_us: 5 }))).toBeNull();
  });

  it("states another participant's reported standing", () => {
    expect(participantLine({ sync: 'in_sync', error_us: 40 })).toBe('In sync · 0.04 ms from the beat');
    expect(participantLine({ sync: 'in_sync', error_us: -3 })).toBe('In sync · 3 µs from the beat');
    expect(participantLine({ sync: 'buffering', error_us: null })).toBe('Buffering…');
    expect(participantLine({ sync: null, error_us: null })).toBeNull();
  });

  it('counts down in minutes and seconds, rounding up and stopping at zero', () => {
    expect(countdown(114_000)).toBe('1:54');
    expect(countdown(4_001)).toBe('0:05');
    expect(countdown(-10)).toBe('0:00');
  });

  it('says who takes over when the host leaves', () => {
    const hosting = jam({ you_host: true, participants: [person('Bo', true, true), person('Ada', false), person('Cy', false)] });
    expect(leaveHint(hosting)).toBe('Ada will host.');
    expect(leaveHint(jam({ you_host: true, participants: [person('Bo', true, true)] }))).toMatch(/the jam ends/);
    expect(leaveHint(jam())).toMatch(/Ada still hosts/);
  });

  it('says why a jam ended', () => {
    expect(endedLine('left', 'Ada')).toBe('You left the jam.');
    expect(endedLine('ended', 'Ada')).toBe('Ada’s jam has ended.');
    expect(endedLine('lost', null)).toMatch(/lost/);
  });

  it('words invitations and requests from each side', () => {
    const invite = (kind: JamInvite['kind'], incoming: boolean): JamInvite => ({
      invite_id: 'i',
      kind,
      incoming,
      peer_id: 'peer-Robin',
      display_name: 'Robin',
      playing: null,
      expires_in_ms: 120_000,
    });
    expect(inviteLine(invite('invite', true))).toBe('Robin invites you to their jam');
    expect(inviteLine(invite('request', true))).toBe('Robin asks you to jam — you would host');
    expect(inviteLine(invite('invite', false))).toBe('Invited Robin');
    expect(inviteLine(invite('request', false))).toBe('You asked Robin to jam');
  });

  it('names a saved queue after who was there', () => {
    const day = new Date(2026, 10, 26);
    expect(playlistName(['Robin'], day)).toBe('Jam with Robin · 26 Nov');
    expect(playlistName(['Robin', 'Ada', 'Cy'], day)).toBe('Jam with Robin and 2 others · 26 Nov');
    expect(playlistName([], day)).toBe('Jam · 26 Nov');
  });

  it('moves the position on while playing, never past the end', () => {
    expect(livePosition({ position_ms: 1_000, as_of: 10_000, playing: true }, 12_500, 60_000)).toBe(3_500);
    expect(livePosition({ position_ms: 1_000, as_of: 10_000, playing: false }, 12_500, 60_000)).toBe(1_000);
    expect(livePosition({ position_ms: 59_000, as_of: 0, playing: true }, 5_000, 60_000)).toBe(60_000);
  });
});
