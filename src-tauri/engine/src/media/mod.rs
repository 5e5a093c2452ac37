//! Media files as both the library and the player read them, below both: the library (tags,
//! stream facts, the scan) and the player (decoding) depend on this module, never it on them.
//!
//! - `format.rs` — opening a file by its content, picking its audio track, the decoders we have,
//!   and [`ProbeError`], the reasons a file cannot be read.
//! - `opus.rs` — libopus registered beside symphonia's decoders; Ogg Opus put on track time.
//! - `growing.rs` — files still arriving from a friend, read as their bytes arrive.
//! - `loudness.rs` — a track's loudness level and the gain normalisation gives it (pure).
//! - `mp4.rs` — the encoder delay and music length of AAC in MP4 (iTunSMPB or the edit list),
//!   which symphonia 0.6 reads but does not apply; the player trims by them (gapless AAC).
//! - `wav.rs` — 16-bit PCM WAV written from samples (the demo library, benches, tests).

mod format;
pub mod growing;
pub mod loudness;
pub mod mp4;
pub mod opus;
pub mod wav;

pub use format::{audio_track, codecs, open_format, ProbeError};
