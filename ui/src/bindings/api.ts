// Generated from src-tauri/engine/src/api.rs by earshot-engine's bindings module.
// Do not edit: run `cargo run -p earshot-node -- bindings ui/src/bindings/api.ts`.

export type Request = { "type": "status" } | { "type": "get_profile" } | { "type": "set_profile", display_name: string, } | { "type": "create_invite", lifetime_secs?: number, } | { "type": "redeem_invite", link: string, } | { "type": "list_friends" } | { "type": "list_requests" } | { "type": "send_friend_request", peer_id: string, } | { "type": "accept_request", peer_id: string, } | { "type": "reject_request", peer_id: string, } | { "type": "remove_friend", peer_id: string, } | { "type": "block", peer_id: string, } | { "type": "unblock", peer_id: string, } | { "type": "list_blocked" } | { "type": "list_nearby" } | { "type": "list_invites" } | { "type": "revoke_invite", id: number, } | { "type": "inspect_link", link: string, } | { "type": "net_stats" } | { "type": "get_relays" } | { "type": "set_relays", relays: Array<string>, } | { "type": "add_folder", path: string, } | { "type": "remove_folder", path: string, } | { "type": "list_folders" } | { "type": "rescan" } | { "type": "scan_report" } | { "type": "list_tracks", query?: string, album?: AlbumKey, artist?: string, } | { "type": "list_albums" } | { "type": "list_artists" } | { "type": "search", query: string, } | { "type": "get_art", hash: string, thumb?: boolean, } | { "type": "list_playlists" } | { "type": "get_playlist", id: number, } | { "type": "create_playlist", name: string, } | { "type": "rename_playlist", id: number, name: string, } | { "type": "delete_playlist", id: number, } | { "type": "add_to_playlist", id: number, hashes: Array<string>, position?: number, } | { "type": "remove_from_playlist", id: number, position: number, } | { "type": "move_in_playlist", id: number, from: number, to: number, } | { "type": "recently_played", limit?: number, } | { "type": "play", hashes: Array<string>, start?: number, } | { "type": "play_next", hashes: Array<string>, } | { "type": "add_to_queue", hashes: Array<string>, } | { "type": "play_queue_index", index: number, } | { "type": "move_in_queue", from: number, to: number, } | { "type": "remove_from_queue", index: number, } | { "type": "clear_queue" } | { "type": "pause" } | { "type": "resume" } | { "type": "toggle_pause" } | { "type": "next" } | { "type": "previous" } | { "type": "seek", position_ms: number, } | { "type": "set_volume", volume: number, } | { "type": "get_normalisation" } | { "type": "set_normalisation", mode: NormalisationMode, target_lufs?: number, } | { "type": "set_shuffle", on: boolean, } | { "type": "set_repeat", mode: RepeatMode, } | { "type": "get_player" } | { "type": "get_queue" } | { "type": "list_output_devices" } | { "type": "set_output_device", id?: string, } | { "type": "play_at", hash: string, frame: number, at_ns: number, } | { "type": "clock_now" } | { "type": "list_conversations" } | { "type": "get_conversation", conversation: string, } | { "type": "open_direct", peer_id: string, } | { "type": "create_group", name: string, peer_ids: Array<string>, } | { "type": "list_messages", conversation: string, before?: string, limit?: number, } | { "type": "send_message", conversation: string, text: string, reply_to?: string, } | { "type": "share", conversation: string, target: ShareTarget, text?: string, } | { "type": "react", conversation: string, entry: string, emoji: string, on: boolean, } | { "type": "edit_message", conversation: string, entry: string, text: string, } | { "type": "delete_message", conversation: string, entry: string, } | { "type": "mark_read", conversation: string, } | { "type": "add_members", conversation: string, peer_ids: Array<string>, } | { "type": "remove_member", conversation: string, peer_id: string, } | { "type": "set_admin", conversation: string, peer_id: string, admin: boolean, } | { "type": "rename_group", conversation: string, name: string, } | { "type": "leave_group", conversation: string, } | { "type": "accept_message_request", conversation: string, } | { "type": "decline_message_request", conversation: string, block: boolean, } | { "type": "report", conversation: string, peer_id: string, reason: string, } | { "type": "list_reports" } | { "type": "export_report", id: number, path: string, } | { "type": "play_shared", conversation: string, entry: string, start?: number, } | { "type": "set_messages_enabled", on: boolean, } | { "type": "get_messages_enabled" } | { "type": "search_messages", query: string, limit?: number, } | { "type": "chat_stats" } | { "type": "get_activity_settings" } | { "type": "set_activity_sharing", on: boolean, } | { "type": "set_private_session", on: boolean, } | { "type": "friend_activity" } | { "type": "play_friend_track", peer_id: string, hash: string, } | { "type": "queue_friend_track", peer_id: string, hash: string, } | { "type": "add_friend_track", peer_id: string, hash: string, } | { "type": "react_to_activity", peer_id: string, hash: string, emoji: string, } | { "type": "get_jam" } | { "type": "start_jam" } | { "type": "invite_to_jam", peer_ids: Array<string>, } | { "type": "invite_conversation_to_jam", conversation: string, } | { "type": "request_jam", peer_id: string, } | { "type": "accept_jam", invite_id: string, } | { "type": "decline_jam", invite_id: string, } | { "type": "leave_jam" } | { "type": "jam_queue_add", hashes: Array<string>, } | { "type": "jam_queue_add_friend_track", peer_id: string, hash: string, } | { "type": "jam_queue_remove", entry_id: number, } | { "type": "jam_queue_move", entry_id: number, to: number, } | { "type": "jam_play_entry", entry_id: number, } | { "type": "set_jam_guest_controls", on: boolean, } | { "type": "set_jam_output_offset", ms: number, } | { "type": "save_jam_queue", name: string, };

export type Response = { "type": "status" } & Status | { "type": "profile" } & Profile | { "type": "invite" } & InviteLink | { "type": "friend" } & Friend | { "type": "friends", friends: Array<Friend>, } | { "type": "requests", incoming: Array<PeerCard>, outgoing: Array<PeerCard>, } | { "type": "blocked", peers: Array<PeerCard>, } | { "type": "nearby", peers: Array<NearbyPeer>, } | { "type": "invites", invites: Array<InviteInfo>, } | { "type": "link_preview" } & LinkPreview | { "type": "net_stats" } & NetStats | { "type": "relays", relays: Array<string>, from_command_line: Array<string>, } | { "type": "folders", folders: Array<string>, } | { "type": "scan_report", problems: Array<ScanProblem>, } | { "type": "tracks", tracks: Array<Track>, } | { "type": "albums", albums: Array<Album>, } | { "type": "artists", artists: Array<Artist>, } | { "type": "search_results", tracks: Array<Track>, albums: Array<Album>, artists: Array<Artist>, } | { "type": "art", data_url: string, } | { "type": "playlists", playlists: Array<Playlist>, } | { "type": "playlist", playlist: Playlist, items: Array<PlaylistItem>, } | { "type": "plays", plays: Array<Play>, } | { "type": "player" } & PlayerState | { "type": "queue" } & QueueState | { "type": "normalisation" } & NormalisationState | { "type": "output_devices", devices: Array<OutputDevice>, } | { "type": "clock", now_ns: number, } | { "type": "conversations", conversations: Array<Conversation>, requests: Array<Conversation>, } | { "type": "conversation" } & Conversation | { "type": "messages" } & MessagePage | { "type": "message" } & ChatMessage | { "type": "reports", reports: Array<Report>, } | { "type": "messages_enabled", on: boolean, } | { "type": "search_hits", hits: Array<SearchHit>, } | { "type": "chat_stats" } & ChatStats | { "type": "activity_settings" } & ActivitySettings | { "type": "friend_activity", friends: Array<FriendActivity>, } | { "type": "track" } & Track | { "type": "jam", jam: JamState | null, invites: Array<JamInvite>, } | { "type": "jam_invite" } & JamInvite | { "type": "done" };

export type Status = { 
/**
 * The libp2p peer id derived from the identity key (base58, `12D3KooW…`).
 */
peer_id: string, 
/**
 * Its short form, as friends see it beside this peer's name and in a link's confirmation.
 */
fingerprint: string, app_version: string, data_dir: string, 
/**
 * Addresses the node listens on; empty while networking is off.
 */
listen_addrs: Array<string>, 
/**
 * Whether the peer-to-peer node is running.
 */
online: boolean, 
/**
 * Where the key that encrypts the database and the identity key is kept.
 */
store_protection: StoreProtection, };

export type StoreProtection = "keyring" | "key_file";

export type Profile = { display_name: string, };

export type InviteLink = { 
/**
 * `earshot://invite/…`
 */
link: string, 
/**
 * Unix milliseconds.
 */
expires_at: number, 
/**
 * The addresses the link tells the friend to try.
 */
addresses: Array<string>, };

export type InviteInfo = { id: number, 
/**
 * Unix milliseconds.
 */
created_at: number, expires_at: number, 
/**
 * Who used it, and when; `null` while it is unused.
 */
used_by: InviteUse | null, };

export type InviteUse = { peer_id: string, fingerprint: string, display_name: string | null, at: number, };

export type LinkPreview = { "kind": "invite", inviter: string, 
/**
 * The inviter's short fingerprint, to compare with what they see on their screen.
 */
fingerprint: string, 
/**
 * Unix milliseconds.
 */
expires_at: number, 
/**
 * Where the inviter stands with us already, if anywhere.
 */
standing: LinkStanding, 
/**
 * The name we know them by, if they are a friend or asked to be one.
 */
display_name: string | null, };

export type LinkStanding = "stranger" | "friend" | "requested_out" | "requested_in" | "blocked";

export type NetStats = { 
/**
 * Inbound pairing messages the codec refused: malformed CBOR, or over the size limit.
 */
malformed: number, 
/**
 * Inbound pairing requests refused by the per-peer or the global rate limit (friends have a
 * looser one of their own).
 */
rate_limited: number, 
/**
 * Connections refused by the connection limits (per peer, pending, total) or the block list.
 */
connections_denied: number, 
/**
 * Strangers' connections closed because their time budget ran out.
 */
strangers_closed: number, 
/**
 * Requests from strangers whose connection budget was already spent (answered "busy").
 */
budget_spent: number, 
/**
 * Requests refused because only friends may make them (a hello or an acceptance from a
 * stranger, anything from a blocked peer).
 */
not_friends: number, 
/**
 * Events held back while the friends service was busy, delivered later (latest state wins).
 */
events_deferred: number, 
/**
 * Events dropped because the friends service was busy and they could not be merged.
 */
events_dropped: number, 
/**
 * Inbound requests answered "busy" because the friends service was busy.
 */
busy_refusals: number, 
/**
 * Incoming friend requests evicted (oldest first) to make room for new ones.
 */
requests_evicted: number, 
/**
 * Incoming friend requests that expired unanswered.
 */
requests_expired: number, 
/**
 * Redeems refused (unknown, used, expired or revoked invites).
 */
invites_refused: number, };

export type Friend = { peer_id: string, 
/**
 * A short form of the peer id, shown beside the name so two "Robin"s can be told apart.
 */
fingerprint: string, 
/**
 * Their name as they chose it (or a short form of their id until they tell us).
 */
display_name: string, 
/**
 * `null` when offline.
 */
connection: ConnectionKind | null, 
/**
 * Unix milliseconds since we became friends.
 */
since: number, 
/**
 * Unix milliseconds of the last connection, if any.
 */
last_seen: number | null, };

export type ConnectionKind = "direct" | "relayed";

export type PeerCard = { peer_id: string, fingerprint: string, 
/**
 * What they called themselves, if they said.
 */
display_name: string | null, 
/**
 * Unix milliseconds since the request or block.
 */
since: number, };

export type NearbyPeer = { peer_id: string, fingerprint: string, 
/**
 * Their name, when they are a friend or asked to be one; `null` for a stranger.
 */
display_name: string | null, 
/**
 * `friend`, `requested_out` or `requested_in`; `null` for a stranger.
 */
relationship: Relationship | null, };

export type Relationship = "friend" | "requested_out" | "requested_in";

export type Track = { hash: string, path: string, title: string, artists: Array<string>, 
/**
 * The artists joined for display.
 */
artist: string, album: string, album_artist: string, track_no: number | null, 
/**
 * How many tracks the album (or this disc of it) has, when the tags say.
 */
track_total: number | null, disc_no: number | null, 
/**
 * How many discs the album has, when the tags say.
 */
disc_total: number | null, 
/**
 * The tags' compilation flag: an album of various artists (filed under "Various Artists"
 * when no album artist is tagged). Defaults keep a friend's older `Track` readable.
 */
compilation: boolean, year: number | null, genre: string, duration_ms: number, sample_rate: number, channels: number, codec: string, 
/**
 * Cover art hash, for `get_art`.
 */
art: string | null, };

export type SyncState = "measuring" | "buffering" | "in_sync" | "idle";

export type JamParticipant = { peer_id: string, display_name: string, is_host: boolean, is_you: boolean, 
/**
 * How their playback stands, as they last reported it (`null` until they do).
 */
sync: SyncState | null, 
/**
 * How far their sound is from the timeline at their device (µs, positive: late).
 */
error_us: number | null, };

export type JamEntry = { 
/**
 * Names the entry in `jam_queue_remove` / `jam_queue_move` / `jam_play_entry`.
 */
entry_id: number, hash: string, title: string, artist: string, album: string, duration_ms: number, added_by: string, added_by_name: string, 
/**
 * Whether this user's library holds the file (else it is fetched from the jam).
 */
in_library: boolean, };

export type JamState = { jam_id: string, host_peer_id: string, host_name: string, you_host: boolean, participants: Array<JamParticipant>, queue: Array<JamEntry>, 
/**
 * The entry playing (or paused on).
 */
current: number | null, playing: boolean, 
/**
 * Where the music is, at `as_of` (unix ms, this machine's clock).
 */
position_ms: number, as_of: number, 
/**
 * Guests may reorder, remove, skip, play, pause and seek.
 */
guest_controls: boolean, 
/**
 * Whether this user may (host, or guest controls on).
 */
can_control: boolean, sync: SyncState, 
/**
 * The host's clock minus this peer's, as measured (µs); `null` while measuring or hosting.
 */
offset_to_host_us: number | null, 
/**
 * The typical round trip to the host (µs).
 */
rtt_us: number | null, 
/**
 * How far this peer's sound is from the timeline (µs, positive: late), as its player
 * measures it at the device.
 */
error_us: number | null, 
/**
 * This listener's output offset (ms): sound is played this much earlier, for speakers that
 * add their own delay (Bluetooth).
 */
output_offset_ms: number, };

export type JamInviteKind = "invite" | "request";

export type JamInvite = { invite_id: string, kind: JamInviteKind, 
/**
 * True when someone asked this user; false when this user asked someone.
 */
incoming: boolean, peer_id: string, display_name: string, 
/**
 * What the host is playing (invitations).
 */
playing: string | null, expires_in_ms: number, };

export type JamEnd = "left" | "ended" | "lost";

export type AlbumKey = { album: string, album_artist: string, };

export type Album = { album: string, album_artist: string, year: number | null, tracks: number, duration_ms: number, art: string | null, };

export type Artist = { name: string, albums: number, tracks: number, art: string | null, };

export type ScanProblem = { path: string, reason: string, };

export type ScanSummary = { 
/**
 * Audio files found.
 */
seen: number, added: number, updated: number, 
/**
 * Skipped because size and modification time did not change.
 */
unchanged: number, 
/**
 * Tracks whose files are gone.
 */
removed: number, failed: number, elapsed_ms: number, };

export type Playlist = { id: number, name: string, tracks: number, duration_ms: number, };

export type PlaylistItem = { position: number, hash: string, track: Track | null, 
/**
 * Who added the track, for a playlist saved from a jam.
 */
added_by: string | null, };

export type Play = { hash: string, title: string, artist: string, album: string, played_at: number, };

export type PlaybackState = "stopped" | "playing" | "paused";

export type RepeatMode = "off" | "all" | "one";

export type OutputDevice = { 
/**
 * Stable across restarts and re-plugging: the host and the system's own id
 * (`pulseaudio:alsa_output.pci-0000_00_1f.3.analog-stereo`, `alsa:sysdefault:CARD=PCH`).
 */
id: string, 
/**
 * What a person reads: the sound server's description of the sink ("Built-in Audio Analog
 * Stereo"), the card's name without one, the system's name on Windows and macOS.
 */
name: string, 
/**
 * The system's default output now.
 */
default: boolean, 
/**
 * False only for the chosen device when it is not connected (listed so Settings can say so).
 */
connected: boolean, };

export type PlayerState = { state: PlaybackState, 
/**
 * The current entry of the queue, and its track.
 */
index: number | null, current: Track | null, 
/**
 * How many entries the queue has.
 */
queue_len: number, 
/**
 * Goes up by one every time the queue's entries change (see [`QueueState::version`]).
 */
queue_version: number, position_ms: number, volume: number, shuffle: boolean, repeat: RepeatMode, 
/**
 * The output device in use (its readable name), when one is open.
 */
device: string | null, 
/**
 * The id of the device chosen in Settings; `null` follows the system default.
 */
chosen_device: string | null, };

export type NormalisationMode = "off" | "track" | "album" | "auto";

export type NormalisationState = { mode: NormalisationMode, 
/**
 * LUFS (default −14).
 */
target_lufs: number, 
/**
 * Distinct tracks in the library, and how many have a known loudness (from tags or
 * measured) and could not be measured (damaged or silent files: they play unchanged).
 */
tracks: number, known: number, unmeasurable: number, 
/**
 * Whether the analysis is measuring now.
 */
measuring: boolean, };

export type QueueState = { 
/**
 * The tracks in play order.
 */
tracks: Array<Track>, 
/**
 * The current entry when the queue changed (later moves come with `player_changed`).
 */
index: number | null, 
/**
 * Starts at 0 with the engine and goes up by one with every change: a `player_changed` whose
 * `queue_version` is newer than the last queue seen means one was missed (ask `get_queue`).
 */
version: number, };

export type ConversationKind = "direct" | "group";

export type ConversationState = "active" | "request" | "hidden";

export type MemberRole = "creator" | "admin" | "member";

export type Member = { peer_id: string, fingerprint: string, display_name: string, role: MemberRole, is_me: boolean, is_friend: boolean, online: boolean, };

export type Conversation = { id: string, kind: ConversationKind, state: ConversationState, 
/**
 * The group's name, or the other person's name in a direct conversation.
 */
title: string, 
/**
 * The other person, in a direct conversation.
 */
peer_id: string | null, 
/**
 * Whether the other person (direct) is online now.
 */
online: boolean, 
/**
 * Whether the other person told us they turned Messages off.
 */
messages_off: boolean, members: Array<Member>, 
/**
 * The last message, one line, for the inbox.
 */
last: string | null, last_at: number | null, unread: number, 
/**
 * For a message request: the groups this person and the user share.
 */
shared_groups: Array<string>, 
/**
 * Whether this user may add and remove members and rename (groups).
 */
can_manage: boolean, };

export type ShareKind = "track" | "album" | "playlist";

export type ShareCard = { kind: ShareKind, title: string, artist: string, duration_ms: number, 
/**
 * The tracks' content hashes, in order (one for a track).
 */
hashes: Array<string>, 
/**
 * A small JPEG cover as a `data:` URL, if the sharer had art.
 */
cover: string | null, 
/**
 * How many of `hashes` this peer's library holds (filled in by the receiver).
 */
local_tracks: number, 
/**
 * Set when this is a reaction to the recipient's listening activity: the emoji, attached
 * to the track.
 */
reaction: string | null, };

export type ShareTarget = { "kind": "track", hash: string, } | { "kind": "album", album: string, album_artist: string, } | { "kind": "playlist", id: number, };

export type Reaction = { emoji: string, names: Array<string>, mine: boolean, };

export type Quote = { id: string, author_name: string, 
/**
 * The first line of the quoted text (or the share's title); empty if it was deleted.
 */
excerpt: string, deleted: boolean, };

export type Delivery = { 
/**
 * Other members who hold it.
 */
delivered: number, 
/**
 * Other members who have read it.
 */
read: number, 
/**
 * Other members in all.
 */
of: number, };

export type MessageKind = "text" | "share" | "notice";

export type ChatMessage = { id: string, conversation: string, kind: MessageKind, author: string, author_name: string, mine: boolean, at: number, 
/**
 * The text (current version after edits); empty once deleted.
 */
text: string, share: ShareCard | null, reply_to: Quote | null, edited: boolean, 
/**
 * Deleted by its author: only a tombstone is left, on every member's store.
 */
deleted: boolean, reactions: Array<Reaction>, 
/**
 * For the user's own entries.
 */
delivery: Delivery | null, };

export type MessagePage = { messages: Array<ChatMessage>, 
/**
 * Whether older messages exist (ask again with `before` = the first id).
 */
more: boolean, };

export type SearchHit = { conversation: string, conversation_title: string, entry: string, author_name: string, at: number, 
/**
 * The matching text, each match between U+E000 and U+E001 (private-use characters that
 * entries never contain), so the window highlights them without parsing HTML.
 */
snippet: string, };

export type Report = { id: number, peer_id: string, display_name: string, conversation: string, reason: string, created_at: number, 
/**
 * The reported entries, as they were.
 */
messages: Array<ChatMessage>, };

export type ChatStats = { 
/**
 * Entries whose signature did not verify, or whose author is not the key that signed.
 */
bad_signature: number, 
/**
 * Entries whose author, or whose sender, is not a member of the conversation.
 */
not_member: number, 
/**
 * Entries of a conversation this peer does not know and may not join that way.
 */
unknown_conversation: number, 
/**
 * Entries that do not decode, break a limit (text length, size, members) or claim a time
 * too far in the future.
 */
malformed: number, 
/**
 * Entries dropped because their sender went over its budget (entries and bytes per second);
 * anti-entropy offers them again later. (Sync requests over the network loop's own per-peer
 * limit are counted in `net_stats.rate_limited`.)
 */
rate_limited: number, 
/**
 * Sync requests refused because Messages are off, or from a blocked peer.
 */
refused: number, 
/**
 * Entries stored from other peers.
 */
received: number, 
/**
 * Entries received again (already held): idempotent delivery at work.
 */
duplicates: number, 
/**
 * Ranges of a fetched track that did not match the track's hash (fetched again).
 */
bad_ranges: number, };

export type ActivityState = "playing" | "paused" | "last_played";

export type ActivityTrack = { 
/**
 * Its content hash: the same file in any library has the same hash.
 */
hash: string, title: string, artist: string, album: string, duration_ms: number, 
/**
 * A small JPEG cover as a `data:` URL, when the friend has art.
 */
cover: string | null, };

export type Activity = { track: ActivityTrack, state: ActivityState, 
/**
 * The position in the track at `as_of`.
 */
position_ms: number, 
/**
 * Unix milliseconds (this machine's clock): when `position_ms` was true, when playback
 * paused, or when the track was last played.
 */
as_of: number, 
/**
 * Whether this user's own library holds the same file (then it plays from there).
 */
in_library: boolean, };

export type FriendActivity = { peer_id: string, fingerprint: string, display_name: string, online: boolean, 
/**
 * `null`: they share nothing (sharing off, a private session, or never heard from).
 */
activity: Activity | null, };

export type ActivitySettings = { 
/**
 * Friends see what this user listens to (off until the user turns it on).
 */
sharing: boolean, 
/**
 * Nothing is shared until this is turned off or Earshot restarts.
 */
private_session: boolean, };

export type Event = { "type": "profile_changed" } & Profile | { "type": "listen_addresses_changed", listen_addrs: Array<string>, } | { "type": "friend_added" } & Friend | { "type": "friend_updated" } & Friend | { "type": "friend_removed", peer_id: string, } | { "type": "request_received" } & PeerCard | { "type": "requests_changed" } | { "type": "blocked_changed" } | { "type": "invites_changed" } | { "type": "engine_fault", component: string, message: string, fatal: boolean, } | { "type": "nearby_changed", peers: Array<NearbyPeer>, } | { "type": "scan_progress", seen: number, done: number, failed: number, current: string, } | { "type": "scan_finished" } & ScanSummary | { "type": "library_changed" } | { "type": "player_changed" } & PlayerState | { "type": "queue_changed" } & QueueState | { "type": "player_position", position_ms: number, duration_ms: number, } | { "type": "player_message", message: string, } | { "type": "sync_report", 
/**
 * Measured (smoothed) output error in microseconds; positive means late.
 */
error_us: number, 
/**
 * Frames dropped and duplicated so far to stay on time.
 */
dropped: number, duplicated: number, 
/**
 * Large corrections made by jumping.
 */
jumps: number, 
/**
 * Times the output ran dry and restarted (what it played was interrupted; each is
 * followed by a jump once the new stream's timing is measured).
 */
restarts: number, 
/**
 * The playback ratio's distance from 1.0 in parts per million (positive: reading the
 * music faster than the device plays, to catch up), rounded: the correction under way.
 */
ratio_ppm: number, } | { "type": "conversations_changed" } | { "type": "message_changed" } & ChatMessage | { "type": "delivery_changed", conversation: string, } | { "type": "transfer_progress", hash: string, received: number, total: number, } | { "type": "message_notice", conversation: string, title: string, author_name: string, first_line: string, } | { "type": "friend_activity_changed" } & FriendActivity | { "type": "activity_settings_changed" } & ActivitySettings | { "type": "track_added" } & Track | { "type": "jam_changed", jam: JamState | null, } | { "type": "jam_invites_changed", invites: Array<JamInvite>, } | { "type": "jam_invited" } & JamInvite | { "type": "jam_ended", reason: JamEnd, };

export type ApiError = { kind: ErrorKind, message: string, };

export type ErrorKind = "malformed_request" | "invalid_input" | "not_found" | "storage" | "unreachable" | "offline" | "shutting_down" | "not_allowed" | "busy" | "no_audio_device" | "unplayable" | "internal";

/** The six reactions to a friend's listening activity, in order. */
export const ACTIVITY_EMOJIS = ["❤️", "🔥", "😂", "😮", "😢", "👏"] as const;
