//! What peers send: invitations and requests, joins and leaves, a guest's changes (the host
//! decides), the host's state (a guest follows, or takes over when named), the end.

use std::collections::HashMap;

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
                if !ours && !self.is_friend(peer).await {
                    // Invitations and requests come from friends only.
                    return JamResponse::Refused(Refusal::NotAllowed);
                }
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
                    playing: playing.map(|t| t.title),
                    expires_at_ms: now_ms() + left_ms,
                };
                self.incoming(pending, name)
            }
            JamRequest::Request { id, left_ms } => {
                if !self.is_friend(peer).await {
                    return JamResponse::Refused(Refusal::NotAllowed);
                }
                let name = self.name_of(peer, "").await;
                let pending = Pending {
                    id,
                    kind: Kind::Request,
                    direction: Direction::Incoming,
                    peer: from,
                    jam: None,
                    answers: None,
                    playing: None,
                    expires_at_ms: now_ms() + left_ms,
                };
                self.incoming(pending, name)
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
                            live.seen.remove(&from);
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
                // Noted at once, pushed to the others with the next state (at most every 2 s):
                // a guest flipping its standing cannot make the host broadcast on every flip.
                let mut state = lock(&self.shared.state);
                match state.live.as_mut() {
                    Some(live)
                        if live.session.id == jam
                            && live.hosting(&self.me())
                            && live.session.is_in(&from) =>
                    {
                        live.seen.insert(from.clone(), engine_clock::now_ns());
                        if live.session.report(&from, standing) {
                            live.standing_news = true;
                        }
                        JamResponse::Ok
                    }
                    _ => JamResponse::Refused(Refusal::NotInJam),
                }
            }
        }
    }

    pub(super) fn incoming(&self, pending: Pending, name: String) -> JamResponse {
        let view = {
            let mut state = lock(&self.shared.state);
            if let Err(reason) = state.invites.add(pending.clone()) {
                tracing::debug!(?reason, "an invitation refused");
                return JamResponse::Busy;
            }
            state.names.insert(pending.peer.clone(), name);
            self.invite_view_locked(&state, &pending)
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
                        live.seen.insert(from.clone(), engine_clock::now_ns());
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

    /// A state from the host, from the old host naming a new one, or from the new host (its
    /// state may overtake the old host's last).
    pub(super) async fn on_state(&self, from: String, mut session: Session) -> JamResponse {
        let me = self.me();
        enum Next {
            Ignore,
            Apply,
            TakeOver,
            NewHost(u64),
            Removed,
        }
        let now = engine_clock::now_ns();
        let next = {
            let mut state = lock(&self.shared.state);
            let Some(live) = state.live.as_mut() else {
                return JamResponse::Refused(Refusal::NotInJam);
            };
            if live.session.id != session.id || live.hosting(&me) {
                return JamResponse::Refused(Refusal::NotInJam);
            }
            let from_host = from == live.session.host;
            // Only the host speaks for the jam — or its successor, announcing itself.
            let successor = session.host == from && live.session.successor() == Some(&from);
            if !from_host && !successor {
                return JamResponse::Refused(Refusal::NotAllowed);
            }
            if from_host {
                live.heard_host = now;
            }
            if !session.is_in(&me) {
                Next::Removed
            } else if session.host == me {
                if from_host {
                    // The host handed the jam to us: its timeline, moved onto our clock.
                    carry_over(live, &mut session, now);
                    live.session = session.clone();
                    Next::TakeOver
                } else {
                    Next::Ignore
                }
            } else if session.host != live.session.host {
                live.generation = next_generation();
                live.clock = ClockEstimator::default();
                live.clock_of = session.host.clone();
                live.heard_host = now;
                live.sync = SyncState::Measuring;
                // On the clock of whoever sent it: the old host's, or the new host's own.
                live.timeline_clock = from.clone();
                live.session = session.clone();
                Next::NewHost(live.generation)
            } else if session.seq > live.session.seq {
                live.timeline_clock = from.clone();
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
            Next::TakeOver => self.take_over().await,
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

    /// Hosting from now on (the session is already on our clock).
    pub(super) async fn take_over(&self) {
        {
            let mut state = lock(&self.shared.state);
            if let Some(live) = state.live.as_mut() {
                let now = engine_clock::now_ns();
                live.generation = next_generation();
                live.clock_of = self.me();
                live.timeline_clock = self.me();
                live.state_sent = now;
                // Everyone gets the grace a newcomer gets before counting as gone.
                live.seen = live
                    .session
                    .participants
                    .iter()
                    .map(|p| (p.peer.clone(), now))
                    .collect();
            }
        }
        let _ = self.shared.events.send(Event::PlayerMessage {
            message: "The host left; you host the jam now.".into(),
        });
        self.after_host_change().await;
    }

    /// Every clock exchange with the host failed, and no state came, for a while: it is gone.
    /// Everyone left works out the same successor (the longest present).
    pub(super) async fn host_lost(&self) {
        let me = self.me();
        let now = engine_clock::now_ns();
        let outcome = {
            let mut state = lock(&self.shared.state);
            let Some(live) = state.live.as_mut() else {
                return;
            };
            // Checked again: a state or an answer may have come since the tick looked.
            if live.hosting(&me)
                || now.saturating_sub(live.heard_host) < HOST_LOST_AFTER.as_nanos() as u64
            {
                return;
            }
            let old = live.session.host.clone();
            live.session.leave(&old);
            if live.session.host == me {
                let mut session = live.session.clone();
                carry_over(live, &mut session, now);
                live.session = session;
                Some(None)
            } else {
                live.generation = next_generation();
                live.clock = ClockEstimator::default();
                live.clock_of = live.session.host.clone();
                live.heard_host = now;
                live.sync = SyncState::Measuring;
                // The timeline is still the old host's until the new one sends its own.
                Some(Some((live.session.clone(), live.generation)))
            }
        };
        match outcome {
            None => {}
            Some(None) => self.take_over().await,
            Some(Some((session, generation))) => {
                self.dial_host(&session).await;
                self.peers_changed().await;
                self.spawn_clock(generation);
                self.changed();
            }
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

    /// The jam is over for us (ended by the host, or the host lost with no one left).
    pub(super) async fn end(&self, reason: JamEnd) {
        let ended = {
            let mut state = lock(&self.shared.state);
            let live = state.live.take();
            if let Some(live) = live.as_ref() {
                remember_queue(&mut state, &live.session);
            }
            live
        };
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

    /// Measures the host's clock while `generation` is current: a burst, then four a second,
    /// on one stream (opened again when it breaks).
    pub(super) fn spawn_clock(&self, generation: u64) {
        let this = self.clone();
        crate::supervise::spawn("jam clock", self.shared.events.clone(), async move {
            let mut done = 0usize;
            let mut stream: Option<(PeerId, crate::net::clock::ClockStream)> = None;
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
                if stream.as_ref().is_none_or(|(p, _)| *p != peer) {
                    stream = match this.shared.net.clock_stream(peer).await {
                        Ok(s) => Some((peer, s)),
                        Err(error) => {
                            tracing::debug!(%peer, %error, "no clock stream to the host");
                            tokio::time::sleep(HOST_RETRY).await;
                            continue;
                        }
                    };
                }
                let Some((_, open)) = stream.as_mut() else {
                    continue;
                };
                // A few back to back: the first wakes both ends (threads parked since the last
                // round answer late on the way there), the later ones see both awake and are
                // kept by the estimator for their shorter round trips.
                let mut ok = true;
                for _ in 0..EXCHANGES_PER_ROUND {
                    match open.exchange().await {
                        Ok(exchange) => {
                            let mut state = lock(&this.shared.state);
                            if let Some(live) =
                                state.live.as_mut().filter(|l| l.generation == generation)
                            {
                                live.clock.add(exchange);
                                live.heard_host = engine_clock::now_ns();
                            }
                        }
                        Err(error) => {
                            tracing::debug!(%peer, %error, "a clock exchange failed");
                            stream = None;
                            ok = false;
                            break;
                        }
                    }
                }
                done += 1;
                // A host that does not answer is asked again a second later.
                let pause = if !ok {
                    HOST_RETRY
                } else if done < BURST {
                    BURST_EVERY
                } else {
                    EXCHANGE_EVERY
                };
                tokio::time::sleep(pause).await;
            }
        });
    }
}

/// Moves a handed-over timeline onto our clock: with the offset measured to the old host; without
/// one worth trusting, from what our own player is doing (already on our clock); failing that, it
/// pauses where it was.
fn carry_over(live: &Live, session: &mut Session, now: u64) {
    if let Some(offset) = live.offset(now) {
        // Their clock minus ours: an instant h of theirs is ours at h − offset.
        session.rebase(-offset);
        return;
    }
    let timeline = match live.applied.as_ref() {
        Some(applied) => applied.timeline_at(now + session::LEAD_NS),
        None => session::Timeline {
            playing: false,
            at_ns: now,
            ..session.timeline
        },
    };
    session.set_timeline(timeline);
}

/// Keeps a jam's queue, with who added what, for "save as playlist" after it ended.
pub(super) fn remember_queue(state: &mut State, session: &Session) {
    let names: HashMap<String, String> = session
        .participants
        .iter()
        .map(|p| (p.peer.clone(), p.name.clone()))
        .collect();
    state.last_queue = session
        .queue
        .iter()
        .map(|e| {
            let name = match names.get(&e.added_by) {
                Some(name) => name.clone(),
                None => e.added_by_name.clone(),
            };
            (view::entry_view(e, &names, false), name)
        })
        .collect();
}
