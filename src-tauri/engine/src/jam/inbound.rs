//! What peers send: invitations and requests, joins and leaves, a guest's changes (the host
//! decides), the host's state (a guest follows, or takes over when named), the end.

use libp2p::{Multiaddr, PeerId};

use super::*;

impl Jam {
    pub(super) async fn on_message(&self, peer: PeerId, request: JamRequest) -> JamResponse {
        let from = peer.to_string();
        match request {
            JamRequest::Invite {
                id,
                jam,
                host_name,
                playing,
                left_ms,
                answers,
            } => {
                // The answer to our own request: join at once.
                let ours = answers.as_deref().is_some_and(|a| {
                    let mut state = lock(&self.shared.state);
                    let mine = state.invites.get(a).is_some_and(|p| {
                        p.direction == Direction::Outgoing
                            && p.kind == Kind::Request
                            && p.peer == from
                    });
                    if mine {
                        state.invites.take(a);
                    }
                    mine
                });
                if ours {
                    self.invites_changed();
                    let this = self.clone();
                    tokio::spawn(async move {
                        if let Err(error) = this.join(peer, &jam, &id).await {
                            tracing::warn!(%error, "could not join the jam we asked for");
                            let _ = this.shared.events.send(Event::PlayerMessage {
                                message: format!("Could not join the jam: {error}"),
                            });
                        }
                    });
                    return JamResponse::Ok;
                }
                let name = self.name_of(peer, &host_name).await;
                let pending = Pending {
                    id,
                    kind: Kind::Invite,
                    direction: Direction::Incoming,
                    peer: from.clone(),
                    jam: Some(jam),
                    answers: None,
                    expires_at_ms: now_ms() + left_ms,
                };
                self.incoming(pending, name, playing.map(|t| t.title))
            }
            JamRequest::Request { id, left_ms } => {
                let name = self.name_of(peer, "").await;
                let pending = Pending {
                    id,
                    kind: Kind::Request,
                    direction: Direction::Incoming,
                    peer: from,
                    jam: None,
                    answers: None,
                    expires_at_ms: now_ms() + left_ms,
                };
                self.incoming(pending, name, None)
            }
            JamRequest::Withdraw { id } => {
                let taken = {
                    let mut state = lock(&self.shared.state);
                    match state.invites.get(&id) {
                        Some(p) if p.peer == from => state.invites.take(&id),
                        _ => None,
                    }
                };
                if taken.is_some() {
                    self.invites_changed();
                }
                JamResponse::Ok
            }
            JamRequest::Join {
                jam,
                invite,
                name,
                addrs,
            } => self.on_join(from, jam, invite, name, addrs).await,
            JamRequest::Leave { jam } => {
                let changed = {
                    let mut state = lock(&self.shared.state);
                    match state.live.as_mut() {
                        Some(live) if live.session.id == jam && live.hosting(&self.me()) => {
                            live.session.leave(&from);
                            true
                        }
                        _ => false,
                    }
                };
                if changed {
                    self.after_host_change().await;
                }
                JamResponse::Ok
            }
            JamRequest::Op { jam, op } => {
                let result = {
                    let mut state = lock(&self.shared.state);
                    match state.live.as_mut() {
                        Some(live) if live.session.id == jam && live.hosting(&self.me()) => {
                            live.session.apply(&from, op, engine_clock::now_ns())
                        }
                        _ => Err(Refusal::NotInJam),
                    }
                };
                match result {
                    Ok(()) => {
                        self.after_host_change().await;
                        JamResponse::Ok
                    }
                    Err(reason) => JamResponse::Refused(reason),
                }
            }
            JamRequest::State(session) => self.on_state(from, *session).await,
            JamRequest::Report { jam, standing } => {
                let news = {
                    let mut state = lock(&self.shared.state);
                    match state.live.as_mut() {
                        Some(live) if live.session.id == jam && live.hosting(&self.me()) => {
                            live.session.report(&from, standing)
                        }
                        _ => return JamResponse::Refused(Refusal::NotInJam),
                    }
                };
                if news {
                    self.push_state();
                    self.changed();
                }
                JamResponse::Ok
            }
            JamRequest::End { jam } => {
                let ended = {
                    let state = lock(&self.shared.state);
                    state
                        .live
                        .as_ref()
                        .is_some_and(|l| l.session.id == jam && l.session.host == from)
                };
                if ended {
                    self.end(JamEnd::Ended).await;
                }
                JamResponse::Ok
            }
        }
    }

    pub(super) fn incoming(
        &self,
        pending: Pending,
        name: String,
        playing: Option<String>,
    ) -> JamResponse {
        let view = {
            let mut state = lock(&self.shared.state);
            if let Err(reason) = state.invites.add(pending.clone()) {
                tracing::debug!(?reason, "an invitation refused");
                return JamResponse::Busy;
            }
            state.names.insert(pending.peer.clone(), name);
            let mut view = self.invite_view_locked(&state, &pending);
            view.playing = playing;
            view
        };
        let _ = self.shared.events.send(Event::JamInvited(view));
        self.invites_changed();
        self.shared.wake.notify_one();
        JamResponse::Ok
    }

    pub(super) async fn on_join(
        &self,
        from: String,
        jam: String,
        invite: String,
        name: String,
        addrs: Vec<String>,
    ) -> JamResponse {
        let result = {
            let mut state = lock(&self.shared.state);
            let me = self.me();
            let invited = state.invites.get(&invite).is_some_and(|p| {
                p.direction == Direction::Outgoing
                    && p.peer == from
                    && p.jam.as_deref() == Some(jam.as_str())
            });
            match state.live.as_mut() {
                Some(live) if live.session.id == jam && live.hosting(&me) => {
                    // An invitation of ours, or someone already in (a reconnect).
                    if !invited && !live.session.is_in(&from) {
                        Err(Refusal::NotAllowed)
                    } else {
                        let joined = live.session.join(Participant {
                            standing: None,
                            peer: from.clone(),
                            name,
                            addrs,
                        });
                        joined.map(|()| live.session.clone())
                    }
                }
                _ => Err(Refusal::NotInJam),
            }
            .inspect(|_| {
                state.invites.take(&invite);
            })
        };
        match result {
            Ok(session) => {
                self.invites_changed();
                self.after_host_change().await;
                JamResponse::Joined(Box::new(session))
            }
            Err(reason) => JamResponse::Refused(reason),
        }
    }

    /// A state from the host (or from the old host, naming a new one).
    pub(super) async fn on_state(&self, from: String, mut session: Session) -> JamResponse {
        let me = self.me();
        enum Next {
            Ignore,
            Apply,
            TakeOver(i64),
            NewHost(u64),
            Removed,
        }
        let next = {
            let mut state = lock(&self.shared.state);
            let Some(live) = state.live.as_mut() else {
                return JamResponse::Refused(Refusal::NotInJam);
            };
            if live.session.id != session.id || live.hosting(&me) {
                return JamResponse::Refused(Refusal::NotInJam);
            }
            // Only the host we know speaks for the jam (also when naming its successor).
            if from != live.session.host {
                return JamResponse::Refused(Refusal::NotAllowed);
            }
            if !session.is_in(&me) {
                Next::Removed
            } else if session.host == me {
                // The host handed the jam to us: its timeline, moved onto our clock.
                let offset = live
                    .clock
                    .estimate(engine_clock::now_ns())
                    .map_or(0, |e| e.offset_ns);
                Next::TakeOver(offset)
            } else if session.host != live.session.host {
                live.generation = next_generation();
                live.clock = ClockEstimator::default();
                live.clock_of = session.host.clone();
                live.heard_host = engine_clock::now_ns();
                live.sync = SyncState::Measuring;
                live.session = session.clone();
                Next::NewHost(live.generation)
            } else if session.seq > live.session.seq {
                live.heard_host = engine_clock::now_ns();
                live.session = session.clone();
                Next::Apply
            } else {
                Next::Ignore
            }
        };
        match next {
            Next::Ignore => {}
            Next::Apply => {
                self.peers_changed().await;
                self.changed();
                self.shared.wake.notify_one();
            }
            Next::TakeOver(offset) => {
                // Their clock minus ours: a host instant h is ours at h − offset.
                session.rebase(-offset);
                self.take_over(session).await;
            }
            Next::NewHost(generation) => {
                self.dial_host(&session).await;
                self.peers_changed().await;
                self.spawn_clock(generation);
                self.changed();
            }
            Next::Removed => self.end(JamEnd::Ended).await,
        }
        JamResponse::Ok
    }

    /// Hosting from now on, with `session` (already on our clock).
    pub(super) async fn take_over(&self, session: Session) {
        {
            let mut state = lock(&self.shared.state);
            if let Some(live) = state.live.as_mut() {
                live.session = session;
                live.generation = next_generation();
                live.clock_of = self.me();
                live.state_sent = engine_clock::now_ns();
                // The player's schedule was on the old host's clock converted to ours; the
                // converted timeline is the same instants, so nothing needs reloading.
            }
        }
        let _ = self.shared.events.send(Event::PlayerMessage {
            message: "The host left; you host the jam now.".into(),
        });
        self.after_host_change().await;
    }

    /// Every clock exchange with the host failed for a while: it is gone. Everyone left works
    /// out the same successor (the longest present).
    pub(super) async fn host_lost(&self) {
        let me = self.me();
        let (session, offset, generation) = {
            let mut state = lock(&self.shared.state);
            let Some(live) = state.live.as_mut() else {
                return;
            };
            let old = live.session.host.clone();
            let offset = live
                .clock
                .estimate(engine_clock::now_ns())
                .map_or(0, |e| e.offset_ns);
            live.session.leave(&old);
            if live.session.participants.is_empty() {
                (None, 0, 0)
            } else {
                live.generation = next_generation();
                live.clock = ClockEstimator::default();
                live.clock_of = live.session.host.clone();
                live.heard_host = engine_clock::now_ns();
                (Some(live.session.clone()), offset, live.generation)
            }
        };
        let Some(mut session) = session else {
            return self.end(JamEnd::Lost).await;
        };
        if session.host == me {
            session.rebase(-offset);
            self.take_over(session).await;
        } else {
            if let Some(live) = lock(&self.shared.state).live.as_mut() {
                live.sync = SyncState::Measuring;
            }
            self.dial_host(&session).await;
            self.peers_changed().await;
            self.spawn_clock(generation);
            self.changed();
        }
    }

    pub(super) async fn dial_host(&self, session: &Session) {
        let Some(host) = session.participants.iter().find(|p| p.peer == session.host) else {
            return;
        };
        let Ok(peer) = host.peer.parse::<PeerId>() else {
            return;
        };
        let addrs: Vec<Multiaddr> = host.addrs.iter().filter_map(|a| a.parse().ok()).collect();
        let _ = self.shared.net.dial(peer, addrs).await;
    }

    /// The jam is over for us.
    pub(super) async fn end(&self, reason: JamEnd) {
        let ended = lock(&self.shared.state).live.take();
        if ended.is_none() {
            return;
        }
        self.stop_playback().await;
        self.peers_changed().await;
        let _ = self.shared.events.send(Event::JamEnded { reason });
        self.changed();
    }

    pub(super) async fn stop_playback(&self) {
        if let Err(error) = self
            .shared
            .player
            .jam(crate::player::JamCommand::Stop)
            .await
        {
            tracing::debug!(%error, "the player did not stop for the jam's end");
        }
    }

    /// After the host's session changed: tell everyone, and play it here.
    pub(super) async fn after_host_change(&self) {
        self.push_state();
        self.peers_changed().await;
        self.changed();
        self.shared.wake.notify_one();
    }

    /// Sends the current state to every participant: one push in flight per participant, the
    /// latest state taken when it is sent.
    pub(super) fn push_state(&self) {
        let me = self.me();
        let peers: Vec<String> = {
            let mut state = lock(&self.shared.state);
            let Some(live) = state.live.as_ref() else {
                return;
            };
            if !live.hosting(&me) {
                return;
            }
            let peers: Vec<String> = live
                .session
                .participants
                .iter()
                .map(|p| p.peer.clone())
                .filter(|p| *p != me)
                .collect();
            let mut start = Vec::new();
            for peer in peers {
                match state.pushes.get_mut(&peer) {
                    Some(dirty) => *dirty = true,
                    None => {
                        state.pushes.insert(peer.clone(), false);
                        start.push(peer);
                    }
                }
            }
            start
        };
        for peer in peers {
            let this = self.clone();
            tokio::spawn(async move { this.push_to(peer).await });
        }
    }

    pub(super) async fn push_to(&self, peer: String) {
        let Ok(peer_id) = peer.parse::<PeerId>() else {
            lock(&self.shared.state).pushes.remove(&peer);
            return;
        };
        loop {
            let session = {
                let mut state = lock(&self.shared.state);
                let current = state
                    .live
                    .as_ref()
                    .filter(|l| l.hosting(&self.me()) && l.session.is_in(&peer))
                    .map(|l| l.session.clone());
                match current {
                    Some(s) => {
                        state.pushes.insert(peer.clone(), false);
                        s
                    }
                    None => {
                        state.pushes.remove(&peer);
                        return;
                    }
                }
            };
            let sent = self
                .shared
                .net
                .send_jam(peer_id, JamRequest::State(Box::new(session)))
                .await;
            if let Err(error) = &sent {
                tracing::debug!(%peer, %error, "a jam state did not arrive");
            }
            let mut state = lock(&self.shared.state);
            let dirty = state.pushes.get(&peer).copied().unwrap_or(false);
            if !dirty {
                state.pushes.remove(&peer);
                return;
            }
        }
    }

    /// Measures the host's clock while `generation` is current: a burst, then one a second.
    pub(super) fn spawn_clock(&self, generation: u64) {
        let this = self.clone();
        crate::supervise::spawn("jam clock", self.shared.events.clone(), async move {
            let mut done = 0usize;
            loop {
                let host = {
                    let state = lock(&this.shared.state);
                    match state.live.as_ref() {
                        Some(l) if l.generation == generation && !l.hosting(&this.me()) => {
                            l.clock_of.clone()
                        }
                        _ => return,
                    }
                };
                let Ok(peer) = host.parse::<PeerId>() else {
                    return;
                };
                if let Ok(exchange) = this.shared.net.clock_exchange(peer).await {
                    let mut state = lock(&this.shared.state);
                    if let Some(live) = state.live.as_mut().filter(|l| l.generation == generation) {
                        live.clock.add(exchange);
                        live.heard_host = engine_clock::now_ns();
                    }
                    done += 1;
                }
                let pause = if done < BURST {
                    BURST_EVERY
                } else {
                    EXCHANGE_EVERY
                };
                tokio::time::sleep(pause).await;
            }
        });
    }
}
