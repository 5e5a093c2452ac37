//! The one surface both front ends speak (design §5).
//!
//! `Request` is every operation; `Engine::call` answers it with a `Response` or an `ApiError`;
//! `Event`s are facts pushed as they happen. All are serde enums internally tagged with `"type"`
//! and snake_case names, so a call on the wire reads `{"type":"set_profile","display_name":"Ada"}`.
//! TypeScript types are generated from these into `ui/src/bindings/api.ts` (see [`crate::bindings`]).

mod chat;
mod jam;
mod presence;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use chat::*;
pub use jam::*;
pub use presence::*;

/// An operation on the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Who and where this peer is.
    Status,
    /// The user's own profile.
    GetProfile,
    /// Change the display name (1–64 characters after trimming).
    SetProfile {
        display_name: String,
    },
    /// A one-time invite link (valid 24 hours unless `lifetime_secs` says otherwise).
    CreateInvite {
        #[ts(optional, as = "Option<u32>")]
        lifetime_secs: Option<u64>,
    },
    /// Redeem a friend's invite link: on success both sides are friends.
    RedeemInvite {
        link: String,
    },
    ListFriends,
    /// Pending friend requests, both ways.
    ListRequests,
    /// Ask a peer (usually one found nearby) to be friends.
    SendFriendRequest {
        peer_id: String,
    },
    AcceptRequest {
        peer_id: String,
    },
    /// Decline an incoming request, or withdraw an outgoing one. The other side is not told.
    RejectRequest {
        peer_id: String,
    },
    RemoveFriend {
        peer_id: String,
    },
    /// Refuse every connection from the peer; drops friendship and requests.
    Block {
        peer_id: String,
    },
    Unblock {
        peer_id: String,
    },
    ListBlocked,
    /// Earshot peers found on the local network.
    ListNearby,
    /// The invites this peer issued that are still open or were used and have not expired (expired
    /// ones are purged): when made, until when, and who used them.
    ListInvites,
    /// Revoke an invite: its link stops working at once.
    RevokeInvite {
        #[ts(type = "number")]
        id: i64,
    },
    /// Read an `earshot://` link without acting on it: who it comes from, so the window can ask
    /// the user before anything goes on the network.
    InspectLink {
        link: String,
    },
    /// Counters of refused, malformed and dropped network input since start.
    NetStats,
    /// The relays this peer reserves on (Settings).
    GetRelays,
    /// Replace the relays chosen in Settings; each is `/…/p2p/<relay peer id>`. Applied at once.
    SetRelays {
        relays: Vec<String>,
    },

    // ── Library ──────────────────────────────────────────────────────────────────────────────
    /// Add a music folder (absolute path) and scan it; progress arrives as `scan_progress` events.
    AddFolder {
        path: String,
    },
    /// Stop scanning and watching a folder and forget its tracks.
    RemoveFolder {
        path: String,
    },
    ListFolders,
    /// Rescan every folder now (unchanged files are skipped).
    Rescan,
    /// Files the last scans could not add, with the reason.
    ScanReport,
    /// Tracks, optionally only those matching `query` (every word in title, artist or album),
    /// of one album, or of one artist; sorted by artist, album, disc, track.
    ListTracks {
        #[ts(optional)]
        query: Option<String>,
        #[ts(optional)]
        album: Option<AlbumKey>,
        #[ts(optional)]
        artist: Option<String>,
    },
    ListAlbums,
    ListArtists,
    /// Search titles, artists and albums at once.
    Search {
        query: String,
    },
    /// Cover art by hash, as a `data:` URL; `thumb` asks for the small version made for lists.
    GetArt {
        hash: String,
        #[serde(default)]
        #[ts(optional)]
        thumb: Option<bool>,
    },
    ListPlaylists,
    GetPlaylist {
        #[ts(type = "number")]
        id: i64,
    },
    CreatePlaylist {
        name: String,
    },
    RenamePlaylist {
        #[ts(type = "number")]
        id: i64,
        name: String,
    },
    DeletePlaylist {
        #[ts(type = "number")]
        id: i64,
    },
    /// Append tracks (by hash), or insert them at `position`.
    AddToPlaylist {
        #[ts(type = "number")]
        id: i64,
        hashes: Vec<String>,
        #[ts(optional)]
        position: Option<u32>,
    },
    RemoveFromPlaylist {
        #[ts(type = "number")]
        id: i64,
        position: u32,
    },
    MoveInPlaylist {
        #[ts(type = "number")]
        id: i64,
        from: u32,
        to: u32,
    },
    /// The most recently played tracks, newest first.
    RecentlyPlayed {
        #[ts(optional)]
        limit: Option<u32>,
    },

    // ── Player ───────────────────────────────────────────────────────────────────────────────
    /// Replace the queue with `hashes` and play from `start` (default 0).
    Play {
        hashes: Vec<String>,
        #[ts(optional)]
        start: Option<u32>,
    },
    /// Insert tracks right after the current one.
    PlayNext {
        hashes: Vec<String>,
    },
    /// Append tracks to the queue.
    AddToQueue {
        hashes: Vec<String>,
    },
    /// Jump to an entry of the queue.
    PlayQueueIndex {
        index: u32,
    },
    MoveInQueue {
        from: u32,
        to: u32,
    },
    RemoveFromQueue {
        index: u32,
    },
    /// Empty the queue and stop.
    ClearQueue,
    Pause,
    Resume,
    TogglePause,
    Next,
    /// Back to the start of the track, or to the previous one within its first 3 seconds.
    Previous,
    Seek {
        #[ts(type = "number")]
        position_ms: u64,
    },
    /// 0–100.
    SetVolume {
        volume: u8,
    },
    /// Loudness normalisation: the setting and how far the loudness analysis is.
    GetNormalisation,
    /// Off, track, album or auto (album gain for an album played in order, else track gain),
    /// and the level to bring music to (−30 to −5 LUFS; unchanged when left out). Takes effect
    /// from the next track: gain changes only between tracks.
    SetNormalisation {
        mode: NormalisationMode,
        #[ts(optional)]
        target_lufs: Option<i8>,
    },
    SetShuffle {
        on: bool,
    },
    SetRepeat {
        mode: RepeatMode,
    },
    /// The player's state (without the queue: see `get_queue`).
    GetPlayer,
    /// The whole play queue.
    GetQueue,
    /// The output devices a person can pick, the system default first.
    ListOutputDevices,
    /// Use this output device (an `id` from `list_output_devices`), or without one the system
    /// default. Remembered by id: an unplugged device is used again once it is back.
    SetOutputDevice {
        #[ts(optional)]
        id: Option<String>,
    },
    /// Scheduled playback, the jam's foundation: frame `frame` of the track must leave the output
    /// device at `at_ns` on the engine clock (the system's monotonic clock, see `clock_now`).
    PlayAt {
        hash: String,
        #[ts(type = "number")]
        frame: u64,
        #[ts(type = "number")]
        at_ns: u64,
    },
    /// The engine clock now, in nanoseconds (the system's monotonic clock).
    ClockNow,

    // ── Messages ─────────────────────────────────────────────────────────────────────────────
    /// The inbox and the message requests, most recent first.
    ListConversations,
    /// One conversation, with its members.
    GetConversation {
        conversation: String,
    },
    /// The 1:1 conversation with a friend (made on first use).
    OpenDirect {
        peer_id: String,
    },
    /// A group of up to 32 members, made from friends; the creator is its first admin.
    CreateGroup {
        name: String,
        peer_ids: Vec<String>,
    },
    /// A page of a conversation, oldest first: the latest page, or the one before `before`.
    ListMessages {
        conversation: String,
        #[ts(optional)]
        before: Option<String>,
        #[ts(optional)]
        limit: Option<u32>,
    },
    /// Send text (1–4,000 characters), optionally replying to an entry.
    SendMessage {
        conversation: String,
        text: String,
        #[ts(optional)]
        reply_to: Option<String>,
    },
    /// Share a track, album or playlist from the library as a playable card.
    Share {
        conversation: String,
        target: ShareTarget,
        #[serde(default)]
        #[ts(optional)]
        text: Option<String>,
    },
    /// Add (`on`) or take back a reaction.
    React {
        conversation: String,
        entry: String,
        emoji: String,
        on: bool,
    },
    /// Change the text of one's own message.
    EditMessage {
        conversation: String,
        entry: String,
        text: String,
    },
    /// Delete one's own message: its content leaves every member's store; a tombstone stays.
    DeleteMessage {
        conversation: String,
        entry: String,
    },
    /// Everything in the conversation up to now is read (members see "read").
    MarkRead {
        conversation: String,
    },
    AddMembers {
        conversation: String,
        peer_ids: Vec<String>,
    },
    RemoveMember {
        conversation: String,
        peer_id: String,
    },
    /// Name or un-name an admin (the creator only).
    SetAdmin {
        conversation: String,
        peer_id: String,
        admin: bool,
    },
    RenameGroup {
        conversation: String,
        name: String,
    },
    LeaveGroup {
        conversation: String,
    },
    /// Accept a message request (no friendship implied).
    AcceptMessageRequest {
        conversation: String,
    },
    /// Decline a message request, and optionally block its sender.
    DeclineMessageRequest {
        conversation: String,
        block: bool,
    },
    /// Keep the conversation's entries from `peer_id` in a local report, hide the conversation,
    /// and block that peer.
    Report {
        conversation: String,
        peer_id: String,
        reason: String,
    },
    ListReports,
    /// Write a report to a JSON file (absolute path).
    ExportReport {
        #[ts(type = "number")]
        id: i64,
        path: String,
    },
    /// Play a share card: tracks in the library play from it; the others are fetched from the
    /// sharer first (progress as `transfer_progress`), verified by hash, then played.
    PlayShared {
        conversation: String,
        entry: String,
        #[ts(optional)]
        start: Option<u32>,
    },
    /// Turn Messages on or off: when off nothing is sent or accepted, and friends are told.
    SetMessagesEnabled {
        on: bool,
    },
    GetMessagesEnabled,
    /// Full-text search over every conversation.
    SearchMessages {
        query: String,
        #[ts(optional)]
        limit: Option<u32>,
    },
    /// Counters of refused conversation input since start.
    ChatStats,

    // ── Listening Activity ───────────────────────────────────────────────────────────────────
    GetActivitySettings,
    /// Share what this user listens to with online friends (off by default); off withdraws the
    /// status from friends' screens at once.
    SetActivitySharing {
        on: bool,
    },
    /// A private session shares nothing until it is turned off or Earshot restarts.
    SetPrivateSession {
        on: bool,
    },
    /// Every friend and what they are listening to.
    FriendActivity,
    /// Play a friend's track now: from the library when it holds the same file, else fetched
    /// from the friend (progress as `transfer_progress`) and verified by hash.
    PlayFriendTrack {
        peer_id: String,
        hash: String,
    },
    /// Add a friend's track to the end of the queue (fetched first when the library lacks it).
    QueueFriendTrack {
        peer_id: String,
        hash: String,
    },
    /// Download a friend's track into the library (progress as `transfer_progress`), verified
    /// by hash, filed under the first library folder's `From friends` folder with its tags and
    /// cover.
    AddFriendTrack {
        peer_id: String,
        hash: String,
    },
    /// React to the track a friend is listening to with one of [`ACTIVITY_EMOJIS`]: it arrives in
    /// the 1:1 chat as a reaction attached to that track.
    ReactToActivity {
        peer_id: String,
        hash: String,
        emoji: String,
    },

    // ── Jam ──────────────────────────────────────────────────────────────────────────────────
    /// The jam this user is in (or `null`) and the invitations waiting, both ways.
    GetJam,
    /// Start a jam hosted here, with what plays now (if anything) as its first track.
    StartJam,
    /// Invite friends to this user's jam (starting one if none is on); each invitation expires
    /// after two minutes.
    InviteToJam {
        peer_ids: Vec<String>,
    },
    /// Invite everyone in a conversation (a 1:1 or group chat) who is a friend.
    InviteConversationToJam {
        conversation: String,
    },
    /// Ask a friend to jam: on accept the friend hosts, playing what they listen to, and this
    /// user joins. Expires after two minutes.
    RequestJam {
        peer_id: String,
    },
    /// Accept an invitation (join) or a request (host a jam for the one asking).
    AcceptJam {
        invite_id: String,
    },
    /// Decline an incoming invitation or request, or withdraw an outgoing one.
    DeclineJam {
        invite_id: String,
    },
    /// Leave the jam (as host: the longest-present participant hosts from then on).
    LeaveJam,
    /// Add tracks from the library to the jam's queue.
    JamQueueAdd {
        hashes: Vec<String>,
    },
    /// Add the track a friend is listening to (or shared) to the jam's queue.
    JamQueueAddFriendTrack {
        peer_id: String,
        hash: String,
    },
    JamQueueRemove {
        entry_id: u32,
    },
    JamQueueMove {
        entry_id: u32,
        to: u32,
    },
    /// Play a queue entry from its start.
    JamPlayEntry {
        entry_id: u32,
    },
    /// Let guests reorder, remove, skip, play, pause and seek (host only).
    SetJamGuestControls {
        on: bool,
    },
    /// Play this much earlier (ms, −500…500) to make up for speakers' own delay (Bluetooth).
    SetJamOutputOffset {
        ms: i32,
    },
    /// Save the jam's queue (the current one, or the one that just ended) as a playlist; each
    /// track's note says who added it.
    SaveJamQueue {
        name: String,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    Status(Status),
    Profile(Profile),
    Invite(InviteLink),
    Friend(Friend),
    Friends {
        friends: Vec<Friend>,
    },
    Requests {
        incoming: Vec<PeerCard>,
        outgoing: Vec<PeerCard>,
    },
    Blocked {
        peers: Vec<PeerCard>,
    },
    Nearby {
        peers: Vec<NearbyPeer>,
    },
    Invites {
        invites: Vec<InviteInfo>,
    },
    LinkPreview(LinkPreview),
    NetStats(NetStats),
    /// Relays chosen in Settings, and those given on the command line for this run.
    Relays {
        relays: Vec<String>,
        from_command_line: Vec<String>,
    },
    Folders {
        folders: Vec<String>,
    },
    ScanReport {
        problems: Vec<ScanProblem>,
    },
    Tracks {
        tracks: Vec<Track>,
    },
    Albums {
        albums: Vec<Album>,
    },
    Artists {
        artists: Vec<Artist>,
    },
    SearchResults {
        tracks: Vec<Track>,
        albums: Vec<Album>,
        artists: Vec<Artist>,
    },
    Art {
        data_url: String,
    },
    Playlists {
        playlists: Vec<Playlist>,
    },
    Playlist {
        playlist: Playlist,
        items: Vec<PlaylistItem>,
    },
    Plays {
        plays: Vec<Play>,
    },
    Player(PlayerState),
    Queue(QueueState),
    Normalisation(NormalisationState),
    OutputDevices {
        devices: Vec<OutputDevice>,
    },
    Clock {
        #[ts(type = "number")]
        now_ns: u64,
    },
    Conversations {
        conversations: Vec<Conversation>,
        requests: Vec<Conversation>,
    },
    Conversation(Conversation),
    Messages(MessagePage),
    Message(ChatMessage),
    Reports {
        reports: Vec<Report>,
    },
    MessagesEnabled {
        on: bool,
    },
    SearchHits {
        hits: Vec<SearchHit>,
    },
    ChatStats(ChatStats),
    ActivitySettings(ActivitySettings),
    FriendActivity {
        friends: Vec<FriendActivity>,
    },
    Track(Track),
    Jam {
        jam: Option<JamState>,
        invites: Vec<JamInvite>,
    },
    JamInvite(JamInvite),
    /// The operation was carried out; there is nothing to return.
    Done,
}

/// How loudness normalisation picks a track's gain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum NormalisationMode {
    /// Every track plays as it was mastered.
    Off,
    /// Every track at the target level.
    Track,
    /// Every album at the target level, its tracks keeping their loudness relative to each other
    /// (a track outside any album: its own level).
    Album,
    /// Album gain while an album plays in order (shuffle off, its neighbours from the same
    /// album), else track gain.
    Auto,
}

/// Loudness normalisation: the setting, and how far the background loudness analysis is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct NormalisationState {
    pub mode: NormalisationMode,
    /// LUFS (default −14).
    pub target_lufs: i8,
    /// Distinct tracks in the library, and how many have a known loudness (from tags or
    /// measured) and could not be measured (damaged or silent files: they play unchanged).
    pub tracks: u32,
    pub known: u32,
    pub unmeasurable: u32,
    /// Whether the analysis is measuring now.
    pub measuring: bool,
}

/// A scanned track. `hash` (BLAKE3 of the file) is its identity, here and across peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Track {
    pub hash: String,
    pub path: String,
    pub title: String,
    pub artists: Vec<String>,
    /// The artists joined for display.
    pub artist: String,
    pub album: String,
    pub album_artist: String,
    pub track_no: Option<u32>,
    /// How many tracks the album (or this disc of it) has, when the tags say.
    #[serde(default)]
    pub track_total: Option<u32>,
    pub disc_no: Option<u32>,
    /// How many discs the album has, when the tags say.
    #[serde(default)]
    pub disc_total: Option<u32>,
    /// The tags' compilation flag: an album of various artists (filed under "Various Artists"
    /// when no album artist is tagged). Defaults keep a friend's older `Track` readable.
    #[serde(default)]
    pub compilation: bool,
    pub year: Option<i32>,
    pub genre: String,
    #[ts(type = "number")]
    pub duration_ms: u64,
    pub sample_rate: u32,
    pub channels: u16,
    pub codec: String,
    /// Cover art hash, for `get_art`.
    pub art: Option<String>,
}

#[cfg(test)]
impl Track {
    /// A one-second stereo 48 kHz FLAC-like track for unit tests: `hash` at `path`, titled
    /// `title`, artist "A", album "X"; tests override what they need with `..`.
    pub(crate) fn for_tests(hash: &str, path: &str, title: &str) -> Track {
        Track {
            hash: hash.into(),
            path: path.into(),
            title: title.into(),
            artists: vec!["A".into()],
            artist: "A".into(),
            album: "X".into(),
            album_artist: "A".into(),
            track_no: None,
            track_total: None,
            disc_no: None,
            disc_total: None,
            compilation: false,
            year: None,
            genre: String::new(),
            duration_ms: 1000,
            sample_rate: 48_000,
            channels: 2,
            codec: "flac".into(),
            art: None,
        }
    }
}

/// Names an album: its title and album artist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AlbumKey {
    pub album: String,
    pub album_artist: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Album {
    pub album: String,
    pub album_artist: String,
    pub year: Option<i32>,
    pub tracks: u32,
    #[ts(type = "number")]
    pub duration_ms: u64,
    pub art: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Artist {
    pub name: String,
    pub albums: u32,
    pub tracks: u32,
    pub art: Option<String>,
}

/// A file a scan could not add, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ScanProblem {
    pub path: String,
    pub reason: String,
}

/// What one scan did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ScanSummary {
    /// Audio files found.
    pub seen: u32,
    pub added: u32,
    pub updated: u32,
    /// Skipped because size and modification time did not change.
    pub unchanged: u32,
    /// Tracks whose files are gone.
    pub removed: u32,
    pub failed: u32,
    #[ts(type = "number")]
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Playlist {
    #[ts(type = "number")]
    pub id: i64,
    pub name: String,
    pub tracks: u32,
    #[ts(type = "number")]
    pub duration_ms: u64,
}

/// One entry of a playlist; `track` is `null` when no file with that hash is in the library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PlaylistItem {
    pub position: u32,
    pub hash: String,
    pub track: Option<Track>,
    /// Who added the track, for a playlist saved from a jam.
    pub added_by: Option<String>,
}

/// One entry of the play history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Play {
    pub hash: String,
    pub title: String,
    pub artist: String,
    pub album: String,
    #[ts(type = "number")]
    pub played_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum PlaybackState {
    Stopped,
    Playing,
    Paused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum RepeatMode {
    #[default]
    Off,
    /// Start the queue again after its last track.
    All,
    /// Play the current track again and again.
    One,
}

/// An output device Settings can offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct OutputDevice {
    /// Stable across restarts and re-plugging: the host and the system's own id
    /// (`pulseaudio:alsa_output.pci-0000_00_1f.3.analog-stereo`, `alsa:sysdefault:CARD=PCH`).
    pub id: String,
    /// What a person reads: the sound server's description of the sink ("Built-in Audio Analog
    /// Stereo"), the card's name without one, the system's name on Windows and macOS.
    pub name: String,
    /// The system's default output now.
    pub default: bool,
    /// False only for the chosen device when it is not connected (listed so Settings can say so).
    pub connected: bool,
}

/// The player: what plays and how. The queue itself is not in it (a queue can hold a whole
/// library): it comes with `queue_changed` and `get_queue`, and `queue_version` says which one
/// this state goes with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PlayerState {
    pub state: PlaybackState,
    /// The current entry of the queue, and its track.
    pub index: Option<u32>,
    // Boxed: a track is larger than most events whole (clippy's large_enum_variant).
    pub current: Option<Box<Track>>,
    /// How many entries the queue has.
    pub queue_len: u32,
    /// Goes up by one every time the queue's entries change (see [`QueueState::version`]).
    #[ts(type = "number")]
    pub queue_version: u64,
    #[ts(type = "number")]
    pub position_ms: u64,
    pub volume: u8,
    pub shuffle: bool,
    pub repeat: RepeatMode,
    /// The output device in use (its readable name), when one is open.
    pub device: Option<String>,
    /// The id of the device chosen in Settings; `null` follows the system default.
    pub chosen_device: Option<String>,
}

/// The play queue, sent whole only when its entries change (play, add, remove, move, shuffle,
/// clear), never on pause, seek, volume or a move to the next track.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct QueueState {
    /// The tracks in play order.
    pub tracks: Vec<Track>,
    /// The current entry when the queue changed (later moves come with `player_changed`).
    pub index: Option<u32>,
    /// Starts at 0 with the engine and goes up by one with every change: a `player_changed` whose
    /// `queue_version` is newer than the last queue seen means one was missed (ask `get_queue`).
    #[ts(type = "number")]
    pub version: u64,
}

/// An invite to share as a link or QR code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct InviteLink {
    /// `earshot://invite/…`
    pub link: String,
    /// Unix milliseconds.
    #[ts(type = "number")]
    pub expires_at: i64,
    /// The addresses the link tells the friend to try.
    pub addresses: Vec<String>,
}

/// An invite this peer issued. The link itself is not kept (only a hash of its secret), so it
/// cannot be shown again; a new one can always be made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct InviteInfo {
    #[ts(type = "number")]
    pub id: i64,
    /// Unix milliseconds.
    #[ts(type = "number")]
    pub created_at: i64,
    #[ts(type = "number")]
    pub expires_at: i64,
    /// Who used it, and when; `null` while it is unused.
    pub used_by: Option<InviteUse>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct InviteUse {
    pub peer_id: String,
    pub fingerprint: String,
    pub display_name: Option<String>,
    #[ts(type = "number")]
    pub at: i64,
}

/// What an `earshot://` link would do, read without acting on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LinkPreview {
    /// A friend invite from `inviter`.
    Invite {
        inviter: String,
        /// The inviter's short fingerprint, to compare with what they see on their screen.
        fingerprint: String,
        /// Unix milliseconds.
        #[ts(type = "number")]
        expires_at: i64,
        /// Where the inviter stands with us already, if anywhere.
        standing: LinkStanding,
        /// The name we know them by, if they are a friend or asked to be one.
        display_name: Option<String>,
    },
}

/// Where the sender of a link stands with us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum LinkStanding {
    Stranger,
    Friend,
    RequestedOut,
    RequestedIn,
    Blocked,
}

/// Network input refused, malformed or held back since start: what the flood limits and the
/// protocol checks did, so an attack or a bug shows up as numbers rather than silence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct NetStats {
    /// Inbound pairing messages the codec refused: malformed CBOR, or over the size limit.
    #[ts(type = "number")]
    pub malformed: u64,
    /// Inbound pairing requests refused by the per-peer or the global rate limit (friends have a
    /// looser one of their own).
    #[ts(type = "number")]
    pub rate_limited: u64,
    /// Connections refused by the connection limits (per peer, pending, total) or the block list.
    #[ts(type = "number")]
    pub connections_denied: u64,
    /// Strangers' connections closed because their time budget ran out.
    #[ts(type = "number")]
    pub strangers_closed: u64,
    /// Requests from strangers whose connection budget was already spent (answered "busy").
    #[ts(type = "number")]
    pub budget_spent: u64,
    /// Requests refused because only friends may make them (a hello or an acceptance from a
    /// stranger, anything from a blocked peer).
    #[ts(type = "number")]
    pub not_friends: u64,
    /// Events held back while the friends service was busy, delivered later (latest state wins).
    #[ts(type = "number")]
    pub events_deferred: u64,
    /// Events dropped because the friends service was busy and they could not be merged.
    #[ts(type = "number")]
    pub events_dropped: u64,
    /// Inbound requests answered "busy" because the friends service was busy.
    #[ts(type = "number")]
    pub busy_refusals: u64,
    /// Incoming friend requests evicted (oldest first) to make room for new ones.
    #[ts(type = "number")]
    pub requests_evicted: u64,
    /// Incoming friend requests that expired unanswered.
    #[ts(type = "number")]
    pub requests_expired: u64,
    /// Redeems refused (unknown, used, expired or revoked invites).
    #[ts(type = "number")]
    pub invites_refused: u64,
}

/// A friend, with how they are connected right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Friend {
    pub peer_id: String,
    /// A short form of the peer id, shown beside the name so two "Robin"s can be told apart.
    pub fingerprint: String,
    /// Their name as they chose it (or a short form of their id until they tell us).
    pub display_name: String,
    /// `null` when offline.
    pub connection: Option<ConnectionKind>,
    /// Unix milliseconds since we became friends.
    #[ts(type = "number")]
    pub since: i64,
    /// Unix milliseconds of the last connection, if any.
    #[ts(type = "number | null")]
    pub last_seen: Option<i64>,
}

pub use crate::net::ConnectionKind;

/// A peer in a request or block list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PeerCard {
    pub peer_id: String,
    pub fingerprint: String,
    /// What they called themselves, if they said.
    pub display_name: Option<String>,
    /// Unix milliseconds since the request or block.
    #[ts(type = "number")]
    pub since: i64,
}

/// An Earshot peer on the local network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct NearbyPeer {
    pub peer_id: String,
    pub fingerprint: String,
    /// Their name, when they are a friend or asked to be one; `null` for a stranger.
    pub display_name: Option<String>,
    /// `friend`, `requested_out` or `requested_in`; `null` for a stranger.
    pub relationship: Option<Relationship>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    Friend,
    RequestedOut,
    RequestedIn,
}

/// This peer: identity, version, where its data lives, and its network state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Status {
    /// The libp2p peer id derived from the identity key (base58, `12D3KooW…`).
    pub peer_id: String,
    /// Its short form, as friends see it beside this peer's name and in a link's confirmation.
    pub fingerprint: String,
    pub app_version: String,
    pub data_dir: String,
    /// Addresses the node listens on; empty while networking is off.
    pub listen_addrs: Vec<String>,
    /// Whether the peer-to-peer node is running.
    pub online: bool,
    /// Where the key that encrypts the database and the identity key is kept.
    pub store_protection: StoreProtection,
}

/// Where the data directory's key is kept (see `keys.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum StoreProtection {
    /// In the OS keyring (Secret Service, Keychain, Credential Manager).
    Keyring,
    /// In `earshot.key`, an owner-only file in the data directory: no keyring answered.
    KeyFile,
}

/// The user's own profile, as friends will see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Profile {
    pub display_name: String,
}

/// A fact pushed to every subscriber as it happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    ProfileChanged(Profile),
    /// The addresses this peer can be reached at changed.
    ListenAddressesChanged {
        listen_addrs: Vec<String>,
    },
    FriendAdded(Friend),
    /// A friend's name or connection changed.
    FriendUpdated(Friend),
    FriendRemoved {
        peer_id: String,
    },
    /// Someone asked to be friends.
    RequestReceived(PeerCard),
    /// The pending requests changed (sent, accepted, rejected, withdrawn).
    RequestsChanged,
    BlockedChanged,
    /// Invites were made, used, revoked or purged.
    InvitesChanged,
    /// A part of the engine failed unexpectedly (a bug); the window shows the message. When
    /// `fatal` is false the part went on with its next input; when true it stopped (the network,
    /// the library scanner or the player) and Earshot must be restarted to use it again.
    EngineFault {
        component: String,
        message: String,
        fatal: bool,
    },
    NearbyChanged {
        peers: Vec<NearbyPeer>,
    },
    /// A scan is under way.
    ScanProgress {
        seen: u32,
        done: u32,
        failed: u32,
        current: String,
    },
    ScanFinished(ScanSummary),
    /// Tracks, folders or playlists changed; lists on screen should be reloaded.
    LibraryChanged,
    /// The current track, play/pause, position (after a seek), volume, shuffle, repeat or device
    /// changed. Carries no queue: that comes with `queue_changed`, sent just before.
    PlayerChanged(PlayerState),
    /// The queue's entries changed (play, add, remove, move, shuffle, clear).
    QueueChanged(QueueState),
    /// Where the current track is, about ten times a second while it plays.
    PlayerPosition {
        #[ts(type = "number")]
        position_ms: u64,
        #[ts(type = "number")]
        duration_ms: u64,
    },
    /// Something the listener should know: a file that could not be played, a lost device.
    PlayerMessage {
        message: String,
    },
    /// How far scheduled playback is from its schedule, about once a second.
    SyncReport {
        /// Measured (smoothed) output error in microseconds; positive means late.
        error_us: i32,
        /// Frames dropped and duplicated so far to stay on time.
        #[ts(type = "number")]
        dropped: u64,
        #[ts(type = "number")]
        duplicated: u64,
        /// Large corrections made by jumping.
        jumps: u32,
        /// Times the output ran dry and restarted (what it played was interrupted; each is
        /// followed by a jump once the new stream's timing is measured).
        restarts: u32,
        /// The playback ratio's distance from 1.0 in parts per million (positive: reading the
        /// music faster than the device plays, to catch up), rounded: the correction under way.
        ratio_ppm: i32,
    },
    /// A conversation's list entry changed (new message, unread count, name, members, state):
    /// reload the inbox.
    ConversationsChanged,
    /// A message arrived, or one changed (edit, delete, reaction, delivery, read).
    MessageChanged(Box<ChatMessage>),
    /// Members received or read some of the user's messages in this conversation: the open
    /// conversation reloads its page to show "delivered" and "read".
    DeliveryChanged {
        conversation: String,
    },
    /// A track is being fetched from a friend (bytes so far, of `total`).
    TransferProgress {
        hash: String,
        #[ts(type = "number")]
        received: u64,
        #[ts(type = "number")]
        total: u64,
    },
    /// A new message from someone else, for a notification: who, where, and the first line.
    MessageNotice {
        conversation: String,
        title: String,
        author_name: String,
        first_line: String,
    },
    /// A friend's activity changed (a new track, pause, resume, withdrawn, online or offline).
    FriendActivityChanged(Box<FriendActivity>),
    ActivitySettingsChanged(ActivitySettings),
    /// A friend's track finished downloading into the library.
    TrackAdded(Box<Track>),
    /// The jam changed (participants, queue, timeline, sync); `null`: this user is in no jam.
    JamChanged {
        jam: Option<Box<JamState>>,
    },
    /// Invitations or requests to jam came, went, were answered or expired.
    JamInvitesChanged {
        invites: Vec<JamInvite>,
    },
    /// Someone invites this user to a jam, or asks to jam: for a notification.
    JamInvited(JamInvite),
    /// This user's jam is over (left, ended by the host, or the host lost).
    JamEnded {
        reason: JamEnd,
    },
}

/// Why a call failed. `kind` tells the caller what to do; `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

/// Machine-readable error classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request could not be parsed (bad JSON, unknown `type`, missing fields). Fix the caller.
    MalformedRequest,
    /// The request was understood but a value is not acceptable. Show the message to the user.
    InvalidInput,
    /// The thing asked about does not exist.
    NotFound,
    /// The database failed; the message names the file. Retrying may help if it was busy.
    Storage,
    /// The other peer could not be reached or did not answer. Retry when they are online.
    Unreachable,
    /// The operation needs networking, which is off for this engine.
    Offline,
    /// The engine is shutting down; the request was not carried out.
    ShuttingDown,
    /// Someone else decides that (the jam's host); the message says who.
    NotAllowed,
    /// The other peer is overwhelmed for a moment: retry shortly.
    Busy,
    /// No audio output device could be opened (none present, or it went away).
    NoAudioDevice,
    /// The file cannot be read or decoded; the message says why.
    Unplayable,
    /// A bug: nothing the caller can do but report it.
    Internal,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::MalformedRequest, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_are_tagged_with_a_snake_case_type() {
        let request: Request =
            serde_json::from_value(json!({"type": "set_profile", "display_name": "Ada"}))
                .expect("a set_profile request to parse");
        assert_eq!(
            request,
            Request::SetProfile {
                display_name: "Ada".into()
            }
        );
        assert_eq!(
            serde_json::to_value(Request::Status).unwrap(),
            json!({"type": "status"})
        );
    }

    #[test]
    fn responses_flatten_their_payload_beside_the_tag() {
        let response = Response::Profile(Profile {
            display_name: "Ada".into(),
        });
        assert_eq!(
            serde_json::to_value(response).unwrap(),
            json!({"type": "profile", "display_name": "Ada"})
        );
    }

    #[test]
    fn an_unknown_request_type_is_a_parse_error() {
        let parsed = serde_json::from_value::<Request>(json!({"type": "launch_rockets"}));
        assert!(parsed.is_err(), "unknown types must not parse: {parsed:?}");
    }

    #[test]
    fn errors_carry_a_machine_readable_kind() {
        let error = ApiError::invalid_input("too long");
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            json!({"kind": "invalid_input", "message": "too long"})
        );
    }
}
