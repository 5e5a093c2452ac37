//! What the user does with messages: the API façade of the chat service.
//!
//! Every entry the user makes is signed and stored in one transaction on the store thread (its
//! sequence number is taken there, so two sends can never share one), and only then pushed to
//! the connected members: "sent" means it is on disk.

use libp2p::PeerId;
use rusqlite::TransactionBehavior;

use super::log::{self, ConversationId, EntryId, Hash32, Kind, PeerBytes, Role, Share};
use super::store::{self, Applied, ConvKind, ConvState};
use super::view::{self, Builder};
use super::{not_found, Chat, MESSAGES_OFF_KEY};
use crate::api::{
    ApiError, ChatMessage, Conversation, ErrorKind, Event, MessagePage, Report, SearchHit,
    ShareTarget,
};
use crate::net::protocol::SyncRequest;
use crate::store::now_millis;

/// Messages per page when the window does not say.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;
const MAX_SEARCH_HITS: u32 = 200;
/// Entries of the reported peer kept in a report.
const REPORT_MESSAGES: u32 = 500;

impl Chat {
    fn parse_conversation(&self, text: &str) -> Result<ConversationId, ApiError> {
        Hash32::from_hex(text)
            .ok_or_else(|| ApiError::invalid_input(format!("{text:?} is not a conversation id.")))
    }

    fn parse_entry(&self, text: &str) -> Result<EntryId, ApiError> {
        Hash32::from_hex(text)
            .ok_or_else(|| ApiError::invalid_input(format!("{text:?} is not a message id.")))
    }

    fn parse_peer(&self, text: &str) -> Result<PeerId, ApiError> {
        let peer: PeerId = text
            .trim()
            .parse()
            .map_err(|_| ApiError::invalid_input(format!("{text:?} is not a peer id.")))?;
        if peer == self.shared.me {
            return Err(ApiError::invalid_input("That is your own peer id."));
        }
        Ok(peer)
    }

    fn online_fn(&self) -> impl Fn(&PeerId) -> bool + Send + 'static {
        let online = super::lock(&self.shared.online).clone();
        move |peer: &PeerId| online.contains(peer)
    }

    /// The inbox and the requests.
    pub async fn list(&self) -> Result<(Vec<Conversation>, Vec<Conversation>), ApiError> {
        let me = self.shared.me;
        let online = self.online_fn();
        Ok(self
            .shared
            .store
            .call(move |c| {
                let blocked = blocked_peers(c)?;
                let mut lists = (Vec::new(), Vec::new());
                for (state, list) in [
                    (ConvState::Active, &mut lists.0),
                    (ConvState::Request, &mut lists.1),
                ] {
                    for row in store::conversations(c, state)? {
                        if row.peer.is_some_and(|p| blocked.contains(&p.to_base58())) {
                            continue;
                        }
                        list.push(view::conversation(c, &row, &me, &online)?);
                    }
                }
                Ok(lists)
            })
            .await?)
    }

    pub async fn get(&self, conversation: &str) -> Result<Conversation, ApiError> {
        let id = self.parse_conversation(conversation)?;
        let me = self.shared.me;
        let online = self.online_fn();
        self.shared
            .store
            .call(move |c| match store::conversation(c, &id)? {
                Some(row) => Ok(Some(view::conversation(c, &row, &me, &online)?)),
                None => Ok(None),
            })
            .await?
            .ok_or_else(|| not_found("No such conversation."))
    }

    /// The direct conversation with a friend, or with someone we share a group with (our side of
    /// a message request).
    pub async fn open_direct(&self, peer_id: &str) -> Result<Conversation, ApiError> {
        let peer = self.parse_peer(peer_id)?;
        let me = self.shared.me;
        let allowed = self.is_friend(peer).await
            || self
                .shared
                .store
                .call(move |c| Ok(!store::shared_groups(c, &peer)?.is_empty()))
                .await?;
        if !allowed {
            return Err(ApiError::invalid_input(
                "You can message friends, and people you share a group with.",
            ));
        }
        let id = self
            .shared
            .store
            .call(move |c| {
                let row = store::ensure_direct(c, &me, &peer, ConvState::Active, now_millis())?;
                if row.state == ConvState::Hidden {
                    store::set_state(c, &row.id, ConvState::Active)?;
                }
                Ok(row.id)
            })
            .await?;
        self.sync_member_set().await?;
        self.publish(Event::ConversationsChanged);
        self.get(&id.to_hex()).await
    }

    pub async fn create_group(
        &self,
        name: &str,
        peer_ids: &[String],
    ) -> Result<Conversation, ApiError> {
        let name = group_name(name)?;
        let mut members = Vec::new();
        for peer_id in peer_ids {
            let peer = self.parse_peer(peer_id)?;
            if !self.is_friend(peer).await {
                return Err(ApiError::invalid_input(
                    "A group is made from friends: add people who are your friends.",
                ));
            }
            if !members.contains(&PeerBytes::of(&peer)) {
                members.push(PeerBytes::of(&peer));
            }
        }
        if members.is_empty() {
            return Err(ApiError::invalid_input(
                "Choose at least one friend for the group.",
            ));
        }
        if members.len() >= log::MAX_MEMBERS {
            return Err(ApiError::invalid_input(format!(
                "A group has at most {} members, you included.",
                log::MAX_MEMBERS
            )));
        }
        let nonce: [u8; 16] = rand::random();
        let id = log::group_id(&self.shared.me, &nonce);
        let kind = Kind::Create {
            name,
            members,
            nonce: nonce.to_vec(),
        };
        self.author(id, kind, true).await?;
        self.sync_member_set().await?;
        self.get(&id.to_hex()).await
    }

    pub async fn page(
        &self,
        conversation: &str,
        before: Option<&str>,
        limit: Option<u32>,
    ) -> Result<MessagePage, ApiError> {
        let id = self.parse_conversation(conversation)?;
        let before = before.map(|b| self.parse_entry(b)).transpose()?;
        let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let me = self.shared.me;
        self.shared
            .store
            .call(move |c| {
                if store::conversation(c, &id)?.is_none() {
                    return Ok(None);
                }
                let mut builder = Builder::new(c, me, &id)?;
                Ok(Some(builder.page(&id, before.as_ref(), limit)?))
            })
            .await?
            .ok_or_else(|| not_found("No such conversation."))
    }

    /// One message, as the window shows it.
    pub(super) async fn message(
        &self,
        conversation: ConversationId,
        entry: EntryId,
    ) -> Result<Option<ChatMessage>, ApiError> {
        let me = self.shared.me;
        Ok(self
            .shared
            .store
            .call(move |c| Builder::new(c, me, &conversation)?.message(&entry))
            .await?)
    }

    pub async fn send_text(
        &self,
        conversation: &str,
        text: &str,
        reply_to: Option<&str>,
    ) -> Result<ChatMessage, ApiError> {
        let id = self.parse_conversation(conversation)?;
        let text = message_text(text)?;
        let reply_to = reply_to.map(|r| self.parse_entry(r)).transpose()?;
        let entry = self
            .author(id, Kind::Text { text, reply_to }, false)
            .await?;
        self.message(id, entry)
            .await?
            .ok_or_else(|| not_found("The message was stored but cannot be read back."))
    }

    pub async fn share(
        &self,
        conversation: &str,
        target: &ShareTarget,
        text: Option<&str>,
    ) -> Result<ChatMessage, ApiError> {
        let id = self.parse_conversation(conversation)?;
        let text = match text.map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) => message_text(t)?,
            None => String::new(),
        };
        let share = self.share_card(target).await?;
        let entry = self.author(id, Kind::Share { share, text }, false).await?;
        self.message(id, entry)
            .await?
            .ok_or_else(|| not_found("The message was stored but cannot be read back."))
    }

    /// Reacts to a friend's listening activity: a track card carrying the emoji, in the 1:1
    /// conversation with them. `share` describes their track (we may not hold it).
    pub async fn react_to_track(
        &self,
        peer_id: &str,
        share: Share,
    ) -> Result<ChatMessage, ApiError> {
        let conversation = self.open_direct(peer_id).await?;
        let id = self.parse_conversation(&conversation.id)?;
        let entry = self
            .author(
                id,
                Kind::Share {
                    share,
                    text: String::new(),
                },
                false,
            )
            .await?;
        self.message(id, entry)
            .await?
            .ok_or_else(|| not_found("The reaction was stored but cannot be read back."))
    }

    async fn share_card(&self, target: &ShareTarget) -> Result<Share, ApiError> {
        let library = &self.shared.library;
        let (kind, title, artist, tracks) = match target {
            ShareTarget::Track { hash } => {
                let track = library.track(hash).await?;
                (
                    log::ShareKind::Track,
                    track.title.clone(),
                    track.artist.clone(),
                    vec![track],
                )
            }
            ShareTarget::Album {
                album,
                album_artist,
            } => {
                let key = crate::api::AlbumKey {
                    album: album.clone(),
                    album_artist: album_artist.clone(),
                };
                let tracks = library.tracks(None, Some(key), None).await?;
                if tracks.is_empty() {
                    return Err(not_found("That album is not in your library."));
                }
                (
                    log::ShareKind::Album,
                    album.clone(),
                    album_artist.clone(),
                    tracks,
                )
            }
            ShareTarget::Playlist { id } => {
                let (playlist, items) = library.playlist(*id).await?;
                let tracks: Vec<_> = items.into_iter().filter_map(|i| i.track).collect();
                if tracks.is_empty() {
                    return Err(ApiError::invalid_input(
                        "That playlist has no tracks to share.",
                    ));
                }
                (
                    log::ShareKind::Playlist,
                    playlist.name,
                    String::new(),
                    tracks,
                )
            }
        };
        let mut hashes = Vec::new();
        for track in tracks.iter().take(log::MAX_SHARE_TRACKS) {
            hashes.push(
                Hash32::from_hex(&track.hash).ok_or_else(|| {
                    ApiError::new(ErrorKind::Internal, "A track hash is not hex.")
                })?,
            );
        }
        let art = tracks.iter().find_map(|t| t.art.clone());
        let cover_jpeg = match art {
            Some(art) => self
                .shared
                .store
                .call(move |c| crate::library::store::art(c, &art, true))
                .await?
                .filter(|(mime, data)| mime == "image/jpeg" && data.len() <= log::MAX_COVER_BYTES)
                .map(|(_, data)| data)
                .unwrap_or_default(),
            None => Vec::new(),
        };
        Ok(Share {
            kind,
            title,
            artist,
            duration_ms: tracks.iter().map(|t| t.duration_ms).sum(),
            hashes,
            cover_jpeg,
            reaction: None,
        })
    }

    pub async fn react(
        &self,
        conversation: &str,
        entry: &str,
        emoji: &str,
        on: bool,
    ) -> Result<(), ApiError> {
        let id = self.parse_conversation(conversation)?;
        let target = self.parse_entry(entry)?;
        let emoji = emoji.trim().to_string();
        if !log::emoji_ok(&emoji) {
            return Err(ApiError::invalid_input("A reaction is one emoji."));
        }
        self.target_message(id, target, false).await?;
        self.author(id, Kind::React { target, emoji, on }, false)
            .await?;
        Ok(())
    }

    pub async fn edit(
        &self,
        conversation: &str,
        entry: &str,
        text: &str,
    ) -> Result<ChatMessage, ApiError> {
        let id = self.parse_conversation(conversation)?;
        let target = self.parse_entry(entry)?;
        let text = message_text(text)?;
        self.target_message(id, target, true).await?;
        self.author(id, Kind::Edit { target, text }, false).await?;
        self.message(id, target)
            .await?
            .ok_or_else(|| not_found("No such message."))
    }

    pub async fn delete(&self, conversation: &str, entry: &str) -> Result<ChatMessage, ApiError> {
        let id = self.parse_conversation(conversation)?;
        let target = self.parse_entry(entry)?;
        self.target_message(id, target, true).await?;
        let me = self.shared.me.to_base58();
        let seqs: Vec<u64> = self
            .shared
            .store
            .call(move |c| {
                let mut statement = c.prepare(
                    "SELECT seq FROM chat_entries WHERE conversation = ?1 AND author = ?2
                       AND (id = ?3 OR (kind = 'edit' AND target = ?3))",
                )?;
                let rows = statement
                    .query_map(rusqlite::params![&id.0[..], me, &target.0[..]], |r| {
                        r.get::<_, i64>(0)
                    })?;
                rows.map(|r| r.map(|s| s as u64)).collect()
            })
            .await?;
        self.author(id, Kind::Delete { target, seqs }, false)
            .await?;
        self.message(id, target)
            .await?
            .ok_or_else(|| not_found("No such message."))
    }

    /// Checks that `target` is a message of the conversation (and the user's own, if `own`).
    async fn target_message(
        &self,
        id: ConversationId,
        target: EntryId,
        own: bool,
    ) -> Result<(), ApiError> {
        let me = self.shared.me.to_base58();
        let found: Option<(String, bool)> = self
            .shared
            .store
            .call(move |c| {
                use rusqlite::OptionalExtension;
                c.query_row(
                    "SELECT author, deleted FROM chat_messages WHERE entry = ?1 AND conversation = ?2 AND kind <> 'notice'",
                    rusqlite::params![&target.0[..], &id.0[..]],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            })
            .await?;
        match found {
            None => Err(not_found("No such message in this conversation.")),
            Some((_, true)) => Err(ApiError::invalid_input("That message was deleted.")),
            Some((author, false)) if own && author != me => Err(ApiError::invalid_input(
                "You can only change your own messages.",
            )),
            Some(_) => Ok(()),
        }
    }

    pub async fn mark_read(&self, conversation: &str) -> Result<(), ApiError> {
        let id = self.parse_conversation(conversation)?;
        let me = self.shared.me;
        let (latest, mine): (Option<i64>, Option<i64>) = self
            .shared
            .store
            .call(move |c| {
                c.query_row(
                    "SELECT (SELECT hlc FROM chat_messages WHERE conversation = ?1 AND author <> ?2
                             ORDER BY hlc DESC LIMIT 1),
                            (SELECT upto FROM chat_reads WHERE conversation = ?1 AND member = ?2)",
                    rusqlite::params![&id.0[..], me.to_base58()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
            })
            .await?;
        match (latest, mine) {
            (Some(latest), mine) if mine.is_none_or(|m| m < latest) => {
                let upto = store::unpack(latest);
                self.author(id, Kind::Read { upto }, false).await?;
                self.publish(Event::ConversationsChanged);
            }
            _ => {}
        }
        Ok(())
    }

    pub async fn add_members(
        &self,
        conversation: &str,
        peer_ids: &[String],
    ) -> Result<Conversation, ApiError> {
        let id = self.parse_conversation(conversation)?;
        let mut members = Vec::new();
        for peer_id in peer_ids {
            let peer = self.parse_peer(peer_id)?;
            if !self.is_friend(peer).await {
                return Err(ApiError::invalid_input(
                    "You can add your friends to a group.",
                ));
            }
            members.push(PeerBytes::of(&peer));
        }
        if members.is_empty() {
            return Err(ApiError::invalid_input("Choose someone to add."));
        }
        let current = self.group_members(id).await?;
        if current.len() + members.len() > log::MAX_MEMBERS {
            return Err(ApiError::invalid_input(format!(
                "A group has at most {} members.",
                log::MAX_MEMBERS
            )));
        }
        self.require_admin(&current)?;
        self.author(id, Kind::AddMembers { members }, false).await?;
        self.sync_member_set().await?;
        self.get(conversation).await
    }

    pub async fn remove_member(
        &self,
        conversation: &str,
        peer_id: &str,
    ) -> Result<Conversation, ApiError> {
        let id = self.parse_conversation(conversation)?;
        let peer = self.parse_peer(peer_id)?;
        let current = self.group_members(id).await?;
        self.require_admin(&current)?;
        match current.iter().find(|(p, _)| *p == peer) {
            None => return Err(not_found("That person is not in the group.")),
            Some((_, Role::Creator)) => {
                return Err(ApiError::invalid_input(
                    "The group's creator cannot be removed.",
                ))
            }
            Some(_) => {}
        }
        self.author(
            id,
            Kind::RemoveMember {
                member: PeerBytes::of(&peer),
            },
            false,
        )
        .await?;
        self.sync_member_set().await?;
        self.get(conversation).await
    }

    pub async fn set_admin(
        &self,
        conversation: &str,
        peer_id: &str,
        admin: bool,
    ) -> Result<Conversation, ApiError> {
        let id = self.parse_conversation(conversation)?;
        let peer = self.parse_peer(peer_id)?;
        let current = self.group_members(id).await?;
        let me = self.shared.me;
        if !current.iter().any(|(p, r)| *p == me && *r == Role::Creator) {
            return Err(ApiError::invalid_input(
                "Only the group's creator names admins.",
            ));
        }
        if !current.iter().any(|(p, _)| *p == peer) {
            return Err(not_found("That person is not in the group."));
        }
        self.author(
            id,
            Kind::SetAdmin {
                member: PeerBytes::of(&peer),
                admin,
            },
            false,
        )
        .await?;
        self.get(conversation).await
    }

    pub async fn rename(&self, conversation: &str, name: &str) -> Result<Conversation, ApiError> {
        let id = self.parse_conversation(conversation)?;
        let name = group_name(name)?;
        let current = self.group_members(id).await?;
        self.require_admin(&current)?;
        self.author(id, Kind::Rename { name }, false).await?;
        self.get(conversation).await
    }

    pub async fn leave(&self, conversation: &str) -> Result<(), ApiError> {
        let id = self.parse_conversation(conversation)?;
        self.group_members(id).await?;
        // The Leave and hiding the group are one transaction (see `author`).
        self.author(id, Kind::Leave, false).await?;
        self.sync_member_set().await?;
        self.publish(Event::ConversationsChanged);
        Ok(())
    }

    /// A conversation's row, or `NotFound`.
    async fn row(&self, id: ConversationId) -> Result<store::ConvRow, ApiError> {
        self.shared
            .store
            .call(move |c| store::conversation(c, &id))
            .await?
            .ok_or_else(|| not_found("No such conversation."))
    }

    async fn group_members(&self, id: ConversationId) -> Result<Vec<(PeerId, Role)>, ApiError> {
        let row = self.row(id).await?;
        if row.kind != ConvKind::Group {
            return Err(ApiError::invalid_input(
                "That is a 1:1 conversation, not a group.",
            ));
        }
        let members = self
            .shared
            .store
            .call(move |c| store::members(c, &id))
            .await?;
        if !members.iter().any(|(p, _)| *p == self.shared.me) {
            return Err(ApiError::invalid_input("You are no longer in this group."));
        }
        Ok(members)
    }

    fn require_admin(&self, members: &[(PeerId, Role)]) -> Result<(), ApiError> {
        let me = self.shared.me;
        if members
            .iter()
            .any(|(p, r)| *p == me && matches!(r, Role::Creator | Role::Admin))
        {
            Ok(())
        } else {
            Err(ApiError::invalid_input(
                "Only the group's creator and its admins can do that.",
            ))
        }
    }

    pub async fn accept_request(&self, conversation: &str) -> Result<Conversation, ApiError> {
        let id = self.parse_conversation(conversation)?;
        self.request_row(id).await?;
        self.shared
            .store
            .call(move |c| store::set_state(c, &id, ConvState::Active))
            .await?;
        self.publish(Event::ConversationsChanged);
        self.get(conversation).await
    }

    pub async fn decline_request(&self, conversation: &str, block: bool) -> Result<(), ApiError> {
        let id = self.parse_conversation(conversation)?;
        let row = self.request_row(id).await?;
        self.shared
            .store
            .call(move |c| store::set_state(c, &id, ConvState::Hidden))
            .await?;
        if let (true, Some(peer)) = (block, row.peer) {
            self.shared.friends.block(&peer.to_base58()).await?;
        }
        self.publish(Event::ConversationsChanged);
        Ok(())
    }

    async fn request_row(&self, id: ConversationId) -> Result<store::ConvRow, ApiError> {
        let row = self.row(id).await?;
        if row.state != ConvState::Request {
            return Err(ApiError::invalid_input(
                "That conversation is not a message request.",
            ));
        }
        Ok(row)
    }

    /// Keeps `peer`'s entries of the conversation in a report, hides the conversation (when it is
    /// a 1:1 with them) and blocks them.
    pub async fn report(
        &self,
        conversation: &str,
        peer_id: &str,
        reason: &str,
    ) -> Result<Report, ApiError> {
        let id = self.parse_conversation(conversation)?;
        let peer = self.parse_peer(peer_id)?;
        let reason: String = reason.trim().chars().take(1000).collect();
        let me = self.shared.me;
        let report_id = self
            .shared
            .store
            .call(move |c| {
                let Some(row) = store::conversation(c, &id)? else {
                    return Ok(None);
                };
                let mut builder = Builder::new(c, me, &id)?;
                let messages = builder.by_author(&id, &peer, REPORT_MESSAGES)?;
                let name = view::Names::new(c, me)?.name(&peer);
                let json = serde_json::to_string(&messages).unwrap_or_else(|_| "[]".into());
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.execute(
                    "INSERT INTO chat_reports (peer, display_name, conversation, reason, created_at, messages)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    rusqlite::params![peer.to_base58(), name, &id.0[..], reason, now_millis(), json],
                )?;
                let report_id = tx.last_insert_rowid();
                if row.kind == ConvKind::Direct {
                    store::set_state(&tx, &id, ConvState::Hidden)?;
                }
                tx.commit()?;
                Ok(Some(report_id))
            })
            .await?
            .ok_or_else(|| not_found("No such conversation."))?;
        self.shared.friends.block(&peer.to_base58()).await?;
        self.publish(Event::ConversationsChanged);
        self.reports()
            .await?
            .into_iter()
            .find(|r| r.id == report_id)
            .ok_or_else(|| not_found("The report was stored but cannot be read back."))
    }

    pub async fn reports(&self) -> Result<Vec<Report>, ApiError> {
        Ok(self
            .shared
            .store
            .call(|c| {
                let mut statement = c.prepare(
                    "SELECT id, peer, display_name, conversation, reason, created_at, messages
                     FROM chat_reports ORDER BY created_at DESC",
                )?;
                let rows = statement.query_map([], |r| {
                    let conversation: Vec<u8> = r.get(3)?;
                    let messages: String = r.get(6)?;
                    Ok(Report {
                        id: r.get(0)?,
                        peer_id: r.get(1)?,
                        display_name: r.get(2)?,
                        conversation: data_encoding::HEXLOWER.encode(&conversation),
                        reason: r.get(4)?,
                        created_at: r.get(5)?,
                        messages: serde_json::from_str(&messages).unwrap_or_default(),
                    })
                })?;
                rows.collect()
            })
            .await?)
    }

    /// Writes a report to a file as JSON (atomically: a temporary file renamed into place).
    pub async fn export_report(&self, id: i64, path: &str) -> Result<(), ApiError> {
        let path = std::path::PathBuf::from(path);
        if !path.is_absolute() {
            return Err(ApiError::invalid_input("Give the file's full path."));
        }
        let report = self
            .reports()
            .await?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| not_found("No such report."))?;
        let json = serde_json::to_vec_pretty(&report)
            .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let temp = path.with_extension("json.partial");
            std::fs::write(&temp, &json)?;
            std::fs::rename(&temp, &path)
        })
        .await
        .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?
        .map_err(|e| ApiError::invalid_input(format!("Cannot write the report there: {e}")))
    }

    pub fn messages_enabled(&self) -> bool {
        !self.messages_off()
    }

    /// Turns Messages on or off, and tells connected friends and members.
    pub async fn set_messages_enabled(&self, on: bool) -> Result<(), ApiError> {
        self.shared
            .store
            .call(move |c| crate::store::settings::put(c, MESSAGES_OFF_KEY, &!on))
            .await?;
        self.shared
            .messages_off
            .store(!on, std::sync::atomic::Ordering::Relaxed);
        let online: Vec<PeerId> = super::lock(&self.shared.online).iter().copied().collect();
        for peer in online {
            let this = self.clone();
            tokio::spawn(async move {
                if on {
                    this.sync_with(peer).await;
                } else {
                    let hello = this.hello().await;
                    let _ = this
                        .shared
                        .net
                        .send_sync(peer, SyncRequest::Hello { hello })
                        .await;
                }
            });
        }
        self.publish(Event::ConversationsChanged);
        Ok(())
    }

    pub async fn search(
        &self,
        query: &str,
        limit: Option<u32>,
    ) -> Result<Vec<SearchHit>, ApiError> {
        let query = query.to_string();
        let limit = limit.unwrap_or(50).clamp(1, MAX_SEARCH_HITS);
        let me = self.shared.me;
        Ok(self
            .shared
            .store
            .call(move |c| view::search(c, me, &query, limit))
            .await?)
    }

    /// Signs, stores and sends a new entry of the user's; returns its id. `create` makes the
    /// group's row first (a `Create` entry).
    pub(super) async fn author(
        &self,
        id: ConversationId,
        kind: Kind,
        create: bool,
    ) -> Result<EntryId, ApiError> {
        if self.messages_off() && !matches!(kind, Kind::Read { .. }) {
            return Err(ApiError::invalid_input(
                "Messages are off. Turn them on in Settings to send.",
            ));
        }
        let hlc = self.tick();
        let keypair = self.shared.keypair.clone();
        let me = self.shared.me;
        let now = now_millis();
        let is_content = matches!(kind, Kind::Text { .. } | Kind::Share { .. });
        let leaving = matches!(kind, Kind::Leave);
        let (entry, applied, members) = self
            .shared
            .store
            .call(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                if create {
                    store::ensure_group(&tx, &id, now)?;
                }
                let Some(row) = store::conversation(&tx, &id)? else {
                    return Ok(Err(not_found("No such conversation.")));
                };
                if row.state == ConvState::Request && is_content {
                    return Ok(Err(ApiError::invalid_input(
                        "Accept the message request to reply.",
                    )));
                }
                if !create && !store::is_member(&tx, &id, &me, true)? {
                    return Ok(Err(ApiError::invalid_input(
                        "You are no longer in this group.",
                    )));
                }
                // Whoever is a member before or after this entry hears of it (a removed member
                // learns of the removal).
                let before = store::members(&tx, &id)?;
                let seq = store::next_seq(&tx, &id, &me)?;
                let body = log::Body {
                    conversation: id,
                    author: PeerBytes::of(&me),
                    seq,
                    hlc,
                    kind,
                };
                let entry = match log::sign(&keypair, body) {
                    Ok(entry) => entry,
                    Err(error) => return Ok(Err(ApiError::invalid_input(error.to_string()))),
                };
                let applied = store::apply(&tx, &entry, now)?;
                if row.state == ConvState::Hidden && row.kind == ConvKind::Direct && is_content {
                    store::set_state(&tx, &id, ConvState::Active)?;
                }
                if leaving {
                    store::set_state(&tx, &id, ConvState::Hidden)?;
                }
                tx.commit()?;
                let mut members = store::members(c, &id)?;
                for (peer, role) in before {
                    if !members.iter().any(|(p, _)| *p == peer) {
                        members.push((peer, role));
                    }
                }
                Ok(Ok((entry, applied, members)))
            })
            .await??;
        let message = match applied {
            Applied::Stored { message, .. } => message,
            Applied::Duplicate | Applied::NotMember | Applied::Unvouched => None,
        };
        let announce = message.map(|m| (id, m)).into_iter().collect::<Vec<_>>();
        if self.messages_off() {
            // A read marker made while Messages are off stays here until they are on again.
            self.announce(announce, Vec::new()).await;
            return Ok(entry.id);
        }
        let wire = log::Wire::Entry(entry.signed.clone());
        let mut absent = Vec::new();
        for (member, _) in members {
            if member == me {
                continue;
            }
            if self.is_online(&member) {
                self.enqueue(member, vec![wire.clone()]);
            } else {
                absent.push(member);
            }
        }
        // Members not connected now: dial those we know how to reach (the sync on connection
        // delivers); the others get it from whichever member they meet first.
        // The window hears of it after it is on its way (the read-back is off the delivery path).
        self.announce(announce, Vec::new()).await;
        if !absent.is_empty() {
            self.dial_members(absent).await;
        }
        Ok(entry.id)
    }

    /// Dials members who are not connected, at the addresses we know for them.
    pub(super) async fn dial_members(&self, peers: Vec<PeerId>) {
        let known = self
            .shared
            .store
            .call(move |c| {
                peers
                    .into_iter()
                    .map(|p| Ok((p, store::peer_addresses(c, &p)?)))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await
            .unwrap_or_default();
        for (peer, addresses) in known {
            let addresses: Vec<libp2p::Multiaddr> =
                addresses.iter().filter_map(|a| a.parse().ok()).collect();
            if !addresses.is_empty() {
                let _ = self.shared.net.dial(peer, addresses).await;
            }
        }
    }
}

fn blocked_peers(c: &rusqlite::Connection) -> rusqlite::Result<std::collections::HashSet<String>> {
    let mut statement =
        c.prepare_cached("SELECT peer_id FROM peers WHERE relationship = 'blocked'")?;
    let rows = statement.query_map([], |r| r.get(0))?;
    rows.collect()
}

/// A message's text: trimmed at the ends, 1–4,000 characters, no private-use highlight markers.
fn message_text(text: &str) -> Result<String, ApiError> {
    let text: String = text
        .trim()
        .chars()
        .filter(|c| *c != '\u{E000}' && *c != '\u{E001}')
        .collect();
    if text.is_empty() {
        return Err(ApiError::invalid_input("Write something first."));
    }
    if text.chars().count() > log::MAX_TEXT_CHARS {
        return Err(ApiError::invalid_input(format!(
            "A message has at most {} characters.",
            log::MAX_TEXT_CHARS
        )));
    }
    Ok(text)
}

fn group_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > log::MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::invalid_input(format!(
            "A group's name is 1–{} characters, without control characters.",
            log::MAX_NAME_CHARS
        )));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_text_is_trimmed_and_bounded() {
        assert_eq!(message_text("  hi \n").unwrap(), "hi");
        assert!(message_text("   ").is_err());
        assert!(message_text(&"a".repeat(log::MAX_TEXT_CHARS + 1)).is_err());
        assert_eq!(message_text("a\u{E000}b").unwrap(), "ab");
    }
}
