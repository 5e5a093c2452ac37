//! Earshot peers on the LAN (found by mDNS), with where each stands with us. Blocked peers are
//! left out; friends are included with their relationship so the window can mark them "on your
//! network" rather than list them again as strangers.

use libp2p::PeerId;

use super::store::{self, Relationship};
use super::{fingerprint, lock, Friends};
use crate::api::{self, NearbyPeer};
use crate::store::StoreError;

impl Friends {
    pub async fn nearby(&self) -> Result<Vec<NearbyPeer>, StoreError> {
        let peers: Vec<PeerId> = lock(&self.shared.nearby).keys().copied().collect();
        // One trip to the store for the whole list.
        let rows = self
            .shared
            .store
            .call(move |c| {
                peers
                    .into_iter()
                    .map(|peer| Ok((peer, store::get(c, &peer)?)))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        let mut out = Vec::new();
        for (peer, row) in rows {
            let display_name = row.as_ref().and_then(|r| r.display_name.clone());
            let relationship = match row.map(|r| r.relationship) {
                Some(Relationship::Blocked) => continue,
                Some(Relationship::Friend) => Some(api::Relationship::Friend),
                Some(Relationship::RequestedIn) => Some(api::Relationship::RequestedIn),
                Some(Relationship::RequestedOut) => Some(api::Relationship::RequestedOut),
                None => None,
            };
            out.push(NearbyPeer {
                peer_id: peer.to_base58(),
                fingerprint: fingerprint(&peer),
                display_name,
                relationship,
            });
        }
        out.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        Ok(out)
    }
}
