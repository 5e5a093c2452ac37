//! The jam as the window sees it, who may talk jam with us, names, and events.

use std::collections::HashMap;

use libp2p::PeerId;

use super::*;

impl Jam {
    /// Who may talk jam with us, and fetch the tracks we added to the queue.
    pub(super) async fn peers_changed(&self) {
        let me = self.me();
        let grants = {
            let state = lock(&self.shared.state);
            match state.live.as_ref() {
                Some(live) => {
                    let s = &live.session;
                    let hosting = live.hosting(&me);
                    crate::chat::JamGrants {
                        peers: s
                            .participants
                            .iter()
                            .filter_map(|p| p.peer.parse::<PeerId>().ok())
                            .filter(|p| *p != self.shared.me)
                            .collect(),
                        // Only what we added ourselves: a guest cannot name a hash to fetch
                        // (or to learn whether we hold it) by adding it to the queue.
                        own: s
                            .queue
                            .iter()
                            .filter(|e| e.added_by == me)
                            .map(|e| e.track.hash.clone())
                            .collect(),
                        // As host, what we received of tracks whose adder has left.
                        relay: s
                            .queue
                            .iter()
                            .filter(|e| hosting && e.added_by != me && !s.is_in(&e.added_by))
                            .map(|e| e.track.hash.clone())
                            .collect(),
                    }
                }
                None => crate::chat::JamGrants::default(),
            }
        };
        let peers = grants.peers.clone();
        self.shared.chat.set_jam_grants(grants);
        if let Err(error) = self.shared.net.set_jam_peers(peers).await {
            tracing::debug!(%error, "the network did not take the jam's participants");
        }
    }

    /// Whether `peer` is a friend (invitations and requests come from friends only).
    pub(super) async fn is_friend(&self, peer: PeerId) -> bool {
        self.shared
            .store
            .call(move |c| crate::chat::store::is_friend(c, &peer))
            .await
            .unwrap_or(false)
    }

    pub(super) async fn my_name(&self) -> String {
        match profile::get(&self.shared.store).await {
            Ok(p) => p.display_name,
            Err(_) => profile::default_display_name(),
        }
    }

    pub(super) async fn my_addrs(&self) -> Vec<String> {
        let mut addrs: Vec<String> = self
            .shared
            .net
            .addresses()
            .await
            .unwrap_or_default()
            .iter()
            .map(|a| a.to_string())
            .collect();
        addrs.truncate(8);
        addrs
    }

    /// A friend's (or co-member's) name as we know it, else what they call themselves.
    pub(super) async fn name_of(&self, peer: PeerId, fallback: &str) -> String {
        let known = self
            .shared
            .store
            .call(move |c| crate::friends::store::get(c, &peer))
            .await
            .ok()
            .flatten()
            .and_then(|row| row.display_name);
        match known {
            Some(name) => name,
            None if !fallback.is_empty() => fallback.to_string(),
            None => "Someone".to_string(),
        }
    }

    pub(super) async fn remember_name(&self, peer: PeerId) {
        let name = self.name_of(peer, "").await;
        lock(&self.shared.state)
            .names
            .insert(peer.to_string(), name);
    }

    pub(super) fn changed(&self) {
        let jam = self.view().map(Box::new);
        let _ = self.shared.events.send(Event::JamChanged { jam });
    }

    pub(super) fn invites_changed(&self) {
        let invites = self.invite_views();
        let _ = self
            .shared
            .events
            .send(Event::JamInvitesChanged { invites });
    }

    pub(super) fn invite_views(&self) -> Vec<JamInvite> {
        let state = lock(&self.shared.state);
        state
            .invites
            .all()
            .iter()
            .map(|p| self.invite_view_locked(&state, p))
            .collect()
    }

    pub(super) fn invite_view(&self, pending: &Pending) -> JamInvite {
        let state = lock(&self.shared.state);
        self.invite_view_locked(&state, pending)
    }

    pub(super) fn invite_view_locked(&self, state: &State, p: &Pending) -> JamInvite {
        JamInvite {
            invite_id: p.id.clone(),
            kind: match p.kind {
                Kind::Invite => JamInviteKind::Invite,
                Kind::Request => JamInviteKind::Request,
            },
            incoming: p.direction == Direction::Incoming,
            peer_id: p.peer.clone(),
            display_name: state
                .names
                .get(&p.peer)
                .cloned()
                .unwrap_or_else(|| "Someone".into()),
            playing: p.playing.clone(),
            expires_in_ms: p.left_ms(now_ms()),
        }
    }

    /// The jam as the window shows it.
    pub(super) fn view(&self) -> Option<JamState> {
        let me = self.me();
        let state = lock(&self.shared.state);
        let live = state.live.as_ref()?;
        let s = &live.session;
        let names: HashMap<String, String> = s
            .participants
            .iter()
            .map(|p| (p.peer.clone(), p.name.clone()))
            .collect();
        let hosting = live.hosting(&me);
        let estimate = if hosting {
            None
        } else {
            live.clock.estimate(engine_clock::now_ns())
        };
        // The host's "now" on its clock, for the position.
        let host_now = (engine_clock::now_ns() as i128
            + estimate.map_or(0, |e| e.offset_ns) as i128)
            .max(0) as u64;
        let have = &live.held;
        Some(JamState {
            jam_id: s.id.clone(),
            host_peer_id: s.host.clone(),
            host_name: names.get(&s.host).cloned().unwrap_or_default(),
            you_host: hosting,
            participants: s
                .participants
                .iter()
                .map(|p| JamParticipant {
                    peer_id: p.peer.clone(),
                    display_name: p.name.clone(),
                    is_host: p.peer == s.host,
                    is_you: p.peer == me,
                    sync: p.standing.map(|s| s.sync),
                    error_us: p.standing.map(|s| s.error_us as i64),
                })
                .collect(),
            queue: s
                .queue
                .iter()
                .map(|e| entry_view(e, &names, have.contains(&e.track.hash)))
                .collect(),
            current: s.timeline.entry,
            playing: s.timeline.playing,
            position_ms: s.position_ms(host_now),
            as_of: crate::store::now_millis(),
            guest_controls: s.guest_controls,
            can_control: hosting || s.guest_controls,
            sync: live.sync,
            offset_to_host_us: estimate.map(|e| e.offset_ns / 1000),
            rtt_us: estimate.map(|e| e.rtt_ns / 1000),
            error_us: live.error_us,
            output_offset_ms: state.output_offset_ms,
        })
    }
}

/// A queue entry as the window shows it.
pub(super) fn entry_view(
    e: &session::Entry,
    names: &HashMap<String, String>,
    in_library: bool,
) -> JamEntry {
    JamEntry {
        entry_id: e.id,
        hash: e.track.hash.clone(),
        title: e.track.title.clone(),
        artist: e.track.artist.clone(),
        album: e.track.album.clone(),
        duration_ms: e.track.duration_ms,
        added_by: e.added_by.clone(),
        added_by_name: match names.get(&e.added_by) {
            Some(name) => name.clone(),
            None => e.added_by_name.clone(),
        },
        in_library,
    }
}
