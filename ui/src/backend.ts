// The UI's only door to the engine (conventions 9): typed wrappers around Tauri's `invoke` and
// event API, using the types generated from Rust in ./bindings/api.ts. Components import from
// here and never call `invoke` themselves.
import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import { open as openDialog, save as saveDialog } from '@tauri-apps/plugin-dialog';
import type {
  ActivitySettings,
  Album,
  AlbumKey,
  ApiError,
  Artist,
  ChatMessage,
  Conversation,
  ErrorKind,
  Event,
  Friend,
  FriendActivity,
  InviteInfo,
  InviteLink,
  JamInvite,
  JamState,
  LinkPreview,
  MessagePage,
  NearbyPeer,
  NormalisationMode,
  NormalisationState,
  OutputDevice,
  PeerCard,
  Play,
  PlayerState,
  Playlist,
  PlaylistItem,
  Profile,
  QueueState,
  RepeatMode,
  Report,
  Request,
  Response,
  ScanProblem,
  SearchHit,
  ShareTarget,
  Status,
  Track,
} from './bindings/api';

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

export async function listInvites(): Promise<InviteInfo[]> {
  return expectResponse(await call({ type: 'list_invites' }), 'invites').invites;
}

export async function revokeInvite(id: number): Promise<void> {
  expectResponse(await call({ type: 'revoke_invite', id }), 'done');
}

/** Reads an `earshot://` link without acting on it (nothing goes on the network). */
export async function inspectLink(link: string): Promise<LinkPreview> {
  const response = expectResponse(await call({ type: 'inspect_link', link }), 'link_preview');
  const { type: _type, ...preview } = response;
  return preview as LinkPreview;
}

// ── Links handed to the app (command line, a clicked link, a second `earshot` process) ─────

/** The window event saying links are waiting (src-tauri/src/links.rs: LINKS_PENDING). */
const LINKS_PENDING = 'links-pending';

/** The `earshot://` links that arrived since the last call, oldest first; each is returned once. */
export async function takePendingLinks(): Promise<string[]> {
  try {
    return await invoke<string[]>('take_pending_links');
  } catch (error) {
    throw toBackendError(error);
  }
}

/**
 * Tells the shell the main view painted its first frame, `pageMs` after the page started loading,
 * with when the bundle started running (`scriptMs`) and when mounting ended (`mountedMs`), on the
 * same clock (src-tauri/src/first_view.rs; `earshot-node bench app` times launch to first view by
 * it). Best effort: a failure is only logged.
 */
export async function reportFirstView(pageMs: number, scriptMs: number, mountedMs: number): Promise<void> {
  try {
    await invoke('first_view', { pageMs, scriptMs, mountedMs });
  } catch (error) {
    console.warn('first_view', error);
  }
}

/** Calls `handler` whenever new links are waiting (take them with `takePendingLinks`). */
export function onLinksPending(handler: () => void): Promise<UnlistenFn> {
  return listen(LINKS_PENDING, () => handler());
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

// ── Library ──────────────────────────────────────────────────────────────────────────────────

/** Asks the OS for a folder; null when the user cancels. */
export async function pickFolder(): Promise<string | null> {
  const chosen = await openDialog({ directory: true, multiple: false, title: 'Add a music folder' });
  return typeof chosen === 'string' ? chosen : null;
}

export async function addFolder(path: string): Promise<string[]> {
  return expectResponse(await call({ type: 'add_folder', path }), 'folders').folders;
}

export async function removeFolder(path: string): Promise<string[]> {
  return expectResponse(await call({ type: 'remove_folder', path }), 'folders').folders;
}

export async function listFolders(): Promise<string[]> {
  return expectResponse(await call({ type: 'list_folders' }), 'folders').folders;
}

export async function rescan(): Promise<void> {
  expectResponse(await call({ type: 'rescan' }), 'done');
}

export async function scanReport(): Promise<ScanProblem[]> {
  return expectResponse(await call({ type: 'scan_report' }), 'scan_report').problems;
}

export async function listTracks(filter: { query?: string; album?: AlbumKey; artist?: string } = {}): Promise<Track[]> {
  return expectResponse(await call({ type: 'list_tracks', ...filter }), 'tracks').tracks;
}

export async function listAlbums(): Promise<Album[]> {
  return expectResponse(await call({ type: 'list_albums' }), 'albums').albums;
}

export async function listArtists(): Promise<Artist[]> {
  return expectResponse(await call({ type: 'list_artists' }), 'artists').artists;
}

export async function search(query: string): Promise<{ tracks: Track[]; albums: Album[]; artists: Artist[] }> {
  const { tracks, albums, artists } = expectResponse(await call({ type: 'search', query }), 'search_results');
  return { tracks, albums, artists };
}

export async function getArt(hash: string, thumb: boolean): Promise<string> {
  return expectResponse(await call({ type: 'get_art', hash, thumb }), 'art').data_url;
}

export async function listPlaylists(): Promise<Playlist[]> {
  return expectResponse(await call({ type: 'list_playlists' }), 'playlists').playlists;
}

export interface PlaylistView {
  playlist: Playlist;
  items: PlaylistItem[];
}

function toPlaylist(response: Response): PlaylistView {
  const { playlist, items } = expectResponse(response, 'playlist');
  return { playlist, items };
}

export async function getPlaylist(id: number): Promise<PlaylistView> {
  return toPlaylist(await call({ type: 'get_playlist', id }));
}

export async function createPlaylist(name: string): Promise<PlaylistView> {
  return toPlaylist(await call({ type: 'create_playlist', name }));
}

export async function renamePlaylist(id: number, name: string): Promise<PlaylistView> {
  return toPlaylist(await call({ type: 'rename_playlist', id, name }));
}

export async function deletePlaylist(id: number): Promise<void> {
  expectResponse(await call({ type: 'delete_playlist', id }), 'done');
}

export async function addToPlaylist(id: number, hashes: string[]): Promise<PlaylistView> {
  return toPlaylist(await call({ type: 'add_to_playlist', id, hashes }));
}

export async function removeFromPlaylist(id: number, position: number): Promise<PlaylistView> {
  return toPlaylist(await call({ type: 'remove_from_playlist', id, position }));
}

export async function moveInPlaylist(id: number, from: number, to: number): Promise<PlaylistView> {
  return toPlaylist(await call({ type: 'move_in_playlist', id, from, to }));
}

export async function recentlyPlayed(limit = 50): Promise<Play[]> {
  return expectResponse(await call({ type: 'recently_played', limit }), 'plays').plays;
}

// ── Player ───────────────────────────────────────────────────────────────────────────────────

async function player(request: Request): Promise<PlayerState> {
  const answer = await call(request);
  // In a jam the transport (and `play`) act on the jam and answer with it; the player follows.
  if (answer.type === 'jam' && request.type !== 'get_player') return player({ type: 'get_player' });
  const response = expectResponse(answer, 'player');
  const { type: _type, ...state } = response;
  return state;
}

export const play = (hashes: string[], start = 0) => player({ type: 'play', hashes, start });
export const playNext = (hashes: string[]) => player({ type: 'play_next', hashes });
export const addToQueue = (hashes: string[]) => player({ type: 'add_to_queue', hashes });
export const playQueueIndex = (index: number) => player({ type: 'play_queue_index', index });
export const moveInQueue = (from: number, to: number) => player({ type: 'move_in_queue', from, to });
export const removeFromQueue = (index: number) => player({ type: 'remove_from_queue', index });
export const clearQueue = () => player({ type: 'clear_queue' });
export const togglePause = () => player({ type: 'toggle_pause' });
export const next = () => player({ type: 'next' });
export const previous = () => player({ type: 'previous' });
export const seek = (positionMs: number) => player({ type: 'seek', position_ms: Math.max(0, Math.round(positionMs)) });
export const setVolume = (volume: number) => player({ type: 'set_volume', volume: Math.round(Math.min(100, Math.max(0, volume))) });
export const setShuffle = (on: boolean) => player({ type: 'set_shuffle', on });
export const setRepeat = (mode: RepeatMode) => player({ type: 'set_repeat', mode });
export const getPlayer = () => player({ type: 'get_player' });
/** Plays a share card: tracks in the library at once, the others fetched from the sharer first. */
export const playShared = (conversation: string, entry: string, start = 0) => player({ type: 'play_shared', conversation, entry, start });

/** The whole queue (the player's state carries only its length and version). */
export async function getQueue(): Promise<QueueState> {
  const { type: _type, ...queue } = expectResponse(await call({ type: 'get_queue' }), 'queue');
  return queue;
}

/** The output devices a person can pick (readable names, stable ids), the system default first. */
export async function listOutputDevices(): Promise<OutputDevice[]> {
  return expectResponse(await call({ type: 'list_output_devices' }), 'output_devices').devices;
}

/** Plays through the device with this id from now on; `null` follows the system default. */
export const setOutputDevice = (id: string | null) => player({ type: 'set_output_device', id: id ?? undefined });

/** Loudness normalisation: the setting, and how far the background loudness analysis is. */
export async function getNormalisation(): Promise<NormalisationState> {
  const { type: _type, ...state } = expectResponse(await call({ type: 'get_normalisation' }), 'normalisation');
  return state;
}

/** Sets the normalisation mode and, when given, the target level (LUFS); from the next track on. */
export async function setNormalisation(mode: NormalisationMode, targetLufs?: number): Promise<NormalisationState> {
  const { type: _type, ...state } = expectResponse(
    await call({ type: 'set_normalisation', mode, target_lufs: targetLufs }),
    'normalisation',
  );
  return state;
}

// ── Messages ─────────────────────────────────────────────────────────────────────────────────

export async function listConversations(): Promise<{ conversations: Conversation[]; requests: Conversation[] }> {
  const { conversations, requests } = expectResponse(await call({ type: 'list_conversations' }), 'conversations');
  return { conversations, requests };
}

function toConversation(response: Response): Conversation {
  const { type: _type, ...conversation } = expectResponse(response, 'conversation');
  return conversation;
}

function toMessage(response: Response): ChatMessage {
  const { type: _type, ...message } = expectResponse(response, 'message');
  return message;
}

export const getConversation = async (conversation: string) => toConversation(await call({ type: 'get_conversation', conversation }));
export const openDirect = async (peerId: string) => toConversation(await call({ type: 'open_direct', peer_id: peerId }));
export const createGroup = async (name: string, peerIds: string[]) => toConversation(await call({ type: 'create_group', name, peer_ids: peerIds }));

export async function listMessages(conversation: string, before?: string, limit?: number): Promise<MessagePage> {
  const { type: _type, ...page } = expectResponse(await call({ type: 'list_messages', conversation, before, limit }), 'messages');
  return page;
}

export const sendMessage = async (conversation: string, text: string, replyTo?: string) =>
  toMessage(await call({ type: 'send_message', conversation, text, reply_to: replyTo }));
export const shareToConversation = async (conversation: string, target: ShareTarget, text?: string) =>
  toMessage(await call({ type: 'share', conversation, target, text }));
/** Adds or takes back a reaction; the changed message arrives as a `message_changed` event. */
export async function react(conversation: string, entry: string, emoji: string, on: boolean): Promise<void> {
  await done({ type: 'react', conversation, entry, emoji, on });
}
export const editMessage = async (conversation: string, entry: string, text: string) =>
  toMessage(await call({ type: 'edit_message', conversation, entry, text }));
export const deleteMessage = async (conversation: string, entry: string) => toMessage(await call({ type: 'delete_message', conversation, entry }));

async function done(request: Request): Promise<void> {
  expectResponse(await call(request), 'done');
}

export const markRead = (conversation: string) => done({ type: 'mark_read', conversation });
export const addMembers = async (conversation: string, peerIds: string[]) => toConversation(await call({ type: 'add_members', conversation, peer_ids: peerIds }));
export const removeMember = async (conversation: string, peerId: string) => toConversation(await call({ type: 'remove_member', conversation, peer_id: peerId }));
export const setAdmin = async (conversation: string, peerId: string, admin: boolean) =>
  toConversation(await call({ type: 'set_admin', conversation, peer_id: peerId, admin }));
export const renameGroup = async (conversation: string, name: string) => toConversation(await call({ type: 'rename_group', conversation, name }));
export const leaveGroup = (conversation: string) => done({ type: 'leave_group', conversation });
export const acceptMessageRequest = async (conversation: string) => toConversation(await call({ type: 'accept_message_request', conversation }));
export const declineMessageRequest = (conversation: string, block: boolean) => done({ type: 'decline_message_request', conversation, block });
/** Reports a peer: keeps their entries in a local report, hides the conversation, blocks them; returns every report. */
export const reportPeer = async (conversation: string, peerId: string, reason: string): Promise<Report[]> =>
  expectResponse(await call({ type: 'report', conversation, peer_id: peerId, reason }), 'reports').reports;
export const listReports = async (): Promise<Report[]> => expectResponse(await call({ type: 'list_reports' }), 'reports').reports;
export const exportReport = (id: number, path: string) => done({ type: 'export_report', id, path });
export const setMessagesEnabled = async (on: boolean) => expectResponse(await call({ type: 'set_messages_enabled', on }), 'messages_enabled').on;
export const getMessagesEnabled = async () => expectResponse(await call({ type: 'get_messages_enabled' }), 'messages_enabled').on;
export const searchMessages = async (query: string, limit?: number): Promise<SearchHit[]> =>
  expectResponse(await call({ type: 'search_messages', query, limit }), 'search_hits').hits;

// ── Listening Activity ───────────────────────────────────────────────────────────────────────

function toActivitySettings(response: Response): ActivitySettings {
  const { type: _type, ...settings } = expectResponse(response, 'activity_settings');
  return settings;
}

export const getActivitySettings = async () => toActivitySettings(await call({ type: 'get_activity_settings' }));
/** Friends see what you listen to (persisted; off until the user turns it on). */
export const setActivitySharing = async (on: boolean) => toActivitySettings(await call({ type: 'set_activity_sharing', on }));
/** Shares nothing until turned off or Earshot restarts. */
export const setPrivateSession = async (on: boolean) => toActivitySettings(await call({ type: 'set_private_session', on }));
export const friendActivity = async (): Promise<FriendActivity[]> => expectResponse(await call({ type: 'friend_activity' }), 'friend_activity').friends;
/** Plays a friend's track now: from the library when it holds the same file, else fetched from the friend. */
export const playFriendTrack = (peerId: string, hash: string) => player({ type: 'play_friend_track', peer_id: peerId, hash });
export const queueFriendTrack = (peerId: string, hash: string) => player({ type: 'queue_friend_track', peer_id: peerId, hash });
/** Downloads a friend's track, verifies it and files it in the library (progress: `transfer_progress`). */
export async function addFriendTrack(peerId: string, hash: string): Promise<Track> {
  const { type: _type, ...track } = expectResponse(await call({ type: 'add_friend_track', peer_id: peerId, hash }), 'track');
  return track;
}
/** Sends one of ACTIVITY_EMOJIS to a friend about the track they are listening to; returns the card it put in your chat. */
export const reactToActivity = async (peerId: string, hash: string, emoji: string) =>
  toMessage(await call({ type: 'react_to_activity', peer_id: peerId, hash, emoji }));

// ── Jam ──────────────────────────────────────────────────────────────────────────────────────

export interface JamView {
  jam: JamState | null;
  invites: JamInvite[];
}

function toJam(response: Response): JamView {
  const { jam, invites } = expectResponse(response, 'jam');
  return { jam, invites };
}

function toJamInvite(response: Response): JamInvite {
  const { type: _type, ...invite } = expectResponse(response, 'jam_invite');
  return invite;
}

export const getJam = async () => toJam(await call({ type: 'get_jam' }));
/** Starts a jam hosted here, with what plays now (or the last track played) in its queue. */
export const startJam = async () => toJam(await call({ type: 'start_jam' }));
/** Invites friends to this user's jam (starting one when none is on). */
export const inviteToJam = async (peerIds: string[]) => toJam(await call({ type: 'invite_to_jam', peer_ids: peerIds }));
/** Invites everyone in a group conversation. */
export const inviteConversationToJam = async (conversation: string) => toJam(await call({ type: 'invite_conversation_to_jam', conversation }));
/** Asks a friend to jam: on accept they host and this window joins. */
export const requestJam = async (peerId: string) => toJamInvite(await call({ type: 'request_jam', peer_id: peerId }));
export const acceptJam = async (inviteId: string) => toJam(await call({ type: 'accept_jam', invite_id: inviteId }));
/** Declines an incoming invitation or request, or withdraws an outgoing one. */
export const declineJam = (inviteId: string) => done({ type: 'decline_jam', invite_id: inviteId });
export const leaveJam = () => done({ type: 'leave_jam' });
export async function jamQueueAdd(hashes: string[]): Promise<void> {
  await call({ type: 'jam_queue_add', hashes });
}
export async function jamQueueRemove(entryId: number): Promise<void> {
  await call({ type: 'jam_queue_remove', entry_id: entryId });
}
export async function jamQueueMove(entryId: number, to: number): Promise<void> {
  await call({ type: 'jam_queue_move', entry_id: entryId, to });
}
export async function jamPlayEntry(entryId: number): Promise<void> {
  await call({ type: 'jam_play_entry', entry_id: entryId });
}
export async function setJamGuestControls(on: boolean): Promise<void> {
  await call({ type: 'set_jam_guest_controls', on });
}
/** This listener's output offset, −500…500 ms (sound this much earlier, for Bluetooth speakers). */
export async function setJamOutputOffset(ms: number): Promise<void> {
  await call({ type: 'set_jam_output_offset', ms: Math.round(Math.min(500, Math.max(-500, ms))) });
}
/** Saves the jam's queue (on, or the one that ended last) as a playlist crediting who added what. */
export const saveJamQueue = async (name: string) => toPlaylist(await call({ type: 'save_jam_queue', name }));

/** Asks the OS where to save a file; null when the user cancels. */
export async function pickSaveFile(defaultName: string, title: string): Promise<string | null> {
  const chosen = await saveDialog({ defaultPath: defaultName, title });
  return typeof chosen === 'string' ? chosen : null;
}

/** The window event sent when a new-message notification is clicked (src-tauri/src/notices.rs: OPEN_CONVERSATION). */
const OPEN_CONVERSATION = 'open-conversation';

/** Calls `handler` with a conversation's id whenever the user clicks its notification. */
export function onOpenConversation(handler: (conversation: string) => void): Promise<UnlistenFn> {
  return listen<string>(OPEN_CONVERSATION, (event) => handler(event.payload));
}

/** Opens an http(s) link in the default browser (the shell refuses any other scheme). */
export async function openWebLink(url: string): Promise<void> {
  try {
    await invoke('open_link', { url });
  } catch (error) {
    throw new BackendError('invalid_input', typeof error === 'string' ? error : toBackendError(error).message);
  }
}

// ── Desktop: the window shell's own settings (src-tauri/src/window.rs, desktop.rs) ──────────

/** When closing the window keeps Earshot running in the tray (src-tauri/src/desktop.rs: KeepInTray). */
export type KeepInTray = 'always' | 'while_playing' | 'never';

/** The desktop settings as the shell reports them (src-tauri/src/window.rs: DesktopView). */
export interface DesktopSettings {
  keep_in_tray: KeepInTray;
  /** Whether Earshot starts at login (the OS's autostart entry exists). */
  autostart: boolean;
  /** Why the autostart entry could not be read, if it could not. */
  autostart_problem: string | null;
  /** Whether a tray shows Earshot's icon now (without one, "keep running" minimises the window). */
  tray: boolean;
}

/** Runs a shell command whose errors are sentences for people (not engine errors). */
async function shellCommand<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    throw new BackendError('storage', typeof error === 'string' ? error : toBackendError(error).message);
  }
}

export const getDesktopSettings = () => shellCommand<DesktopSettings>('get_desktop_settings');

/** Changes what is given (the rest stays); resolves with the settings as they are now. */
export const setDesktopSettings = (change: { keep_in_tray?: KeepInTray; autostart?: boolean }) =>
  shellCommand<DesktopSettings>('set_desktop_settings', { change });

/** Quits Earshot: the window closes, music and any jam stop, friends see you offline. */
export const quitEarshot = () => shellCommand<void>('quit');

/** Calls `handler` for every engine event until the returned function is called. */
export function onEngineEvent(handler: (event: Event) => void): Promise<UnlistenFn> {
  return listen<Event>(ENGINE_EVENT, (message) => handler(message.payload));
}
