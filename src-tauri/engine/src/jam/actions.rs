//! What the API asks of the jam: start, invite, request, accept, decline, leave, change the
//! queue and the transport, and save the queue.

use std::collections::{HashMap, HashSet};

use libp2p::PeerId;

use super::inbound;

use super::*;

impl Jam {
    /// The jam and the invitations.
    pub fn get(&self) -> Response {
        Response::Jam {
            jam: self.view(),
            invites: self.invite_views(),
        }
    }

    /// Starts a jam hosted here with what plays now (if anything).
    pub async fn start_jam(&self) -> Result<Response, ApiError> {
        if lock(&self.shared.state).live.is_some() {
            return Ok(self.get());
        }
        let me = self.me();
        let name = self.my_name().await;
        let addrs = self.my_addrs().await;
        let mut session = Session::new(
            random_id(),
            Participant {
                standing: None,
                peer: me.clone(),
                name,
                addrs,
            },
        );
        // What plays now (or the last track played) becomes the jam's first track, where it is.
        let player = match self.shared.player.call(Request::GetPlayer).await {
            Ok(Response::Player(p)) => Some(p),
            _ => None,
        };
        let now = engine_clock::now_ns();
        let current = match player.as_ref().and_then(|p| p.current.clone()) {
            Some(track) => Some((*track, player.as_ref().map_or(0, |p| p.position_ms))),
            None => self.last_played().await.map(|t| (t, 0)),
        };
        if let Some((track, position_ms)) = current {
            let playing = player
                .as_ref()
                .is_none_or(|p| p.state != crate::api::PlaybackState::Paused);
            session
                .apply(&me, Op::Add(jam_track(&track)), now)
                .map_err(refused)?;
            if position_ms > 0 {
                session
                    .apply(&me, Op::Seek { position_ms }, now)
                    .map_err(refused)?;
            }
            if !playing {
                session.apply(&me, Op::Pause, now).map_err(refused)?;
            }
        }
        lock(&self.shared.state).live = Some(Live::new(session, &me));
        self.peers_changed().await;
        self.changed();
        self.shared.wake.notify_one();
        Ok(self.get())
    }

    /// The track played last, for a jam started with nothing playing.
    pub(super) async fn last_played(&self) -> Option<Track> {
        let plays = self.shared.library.recent_plays(1).await.ok()?;
        let play = plays.into_iter().next()?;
        self.shared.library.track(&play.hash).await.ok()
    }

    /// Invites friends (starting a jam if none is on).
    pub async fn invite(&self, peer_ids: &[String]) -> Result<Response, ApiError> {
        if peer_ids.is_empty() {
            return Err(ApiError::invalid_input("Choose someone to invite."));
        }
        let mut peers = Vec::new();
        for id in peer_ids {
            let peer: PeerId = id
                .parse()
                .map_err(|_| ApiError::invalid_input("That is not a peer id."))?;
            if peer == self.shared.me {
                return Err(ApiError::invalid_input("You are in your own jam already."));
            }
            peers.push(peer);
        }
        if lock(&self.shared.state).live.is_none() {
            self.start_jam().await?;
        }
        let (jam, host_name, playing) = {
            let state = lock(&self.shared.state);
            let live = state.live.as_ref().ok_or_else(not_in_jam)?;
            if !live.hosting(&self.me()) {
                return Err(ApiError::new(
                    ErrorKind::NotAllowed,
                    "Only the host invites; ask them to.",
                ));
            }
            let host_name = live.session.participants[0].name.clone();
            let playing = live.session.current().map(|(_, e)| e.track.clone());
            (live.session.id.clone(), host_name, playing)
        };
        let mut sent = 0;
        let mut last_error = None;
        for peer in peers {
            match self
                .send_invite(peer, &jam, &host_name, playing.clone(), None)
                .await
            {
                Ok(()) => sent += 1,
                Err(error) => last_error = Some(error),
            }
        }
        match (sent, last_error) {
            (0, Some(error)) => Err(error),
            _ => Ok(self.get()),
        }
    }

    pub(super) async fn send_invite(
        &self,
        peer: PeerId,
        jam: &str,
        host_name: &str,
        playing: Option<JamTrack>,
        answers: Option<String>,
    ) -> Result<(), ApiError> {
        let id = random_id();
        let request = JamRequest::Invite {
            id: id.clone(),
            jam: jam.to_string(),
            host_name: host_name.to_string(),
            playing,
            left_ms: invites::lifetime_ms(),
            answers: answers.clone(),
        };
        {
            let mut state = lock(&self.shared.state);
            state
                .invites
                .add(Pending {
                    id: id.clone(),
                    kind: Kind::Invite,
                    direction: Direction::Outgoing,
                    peer: peer.to_string(),
                    jam: Some(jam.to_string()),
                    answers,
                    playing: None,
                    expires_at_ms: now_ms() + invites::lifetime_ms(),
                })
                .map_err(|_| ApiError::invalid_input("Too many invitations are waiting."))?;
        }
        self.remember_name(peer).await;
        self.invites_changed();
        self.deliver(peer, request, &id).await
    }

    /// Sends an invitation or a request kept as pending `id`; if it is not taken, it is no
    /// longer pending.
    async fn deliver(&self, peer: PeerId, request: JamRequest, id: &str) -> Result<(), ApiError> {
        let failure = match self.send_patiently(peer, request).await {
            Ok(JamResponse::Ok) => return Ok(()),
            Ok(other) => not_taken(other),
            Err(error) => net_error(error),
        };
        lock(&self.shared.state).invites.take(id);
        self.invites_changed();
        Err(failure)
    }

    /// Sends an invitation or a request, asking again (up to 3 times, a second apart) while the
    /// friend refuses or is busy: a friend paired a moment ago may not have stored the
    /// friendship yet when the invitation arrives.
    async fn send_patiently(
        &self,
        peer: PeerId,
        request: JamRequest,
    ) -> Result<JamResponse, crate::net::NetError> {
        let mut tries = 0;
        loop {
            let answer = self.shared.net.send_jam(peer, request.clone()).await?;
            let again = matches!(
                answer,
                JamResponse::Refused(Refusal::NotAllowed) | JamResponse::Busy
            );
            tries += 1;
            if !again || tries > PATIENCE {
                return Ok(answer);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Asks a friend to jam: they host, we join.
    pub async fn request(&self, peer_id: &str) -> Result<Response, ApiError> {
        let peer: PeerId = peer_id
            .parse()
            .map_err(|_| ApiError::invalid_input("That is not a peer id."))?;
        if peer == self.shared.me {
            return Err(ApiError::invalid_input("You cannot jam with yourself."));
        }
        let id = random_id();
        let pending = Pending {
            id: id.clone(),
            kind: Kind::Request,
            direction: Direction::Outgoing,
            peer: peer.to_string(),
            jam: None,
            answers: None,
            playing: None,
            expires_at_ms: now_ms() + invites::lifetime_ms(),
        };
        lock(&self.shared.state)
            .invites
            .add(pending.clone())
            .map_err(|_| ApiError::invalid_input("Too many requests are waiting."))?;
        self.remember_name(peer).await;
        self.invites_changed();
        let request = JamRequest::Request {
            id: id.clone(),
            left_ms: invites::lifetime_ms(),
        };
        self.deliver(peer, request, &id).await?;
        Ok(Response::JamInvite(self.invite_view(&pending)))
    }

    /// Accepts an invitation (join its jam) or a request (host a jam for the one asking).
    pub async fn accept(&self, invite_id: &str) -> Result<Response, ApiError> {
        let pending = {
            let mut state = lock(&self.shared.state);
            match state.invites.get(invite_id) {
                Some(p) if p.direction == Direction::Incoming => state.invites.take(invite_id),
                _ => None,
            }
        }
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::NotFound,
                "That invitation expired or was withdrawn.",
            )
        })?;
        self.invites_changed();
        let peer: PeerId = pending
            .peer
            .parse()
            .map_err(|_| ApiError::invalid_input("That is not a peer id."))?;
        match pending.kind {
            Kind::Invite => {
                let jam = pending.jam.clone().ok_or_else(not_in_jam)?;
                self.join(peer, &jam, &pending.id).await
            }
            Kind::Request => {
                // We host (or already do), and invite the one who asked; their side joins at once.
                self.leave_if_guest().await;
                self.start_jam().await?;
                let (jam, host_name, playing) = {
                    let state = lock(&self.shared.state);
                    let live = state.live.as_ref().ok_or_else(not_in_jam)?;
                    (
                        live.session.id.clone(),
                        live.session.participants[0].name.clone(),
                        live.session.current().map(|(_, e)| e.track.clone()),
                    )
                };
                self.send_invite(peer, &jam, &host_name, playing, Some(pending.id))
                    .await?;
                Ok(self.get())
            }
        }
    }

    /// Leaves a jam we are a guest in, before hosting another.
    pub(super) async fn leave_if_guest(&self) {
        let guest = {
            let state = lock(&self.shared.state);
            state.live.as_ref().is_some_and(|l| !l.hosting(&self.me()))
        };
        if guest {
            let _ = self.leave().await;
        }
    }

    /// Joins `jam` hosted by `host`, accepting invitation `invite`.
    pub(super) async fn join(
        &self,
        host: PeerId,
        jam: &str,
        invite: &str,
    ) -> Result<Response, ApiError> {
        if lock(&self.shared.state).live.is_some() {
            self.leave().await?;
        }
        let request = JamRequest::Join {
            jam: jam.to_string(),
            invite: invite.to_string(),
            name: self.my_name().await,
            addrs: self.my_addrs().await,
        };
        let session = match self.shared.net.send_jam(host, request).await {
            Ok(JamResponse::Joined(mut session)) => {
                wire::validate_session(&mut session).map_err(|e| {
                    ApiError::new(
                        ErrorKind::Internal,
                        format!("The host sent a jam that cannot be true ({e})."),
                    )
                })?;
                if session.host != host.to_string() || session.id != jam {
                    return Err(ApiError::new(
                        ErrorKind::Internal,
                        "The host answered with another jam.",
                    ));
                }
                *session
            }
            Ok(JamResponse::Refused(reason)) => return Err(refused(reason)),
            Ok(_) => {
                return Err(ApiError::new(
                    ErrorKind::Busy,
                    "The host is busy; try again.",
                ))
            }
            Err(error) => return Err(net_error(error)),
        };
        self.become_guest(session).await;
        Ok(self.get())
    }

    /// Takes a host's state as ours, and starts measuring its clock.
    pub(super) async fn become_guest(&self, session: Session) {
        let generation = {
            let mut state = lock(&self.shared.state);
            let live = Live::new(session, &self.me());
            let generation = live.generation;
            state.live = Some(live);
            generation
        };
        self.peers_changed().await;
        self.spawn_clock(generation);
        self.changed();
        self.shared.wake.notify_one();
    }

    /// Declines an incoming invitation or request, or withdraws an outgoing one.
    pub async fn decline(&self, invite_id: &str) -> Result<Response, ApiError> {
        let pending = lock(&self.shared.state)
            .invites
            .take(invite_id)
            .ok_or_else(|| {
                ApiError::new(ErrorKind::NotFound, "That invitation is no longer waiting.")
            })?;
        self.invites_changed();
        if let Ok(peer) = pending.peer.parse::<PeerId>() {
            let request = JamRequest::Withdraw { id: pending.id };
            // The other side also lets it expire; telling them is a courtesy.
            let net = self.shared.net.clone();
            tokio::spawn(async move {
                let _ = net.send_jam(peer, request).await;
            });
        }
        Ok(Response::Done)
    }

    /// Leaves the jam; a host hands it to the longest-present participant.
    pub async fn leave(&self) -> Result<Response, ApiError> {
        let me = self.me();
        let (session, was_host, withdrawn) = {
            let mut state = lock(&self.shared.state);
            let live = state.live.take().ok_or_else(not_in_jam)?;
            inbound::remember_queue(&mut state, &live.session);
            let was_host = live.hosting(&me);
            let withdrawn = state.invites.forget_jam(&live.session.id);
            (live.session, was_host, withdrawn)
        };
        let mut rest = session.clone();
        rest.leave(&me);
        let mut farewells: Vec<(PeerId, JamRequest)> = Vec::new();
        if was_host {
            // The last state names the new host; everyone gets it at once.
            for p in &rest.participants {
                if let Ok(peer) = p.peer.parse() {
                    farewells.push((peer, JamRequest::State(Box::new(rest.clone()))));
                }
            }
        } else if let Ok(host) = session.host.parse::<PeerId>() {
            farewells.push((
                host,
                JamRequest::Leave {
                    jam: session.id.clone(),
                },
            ));
        }
        // Invitations of the jam we leave disappear from the invitees' screens.
        for pending in withdrawn {
            if let Ok(peer) = pending.peer.parse() {
                farewells.push((peer, JamRequest::Withdraw { id: pending.id }));
            }
        }
        self.stop_playback().await;
        self.invites_changed();
        let _ = self.shared.events.send(Event::JamEnded {
            reason: JamEnd::Left,
        });
        self.changed();
        // The participants may talk to us until the last word is out (they need not be our
        // friends); then the network forgets them.
        let this = self.clone();
        tokio::spawn(async move {
            let net = this.shared.net.clone();
            let sends = farewells
                .into_iter()
                .map(|(peer, request)| net.send_jam(peer, request));
            futures::future::join_all(sends).await;
            this.peers_changed().await;
        });
        Ok(Response::Done)
    }

    /// Asks for a change: carried out here when hosting, else sent to the host.
    pub async fn op(&self, op: Op) -> Result<Response, ApiError> {
        let me = self.me();
        let guest_of = {
            let mut state = lock(&self.shared.state);
            let live = state.live.as_mut().ok_or_else(not_in_jam)?;
            if live.hosting(&me) {
                live.session
                    .apply(&me, op.clone(), engine_clock::now_ns())
                    .map_err(refused)?;
                None
            } else {
                Some((live.session.host.clone(), live.session.id.clone()))
            }
        };
        let Some((host, jam)) = guest_of else {
            self.after_host_change().await;
            return Ok(self.get());
        };
        let host: PeerId = host.parse().map_err(|_| not_in_jam())?;
        match self
            .shared
            .net
            .send_jam(host, JamRequest::Op { jam, op })
            .await
        {
            Ok(JamResponse::Ok) => Ok(self.get()),
            Ok(JamResponse::Refused(reason)) => Err(refused(reason)),
            Ok(_) => Err(ApiError::new(
                ErrorKind::Busy,
                "The host is busy; try again.",
            )),
            Err(error) => Err(net_error(error)),
        }
    }

    /// Adds library tracks to the queue.
    pub async fn add(&self, hashes: &[String]) -> Result<Response, ApiError> {
        let tracks = self.shared.library.tracks_by_hash(hashes).await?;
        if tracks.is_empty() {
            return Err(ApiError::invalid_input("Choose at least one track to add."));
        }
        let mut last = Ok(Response::Done);
        for track in tracks {
            last = self.op(Op::Add(jam_track(&track))).await;
            last.as_ref().map_err(Clone::clone)?;
        }
        last
    }

    /// Adds a track known only by what a friend said of it (their activity).
    pub async fn add_heard(&self, track: JamTrack) -> Result<Response, ApiError> {
        self.op(Op::Add(track)).await
    }

    /// Plays these library tracks in the jam: added, and the first jumped to (or only added,
    /// for a guest without controls).
    pub async fn play(&self, hashes: &[String]) -> Result<Response, ApiError> {
        let before: HashSet<u32> = self.entry_ids();
        self.add(hashes).await?;
        let first_new = {
            let state = lock(&self.shared.state);
            state.live.as_ref().and_then(|l| {
                l.session
                    .queue
                    .iter()
                    .find(|e| !before.contains(&e.id))
                    .map(|e| e.id)
            })
        };
        match first_new {
            Some(entry) if self.may_control() => self.op(Op::Jump { entry }).await,
            _ => Ok(self.get()),
        }
    }

    pub(super) fn entry_ids(&self) -> HashSet<u32> {
        let state = lock(&self.shared.state);
        state
            .live
            .as_ref()
            .map(|l| l.session.queue.iter().map(|e| e.id).collect())
            .unwrap_or_default()
    }

    pub(super) fn may_control(&self) -> bool {
        let state = lock(&self.shared.state);
        state
            .live
            .as_ref()
            .is_some_and(|l| l.hosting(&self.shared.me.to_string()) || l.session.guest_controls)
    }

    /// Whether a jam is on (the transport then acts on it).
    pub fn active(&self) -> bool {
        lock(&self.shared.state).live.is_some()
    }

    pub fn set_output_offset(&self, ms: i32) -> Result<Response, ApiError> {
        if !(-MAX_OUTPUT_OFFSET_MS..=MAX_OUTPUT_OFFSET_MS).contains(&ms) {
            return Err(ApiError::invalid_input(
                "The output offset must be between −500 and 500 ms.",
            ));
        }
        lock(&self.shared.state).output_offset_ms = ms;
        self.changed();
        self.shared.wake.notify_one();
        Ok(self.get())
    }

    /// Saves the queue of the jam (on, or ended last) as a playlist; each entry's note says who
    /// added it.
    pub async fn save_queue(&self, name: &str) -> Result<Response, ApiError> {
        let entries: Vec<(String, String)> = {
            let state = lock(&self.shared.state);
            match state.live.as_ref() {
                Some(live) => {
                    let names: HashMap<&str, &str> = live
                        .session
                        .participants
                        .iter()
                        .map(|p| (p.peer.as_str(), p.name.as_str()))
                        .collect();
                    live.session
                        .queue
                        .iter()
                        .map(|e| {
                            let who = names
                                .get(e.added_by.as_str())
                                .copied()
                                .unwrap_or(e.added_by_name.as_str());
                            (e.track.hash.clone(), who.to_string())
                        })
                        .collect()
                }
                None => state
                    .last_queue
                    .iter()
                    .map(|(e, who)| (e.hash.clone(), who.clone()))
                    .collect(),
            }
        };
        if entries.is_empty() {
            return Err(ApiError::invalid_input("The jam's queue is empty."));
        }
        let playlist = self
            .shared
            .library
            .save_credited_playlist(name, entries)
            .await?;
        Ok(Response::Playlist {
            items: self.shared.library.playlist(playlist.id).await?.1,
            playlist,
        })
    }
}

/// Extra tries for an invitation or a request that a friend refused or was too busy for.
const PATIENCE: u32 = 3;

/// Why an invitation or a request was not taken.
fn not_taken(answer: JamResponse) -> ApiError {
    match answer {
        JamResponse::Refused(Refusal::NotAllowed) => ApiError::new(
            ErrorKind::NotAllowed,
            "They did not take it: only friends can invite each other to jam.",
        ),
        JamResponse::Refused(reason) => refused(reason),
        JamResponse::Ok | JamResponse::Joined(_) | JamResponse::Busy => {
            ApiError::new(ErrorKind::Busy, "They are busy; try again.")
        }
    }
}
