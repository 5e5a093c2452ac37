// What the jam panel and the invitation cards say, worked out from the engine's JamState and
// JamInvite: who hosts, a participant's sync state, the measured clock offset to the host, the
// invitations' countdowns, who takes over when the host leaves, and why a jam ended. Pure, so
// the wording is tested without a window.
import type { JamEnd, JamInvite, JamParticipant, JamState, SyncState } from '../bindings/api';

/** "You host" or "Ada hosts". */
export function hostLine(jam: JamState): string {
  return jam.you_host ? 'You host' : `${jam.host_name} hosts`;
}

/** A participant's sync state, for people. */
export function syncLabel(sync: SyncState): string {
  switch (sync) {
    case 'measuring':
      return 'Measuring clock…';
    case 'buffering':
      return 'Buffering…';
    case 'in_sync':
      return 'In sync';
    case 'idle':
      return 'Nothing playing';
  }
}

/** Milliseconds with `digits` decimals, from microseconds ("1.2 ms"). */
function ms(us: number, digits: number): string {
  return `${(us / 1000).toFixed(digits)} ms`;
}

/** How far from the beat: hundredths of a millisecond, or microseconds below ten ("3 µs"). */
function beat(us: number): string {
  const size = Math.abs(us);
  return `${size < 10 ? `${Math.round(size)} µs` : ms(size, 2)} from the beat`;
}

/**
 * How this window's clock and sound stand against the host's: "Your clock is 3.214 s behind the
 * host · round trip 1.2 ms · 0.04 ms from the beat". Null for the host, or before anything is
 * measured. `offset_to_host_us` is the host's clock minus ours: positive means ours is behind.
 */
export function offsetLine(jam: JamState): string | null {
  if (jam.you_host) return null;
  const parts: string[] = [];
  const offset = jam.offset_to_host_us;
  if (offset !== null) {
    const size = Math.abs(offset);
    const amount = size >= 1_000_000 ? `${(size / 1_000_000).toFixed(3)} s` : size >= 1000 ? ms(size, 2) : `${size} µs`;
    parts.push(offset === 0 ? 'Your clock matches the host’s' : `Your clock is ${amount} ${offset > 0 ? 'behind' : 'ahead of'} the host`);
  }
  if (jam.rtt_us !== null) parts.push(`round trip ${ms(jam.rtt_us, 1)}`);
  if (jam.error_us !== null) parts.push(beat(jam.error_us));
  return parts.length ? parts.join(' · ') : null;
}

/** Another participant's standing as they report it: "In sync · 0.04 ms from the beat". */
export function participantLine(person: Pick<JamParticipant, 'sync' | 'error_us'>): string | null {
  if (!person.sync) return null;
  const label = syncLabel(person.sync);
  return person.sync === 'in_sync' && person.error_us !== null ? `${label} · ${beat(person.error_us)}` : label;
}

/** A countdown in minutes and seconds, rounded up ("1:54", "0:05"); never below 0:00. */
export function countdown(leftMs: number): string {
  const seconds = Math.max(0, Math.ceil(leftMs / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

/** Who hosts once this user, the host, leaves: the longest-present other participant. */
export function nextHost(jam: JamState): JamParticipant | null {
  if (!jam.you_host) return null;
  return jam.participants.find((p) => !p.is_you) ?? null;
}

/** What leaving does, said beside the button. */
export function leaveHint(jam: JamState): string {
  if (!jam.you_host) return `The jam goes on without you; ${jam.host_name} still hosts.`;
  const next = nextHost(jam);
  return next ? `${next.display_name} will host.` : 'You are the only one here: the jam ends.';
}

/** Why the jam is over, for the line above "Save the queue as a playlist". */
export function endedLine(reason: JamEnd, hostName: string | null): string {
  switch (reason) {
    case 'left':
      return 'You left the jam.';
    case 'ended':
      return hostName ? `${hostName}’s jam has ended.` : 'The jam has ended.';
    case 'lost':
      return hostName ? `The connection to ${hostName} was lost, and the jam with it.` : 'The connection to the host was lost.';
  }
}

/** An invitation or request, said from this user's side. */
export function inviteLine(invite: JamInvite): string {
  if (invite.incoming) {
    return invite.kind === 'request'
      ? `${invite.display_name} asks you to jam — you would host`
      : `${invite.display_name} invites you to their jam`;
  }
  return invite.kind === 'request' ? `You asked ${invite.display_name} to jam` : `Invited ${invite.display_name}`;
}

/** A default name for a saved jam queue: "Jam with Robin · 26 Nov". */
export function playlistName(names: string[], at: Date): string {
  const day = at.toLocaleDateString('en-GB', { day: 'numeric', month: 'short' });
  const who = names.length === 0 ? '' : names.length <= 2 ? ` with ${names.join(' and ')}` : ` with ${names[0]} and ${names.length - 1} others`;
  return `Jam${who} · ${day}`;
}

/** Where the music is now, from a position stated at `asOf` (unix ms). */
export function livePosition(jam: Pick<JamState, 'position_ms' | 'as_of' | 'playing'>, now: number, durationMs: number): number {
  const position = jam.playing ? jam.position_ms + Math.max(0, now - jam.as_of) : jam.position_ms;
  return durationMs > 0 ? Math.min(position, durationMs) : position;
}
