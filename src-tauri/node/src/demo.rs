//! `earshot-node demo-friend`: a friendly headless peer for newcomers and demos.
//!
//! It names itself (default "Robin (demo friend)"), prints a fresh one-hour invite as the line
//! `{"demo_invite":"earshot://invite/…","peer_id":"…"}`, accepts every friend request it receives,
//! and serves the control protocol on stdin like a plain node. It keeps running after end of input
//! (it usually runs in the background) until Ctrl-C or SIGTERM.

use std::process::ExitCode;

use earshot_engine::api::{Event, Request, Response};
use earshot_engine::Engine;
use serde_json::json;

use crate::{control, fail};

/// How long the printed invite lasts: long enough to start the app by hand.
const INVITE_LIFETIME_SECS: u64 = 3600;

pub async fn run(engine: Engine, name: String) -> ExitCode {
    if let Err(e) = engine
        .call(Request::SetProfile { display_name: name })
        .await
    {
        return fail(&e);
    }
    let link = match engine
        .call(Request::CreateInvite {
            lifetime_secs: Some(INVITE_LIFETIME_SECS),
        })
        .await
    {
        Ok(Response::Invite(invite)) => invite.link,
        Ok(other) => return fail(&format!("unexpected answer to create_invite: {other:?}")),
        Err(e) => return fail(&e),
    };
    println!(
        "{}",
        json!({"demo_invite": link, "peer_id": engine.peer_id().to_base58()})
    );

    let accepter = tokio::spawn(accept_everyone(engine.clone()));
    let outcome = control::serve(engine.clone(), tokio::io::stdin(), tokio::io::stdout()).await;
    if outcome.is_ok() && !control::stop_requested() {
        // End of input: a demo friend in the background keeps going until it is told to stop.
        control::stop_signal().await;
    }
    accepter.abort();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("control protocol failed: {e}")),
    }
}

/// Accepts each friend request as it arrives (and any that were waiting).
async fn accept_everyone(engine: Engine) {
    let mut events = engine.subscribe();
    if let Ok(Response::Requests { incoming, .. }) = engine.call(Request::ListRequests).await {
        for card in incoming {
            accept(&engine, card.peer_id).await;
        }
    }
    loop {
        match events.recv().await {
            Ok(Event::RequestReceived(card)) => accept(&engine, card.peer_id).await,
            Ok(Event::FriendAdded(friend)) => {
                tracing::info!(name = %friend.display_name, "a new friend")
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn accept(engine: &Engine, peer_id: String) {
    match engine
        .call(Request::AcceptRequest {
            peer_id: peer_id.clone(),
        })
        .await
    {
        Ok(_) => tracing::info!(peer = %peer_id, "accepted a friend request"),
        Err(error) => tracing::warn!(peer = %peer_id, %error, "could not accept a friend request"),
    }
}
