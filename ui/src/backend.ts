// The UI's only door to the engine (conventions 9): typed wrappers around Tauri's `invoke` and
// event API, using the types generated from Rust in ./bindings/api.ts. Components import from
// here and never call `invoke` themselves.
import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import type { ApiError, ErrorKind, Event, Friend, InviteLink, NearbyPeer, PeerCard, Profile, Request, Response, Status } from './bindings/api';

/** The window event that carries engine events (src-tauri/src/lib.rs: ENGINE_EVENT). */
const ENGINE_EVENT = 'engine-event';

/** A failed call, with the engine's machine-readable kind and a message for people. */
export class BackendError extends Error {
  readonly kind: ErrorKind | 'unreachable';
  constructor(kind: ErrorKind | 'unreachable', message: string) {
    super(message);
    this.name = 'BackendError';
    this.kind = kind;
  }
}

function isApiError(value: unknown): value is ApiError {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ApiError).kind === 'string' &&
    typeof (value as ApiError).message === 'string'
  );
}

/** Turns whatever `invoke` rejected with into a BackendError with a readable message. */
export function toBackendError(error: unknown): BackendError {
  if (error instanceof BackendError) return error;
  if (isApiError(error)) return new BackendError(error.kind, error.message);
  const detail = error instanceof Error ? error.message : String(error);
  return new BackendError('unreachable', `Earshot's engine did not answer (${detail}). Restart Earshot; if it keeps happening, see the log folder in Settings.`);
}

type ResponseOf<K extends Response['type']> = Extract<Response, { type: K }>;

/** Checks that a response has the expected type; anything else is a bug worth a clear message. */
export function expectResponse<K extends Response['type']>(response: Response, type: K): ResponseOf<K> {
  if (response.type !== type) {
    throw new BackendError('internal', `Expected a "${type}" answer from the engine, got "${response.type}".`);
  }
  return response as ResponseOf<K>;
}

async function call(request: Request): Promise<Response> {
  try {
    return await invoke<Response>('call', { request });
  } catch (error) {
    throw toBackendError(error);
  }
}

export async function getStatus(): Promise<Status> {
  return expectResponse(await call({ type: 'status' }), 'status');
}

export async function getProfile(): Promise<Profile> {
  return expectResponse(await call({ type: 'get_profile' }), 'profile');
}

export async function setProfile(displayName: string): Promise<Profile> {
  return expectResponse(await call({ type: 'set_profile', display_name: displayName }), 'profile');
}

export async function createInvite(lifetimeSecs?: number): Promise<InviteLink> {
  return expectResponse(await call({ type: 'create_invite', lifetime_secs: lifetimeSecs }), 'invite');
}

export async function redeemInvite(link: string): Promise<Friend> {
  return expectResponse(await call({ type: 'redeem_invite', link }), 'friend');
}

export async function listFriends(): Promise<Friend[]> {
  return expectResponse(await call({ type: 'list_friends' }), 'friends').friends;
}

export async function listRequests(): Promise<{ incoming: PeerCard[]; outgoing: PeerCard[] }> {
  const { incoming, outgoing } = expectResponse(await call({ type: 'list_requests' }), 'requests');
  return { incoming, outgoing };
}

export async function listBlocked(): Promise<PeerCard[]> {
  return expectResponse(await call({ type: 'list_blocked' }), 'blocked').peers;
}

export async function listNearby(): Promise<NearbyPeer[]> {
  return expectResponse(await call({ type: 'list_nearby' }), 'nearby').peers;
}

export async function sendFriendRequest(peerId: string): Promise<void> {
  expectResponse(await call({ type: 'send_friend_request', peer_id: peerId }), 'done');
}

export async function acceptRequest(peerId: string): Promise<Friend> {
  return expectResponse(await call({ type: 'accept_request', peer_id: peerId }), 'friend');
}

export async function rejectRequest(peerId: string): Promise<void> {
  expectResponse(await call({ type: 'reject_request', peer_id: peerId }), 'done');
}

export async function removeFriend(peerId: string): Promise<void> {
  expectResponse(await call({ type: 'remove_friend', peer_id: peerId }), 'done');
}

export async function blockPeer(peerId: string): Promise<void> {
  expectResponse(await call({ type: 'block', peer_id: peerId }), 'done');
}

export async function unblockPeer(peerId: string): Promise<void> {
  expectResponse(await call({ type: 'unblock', peer_id: peerId }), 'done');
}

export interface RelaySettings {
  relays: string[];
  fromCommandLine: string[];
}

function toRelaySettings(response: Response): RelaySettings {
  const r = expectResponse(response, 'relays');
  return { relays: r.relays, fromCommandLine: r.from_command_line };
}

export async function getRelays(): Promise<RelaySettings> {
  return toRelaySettings(await call({ type: 'get_relays' }));
}

export async function setRelays(relays: string[]): Promise<RelaySettings> {
  return toRelaySettings(await call({ type: 'set_relays', relays }));
}

/** Calls `handler` for every engine event until the returned function is called. */
export function onEngineEvent(handler: (event: Event) => void): Promise<UnlistenFn> {
  return listen<Event>(ENGINE_EVENT, (message) => handler(message.payload));
}
