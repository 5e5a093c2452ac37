// Generated from src-tauri/engine/src/api.rs by earshot-engine's bindings module.
// Do not edit: run `cargo run -p earshot-node -- bindings ui/src/bindings/api.ts`.

export type Request = { "type": "status" } | { "type": "get_profile" } | { "type": "set_profile", display_name: string, } | { "type": "create_invite", lifetime_secs?: number, } | { "type": "redeem_invite", link: string, } | { "type": "list_friends" } | { "type": "list_requests" } | { "type": "send_friend_request", peer_id: string, } | { "type": "accept_request", peer_id: string, } | { "type": "reject_request", peer_id: string, } | { "type": "remove_friend", peer_id: string, } | { "type": "block", peer_id: string, } | { "type": "unblock", peer_id: string, } | { "type": "list_blocked" } | { "type": "list_nearby" } | { "type": "get_relays" } | { "type": "set_relays", relays: Array<string>, };

export type Response = { "type": "status" } & Status | { "type": "profile" } & Profile | { "type": "invite" } & InviteLink | { "type": "friend" } & Friend | { "type": "friends", friends: Array<Friend>, } | { "type": "requests", incoming: Array<PeerCard>, outgoing: Array<PeerCard>, } | { "type": "blocked", peers: Array<PeerCard>, } | { "type": "nearby", peers: Array<NearbyPeer>, } | { "type": "relays", relays: Array<string>, from_command_line: Array<string>, } | { "type": "done" };

export type Status = { 
/**
 * The libp2p peer id derived from the identity key (base58, `12D3KooW…`).
 */
peer_id: string, app_version: string, data_dir: string, 
/**
 * Addresses the node listens on; empty while networking is off.
 */
listen_addrs: Array<string>, 
/**
 * Whether the peer-to-peer node is running.
 */
online: boolean, };

export type Profile = { display_name: string, };

export type InviteLink = { 
/**
 * `earshot://invite/…`
 */
link: string, 
/**
 * Unix milliseconds.
 */
expires_at: number, 
/**
 * The addresses the link tells the friend to try.
 */
addresses: Array<string>, };

export type Friend = { peer_id: string, 
/**
 * Their name as they chose it (or a short form of their id until they tell us).
 */
display_name: string, 
/**
 * `null` when offline.
 */
connection: ConnectionKind | null, 
/**
 * Unix milliseconds since we became friends.
 */
since: number, 
/**
 * Unix milliseconds of the last connection, if any.
 */
last_seen: number | null, };

export type ConnectionKind = "direct" | "relayed";

export type PeerCard = { peer_id: string, 
/**
 * What they called themselves, if they said.
 */
display_name: string | null, 
/**
 * Unix milliseconds since the request or block.
 */
since: number, };

export type NearbyPeer = { peer_id: string, 
/**
 * Their name, when they are a friend or asked to be one; `null` for a stranger.
 */
display_name: string | null, 
/**
 * `friend`, `requested_out` or `requested_in`; `null` for a stranger.
 */
relationship: Relationship | null, };

export type Relationship = "friend" | "requested_out" | "requested_in";

export type Event = { "type": "profile_changed" } & Profile | { "type": "listen_addresses_changed", listen_addrs: Array<string>, } | { "type": "friend_added" } & Friend | { "type": "friend_updated" } & Friend | { "type": "friend_removed", peer_id: string, } | { "type": "request_received" } & PeerCard | { "type": "requests_changed" } | { "type": "blocked_changed" } | { "type": "nearby_changed", peers: Array<NearbyPeer>, };

export type ApiError = { kind: ErrorKind, message: string, };

export type ErrorKind = "malformed_request" | "invalid_input" | "not_found" | "storage" | "unreachable" | "offline" | "shutting_down" | "internal";
