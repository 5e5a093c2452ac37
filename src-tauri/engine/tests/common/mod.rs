//! Helpers shared by the engine tests that run several peers in one process.

#![allow(dead_code)] // each test binary uses a different part

use std::path::Path;
use std::time::Duration;

use earshot_engine::api::{ConnectionKind, Event, Friend, PeerCard, Request, Response, Track};
use earshot_engine::net::NetConfig;
use earshot_engine::player::{OutputKind, VirtualSink};
use earshot_engine::{Config, Engine};
use tokio::sync::broadcast;

pub const WAIT: Duration = Duration::from_secs(20);

pub struct Peer {
    pub engine: Engine,
    pub events: broadcast::Receiver<Event>,
    pub id: String,
}

/// `N` fresh data directories.
pub fn dirs<const N: usize>() -> [tempfile::TempDir; N] {
    std::array::from_fn(|_| tempfile::tempdir().expect("a temporary directory"))
}

/// Makes `invitee` a friend of `inviter` through a fresh invite.
pub async fn befriend(inviter: &Peer, invitee: &Peer) {
    invitee
        .redeem(&inviter.invite().await)
        .await
        .expect("the invite to be redeemed");
}

/// Every interface with mDNS on: peers on one machine find each other as on a LAN.
pub fn lan() -> NetConfig {
    NetConfig {
        listen: vec!["/ip4/0.0.0.0/tcp/0".parse().unwrap()],
        mdns: true,
        ..NetConfig::default()
    }
}

impl Peer {
    pub async fn start(dir: &Path, name: &str) -> Peer {
        Peer::start_with(dir, name, NetConfig::loopback()).await
    }

    pub async fn start_with(dir: &Path, name: &str, net: NetConfig) -> Peer {
        let config = Config {
            net: Some(net),
            ..Config::new(dir)
        };
        Peer::started(
            Engine::start(config).await.expect("the engine to start"),
            name,
        )
        .await
    }

    /// A peer on loopback whose player renders into a software sink, so a test hears what it
    /// plays without a sound device.
    pub async fn start_listening(dir: &Path, name: &str) -> Peer {
        let config = Config {
            net: Some(NetConfig::loopback()),
            audio: OutputKind::Virtual(VirtualSink::new(48_000, 2)),
            media_controls: false,
            ..Config::new(dir)
        };
        Peer::started(
            Engine::start(config).await.expect("the engine to start"),
            name,
        )
        .await
    }

    async fn started(engine: Engine, name: &str) -> Peer {
        let events = engine.subscribe();
        engine
            .call(Request::SetProfile {
                display_name: name.into(),
            })
            .await
            .unwrap();
        let id = engine.peer_id().to_base58();
        Peer { engine, events, id }
    }

    /// The library's tracks.
    pub async fn tracks(&self) -> Vec<Track> {
        let request = Request::ListTracks {
            query: None,
            album: None,
            artist: None,
        };
        match self.call(request).await.unwrap() {
            Response::Tracks { tracks } => tracks,
            other => panic!("expected tracks, got {other:?}"),
        }
    }

    /// Adds a music folder and waits for its scan.
    pub async fn add_music(&mut self, dir: &std::path::Path) {
        let request = Request::AddFolder {
            path: dir.to_string_lossy().into(),
        };
        self.call(request).await.unwrap();
        self.wait_for("the scan", |e| matches!(e, Event::ScanFinished(_)))
            .await;
    }

    pub async fn call(&self, request: Request) -> Result<Response, earshot_engine::api::ApiError> {
        self.engine.call(request).await
    }

    pub async fn invite(&self) -> String {
        match self
            .call(Request::CreateInvite {
                lifetime_secs: None,
            })
            .await
            .unwrap()
        {
            Response::Invite(invite) => invite.link,
            other => panic!("expected an invite, got {other:?}"),
        }
    }

    pub async fn redeem(&self, link: &str) -> Result<Friend, earshot_engine::api::ApiError> {
        match self
            .call(Request::RedeemInvite { link: link.into() })
            .await?
        {
            Response::Friend(friend) => Ok(friend),
            other => panic!("expected a friend, got {other:?}"),
        }
    }

    pub async fn friends(&self) -> Vec<Friend> {
        match self.call(Request::ListFriends).await.unwrap() {
            Response::Friends { friends } => friends,
            other => panic!("expected friends, got {other:?}"),
        }
    }

    /// Waits for an event matching `wanted`, skipping others.
    pub async fn wait_for(&mut self, what: &str, wanted: impl Fn(&Event) -> bool) -> Event {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Ok(event)) if wanted(&event) => return event,
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(e)) => panic!("event stream ended while waiting for {what}: {e}"),
                Err(_) => panic!("no {what} within {WAIT:?}"),
            }
        }
    }

    /// Waits until `friend` is listed with connection `kind` (None = offline).
    pub async fn wait_friend_connection(&mut self, friend: &str, kind: Option<ConnectionKind>) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if self
                .friends()
                .await
                .iter()
                .any(|f| f.peer_id == friend && f.connection == kind)
            {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "{friend} never showed as {kind:?}; friends: {:?}",
                    self.friends().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn stop(self) {
        self.engine.shutdown().await;
    }
}

/// On one LAN (peers started with [`lan`]): waits until `from` sees `to` nearby (printing how long
/// discovery took), sends a friend request, and returns the card `to` received.
pub async fn ask_over_the_lan(from: &mut Peer, to: &mut Peer) -> PeerCard {
    let to_id = to.id.clone();
    let started = std::time::Instant::now();
    from.wait_for(
        "the other peer nearby",
        |e| matches!(e, Event::NearbyChanged { peers } if peers.iter().any(|p| p.peer_id == to_id)),
    )
    .await;
    println!("LAN discovery took {:?}", started.elapsed());
    from.call(Request::SendFriendRequest { peer_id: to_id })
        .await
        .expect("the friend request to be sent");
    match to
        .wait_for("the request", |e| matches!(e, Event::RequestReceived(_)))
        .await
    {
        Event::RequestReceived(card) => card,
        other => panic!("expected a request, got {other:?}"),
    }
}

/// A 16-bit stereo PCM WAV of `seconds` of a quiet tone (no encoder needed).
pub fn write_wav(path: &std::path::Path, seconds: u32, hz: f32) {
    let rate = 44_100u32;
    let tone = (0..rate * seconds)
        .map(|i| ((i as f32 * hz * std::f32::consts::TAU / rate as f32).sin() * 3000.0) as i16);
    let samples = earshot_engine::media::wav::stereo(tone);
    std::fs::write(path, earshot_engine::media::wav::pcm16(rate, 2, &samples)).unwrap();
}
