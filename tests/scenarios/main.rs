//! Cross-process scenarios: real `earshot-node` processes on temporary data directories, driven
//! over the control protocol exactly as scripts and the demo friend drive them (design §9, layer 3).
//!
//! Built as `earshot-node`'s integration test (see its Cargo.toml) so cargo passes the binary's
//! path; `util` spawns and talks to nodes, each other module is one area of behaviour.

mod activity;
mod control;
mod friends;
mod jam;
mod lab;
mod messages;
mod netns;
mod util;
