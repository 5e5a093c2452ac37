// Generated from src-tauri/engine/src/api.rs by earshot-engine's bindings module.
// Do not edit: run `cargo run -p earshot-node -- bindings ui/src/bindings/api.ts`.

export type Request = { "type": "status" } | { "type": "get_profile" } | { "type": "set_profile", display_name: string, };

export type Response = { "type": "status" } & Status | { "type": "profile" } & Profile;

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

export type Event = { "type": "profile_changed" } & Profile;

export type ApiError = { kind: ErrorKind, message: string, };

export type ErrorKind = "malformed_request" | "invalid_input" | "not_found" | "storage" | "shutting_down" | "internal";
