//! Loudness normalisation's library side: how loud each track (and album) is, from its
//! ReplayGain / R128 tags or measured (EBU R128 integrated loudness and sample peak, with the
//! `ebur128` crate) — and the pure arithmetic that turns a level and the listener's setting into
//! the gain the player applies (`player/render.rs` applies it, with its limiter).
//!
//! The measuring is lazy and in the background, never part of the scan: a new library is
//! browsable at once. [`start`] runs one task that, whenever a scan finishes (and once at start,
//! so an interrupted analysis resumes), takes the tracks whose content hash has no `loudness` row
//! yet, album by album, and hands them one at a time to a single analysis thread at the lowest
//! CPU priority (Linux's idle scheduling class; nice 19 elsewhere). Each file is read for tags
//! first (a tagged file costs a tag read); otherwise it is decoded and measured, all of it under
//! `catch_unwind`. A file whose *contents* cannot be measured (damaged, undecodable, silent, more
//! than 8 channels or above 384 kHz, or a panic in a reader) is recorded as `unmeasurable` with
//! its reason and never tried again for that hash (a changed file has a new hash and is measured
//! afresh). A failure to *read* it (an I/O error) or the analysis thread ending is tried again at
//! the next round (a scan's end, or the next start), and given up on after 5 tries. The
//! hash is marked durably before the file is opened (`loudness_attempts`), so a file that kills
//! the process (an abort in a decoder) is retried once at the next start and then recorded
//! unmeasurable rather than killing every start. Rows are keyed by hash, so a copy of a measured
//! file costs nothing.
//!
//! [`Table`] keeps every level in memory for the player, which must pick a gain without waiting
//! on the store (its actor never awaits on a track change): reloaded from the store after each
//! scan, updated as each measurement lands.
//!
//! Album loudness is computed from its tracks' measurements, energy-weighted by duration:
//! `L = 10·log10(Σ dᵢ·10^(Lᵢ/10) / Σ dᵢ)`. That is the mean power of the album if each track's
//! gated loudness stands for its whole length — exact for tracks of steady loudness, and within a
//! fraction of a dB of running BS.1770's gating over the whole album for ordinary albums (the
//! relative gate removes a little more of a quiet track when it is gated with loud ones). It needs
//! no audio kept, so albums measured across restarts combine. An album gain tag, when every track
//! of the album has one, wins. The album peak is the largest track peak.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

use tokio::sync::{broadcast, oneshot};

use crate::api::Event;
pub use crate::media::loudness::{Level, Progress};
use crate::store::{now_millis, Store};

/// ReplayGain's reference (89 dB SPL, ReplayGain 2.0) expressed in LUFS: a tag gain of G dB
/// means the track plays at −18 LUFS after G dB.
pub const REPLAYGAIN_REFERENCE_LUFS: f32 = -18.0;
/// R128_TRACK_GAIN / R128_ALBUM_GAIN (Opus, RFC 7845) are relative to −23 LUFS (EBU R128).
pub const R128_REFERENCE_LUFS: f32 = -23.0;
/// Tag gains beyond ±60 dB are nonsense (a typo, or a value in the wrong unit): ignored.
const MAX_TAG_DB: f32 = 60.0;
/// The largest believable peak tag: 10.0 linear (+20 dBFS). A float file may go past full scale,
/// but not by that much; a larger peak (a value in the wrong unit, 1000 for "100 %") would hold
/// the gain down by tens of dB and all but silence the track, so it is ignored.
const MAX_TAG_PEAK: f32 = 10.0;
/// The most channels the meter is made for: 7.1. Beyond that a file is refused before the meter
/// exists (the meter keeps ~0.4 s of every channel at the file's rate: a crafted WAV with 64
/// channels at 2.8 MHz would make it take ~580 MB).
const MAX_CHANNELS: usize = 8;
/// The highest sample rate the meter is made for (DXD is 352.8 kHz).
const MAX_RATE: u32 = 384_000;
/// Tracks fetched from the store per round of the analysis.
const BATCH: u32 = 64;
/// Consecutive undecodable packets after which a file is given up as damaged.
const MAX_BAD_PACKETS: u32 = 200;
// ── Levels ───────────────────────────────────────────────────────────────────────────────────

/// What a file's tags say about its loudness, in LUFS (converted from the tags' gains).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TagLoudness {
    pub track: Option<Level>,
    pub album: Option<Level>,
}

impl TagLoudness {
    /// From tag items as (key, value) pairs, keys in any case, as they come from Vorbis
    /// comments, ID3 TXXX descriptions, APE keys or MP4 freeform names (`----:com.apple.iTunes:`
    /// is cut). ReplayGain wins over R128 when both are there; garbage is ignored.
    pub fn from_items<'a>(items: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut rg_track = None;
        let mut rg_album = None;
        let mut track_peak = None;
        let mut album_peak = None;
        let mut r128_track = None;
        let mut r128_album = None;
        for (key, value) in items {
            let key = key.rsplit(':').next().unwrap_or(key).trim();
            let slot = match key.to_ascii_uppercase().as_str() {
                "REPLAYGAIN_TRACK_GAIN" => &mut rg_track,
                "REPLAYGAIN_ALBUM_GAIN" => &mut rg_album,
                "REPLAYGAIN_TRACK_PEAK" => &mut track_peak,
                "REPLAYGAIN_ALBUM_PEAK" => &mut album_peak,
                "R128_TRACK_GAIN" => &mut r128_track,
                "R128_ALBUM_GAIN" => &mut r128_album,
                _ => continue,
            };
            if slot.is_some() {
                continue;
            }
            *slot = match key.to_ascii_uppercase().as_str() {
                "REPLAYGAIN_TRACK_PEAK" | "REPLAYGAIN_ALBUM_PEAK" => parse_peak(value),
                "R128_TRACK_GAIN" | "R128_ALBUM_GAIN" => parse_r128_gain(value),
                _ => parse_gain_db(value),
            };
        }
        let level = |rg: Option<f32>, r128: Option<f32>, peak: Option<f32>| {
            rg.map(|g| REPLAYGAIN_REFERENCE_LUFS - g)
                .or(r128.map(|g| R128_REFERENCE_LUFS - g))
                .map(|lufs| Level { lufs, peak })
        };
        Self {
            track: level(rg_track, r128_track, track_peak),
            album: level(rg_album, r128_album, album_peak),
        }
    }
}

/// A ReplayGain gain: "-6.20 dB", "+1.5 dB", "-6.2", "+3,5 dB" (a decimal comma, as some
/// taggers in some locales write); None for anything else or beyond ±60 dB.
pub fn parse_gain_db(text: &str) -> Option<f32> {
    let text = text.trim();
    let number = text
        .strip_suffix("dB")
        .or_else(|| text.strip_suffix("db"))
        .or_else(|| text.strip_suffix("DB"))
        .unwrap_or(text)
        .trim()
        .replace(',', ".");
    let value: f32 = number.strip_prefix('+').unwrap_or(&number).parse().ok()?;
    (value.is_finite() && value.abs() <= MAX_TAG_DB).then_some(value)
}

/// A ReplayGain peak (linear, 1.0 = full scale; a float file may go above): None for garbage,
/// zero or negative, or above [`MAX_TAG_PEAK`].
pub fn parse_peak(text: &str) -> Option<f32> {
    let value: f32 = text.trim().replace(',', ".").parse().ok()?;
    (value.is_finite() && value > 0.0 && value <= MAX_TAG_PEAK).then_some(value)
}

/// An R128 gain: a signed integer, Q7.8 fixed point in dB (256 = +1 dB).
pub fn parse_r128_gain(text: &str) -> Option<f32> {
    let text = text.trim();
    let value: i32 = text.strip_prefix('+').unwrap_or(text).parse().ok()?;
    let db = value as f32 / 256.0;
    (db.abs() <= MAX_TAG_DB).then_some(db)
}

/// The loudness of tracks played one after another: their mean power, each weighted by its
/// duration (seconds). None when there is nothing to integrate.
pub fn integrate(tracks: impl IntoIterator<Item = (f32, f64)>) -> Option<f32> {
    let mut energy = 0.0f64;
    let mut total = 0.0f64;
    for (lufs, seconds) in tracks {
        if !lufs.is_finite() || seconds <= 0.0 {
            continue;
        }
        energy += seconds * 10f64.powf(lufs as f64 / 10.0);
        total += seconds;
    }
    (total > 0.0 && energy > 0.0).then(|| (10.0 * (energy / total).log10()) as f32)
}

// ── The table the player reads ───────────────────────────────────────────────────────────────

/// One distinct track as the table knows it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub album: (String, String),
    pub seconds: f64,
    pub state: EntryState,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EntryState {
    Pending,
    Known {
        track: Level,
        /// From an album gain tag.
        album_tag: Option<Level>,
    },
    Unmeasurable,
}

#[derive(Debug, Default)]
struct Levels {
    tracks: HashMap<String, Entry>,
    albums: HashMap<(String, String), Vec<String>>,
}

/// Every track's level, in memory, shared by the analysis (writer) and the player (reader).
/// Cheap to clone.
#[derive(Clone, Default)]
pub struct Table {
    levels: Arc<RwLock<Levels>>,
    /// Whether the analysis is working through a queue now.
    busy: Arc<AtomicBool>,
}

impl Table {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Levels> {
        self.levels
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Levels> {
        self.levels
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces everything with the store's rows.
    pub fn replace(&self, entries: Vec<(String, Entry)>) {
        let mut levels = Levels::default();
        for (hash, entry) in entries {
            levels
                .albums
                .entry(entry.album.clone())
                .or_default()
                .push(hash.clone());
            levels.tracks.insert(hash, entry);
        }
        *self.write() = levels;
    }

    /// Records a track's new state (the analysis just read or measured it).
    pub fn set(&self, hash: &str, state: EntryState) {
        if let Some(entry) = self.write().tracks.get_mut(hash) {
            entry.state = state;
        }
    }

    /// The track's level, and its album's once every track of the album is known (None while
    /// some are pending: an album gain from half an album would change under the listener).
    pub fn levels(&self, hash: &str) -> (Option<Level>, Option<Level>) {
        let levels = self.read();
        let Some(entry) = levels.tracks.get(hash) else {
            return (None, None);
        };
        let EntryState::Known { track, .. } = entry.state else {
            return (None, None);
        };
        (Some(track), album_level(&levels, &entry.album))
    }

    fn count(&self) -> Progress {
        let levels = self.read();
        let mut progress = Progress {
            total: levels.tracks.len() as u32,
            busy: self.busy.load(Relaxed),
            ..Progress::default()
        };
        for entry in levels.tracks.values() {
            match entry.state {
                EntryState::Pending => {}
                EntryState::Known { .. } => progress.known += 1,
                EntryState::Unmeasurable => progress.unmeasurable += 1,
            }
        }
        progress
    }
}

impl crate::media::loudness::Levels for Table {
    fn levels(&self, hash: &str) -> (Option<Level>, Option<Level>) {
        Table::levels(self, hash)
    }

    fn progress(&self) -> Progress {
        self.count()
    }
}

/// An album's level: its tag when every track has one, else its tracks' measurements
/// integrated; None while a track is pending, or with no album name (no album to speak of). A
/// one-track album has its track's level.
fn album_level(levels: &Levels, key: &(String, String)) -> Option<Level> {
    if key.0.is_empty() {
        return None;
    }
    let hashes = levels.albums.get(key)?;
    let entries: Vec<&Entry> = hashes
        .iter()
        .filter_map(|h| levels.tracks.get(h))
        .filter(|e| e.state != EntryState::Unmeasurable)
        .collect();
    let mut known = Vec::with_capacity(entries.len());
    for entry in &entries {
        match entry.state {
            EntryState::Known { track, album_tag } => known.push((entry.seconds, track, album_tag)),
            EntryState::Pending => return None,
            EntryState::Unmeasurable => {}
        }
    }
    if known.is_empty() {
        return None;
    }
    if known.iter().all(|(_, _, tag)| tag.is_some()) {
        return known[0].2;
    }
    let lufs = integrate(known.iter().map(|(s, t, _)| (t.lufs, *s)))?;
    let peak = known
        .iter()
        .map(|(_, t, _)| t.peak)
        .try_fold(0.0f32, |max, p| p.map(|p| max.max(p)));
    Some(Level { lufs, peak })
}

// ── Measuring ────────────────────────────────────────────────────────────────────────────────

/// What the analysis found for one file.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    Tags(TagLoudness),
    Measured {
        lufs: f32,
        peak: f32,
        seconds: f64,
    },
    /// For good, for this content hash: the file is damaged, undecodable, silent or of a layout
    /// the analysis refuses.
    Unmeasurable(String),
    /// For now: the file could not be read (an I/O error: a drive gone, a NAS timeout, a
    /// permission), or the analysis thread ended. Tried again at a later round, a few times.
    Retry(String),
}

/// Why a file could not be measured.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The file's contents: for good.
    Damaged(String),
    /// Reading it: for now.
    Unreadable(String),
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure::Damaged(reason)
    }
}

impl From<&str> for Failure {
    fn from(reason: &str) -> Self {
        Failure::Damaged(reason.to_string())
    }
}

/// Reads `path`'s tags, else measures it. Never panics: all of it (lofty, symphonia, libopus,
/// the meter) runs under `catch_unwind`, and a panic makes the file unmeasurable (these readers
/// panic on malformed contents, which do not change for the hash).
pub fn analyse(path: &Path) -> Finding {
    analyse_with(path, super::tags::read_loudness, measure)
}

fn analyse_with(
    path: &Path,
    read_tags: impl Fn(&Path) -> Option<TagLoudness>,
    measure: impl Fn(&Path) -> Result<(f32, f32, f64), Failure>,
) -> Finding {
    let work = || {
        if let Some(tags) = read_tags(path).filter(|t| t.track.is_some()) {
            return Finding::Tags(tags);
        }
        match measure(path) {
            Ok((lufs, peak, seconds)) => Finding::Measured {
                lufs,
                peak,
                seconds,
            },
            Err(Failure::Damaged(reason)) => Finding::Unmeasurable(reason),
            Err(Failure::Unreadable(reason)) => Finding::Retry(reason),
        }
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|_| {
        Finding::Unmeasurable("reading this file failed (its tags or its audio)".into())
    })
}

/// A symphonia error met while reading packets: an I/O error other than the end of the file is
/// the reading's (for now), anything else the file's.
fn failure(error: symphonia::core::errors::Error) -> Failure {
    match error {
        symphonia::core::errors::Error::IoError(e) => {
            Failure::Unreadable(format!("cannot read the file: {e}"))
        }
        other => Failure::Damaged(format!("the file is damaged: {other}")),
    }
}

/// Decodes `path` and measures its integrated loudness (LUFS), sample peak (linear) and length
/// (seconds). A mono file is measured as dual mono: it is heard from both speakers.
pub fn measure(path: &Path) -> Result<(f32, f32, f64), Failure> {
    use ebur128::{Channel, EbuR128, Mode};
    use symphonia::core::codecs::audio::AudioDecoderOptions;
    use symphonia::core::errors::Error as SymphoniaError;

    let probe = |e: crate::media::ProbeError| match e {
        crate::media::ProbeError::Unreadable(_) => Failure::Unreadable(e.to_string()),
        crate::media::ProbeError::Empty
        | crate::media::ProbeError::UnknownFormat
        | crate::media::ProbeError::NoAudio
        | crate::media::ProbeError::UnsupportedCodec(_)
        | crate::media::ProbeError::Damaged(_) => Failure::Damaged(e.to_string()),
    };
    let mut format = crate::media::open_format(path).map_err(probe)?;
    let (track, params) = crate::media::audio_track(&*format).map_err(probe)?;
    let mut decoder = crate::media::codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| format!("no decoder for this file: {e}"))?;
    let mut meter: Option<(EbuR128, usize, u32)> = None;
    let mut samples = Vec::new();
    let mut frames = 0u64;
    let mut bad = 0;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break
            }
            Err(SymphoniaError::DecodeError(e)) => {
                bad += 1;
                if bad > MAX_BAD_PACKETS {
                    return Err(format!("the file is damaged: {e}").into());
                }
                continue;
            }
            Err(e) => return Err(failure(e)),
        };
        if packet.track_id != track.id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(decoded) => decoded,
            Err(SymphoniaError::DecodeError(e)) => {
                bad += 1;
                if bad > MAX_BAD_PACKETS {
                    return Err(format!("the file is damaged: {e}").into());
                }
                continue;
            }
            Err(e) => return Err(failure(e)),
        };
        bad = 0;
        let channels = decoded.spec().channels().count().max(1);
        let rate = decoded.spec().rate();
        samples.clear();
        decoded.copy_to_vec_interleaved(&mut samples);
        let fresh = meter
            .as_ref()
            .is_none_or(|(_, c, r)| *c != channels || *r != rate);
        if fresh {
            if meter.is_some() {
                return Err("the channel count or rate changes inside the file".into());
            }
            meterable(channels, rate)?;
            let mut made = EbuR128::new(channels as u32, rate, Mode::I | Mode::SAMPLE_PEAK)
                .map_err(|e| format!("cannot measure this layout: {e}"))?;
            if channels == 1 {
                made.set_channel(0, Channel::DualMono)
                    .map_err(|e| format!("cannot measure this layout: {e}"))?;
            }
            meter = Some((made, channels, rate));
        }
        let (m, channels, _) = meter.as_mut().expect("the meter just made");
        m.add_frames_f32(&samples)
            .map_err(|e| format!("cannot measure: {e}"))?;
        frames += (samples.len() / *channels) as u64;
    }
    let (m, channels, rate) = meter.ok_or("the file holds no audio")?;
    let lufs = m
        .loudness_global()
        .map_err(|e| format!("cannot measure: {e}"))?;
    if !lufs.is_finite() {
        return Err("the file is silent".into());
    }
    let mut peak = 0.0f64;
    for c in 0..channels as u32 {
        peak = peak.max(
            m.sample_peak(c)
                .map_err(|e| format!("cannot measure: {e}"))?,
        );
    }
    Ok((lufs as f32, peak as f32, frames as f64 / rate as f64))
}

/// Whether the meter may be made for this layout: at most [`MAX_CHANNELS`] channels and
/// [`MAX_RATE`] Hz.
fn meterable(channels: usize, rate: u32) -> Result<(), String> {
    if channels > MAX_CHANNELS {
        return Err(format!(
            "{channels} channels: more than the {MAX_CHANNELS} the analysis measures"
        ));
    }
    if rate > MAX_RATE || rate == 0 {
        return Err(format!(
            "a sample rate of {rate} Hz: outside what the analysis measures (up to {MAX_RATE} Hz)"
        ));
    }
    Ok(())
}

// ── The background analysis ──────────────────────────────────────────────────────────────────

/// One job for the analysis thread.
type Job = (PathBuf, oneshot::Sender<Finding>);

/// Transient failures ([`Finding::Retry`]) after which a file is given up as unmeasurable.
const MAX_FAILURES: u32 = 5;
/// Sessions that died while measuring a file after which it is given up as unmeasurable: the
/// first death is retried once (it may have been something else: a quit, a power cut), the
/// second is taken as the file's doing, so an abort in a decoder is not repeated at every start.
const MAX_UNFINISHED: u32 = 2;
/// How many times a session starts the analysis thread again after it ended.
const MAX_RESTARTS: u32 = 3;

/// Starts the analysis: a task that works through what is not measured yet after every scan
/// (and now), feeding one file at a time to a thread at the lowest CPU priority.
pub fn start(store: Store, events: broadcast::Sender<Event>, table: Table) {
    let mut analyser = Analyser::new(analyse);
    // This session, as the attempts table knows it (a mark left by another session is a death).
    let session = now_millis();
    let mut heard = events.subscribe();
    crate::supervise::spawn("loudness", events, async move {
        loop {
            match catch_up(&store, &table, &mut analyser, session).await {
                Ok(()) => {}
                // The engine is shutting down: so does the analysis (its thread ends with
                // the job channel).
                Err(crate::store::StoreError::Closed) => return,
                Err(error) => tracing::warn!(%error, "the loudness analysis stopped for now"),
            }
            if analyser.stopped() {
                tracing::warn!(
                    "the loudness analysis thread kept ending; no more analysis this session"
                );
                return;
            }
            // Wait for the next scan to end (anything else is not ours).
            loop {
                match heard.recv().await {
                    Ok(Event::ScanFinished(_)) => break,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    });
}

/// The analysis thread, started when first needed and again (at most [`MAX_RESTARTS`] times)
/// if it ends.
struct Analyser {
    work: fn(&Path) -> Finding,
    jobs: Option<std::sync::mpsc::SyncSender<Job>>,
    starts: u32,
}

impl Analyser {
    fn new(work: fn(&Path) -> Finding) -> Self {
        Self {
            work,
            jobs: None,
            starts: 0,
        }
    }

    /// Whether the thread ended more often than it may be started again.
    fn stopped(&self) -> bool {
        self.jobs.is_none() && self.starts > MAX_RESTARTS
    }

    fn thread(&mut self) -> Option<std::sync::mpsc::SyncSender<Job>> {
        if let Some(jobs) = &self.jobs {
            return Some(jobs.clone());
        }
        if self.starts > MAX_RESTARTS {
            return None;
        }
        self.starts += 1;
        if self.starts > 1 {
            tracing::warn!(
                start = self.starts,
                "the loudness analysis thread ended; starting it again"
            );
        }
        let (jobs, inbox) = std::sync::mpsc::sync_channel::<Job>(1);
        let work = self.work;
        let started = std::thread::Builder::new()
            .name("earshot-loudness".into())
            .spawn(move || {
                lower_priority();
                while let Ok((path, reply)) = inbox.recv() {
                    let _ = reply.send(work(&path));
                }
            });
        if let Err(error) = started {
            tracing::warn!(%error, "could not start the loudness analysis thread");
            return None;
        }
        self.jobs = Some(jobs.clone());
        Some(jobs)
    }

    /// What the thread finds for `path`: [`Finding::Retry`] when the thread ended before
    /// answering; None when it cannot be started any more.
    async fn run(&mut self, path: PathBuf) -> Option<Finding> {
        let jobs = self.thread()?;
        let (reply, answer) = oneshot::channel();
        let sent = tokio::task::spawn_blocking(move || jobs.send((path, reply))).await;
        if !matches!(sent, Ok(Ok(()))) {
            self.jobs = None;
            return Some(Finding::Retry("the analysis thread had ended".into()));
        }
        match answer.await {
            Ok(finding) => Some(finding),
            Err(_) => {
                self.jobs = None;
                Some(Finding::Retry(
                    "the analysis thread ended while measuring this file".into(),
                ))
            }
        }
    }
}

/// The calling thread (Linux: only it) in the idle scheduling class, so the analysis takes only
/// CPU time nothing else wants — the scan, decoding for playback, the audio callbacks and the
/// window come first, and a waking audio thread preempts it at once (a nice-19 thread can hold a
/// waking one back for a scheduler slice, milliseconds: enough to disturb a jam's timing).
/// Elsewhere, or if refused, nice 19.
///
/// The price of the idle class is priority inversion: preempted while holding a lock that
/// playback also takes, this thread may wait long (tens to hundreds of ms on a busy machine)
/// before it runs again and lets go. It takes no store connection (the async task does the
/// store calls) and logs nothing (reasons are returned and the task logs them; symphonia's and
/// lofty's `log` messages go nowhere, as no `log` bridge is installed). The locks it shares
/// with playback's decode thread are `media::growing`'s `ARRIVING` map, held for one lookup
/// when a file is opened, and the allocator's; playback waits on those only in its decode
/// thread, behind the 0.5 s ring, never in the audio callback. Kept: the idle class passed the
/// two-node scheduled-playback scenario where nice 19 failed it (00a7fac), and an unprivileged
/// thread cannot leave the idle class around a lock (with the usual RLIMIT_NICE of 0). Keep it
/// that way: nothing on this thread may log or take a lock playback waits on in its callback.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sched_setscheduler and setpriority only read their arguments; 0 = the calling
        // thread on Linux.
        let idle = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0;
        if !idle {
            unsafe {
                libc::setpriority(libc::PRIO_PROCESS, 0, 19);
            }
        }
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    // SAFETY: setpriority only reads its arguments.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

/// Reloads the table and measures every track not known yet. The table says `busy` only while
/// this runs: a stopped analysis is not shown as measuring.
async fn catch_up(
    store: &Store,
    table: &Table,
    analyser: &mut Analyser,
    session: i64,
) -> Result<(), crate::store::StoreError> {
    let rows = store.call(super::store::loudness_entries).await?;
    table.replace(rows);
    table.busy.store(true, Relaxed);
    let result = measure_pending(store, table, analyser, session).await;
    table.busy.store(false, Relaxed);
    result
}

async fn measure_pending(
    store: &Store,
    table: &Table,
    analyser: &mut Analyser,
    session: i64,
) -> Result<(), crate::store::StoreError> {
    use super::store::{Attempt, Recorded};
    // Everything before the ones passed over in this round (missing files, transient failures)
    // is done in path order, so those are the first `skipped` left.
    let mut skipped = 0u32;
    loop {
        let batch = store
            .call(move |c| super::store::unmeasured(c, BATCH, skipped))
            .await?;
        if batch.is_empty() {
            return Ok(());
        }
        for (hash, path) in batch {
            // A file gone since the scan (a drive unplugged, a file moved) is passed over, not
            // recorded: the next scan says what became of it.
            let present = {
                let path = PathBuf::from(&path);
                tokio::task::spawn_blocking(move || path.is_file())
                    .await
                    .unwrap_or(false)
            };
            if !present {
                skipped += 1;
                continue;
            }
            // Durably "measuring this" before the file is opened: if the process dies in it,
            // the next session knows (see MAX_UNFINISHED).
            let owned = hash.clone();
            let attempt = store
                .call(move |c| {
                    super::store::begin_loudness_attempt(
                        c,
                        &owned,
                        session,
                        now_millis(),
                        MAX_UNFINISHED,
                    )
                })
                .await?;
            if let Attempt::GaveUp(reason) = attempt {
                tracing::info!(%path, %reason, "cannot measure loudness");
                table.set(&hash, EntryState::Unmeasurable);
                continue;
            }
            let Some(finding) = analyser.run(PathBuf::from(&path)).await else {
                // Not tried at all: the mark is not a death.
                let owned = hash.clone();
                store
                    .call(move |c| super::store::drop_loudness_mark(c, &owned))
                    .await?;
                return Ok(());
            };
            let state = match &finding {
                Finding::Tags(tags) => tags.track.map(|track| EntryState::Known {
                    track,
                    album_tag: tags.album,
                }),
                Finding::Measured { lufs, peak, .. } => Some(EntryState::Known {
                    track: Level {
                        lufs: *lufs,
                        peak: Some(*peak),
                    },
                    album_tag: None,
                }),
                Finding::Unmeasurable(reason) => {
                    tracing::info!(%path, %reason, "cannot measure loudness");
                    Some(EntryState::Unmeasurable)
                }
                Finding::Retry(reason) => {
                    tracing::info!(%path, %reason, "cannot measure loudness now; later");
                    None
                }
            };
            let owned = hash.clone();
            let recorded = store
                .call(move |c| {
                    super::store::put_loudness(c, &owned, &finding, now_millis(), MAX_FAILURES)
                })
                .await?;
            match (recorded, state) {
                (Recorded::Kept, Some(state)) => table.set(&hash, state),
                // Tags without a track level (analyse never returns those): loads unmeasurable.
                (Recorded::Kept, None) | (Recorded::GaveUp(_), _) => {
                    table.set(&hash, EntryState::Unmeasurable)
                }
                // Still queued: passed over for this round.
                (Recorded::Later, _) => skipped += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(lufs: f32, peak: Option<f32>) -> Option<Level> {
        Some(Level { lufs, peak })
    }

    #[test]
    fn replaygain_gains_are_read_in_the_ways_taggers_write_them() {
        assert_eq!(parse_gain_db("-6.20 dB"), Some(-6.2));
        assert_eq!(parse_gain_db("+1.5 dB"), Some(1.5));
        assert_eq!(parse_gain_db("  -3.1 db "), Some(-3.1));
        assert_eq!(parse_gain_db("2.25"), Some(2.25));
        assert_eq!(parse_gain_db("+3,5 dB"), Some(3.5));
        assert_eq!(parse_gain_db("loud"), None);
        assert_eq!(parse_gain_db(""), None);
        assert_eq!(parse_gain_db("NaN dB"), None);
        assert_eq!(parse_gain_db("-61 dB"), None, "absurd gains are ignored");
        assert_eq!(parse_gain_db("+600 dB"), None);
        assert_eq!(parse_peak("0.988553"), Some(0.988553));
        assert_eq!(
            parse_peak("1.2"),
            Some(1.2),
            "a float file may peak above 1"
        );
        assert_eq!(parse_peak("0"), None);
        assert_eq!(parse_peak("-1"), None);
        assert_eq!(parse_peak("peak"), None);
        assert_eq!(parse_peak("10"), Some(10.0));
        assert_eq!(parse_peak("10.5"), None, "an absurd peak is ignored");
        assert_eq!(parse_peak("1000"), None);
        assert_eq!(
            TagLoudness::from_items([
                ("REPLAYGAIN_TRACK_GAIN", "-3 dB"),
                ("REPLAYGAIN_TRACK_PEAK", "500"),
            ])
            .track,
            level(-15.0, None),
            "the gain is kept, the absurd peak is not"
        );
        assert_eq!(parse_r128_gain("-1280"), Some(-5.0));
        assert_eq!(parse_r128_gain("+256"), Some(1.0));
        assert_eq!(parse_r128_gain("1.5"), None);
        assert_eq!(parse_r128_gain("99999999"), None);
    }

    #[test]
    fn tag_gains_become_levels_on_their_own_reference() {
        let tags = TagLoudness::from_items([
            ("REPLAYGAIN_TRACK_GAIN", "-6.20 dB"),
            ("replaygain_track_peak", "0.9"),
            ("----:com.apple.iTunes:replaygain_album_gain", "-5 dB"),
        ]);
        assert_eq!(tags.track, level(-11.8, Some(0.9)), "−18 LUFS − (−6.2 dB)");
        assert_eq!(tags.album, level(-13.0, None));

        // Opus: R128 gains are Q7.8 relative to −23 LUFS.
        let opus =
            TagLoudness::from_items([("R128_TRACK_GAIN", "-2560"), ("R128_ALBUM_GAIN", "0")]);
        assert_eq!(opus.track, level(-13.0, None));
        assert_eq!(opus.album, level(-23.0, None));

        let both =
            TagLoudness::from_items([("R128_TRACK_GAIN", "0"), ("REPLAYGAIN_TRACK_GAIN", "0 dB")]);
        assert_eq!(both.track, level(-18.0, None), "ReplayGain wins over R128");

        let garbage =
            TagLoudness::from_items([("REPLAYGAIN_TRACK_GAIN", "very loud"), ("TITLE", "x")]);
        assert_eq!(garbage, TagLoudness::default());
    }

    #[test]
    fn an_album_integrates_its_tracks_by_energy_and_duration() {
        assert_eq!(integrate([(-10.0, 100.0), (-10.0, 50.0)]), Some(-10.0));
        // Equal lengths at −10 and −20: mean power (0.1 + 0.01) / 2 → −12.6 LUFS, not −15.
        let mixed = integrate([(-10.0, 60.0), (-20.0, 60.0)]).unwrap();
        assert!((mixed - -12.596).abs() < 0.01, "{mixed}");
        // A long quiet track weighs more than a short one.
        let long_quiet = integrate([(-10.0, 10.0), (-20.0, 600.0)]).unwrap();
        assert!(long_quiet < -19.0, "{long_quiet}");
        assert_eq!(integrate([]), None);
        assert_eq!(integrate([(f32::NEG_INFINITY, 10.0)]), None);
    }

    #[test]
    fn an_album_level_waits_for_every_track_and_skips_the_unmeasurable() {
        let table = Table::default();
        let key = ("Album".to_string(), "Artist".to_string());
        let entry = |state| Entry {
            album: key.clone(),
            seconds: 60.0,
            state,
        };
        let known = |lufs, peak| EntryState::Known {
            track: Level {
                lufs,
                peak: Some(peak),
            },
            album_tag: None,
        };
        table.replace(vec![
            ("a".into(), entry(known(-10.0, 0.5))),
            ("b".into(), entry(EntryState::Pending)),
            ("c".into(), entry(EntryState::Unmeasurable)),
        ]);
        assert_eq!(table.levels("a"), (level(-10.0, Some(0.5)), None));
        table.set("b", known(-20.0, 0.9));
        let (_, album) = table.levels("a");
        let album = album.expect("every track is known");
        assert!((album.lufs - -12.596).abs() < 0.01, "{album:?}");
        assert_eq!(album.peak, Some(0.9));
        assert_eq!(
            table.count(),
            Progress {
                total: 3,
                known: 2,
                unmeasurable: 1,
                busy: false
            }
        );
    }

    #[test]
    fn a_damaged_file_in_the_queue_is_recorded_with_its_reason_and_never_retried() {
        let dir = tempfile::tempdir().unwrap();
        let damaged = dir.path().join("damaged.flac");
        // A FLAC marker and then garbage: the scan may take it, decoding cannot.
        let mut bytes = b"fLaC".to_vec();
        bytes.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        std::fs::write(&damaged, bytes).unwrap();
        let Finding::Unmeasurable(reason) = analyse(&damaged) else {
            panic!("a damaged file cannot be measured");
        };
        assert!(!reason.is_empty());

        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::migrations().to_latest(&mut conn).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO folders (path, added_at) VALUES ('/m', 0);
             INSERT INTO tracks (path, folder, hash, size, mtime, title, duration_ms, sample_rate,
                 channels, codec, added_at)
             VALUES ('{}', '/m', 'bad', 1, 1, 'Damaged', 1000, 44100, 2, 'flac', 0),
                    ('/m/good.flac', '/m', 'good', 1, 1, 'Good', 1000, 44100, 2, 'flac', 0);",
            damaged.display()
        ))
        .unwrap();
        let queue = super::super::store::unmeasured(&mut conn, 10, 0).unwrap();
        assert_eq!(queue.len(), 2);
        assert!(queue.iter().any(|(hash, _)| hash == "bad"));

        super::super::store::put_loudness(
            &mut conn,
            "bad",
            &Finding::Unmeasurable(reason.clone()),
            5,
            MAX_FAILURES,
        )
        .unwrap();
        let queue = super::super::store::unmeasured(&mut conn, 10, 0).unwrap();
        assert_eq!(
            queue,
            vec![("good".to_string(), "/m/good.flac".to_string())],
            "the damaged file is not queued again"
        );
        assert_eq!(
            super::super::store::loudness_error(&conn, "bad").unwrap(),
            Some(reason)
        );
        let table = Table::default();
        table.replace(super::super::store::loudness_entries(&mut conn).unwrap());
        assert_eq!(table.levels("bad"), (None, None), "it plays unchanged");
        let progress = table.count();
        assert_eq!(
            (progress.total, progress.known, progress.unmeasurable),
            (2, 0, 1)
        );
    }

    #[test]
    fn a_panic_while_reading_tags_or_measuring_makes_the_file_unmeasurable_not_the_thread_end() {
        let path = Path::new("/nowhere/x.flac");
        let finding = analyse_with(path, |_| panic!("lofty on a malformed file"), measure);
        assert!(
            matches!(&finding, Finding::Unmeasurable(r) if r.contains("failed")),
            "{finding:?}"
        );
        let finding = analyse_with(path, |_| None, |_| panic!("a decoder"));
        assert!(matches!(finding, Finding::Unmeasurable(_)), "{finding:?}");
    }

    #[test]
    fn a_read_error_is_retried_later_and_a_damaged_file_is_not() {
        let dir = tempfile::tempdir().unwrap();
        // The file cannot be opened (gone since the presence check, a permission, a drive
        // unplugged): an I/O error, the reading's fault and not the content's.
        let finding = analyse(&dir.path().join("gone.flac"));
        assert!(matches!(finding, Finding::Retry(_)), "{finding:?}");
        let empty = dir.path().join("empty.flac");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(analyse(&empty), Finding::Unmeasurable(_)));

        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::migrations().to_latest(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO folders (path, added_at) VALUES ('/m', 0);
             INSERT INTO tracks (path, folder, hash, size, mtime, title, duration_ms, sample_rate,
                 channels, codec, added_at)
             VALUES ('/m/nas.flac', '/m', 'nas', 1, 1, 'On a NAS', 1000, 44100, 2, 'flac', 0);",
        )
        .unwrap();
        use super::super::store::{loudness_error, put_loudness, unmeasured, Recorded};
        let timeout = Finding::Retry("cannot read the file: timed out".into());
        for _ in 1..MAX_FAILURES {
            assert_eq!(
                put_loudness(&mut conn, "nas", &timeout, 1, MAX_FAILURES).unwrap(),
                Recorded::Later
            );
            assert_eq!(
                unmeasured(&mut conn, 10, 0).unwrap().len(),
                1,
                "still queued"
            );
            assert_eq!(loudness_error(&conn, "nas").unwrap(), None);
        }
        let Recorded::GaveUp(reason) =
            put_loudness(&mut conn, "nas", &timeout, 1, MAX_FAILURES).unwrap()
        else {
            panic!("given up after {MAX_FAILURES} tries");
        };
        assert!(reason.contains("timed out"), "{reason}");
        assert!(unmeasured(&mut conn, 10, 0).unwrap().is_empty());
        assert_eq!(loudness_error(&conn, "nas").unwrap(), Some(reason));
    }

    #[test]
    fn a_file_the_analysis_died_on_is_retried_once_then_unmeasurable() {
        use super::super::store::{begin_loudness_attempt, loudness_error, Attempt};
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::migrations().to_latest(&mut conn).unwrap();
        let begin = |conn: &mut rusqlite::Connection, session| {
            begin_loudness_attempt(conn, "fatal", session, 9, MAX_UNFINISHED).unwrap()
        };
        // Session 1 marks it and dies measuring it; session 2 retries it once (and a store
        // error inside session 2 is not a death); session 2 dies too; session 3 gives up.
        assert_eq!(begin(&mut conn, 1), Attempt::Go);
        assert_eq!(begin(&mut conn, 2), Attempt::Go);
        assert_eq!(begin(&mut conn, 2), Attempt::Go);
        let Attempt::GaveUp(reason) = begin(&mut conn, 3) else {
            panic!("a file that killed the analysis twice is not tried a third time");
        };
        assert_eq!(reason, "the analysis stopped while measuring this file");
        assert_eq!(loudness_error(&conn, "fatal").unwrap(), Some(reason));
        // A finished attempt clears the mark: a later death counts from zero.
        assert_eq!(
            begin_loudness_attempt(&mut conn, "ok", 1, 9, MAX_UNFINISHED).unwrap(),
            Attempt::Go
        );
        super::super::store::put_loudness(
            &mut conn,
            "ok",
            &Finding::Measured {
                lufs: -10.0,
                peak: 0.5,
                seconds: 1.0,
            },
            9,
            MAX_FAILURES,
        )
        .unwrap();
        let marks: i64 = conn
            .query_row("SELECT count(*) FROM loudness_attempts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(marks, 0);
    }

    #[tokio::test]
    async fn an_analysis_thread_that_keeps_ending_is_restarted_then_stops_and_is_not_measuring() {
        use crate::keys::DataKey;
        use crate::store::StoreOptions;
        let dir = tempfile::tempdir().unwrap();
        let (store, _closed) = Store::open(
            &dir.path().join("store.db"),
            StoreOptions::default(),
            &DataKey::from_bytes_for_tests([7; 32]),
        )
        .await
        .unwrap();
        let file = dir.path().join("a.wav");
        std::fs::write(&file, tone_wav(8_000, 1)).unwrap();
        let sql = format!(
            "INSERT INTO folders (path, added_at) VALUES ('/m', 0);
             INSERT INTO tracks (path, folder, hash, size, mtime, title, duration_ms, sample_rate,
                 channels, codec, added_at)
             VALUES ('{}', '/m', 'a', 1, 1, 'A', 1000, 8000, 2, 'wav', 0);",
            file.display()
        );
        store.call(move |c| c.execute_batch(&sql)).await.unwrap();
        let table = Table::default();
        // A thread whose work panics outside analyse's catch_unwind: it ends at every file.
        let mut analyser = Analyser::new(|_| panic!("the analysis thread dies"));
        let tried = |store: Store| async move {
            store
                .call(|c| {
                    c.query_row(
                        "SELECT (SELECT count(*) FROM loudness),
                                (SELECT failures FROM loudness_attempts WHERE hash = 'a')",
                        [],
                        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
                    )
                })
                .await
                .unwrap()
        };
        catch_up(&store, &table, &mut analyser, 1).await.unwrap();
        assert!(!analyser.stopped(), "started again at the next round");
        assert_eq!(
            tried(store.clone()).await,
            (0, 1),
            "one try this round, not recorded unmeasurable: the thread's death is not the file's"
        );
        // Each later round (a scan finished) starts the thread again, until it may not.
        for _ in 0..MAX_RESTARTS + 1 {
            catch_up(&store, &table, &mut analyser, 1).await.unwrap();
            assert!(!table.count().busy, "not shown measuring between rounds");
        }
        assert!(analyser.stopped());
        assert!(
            !table.count().busy,
            "a stopped analysis is not shown measuring"
        );
        let running: Option<i64> = store
            .call(|c| {
                c.query_row(
                    "SELECT running FROM loudness_attempts WHERE hash = 'a'",
                    [],
                    |r| r.get(0),
                )
            })
            .await
            .unwrap();
        assert_eq!(
            running, None,
            "a file not tried is not marked as being measured"
        );
        assert_eq!(table.levels("a"), (None, None));
        assert_eq!(tried(store.clone()).await, (0, MAX_RESTARTS as i64 + 1));
        assert_eq!(table.count().known, 0);

        // A working thread measures it at the next round.
        let mut analyser = Analyser::new(analyse);
        catch_up(&store, &table, &mut analyser, 1).await.unwrap();
        assert!(matches!(table.levels("a"), (Some(_), _)));
    }

    #[test]
    fn a_file_with_too_many_channels_or_too_high_a_rate_is_refused_before_the_meter_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fast.wav");
        std::fs::write(&path, tone_wav(400_000, 1)).unwrap();
        let Finding::Unmeasurable(reason) = analyse(&path) else {
            panic!("400 kHz is refused");
        };
        assert!(reason.contains("400000 Hz"), "{reason}");
        assert!(meterable(8, 384_000).is_ok());
        assert!(meterable(9, 48_000).unwrap_err().contains("9 channels"));
        assert!(meterable(64, 2_822_400).is_err());
    }

    /// `seconds` of a 1 kHz sine at amplitude 0.5 in both channels, 16-bit PCM WAV.
    fn tone_wav(rate: u32, seconds: u32) -> Vec<u8> {
        let frames = (0..rate * seconds).map(|i| {
            (0.5 * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / rate as f64).sin() * 32767.0)
                as i16
        });
        crate::media::wav::pcm16(rate, 2, &crate::media::wav::stereo(frames))
    }

    #[test]
    fn a_measured_tone_reads_its_level_and_peak() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tone.wav");
        // 3 s of a 1 kHz sine at amplitude 0.5 (−6 dBFS) in both channels: about −6 LUFS
        // (K-weighting adds ~0.7 dB at 1 kHz, the −0.691 offset takes it back).
        std::fs::write(&path, tone_wav(48_000, 3)).unwrap();
        let Finding::Measured {
            lufs,
            peak,
            seconds,
        } = analyse(&path)
        else {
            panic!("a tone is measurable");
        };
        assert!((lufs - -6.0).abs() < 0.3, "{lufs} LUFS");
        assert!((peak - 0.5).abs() < 0.01, "peak {peak}");
        assert!((seconds - 3.0).abs() < 0.01, "{seconds} s");
    }
}
