// The window's view of the Jam: this user's jam (or none), the invitations and requests waiting
// in either direction with their deadlines, and what is left of a jam that ended (to save its
// queue). Loaded with `get_jam` and kept current from `jam_changed`, `jam_invites_changed`,
// `jam_invited` and `jam_ended`. Components read `jamState`; only this module writes it.
//
// The window follows the jam: joining one (an invitation accepted here, or a Request to Jam the
// friend accepted) opens the jam panel with "Joined Robin's jam", through the `onjoined` handler
// the app gives `followJam`.
import { acceptJam, declineJam, getJam, leaveJam, onEngineEvent, requestJam, saveJamQueue, startJam, toBackendError } from '../backend';
import { ticker } from '../lib/ticker';
import type { JamEnd, JamInvite, JamState } from '../bindings/api';

export interface EndedJam {
  reason: JamEnd;
  hostName: string | null;
  /** The others who were in it, for the playlist's name. */
  names: string[];
  /** How many tracks its queue held (0: nothing to save). */
  tracks: number;
  /** The playlist it was saved as, once saved. */
  saved: string | null;
  /** Whether its notification card was closed (or it needs none: this user left). */
  noticed: boolean;
}

interface JamModuleState {
  jam: JamState | null;
  /** Invitations and requests waiting, both directions. */
  invites: JamInvite[];
  /** When each invitation expires, by id (unix ms on this machine). */
  deadlines: Record<string, number>;
  loaded: boolean;
  error: string | null;
  /** Wall-clock now, ticking once a second (countdowns, the play position). */
  now: number;
  /** The jam that ended last, until another starts. */
  ended: EndedJam | null;
  /** A line about the latest change of hands: "Joined Robin's jam", "Ada hosts now". */
  notice: string | null;
  /** Incoming invitations whose notification card was closed (they stay in the panel). */
  dismissed: string[];
}

export const jamState: JamModuleState = $state({
  jam: null,
  invites: [],
  deadlines: {},
  loaded: false,
  error: null,
  now: Date.now(),
  ended: null,
  notice: null,
  dismissed: [],
});

/** The last jam seen while it was on: what `jam_ended` refers to. */
let last: JamState | null = null;
let onjoined: () => void = () => {};
let following = false;

/** The invitations still waiting (expired ones drop out at once, before the engine says so). */
export function waitingInvites(): JamInvite[] {
  return jamState.invites.filter((i) => (jamState.deadlines[i.invite_id] ?? 0) > jamState.now);
}

/** Milliseconds left to answer `invite`. */
export function timeLeft(invite: JamInvite): number {
  return Math.max(0, (jamState.deadlines[invite.invite_id] ?? 0) - jamState.now);
}

/** The Request to Jam this user sent `peerId` and is waiting on, if any. */
export function outgoingRequest(peerId: string): JamInvite | null {
  return waitingInvites().find((i) => !i.incoming && i.kind === 'request' && i.peer_id === peerId) ?? null;
}

/** Incoming invitations and requests for the notification cards. */
export function cardInvites(): JamInvite[] {
  return waitingInvites().filter((i) => i.incoming && !jamState.dismissed.includes(i.invite_id));
}

/** The side bar's badge: "Live" in a jam, else the number of invitations waiting for an answer. */
export function jamBadge(): string | null {
  if (jamState.jam) return 'Live';
  const incoming = waitingInvites().filter((i) => i.incoming).length;
  return incoming ? String(incoming) : null;
}

/** One tick a second while an invite counts down or the jam plays (its position moves); no timer
    otherwise. Switched after every change of either. */
const clockTick = ticker(1000, () => (jamState.now = Date.now()));
const switchClock = () => clockTick(jamState.invites.length > 0 || jamState.jam?.playing === true);

function setInvites(invites: JamInvite[]) {
  const now = Date.now();
  const deadlines: Record<string, number> = {};
  for (const invite of invites) {
    // A deadline once set stays put: a later list says the same thing, minus the time it took.
    deadlines[invite.invite_id] = jamState.deadlines[invite.invite_id] ?? now + invite.expires_in_ms;
  }
  jamState.now = now;
  // What the host plays comes with `jam_invited`; a later list may leave it out.
  jamState.invites = invites.map((i) => (i.playing !== null ? i : { ...i, playing: jamState.invites.find((o) => o.invite_id === i.invite_id)?.playing ?? null }));
  jamState.deadlines = deadlines;
  jamState.dismissed = jamState.dismissed.filter((id) => id in deadlines);
  switchClock();
}

function setJam(jam: JamState | null) {
  const before = jamState.jam;
  jamState.jam = jam;
  switchClock();
  if (!jam) return;
  last = jam;
  jamState.ended = null;
  if (!before || before.jam_id !== jam.jam_id) {
    jamState.notice = jam.you_host ? null : `Joined ${jam.host_name}’s jam`;
    if (!jam.you_host) onjoined();
  } else if (before.host_peer_id !== jam.host_peer_id) {
    jamState.notice = jam.you_host ? 'You host now' : `${jam.host_name} hosts now`;
  }
}

function ended(reason: JamEnd) {
  const jam = last;
  last = null;
  jamState.notice = null;
  jamState.ended = {
    reason,
    hostName: jam && !jam.you_host ? jam.host_name : null,
    names: jam ? jam.participants.filter((p) => !p.is_you).map((p) => p.display_name) : [],
    tracks: jam?.queue.length ?? 0,
    saved: null,
    noticed: reason === 'left',
  };
}

/** Reloads the jam and the invitations. */
export async function refreshJam(): Promise<void> {
  try {
    const view = await getJam();
    setInvites(view.invites);
    setJam(view.jam);
    jamState.error = null;
  } catch (error) {
    jamState.error = toBackendError(error).message;
  } finally {
    jamState.loaded = true;
  }
}

/** Starts a jam hosted here. */
export async function start(): Promise<void> {
  const view = await startJam();
  setJam(view.jam);
  setInvites(view.invites);
}

/** Accepts an invitation (joins) or a request (hosts); the window then shows the jam. */
export async function accept(invite: JamInvite): Promise<void> {
  const view = await acceptJam(invite.invite_id);
  setInvites(view.invites);
  setJam(view.jam);
  onjoined();
}

/** Declines an incoming invitation or request, or withdraws an outgoing one. */
export async function decline(invite: JamInvite): Promise<void> {
  await declineJam(invite.invite_id);
  setInvites(jamState.invites.filter((i) => i.invite_id !== invite.invite_id));
}

/** Asks a friend to jam; the request shows as waiting until they answer or it expires. */
export async function request(peerId: string): Promise<void> {
  const invite = await requestJam(peerId);
  if (!jamState.invites.some((i) => i.invite_id === invite.invite_id)) setInvites([...jamState.invites, invite]);
}

export async function leave(): Promise<void> {
  await leaveJam();
}

/** Saves the ended (or current) jam's queue as a playlist named `name`. */
export async function saveQueue(name: string): Promise<string> {
  const { playlist } = await saveJamQueue(name);
  if (jamState.ended) jamState.ended.saved = playlist.name;
  return playlist.name;
}

/** Closes an invitation's notification card (it stays in the jam panel until it expires). */
export function dismissCard(invite: JamInvite): void {
  if (!jamState.dismissed.includes(invite.invite_id)) jamState.dismissed.push(invite.invite_id);
}

/** Closes the card saying the jam ended (the offer stays in the panel). */
export function noticeEnded(): void {
  if (jamState.ended) jamState.ended.noticed = true;
}

/** Forgets the ended jam's offer to save its queue. */
export function forgetEnded(): void {
  jamState.ended = null;
}

/**
 * Loads the jam once and follows the engine's events from then on; `joined` is called whenever
 * this window joins someone's jam (the app shows the jam panel).
 */
export async function followJam(joined: () => void = () => {}): Promise<void> {
  onjoined = joined;
  if (following) return;
  following = true;
  await onEngineEvent((event) => {
    switch (event.type) {
      case 'jam_changed':
        setJam(event.jam);
        break;
      case 'jam_invites_changed':
        setInvites(event.invites);
        break;
      case 'jam_invited': {
        const { type: _type, ...invite } = event;
        if (!jamState.invites.some((i) => i.invite_id === invite.invite_id)) setInvites([...jamState.invites, invite]);
        break;
      }
      case 'jam_ended':
        ended(event.reason);
        break;
    }
  });
  await refreshJam();
}
