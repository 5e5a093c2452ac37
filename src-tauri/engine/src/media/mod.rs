//! What both the library and the player need to know about a media file beyond what symphonia
//! tells them.
//!
//! - `mp4.rs` — the encoder delay and music length of AAC in MP4 (iTunSMPB or the edit list),
//!   which symphonia 0.6 reads but does not apply; the player trims by them (gapless AAC).

pub mod mp4;
