//! The [`Engine`] handle: start, route requests, publish events, shut down.
//!
//! Start-up order matters for a user's data: the data-directory lock first (a second process
//! never gets further), then the data directory's key (keyring or key file), then the identity
//! and the store it protects. Shutdown stops accepting calls, lets the
//! store finish its queue and close (checkpointing the WAL), and gives up after a timeout rather
//! than hanging the app's exit.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};

use crate::api::{ApiError, ErrorKind, Event, Request, Response, Status, StoreProtection, Track};
use crate::chat::Chat;
use crate::data_dir::{DataDirError, DataDirLock};
use crate::friends::Friends;
use crate::identity::{self, IdentityError, Keypair, PeerId};
use crate::jam::session::Op;
use crate::jam::Jam;
use crate::keys::{self, KeyError};
use crate::library::Library;
use crate::net::relays::RelaySettings;
use crate::net::{self, NetConfig, NetError};
use crate::player::{CoverArt, Load, OutputKind, Player, PlayerEvent};
use crate::presence::Presence;
use crate::store::{self, Closed, Store, StoreError, StoreOptions};
use crate::{clock, profile, VERSION};

/// Events kept for slow subscribers; one that falls further behind is told how many it missed.
const EVENT_BUFFER: usize = 1024;
/// How long shutdown waits for the store to finish its queue.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// What an engine needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The data directory (design §4); created if missing.
    pub data_dir: PathBuf,
    pub store: StoreOptions,
    /// The peer-to-peer node; `None` runs without networking (friends' operations then fail
    /// with `offline`).
    pub net: Option<NetConfig>,
    /// Where the player's sound goes: the system's devices, or a software sink in tests.
    pub audio: OutputKind,
    /// Show the player in the OS media controls (MPRIS, SMTC, Now Playing) and obey media keys.
    pub media_controls: bool,
}

impl Config {
    /// A full peer on `data_dir`, listening on every interface with LAN discovery.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            store: StoreOptions::default(),
            net: Some(NetConfig::default()),
            audio: OutputKind::default(),
            media_controls: true,
        }
    }

    /// A peer with no networking at all.
    pub fn offline(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            net: None,
            ..Self::new(data_dir)
        }
    }
}

/// Why the engine could not start. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Net(#[from] NetError),
}

/// A running engine. Cheap to clone; every clone talks to the same engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    /// This peer's key; its public half is the peer id.
    keypair: Keypair,
    peer_id: PeerId,
    data_dir: PathBuf,
    /// Where the key of the database and identity is kept, for `status`.
    store_protection: StoreProtection,
    /// Handle on the store thread.
    store: Store,
    /// The network node and the friends service, when networking is on.
    net: Option<(net::Client, Friends, Chat)>,
    /// The listening-activity service, when networking is on.
    presence: Option<Presence>,
    /// The jam service, when networking is on.
    jam: Option<Jam>,
    /// Relays chosen in Settings and given on the command line.
    relays: RelaySettings,
    /// Fan-out of events to every subscriber.
    events: broadcast::Sender<Event>,
    library: Library,
    player: Player,
    /// Set once shutdown begins; later calls are refused.
    shutting_down: AtomicBool,
    /// Taken by shutdown: the store thread's completion and the data-directory lock.
    teardown: Mutex<Option<(Closed, DataDirLock)>>,
}

impl Engine {
    /// Locks the data directory, unlocks its key, loads or creates the identity, opens the store.
    pub async fn start(config: Config) -> Result<Engine, StartError> {
        let lock = DataDirLock::acquire(&config.data_dir)?;
        // The key first (keyring or key file, bounded waits), then what it protects.
        let key = keys::unlock(&config.data_dir, &config.store.keys)?;
        let store_protection = key.protection();
        let keypair = identity::load_or_create(&config.data_dir, &key)?;
        let peer_id = keypair.public().to_peer_id();
        let (store, closed) =
            Store::open(&config.data_dir.join(store::FILE_NAME), config.store, &key).await?;
        drop(key);
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let mut command_line_relays = Vec::new();
        let net = match config.net {
            Some(mut net_config) => {
                let wanted = net_config.listen.clone();
                net_config.listen = store.call(move |c| net::ports::apply(c, &wanted)).await?;
                command_line_relays = net_config.relays.clone();
                for relay in store.call(|c| net::relays::load(c)).await? {
                    if !net_config.relays.contains(&relay) {
                        net_config.relays.push(relay);
                    }
                }
                let started = net::start_supervised(keypair.clone(), net_config, events.clone());
                let net::Started {
                    client,
                    events: net_events,
                    chat_events,
                    presence_events,
                    jam_events,
                } = match started {
                    Ok(started) => started,
                    Err(e) => {
                        store.close().await;
                        closed.wait(SHUTDOWN_TIMEOUT).await;
                        return Err(e.into());
                    }
                };
                let friends =
                    Friends::start(store.clone(), client.clone(), events.clone(), net_events)
                        .await?;
                Some((client, friends, chat_events, presence_events, jam_events))
            }
            None => None,
        };
        let library = Library::start(store.clone(), events.clone())
            .await
            .map_err(|e| StoreError::Open {
                path: store.path().to_path_buf(),
                detail: e.message,
            })?;
        let mut presence_events = None;
        let mut jam_events = None;
        let net = match net {
            Some((client, friends, chat_events, presence_inbound, jam_inbound)) => {
                presence_events = Some(presence_inbound);
                jam_events = Some(jam_inbound);
                let chat = Chat::start(
                    store.clone(),
                    client.clone(),
                    library.clone(),
                    friends.clone(),
                    events.clone(),
                    keypair.clone(),
                    chat_events,
                )
                .await?;
                Some((client, friends, chat))
            }
            None => None,
        };
        // The player plays what it is handed: tracks resolved here, plays recorded from its
        // events, cover art looked up for it.
        let (player, player_events) = Player::start(
            store.clone(),
            events.clone(),
            config.audio,
            Arc::new(library.loudness()),
        );
        crate::supervise::spawn(
            "play recording",
            events.clone(),
            record_plays(player_events, {
                let library = library.clone();
                move |track| {
                    let library = library.clone();
                    async move { library.record_play(track).await }
                }
            }),
        );
        if config.media_controls {
            player.attach_media_controls(events.subscribe(), cover_art(library.clone()));
        }
        let presence = match (&net, presence_events) {
            (Some((client, friends, chat)), Some(inbound)) => Some(
                Presence::start(
                    crate::presence::Parts {
                        store: store.clone(),
                        net: client.clone(),
                        library: library.clone(),
                        chat: chat.clone(),
                        player: player.clone(),
                        events: events.clone(),
                    },
                    friends,
                    inbound,
                )
                .await?,
            ),
            (Some(_), None) | (None, _) => None,
        };
        let jam = match (&net, jam_events) {
            (Some((client, _, chat)), Some(inbound)) => Some(Jam::start(
                crate::jam::Parts {
                    store: store.clone(),
                    net: client.clone(),
                    library: library.clone(),
                    chat: chat.clone(),
                    player: player.clone(),
                    events: events.clone(),
                },
                inbound,
            )),
            (Some(_), None) | (None, _) => None,
        };
        let relays = RelaySettings::new(
            store.clone(),
            net.as_ref().map(|(client, _, _)| client.clone()),
            command_line_relays,
        );
        tracing::info!(peer = %peer_id, data_dir = %config.data_dir.display(), version = VERSION, "engine started");
        Ok(Engine {
            inner: Arc::new(Inner {
                keypair,
                peer_id,
                data_dir: config.data_dir,
                store_protection,
                store,
                net,
                presence,
                jam,
                relays,
                events,
                library,
                player,
                shutting_down: AtomicBool::new(false),
                teardown: Mutex::new(Some((closed, lock))),
            }),
        })
    }

    pub fn peer_id(&self) -> PeerId {
        self.inner.peer_id
    }

    /// The identity key, for the network node.
    pub fn keypair(&self) -> &Keypair {
        &self.inner.keypair
    }

    /// A stream of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Carries out one request.
    pub async fn call(&self, request: Request) -> Result<Response, ApiError> {
        if self.inner.shutting_down.load(Ordering::Acquire) {
            return Err(ApiError::new(
                ErrorKind::ShuttingDown,
                "Earshot is shutting down; the request was not carried out.",
            ));
        }
        let inner = &self.inner;
        match request {
            Request::Status => Ok(Response::Status(self.status().await)),
            Request::GetProfile => Ok(Response::Profile(profile::get(&inner.store).await?)),
            Request::SetProfile { display_name } => {
                let name = profile::validate_display_name(&display_name)?;
                let profile = profile::set_display_name(&inner.store, name).await?;
                self.publish(Event::ProfileChanged(profile.clone()));
                if let Some((_, friends, _)) = &inner.net {
                    friends.announce_profile().await;
                }
                Ok(Response::Profile(profile))
            }
            Request::AddFolder { path } => Ok(Response::Folders {
                folders: inner.library.add_folder(&path).await?,
            }),
            Request::RemoveFolder { path } => Ok(Response::Folders {
                folders: inner.library.remove_folder(&path).await?,
            }),
            Request::ListFolders => Ok(Response::Folders {
                folders: inner.library.folders().await?,
            }),
            Request::Rescan => {
                inner.library.rescan().await?;
                Ok(Response::Done)
            }
            Request::ScanReport => Ok(Response::ScanReport {
                problems: inner.library.report().await?,
            }),
            Request::ListTracks {
                query,
                album,
                artist,
            } => Ok(Response::Tracks {
                tracks: inner
                    .library
                    .tracks(query.as_deref(), album, artist)
                    .await?,
            }),
            Request::ListAlbums => Ok(Response::Albums {
                albums: inner.library.albums().await?,
            }),
            Request::ListArtists => Ok(Response::Artists {
                artists: inner.library.artists().await?,
            }),
            Request::Search { query } => {
                let (tracks, albums, artists) = inner.library.search(&query).await?;
                Ok(Response::SearchResults {
                    tracks,
                    albums,
                    artists,
                })
            }
            Request::GetArt { hash, thumb } => Ok(Response::Art {
                data_url: inner.library.art(&hash, thumb.unwrap_or(false)).await?,
            }),
            Request::ListPlaylists => Ok(Response::Playlists {
                playlists: inner.library.playlists().await?,
            }),
            Request::GetPlaylist { id } => {
                let (playlist, items) = inner.library.playlist(id).await?;
                Ok(Response::Playlist { playlist, items })
            }
            Request::CreatePlaylist { name } => {
                let playlist = inner.library.create_playlist(&name).await?;
                Ok(Response::Playlist {
                    playlist,
                    items: Vec::new(),
                })
            }
            Request::RenamePlaylist { id, name } => {
                inner.library.rename_playlist(id, &name).await?;
                let (playlist, items) = inner.library.playlist(id).await?;
                Ok(Response::Playlist { playlist, items })
            }
            Request::DeletePlaylist { id } => {
                inner.library.delete_playlist(id).await?;
                Ok(Response::Done)
            }
            Request::AddToPlaylist {
                id,
                hashes,
                position,
            } => {
                let (playlist, items) = inner.library.add_to_playlist(id, hashes, position).await?;
                Ok(Response::Playlist { playlist, items })
            }
            Request::RemoveFromPlaylist { id, position } => {
                let (playlist, items) = inner.library.remove_from_playlist(id, position).await?;
                Ok(Response::Playlist { playlist, items })
            }
            Request::MoveInPlaylist { id, from, to } => {
                let (playlist, items) = inner.library.move_in_playlist(id, from, to).await?;
                Ok(Response::Playlist { playlist, items })
            }
            Request::RecentlyPlayed { limit } => Ok(Response::Plays {
                plays: inner.library.recent_plays(limit.unwrap_or(50)).await?,
            }),
            Request::ClockNow => Ok(Response::Clock {
                now_ns: clock::now_ns(),
            }),
            // In a jam, what is played joins the jam's queue (and plays, for who may control).
            Request::Play { hashes, start } => match self.active_jam() {
                Some(jam) => {
                    let from = start.unwrap_or(0) as usize;
                    jam.play(hashes.get(from..).unwrap_or_default()).await
                }
                None => self.play(hashes, start).await,
            },
            Request::PlayNext { hashes } => {
                let tracks = inner.library.tracks_by_hash(&hashes).await?;
                inner.player.load(Load::PlayNext(tracks)).await
            }
            Request::AddToQueue { hashes } => {
                let tracks = inner.library.tracks_by_hash(&hashes).await?;
                inner.player.load(Load::AddToQueue(tracks)).await
            }
            Request::PlayAt { hash, frame, at_ns } => {
                let track = inner.library.track(&hash).await?;
                inner
                    .player
                    .load(Load::PlayAt {
                        track: Box::new(track),
                        frame,
                        at_ns,
                    })
                    .await
            }
            Request::PlayQueueIndex { .. }
            | Request::MoveInQueue { .. }
            | Request::RemoveFromQueue { .. }
            | Request::ClearQueue
            | Request::SetVolume { .. }
            | Request::SetShuffle { .. }
            | Request::SetRepeat { .. }
            | Request::GetPlayer
            | Request::GetQueue
            | Request::ListOutputDevices
            | Request::SetOutputDevice { .. }
            | Request::GetNormalisation
            | Request::SetNormalisation { .. } => inner.player.call(request).await,
            // While a jam is on, the transport acts on the jam (for whoever may control it).
            Request::Pause
            | Request::Resume
            | Request::TogglePause
            | Request::Next
            | Request::Previous
            | Request::Seek { .. } => match self.active_jam() {
                Some(jam) => {
                    let op = match request {
                        Request::Pause => Op::Pause,
                        Request::Resume => Op::Play,
                        Request::Next => Op::Skip,
                        Request::Previous => Op::Previous,
                        Request::Seek { position_ms } => Op::Seek { position_ms },
                        _ => match jam.get() {
                            Response::Jam { jam: Some(j), .. } if j.playing => Op::Pause,
                            _ => Op::Play,
                        },
                    };
                    jam.op(op).await
                }
                None => inner.player.call(request).await,
            },
            Request::GetRelays => {
                let (relays, from_command_line) = inner.relays.get().await?;
                Ok(Response::Relays {
                    relays,
                    from_command_line,
                })
            }
            Request::SetRelays { relays } => {
                let (relays, from_command_line) = inner.relays.set(relays).await?;
                Ok(Response::Relays {
                    relays,
                    from_command_line,
                })
            }
            Request::NetStats => Ok(Response::NetStats(self.friends()?.net_stats())),
            Request::CreateInvite { lifetime_secs } => Ok(Response::Invite(
                self.friends()?.create_invite(lifetime_secs).await?,
            )),
            Request::ListInvites => Ok(Response::Invites {
                invites: self.friends()?.list_invites().await?,
            }),
            Request::RevokeInvite { id } => {
                self.friends()?.revoke_invite(id).await?;
                Ok(Response::Done)
            }
            Request::InspectLink { link } => Ok(Response::LinkPreview(
                self.friends()?.inspect_link(&link).await?,
            )),
            Request::RedeemInvite { link } => Ok(Response::Friend(
                self.friends()?.redeem_invite(&link).await?,
            )),
            Request::ListFriends => Ok(Response::Friends {
                friends: self.friends()?.list_friends().await?,
            }),
            Request::ListRequests => {
                let (incoming, outgoing) = self.friends()?.list_requests().await?;
                Ok(Response::Requests { incoming, outgoing })
            }
            Request::SendFriendRequest { peer_id } => {
                self.friends()?.send_friend_request(&peer_id).await?;
                Ok(Response::Done)
            }
            Request::AcceptRequest { peer_id } => Ok(Response::Friend(
                self.friends()?.accept_request(&peer_id).await?,
            )),
            Request::RejectRequest { peer_id } => {
                self.friends()?.reject_request(&peer_id).await?;
                Ok(Response::Done)
            }
            Request::RemoveFriend { peer_id } => {
                self.friends()?.remove_friend(&peer_id).await?;
                Ok(Response::Done)
            }
            Request::Block { peer_id } => {
                self.friends()?.block(&peer_id).await?;
                Ok(Response::Done)
            }
            Request::Unblock { peer_id } => {
                self.friends()?.unblock(&peer_id).await?;
                Ok(Response::Done)
            }
            Request::ListBlocked => Ok(Response::Blocked {
                peers: self.friends()?.list_blocked().await?,
            }),
            Request::ListNearby => Ok(Response::Nearby {
                peers: self.friends()?.nearby().await?,
            }),
            Request::ListConversations => {
                let (conversations, requests) = self.chat()?.list().await?;
                Ok(Response::Conversations {
                    conversations,
                    requests,
                })
            }
            Request::GetConversation { conversation } => Ok(Response::Conversation(
                self.chat()?.get(&conversation).await?,
            )),
            Request::OpenDirect { peer_id } => Ok(Response::Conversation(
                self.chat()?.open_direct(&peer_id).await?,
            )),
            Request::CreateGroup { name, peer_ids } => Ok(Response::Conversation(
                self.chat()?.create_group(&name, &peer_ids).await?,
            )),
            Request::ListMessages {
                conversation,
                before,
                limit,
            } => Ok(Response::Messages(
                self.chat()?
                    .page(&conversation, before.as_deref(), limit)
                    .await?,
            )),
            Request::SendMessage {
                conversation,
                text,
                reply_to,
            } => Ok(Response::Message(
                self.chat()?
                    .send_text(&conversation, &text, reply_to.as_deref())
                    .await?,
            )),
            Request::Share {
                conversation,
                target,
                text,
            } => Ok(Response::Message(
                self.chat()?
                    .share(&conversation, &target, text.as_deref())
                    .await?,
            )),
            Request::React {
                conversation,
                entry,
                emoji,
                on,
            } => {
                self.chat()?
                    .react(&conversation, &entry, &emoji, on)
                    .await?;
                Ok(Response::Done)
            }
            Request::EditMessage {
                conversation,
                entry,
                text,
            } => Ok(Response::Message(
                self.chat()?.edit(&conversation, &entry, &text).await?,
            )),
            Request::DeleteMessage {
                conversation,
                entry,
            } => Ok(Response::Message(
                self.chat()?.delete(&conversation, &entry).await?,
            )),
            Request::MarkRead { conversation } => {
                self.chat()?.mark_read(&conversation).await?;
                Ok(Response::Done)
            }
            Request::AddMembers {
                conversation,
                peer_ids,
            } => Ok(Response::Conversation(
                self.chat()?.add_members(&conversation, &peer_ids).await?,
            )),
            Request::RemoveMember {
                conversation,
                peer_id,
            } => Ok(Response::Conversation(
                self.chat()?.remove_member(&conversation, &peer_id).await?,
            )),
            Request::SetAdmin {
                conversation,
                peer_id,
                admin,
            } => Ok(Response::Conversation(
                self.chat()?
                    .set_admin(&conversation, &peer_id, admin)
                    .await?,
            )),
            Request::RenameGroup { conversation, name } => Ok(Response::Conversation(
                self.chat()?.rename(&conversation, &name).await?,
            )),
            Request::LeaveGroup { conversation } => {
                self.chat()?.leave(&conversation).await?;
                Ok(Response::Done)
            }
            Request::AcceptMessageRequest { conversation } => Ok(Response::Conversation(
                self.chat()?.accept_request(&conversation).await?,
            )),
            Request::DeclineMessageRequest {
                conversation,
                block,
            } => {
                self.chat()?.decline_request(&conversation, block).await?;
                Ok(Response::Done)
            }
            Request::Report {
                conversation,
                peer_id,
                reason,
            } => {
                let report = self
                    .chat()?
                    .report(&conversation, &peer_id, &reason)
                    .await?;
                Ok(Response::Reports {
                    reports: vec![report],
                })
            }
            Request::ListReports => Ok(Response::Reports {
                reports: self.chat()?.reports().await?,
            }),
            Request::ExportReport { id, path } => {
                self.chat()?.export_report(id, &path).await?;
                Ok(Response::Done)
            }
            Request::SetMessagesEnabled { on } => {
                self.chat()?.set_messages_enabled(on).await?;
                Ok(Response::MessagesEnabled { on })
            }
            Request::GetMessagesEnabled => Ok(Response::MessagesEnabled {
                on: self.chat()?.messages_enabled(),
            }),
            Request::SearchMessages { query, limit } => Ok(Response::SearchHits {
                hits: self.chat()?.search(&query, limit).await?,
            }),
            Request::ChatStats => Ok(Response::ChatStats(self.chat()?.stats())),
            Request::PlayShared {
                conversation,
                entry,
                start,
            } => {
                let hashes = self.chat()?.fetch_shared(&conversation, &entry).await?;
                self.play(hashes, start).await
            }
            Request::GetActivitySettings => {
                Ok(Response::ActivitySettings(self.presence()?.settings()))
            }
            Request::SetActivitySharing { on } => Ok(Response::ActivitySettings(
                self.presence()?.set_sharing(on).await?,
            )),
            Request::SetPrivateSession { on } => Ok(Response::ActivitySettings(
                self.presence()?.set_private_session(on).await?,
            )),
            Request::FriendActivity => Ok(Response::FriendActivity {
                friends: self.presence()?.friend_activity().await,
            }),
            Request::PlayFriendTrack { peer_id, hash } => {
                self.presence()?.play_friend_track(&peer_id, &hash).await
            }
            Request::QueueFriendTrack { peer_id, hash } => {
                self.presence()?.queue_friend_track(&peer_id, &hash).await
            }
            Request::AddFriendTrack { peer_id, hash } => Ok(Response::Track(
                self.presence()?.add_friend_track(&peer_id, &hash).await?,
            )),
            Request::ReactToActivity {
                peer_id,
                hash,
                emoji,
            } => Ok(Response::Message(
                self.presence()?
                    .react_to_activity(&peer_id, &hash, &emoji)
                    .await?,
            )),
            Request::GetJam => Ok(self.jam()?.get()),
            Request::StartJam => self.jam()?.start_jam().await,
            Request::InviteToJam { peer_ids } => self.jam()?.invite(&peer_ids).await,
            Request::InviteConversationToJam { conversation } => {
                let members: Vec<String> = self
                    .chat()?
                    .get(&conversation)
                    .await?
                    .members
                    .into_iter()
                    .filter(|m| !m.is_me && m.is_friend)
                    .map(|m| m.peer_id)
                    .collect();
                if members.is_empty() {
                    return Err(ApiError::invalid_input(
                        "No one in that conversation is a friend to invite.",
                    ));
                }
                self.jam()?.invite(&members).await
            }
            Request::RequestJam { peer_id } => self.jam()?.request(&peer_id).await,
            Request::AcceptJam { invite_id } => self.jam()?.accept(&invite_id).await,
            Request::DeclineJam { invite_id } => self.jam()?.decline(&invite_id).await,
            Request::LeaveJam => self.jam()?.leave().await,
            Request::JamQueueAdd { hashes } => self.jam()?.add(&hashes).await,
            Request::JamQueueAddFriendTrack { peer_id, hash } => {
                let track = self.presence()?.friend_track(&peer_id, &hash).await?;
                self.jam()?.add(&[track.hash]).await
            }
            Request::JamQueueRemove { entry_id } => {
                self.jam()?.op(Op::Remove { entry: entry_id }).await
            }
            Request::JamQueueMove { entry_id, to } => {
                self.jam()?
                    .op(Op::Move {
                        entry: entry_id,
                        to,
                    })
                    .await
            }
            Request::JamPlayEntry { entry_id } => {
                self.jam()?.op(Op::Jump { entry: entry_id }).await
            }
            Request::SetJamGuestControls { on } => self.jam()?.op(Op::GuestControls(on)).await,
            Request::SetJamOutputOffset { ms } => self.jam()?.set_output_offset(ms),
            Request::SaveJamQueue { name } => self.jam()?.save_queue(&name).await,
        }
    }

    /// The jam service, or why there is none.
    fn jam(&self) -> Result<&Jam, ApiError> {
        self.inner.jam.as_ref().ok_or_else(|| {
            ApiError::new(
                ErrorKind::Offline,
                "Networking is off for this peer, so there is no jam.",
            )
        })
    }

    /// The jam, when one is on.
    fn active_jam(&self) -> Option<&Jam> {
        self.inner.jam.as_ref().filter(|j| j.active())
    }

    /// Plays `hashes` from entry `start`, resolved through the library into the tracks the
    /// player is handed.
    async fn play(&self, hashes: Vec<String>, start: Option<u32>) -> Result<Response, ApiError> {
        let tracks = self.inner.library.tracks_by_hash(&hashes).await?;
        let start = start.unwrap_or(0);
        self.inner.player.load(Load::Play { tracks, start }).await
    }

    /// The presence service, or why there is none.
    fn presence(&self) -> Result<&Presence, ApiError> {
        self.inner.presence.as_ref().ok_or_else(|| {
            ApiError::new(
                ErrorKind::Offline,
                "Networking is off for this peer, so there is no listening activity.",
            )
        })
    }

    /// The chat service, or why there is none.
    fn chat(&self) -> Result<&Chat, ApiError> {
        match &self.inner.net {
            Some((_, _, chat)) => Ok(chat),
            None => Err(ApiError::new(
                ErrorKind::Offline,
                "Networking is off for this peer, so there are no messages.",
            )),
        }
    }

    /// The friends service, or why there is none.
    fn friends(&self) -> Result<&Friends, ApiError> {
        match &self.inner.net {
            Some((_, friends, _)) => Ok(friends),
            None => Err(ApiError::new(
                ErrorKind::Offline,
                "Networking is off for this peer, so friends cannot be reached.",
            )),
        }
    }

    /// This peer's status, with the network's current addresses.
    pub async fn status(&self) -> Status {
        let inner = &self.inner;
        let listen_addrs = match &inner.net {
            Some((client, _, _)) => client
                .addresses()
                .await
                .unwrap_or_default()
                .iter()
                .map(|a| a.to_string())
                .collect(),
            None => Vec::new(),
        };
        Status {
            peer_id: inner.peer_id.to_base58(),
            fingerprint: crate::friends::fingerprint(&inner.peer_id),
            app_version: VERSION.to_string(),
            data_dir: inner.data_dir.display().to_string(),
            listen_addrs,
            online: inner.net.is_some(),
            store_protection: inner.store_protection,
        }
    }

    /// Stops accepting calls, closes the store (waiting at most a few seconds) and releases
    /// the data directory. Calling it again does nothing.
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Release);
        let Some((closed, lock)) = self.inner.teardown.lock().expect("teardown lock").take() else {
            return;
        };
        if tokio::time::timeout(SHUTDOWN_TIMEOUT, self.inner.player.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("the player did not stop within {SHUTDOWN_TIMEOUT:?}");
        }
        if let Some((client, _, _)) = &self.inner.net {
            client.shutdown(SHUTDOWN_TIMEOUT).await;
        }
        self.inner.store.close().await;
        if !closed.wait(SHUTDOWN_TIMEOUT).await {
            tracing::warn!("the database did not close within {SHUTDOWN_TIMEOUT:?}");
        }
        drop(lock);
        tracing::info!(peer = %self.inner.peer_id, "engine stopped");
    }

    fn publish(&self, event: Event) {
        // No subscribers is fine: events are facts, not requests.
        let _ = self.inner.events.send(event);
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store error");
        let kind = match error {
            StoreError::Closed => ErrorKind::ShuttingDown,
            StoreError::Interrupted { .. } => ErrorKind::Internal,
            StoreError::Corrupt { .. }
            | StoreError::TooNew { .. }
            | StoreError::CannotDecrypt { .. }
            | StoreError::Locked { .. }
            | StoreError::Open { .. }
            | StoreError::Sqlite { .. } => ErrorKind::Storage,
        };
        ApiError::new(kind, error.to_string())
    }
}

/// Records a play each time the player says a track started (the rule for what counts is the
/// player's: see [`PlayerEvent::Started`]); `record` is the library's `record_play`. Ends with
/// the player. A play that cannot be stored is logged, and the next one still is.
async fn record_plays<F, Fut>(mut player_events: mpsc::Receiver<PlayerEvent>, record: F)
where
    F: Fn(Track) -> Fut,
    Fut: std::future::Future<Output = Result<(), ApiError>>,
{
    while let Some(event) = player_events.recv().await {
        match event {
            PlayerEvent::Started(track) => {
                if let Err(error) = record(track).await {
                    tracing::warn!(%error, "could not record a play");
                }
            }
        }
    }
}

/// The media controls' way to the library's cover art cache.
fn cover_art(library: Library) -> CoverArt {
    Arc::new(move |hash: String| {
        let library = library.clone();
        Box::pin(async move { library.art_file(&hash).await })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Profile;

    fn track(hash: &str) -> Track {
        Track::for_tests(
            hash,
            &format!("/music/{hash}.flac"),
            &format!("Song {hash}"),
        )
    }

    #[tokio::test]
    async fn each_track_the_player_says_started_is_recorded_once_as_a_play() {
        let (player_events, receiver) = mpsc::channel(4);
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(record_plays(receiver, {
            let recorded = recorded.clone();
            move |track: Track| {
                recorded.lock().unwrap().push(track.hash);
                async { Ok(()) }
            }
        }));
        player_events
            .send(PlayerEvent::Started(track("a")))
            .await
            .unwrap();
        player_events
            .send(PlayerEvent::Started(track("b")))
            .await
            .unwrap();
        drop(player_events);
        task.await.expect("the task ends when the player does");
        assert_eq!(*recorded.lock().unwrap(), ["a", "b"]);
    }

    #[tokio::test]
    async fn a_play_that_cannot_be_stored_does_not_stop_the_next_being_recorded() {
        let (player_events, receiver) = mpsc::channel(4);
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(record_plays(receiver, {
            let attempts = attempts.clone();
            move |track: Track| {
                attempts.lock().unwrap().push(track.hash.clone());
                async move {
                    if track.hash == "a" {
                        Err(ApiError::new(ErrorKind::Internal, "the disk is full"))
                    } else {
                        Ok(())
                    }
                }
            }
        }));
        for hash in ["a", "b"] {
            player_events
                .send(PlayerEvent::Started(track(hash)))
                .await
                .unwrap();
        }
        drop(player_events);
        task.await.expect("the task ends when the player does");
        assert_eq!(*attempts.lock().unwrap(), ["a", "b"]);
    }

    async fn started(dir: &std::path::Path) -> Engine {
        Engine::start(Config::offline(dir))
            .await
            .expect("the engine to start")
    }

    #[tokio::test]
    async fn status_reports_the_peer_id_version_and_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let engine = started(dir.path()).await;
        let Response::Status(status) = engine.call(Request::Status).await.unwrap() else {
            panic!("status must answer with a Status");
        };
        assert!(status.peer_id.starts_with("12D3KooW"), "{}", status.peer_id);
        assert_eq!(status.app_version, VERSION);
        assert_eq!(status.data_dir, dir.path().display().to_string());
        engine.shutdown().await;
    }

    #[tokio::test]
    async fn a_profile_set_is_read_back_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let engine = started(dir.path()).await;
        engine
            .call(Request::SetProfile {
                display_name: "  Ada ".into(),
            })
            .await
            .unwrap();
        engine.shutdown().await;

        let engine = started(dir.path()).await;
        let answer = engine.call(Request::GetProfile).await.unwrap();
        assert_eq!(
            answer,
            Response::Profile(Profile {
                display_name: "Ada".into()
            })
        );
        engine.shutdown().await;
    }

    #[tokio::test]
    async fn setting_the_profile_publishes_an_event() {
        let dir = tempfile::tempdir().unwrap();
        let engine = started(dir.path()).await;
        let mut events = engine.subscribe();
        engine
            .call(Request::SetProfile {
                display_name: "Grace".into(),
            })
            .await
            .unwrap();
        let event = tokio::time::timeout(Duration::from_secs(2), events.recv())
            .await
            .expect("an event within 2 s")
            .unwrap();
        assert_eq!(
            event,
            Event::ProfileChanged(Profile {
                display_name: "Grace".into()
            })
        );
        engine.shutdown().await;
    }

    #[tokio::test]
    async fn an_invalid_name_is_refused_and_the_old_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let engine = started(dir.path()).await;
        engine
            .call(Request::SetProfile {
                display_name: "Ada".into(),
            })
            .await
            .unwrap();
        let error = engine
            .call(Request::SetProfile {
                display_name: "x".repeat(65),
            })
            .await
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidInput);
        assert_eq!(
            engine.call(Request::GetProfile).await.unwrap(),
            Response::Profile(Profile {
                display_name: "Ada".into()
            })
        );
        engine.shutdown().await;
    }

    #[tokio::test]
    async fn a_second_engine_on_the_same_data_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let engine = started(dir.path()).await;
        let error = Engine::start(Config::offline(dir.path()))
            .await
            .err()
            .expect("a second engine to be refused");
        assert!(
            matches!(error, StartError::DataDir(DataDirError::InUse { .. })),
            "{error:?}"
        );
        engine.shutdown().await;
        started(dir.path()).await.shutdown().await;
    }

    #[tokio::test]
    async fn acknowledged_writes_are_synced_to_disk_before_the_answer() {
        let dir = tempfile::tempdir().unwrap();
        let engine = started(dir.path()).await;
        let level: i64 = engine
            .inner
            .store
            .call(|c| c.query_row("PRAGMA synchronous", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(level, 2, "synchronous = FULL: each commit is fsynced");
        engine.shutdown().await;
    }

    #[tokio::test]
    async fn calls_after_shutdown_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let engine = started(dir.path()).await;
        engine.shutdown().await;
        let error = engine.call(Request::Status).await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::ShuttingDown);
    }
}
