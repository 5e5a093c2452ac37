//! `earshot-engine`: everything Earshot does, with no window.
//!
//! Both front ends — the Tauri shell (`src-tauri/src`) and the headless `earshot-node` — start one
//! [`Engine`] and speak to it only through the serde types of [`api`]:
//!
//! ```text
//!  window (invoke) ──┐                                   ┌── identity (ed25519 key file, sealed)
//!                    ├─ api::Request ─▶ Engine::call ─▶──┤
//!  earshot-node ─────┘   (JSON lines)        │           └── store (SQLCipher, one writer thread)
//!                                            │     both keyed by keys (OS keyring or key file)
//!                                            ▼
//!                          Engine::subscribe ─▶ api::Event (broadcast, bounded)
//! ```
//!
//! Each resource has one owner: the store's connection lives on its own thread
//! ([`store::Store`] is the handle), the data directory is held by a lock file for the engine's
//! lifetime ([`data_dir::DataDirLock`]). Later modules (net, friends, chat, presence, library,
//! player, jam) plug in the same way: an actor owning its resource, a cloneable handle, bounded
//! channels.

pub mod api;
pub mod bindings;
pub mod chat;
pub mod clock;
pub mod data_dir;
mod engine;
pub mod friends;
pub mod identity;
pub mod jam;
pub mod keys;
pub mod library;
pub mod logging;
pub mod media;
pub mod net;
pub mod player;
pub mod presence;
pub mod profile;
pub mod store;
pub mod supervise;

pub use engine::{Config, Engine, StartError};

/// The app's version, as shown by `status` and in the window.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
