//! The real output: a cpal stream whose data callback runs the [`Renderer`], and the list of
//! devices Settings offers.
//!
//! cpal reports, per buffer, when it will be played (`OutputCallbackInfo::timestamp().playback`)
//! on a stream-relative clock. The callback maps that onto the engine clock with an offset learnt
//! from the callback's own instant (`callback` is "now" on that clock): the smallest
//! `engine_now − callback` seen is the best estimate, since the callback instant can only lag.
//! Built and dropped on the player's audio thread (a cpal stream is not `Send` everywhere).
//!
//! Which cpal host plays ([`host`]): on Linux the sound server's, through cpal's PulseAudio host
//! (a pure-Rust client of the PulseAudio protocol, which PipeWire's `pipewire-pulse` also
//! speaks), whenever a server answers; its sinks carry the names a desktop shows ("Built-in
//! Audio Analog Stereo"). With no server, ALSA, listed by [`alsa_outputs`]: the cards, not the
//! plugin pseudo-devices ALSA's hints also name. `EARSHOT_AUDIO_HOST=alsa|pulseaudio` forces one.
//! Elsewhere cpal's default host (WASAPI, CoreAudio), whose names are already the system's.
//!
//! A device is chosen by its cpal [`cpal::DeviceId`] as a string (`pulseaudio:<sink name>`,
//! `alsa:sysdefault:CARD=PCH`, `wasapi:{…}`): stable across restarts and re-plugging, unlike a
//! position in the list.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{BufferSize, StreamConfig, SupportedBufferSize};

use super::output::{Opened, Timing};
use super::render::Renderer;
use crate::api::OutputDevice;
use crate::clock;

/// Overrides the device period of every [`Timing`] (64–16384 frames), to measure what a device
/// buffer costs in CPU and in sync (`earshot-node bench playback`, `../shared/syncmeter`).
/// cpal's ALSA host through PulseAudio needs a fixed size (the default gives a stream of
/// I/O-error callbacks); it asks for two periods. Its PulseAudio host turns a period into a
/// two-period server buffer.
const BUFFER_VAR: &str = "EARSHOT_AUDIO_BUFFER_FRAMES";

/// The device period to ask for: `timing`'s unless [`BUFFER_VAR`] names a sane size.
fn buffer_frames(timing: Timing) -> u32 {
    let frames = timing.buffer_frames();
    let Ok(value) = std::env::var(BUFFER_VAR) else {
        return frames;
    };
    match value.trim().parse::<u32>() {
        Ok(asked) if (64..=16_384).contains(&asked) => asked,
        Ok(_) | Err(_) => {
            tracing::warn!(%value, "{BUFFER_VAR} is not a frame count from 64 to 16384; using {frames}");
            frames
        }
    }
}

/// Forces a host on Linux: `alsa` or `pulseaudio` (for comparisons, and a way out should the
/// sound server's host misbehave on some system).
const HOST_VAR: &str = "EARSHOT_AUDIO_HOST";

/// How often a chosen sound-server sink is looked for while it plays.
const PRESENCE_CHECK: Duration = Duration::from_secs(1);

pub struct CpalOutput {
    _stream: cpal::Stream,
    opened: Opened,
    /// Why the device stopped: set by cpal's error callback or by the [`watch`] thread, read by
    /// the audio thread (never a call to the sound server there).
    failure: Arc<Mutex<Option<String>>>,
    /// The [`watch`] thread of a chosen sink, told to end when the output is dropped.
    watching: Option<Watching>,
}

struct Watching {
    stop: Arc<AtomicBool>,
    thread: std::thread::Thread,
}

impl Drop for CpalOutput {
    fn drop(&mut self) {
        if let Some(watching) = &self.watching {
            watching.stop.store(true, Ordering::Release);
            watching.thread.unpark();
        }
    }
}

/// A chosen sink of the sound server, looked for every [`PRESENCE_CHECK`]: when a sink goes
/// away the server moves its streams to another one (PulseAudio's and PipeWire's rescue)
/// without a word to cpal, so the listener would hear the default while Settings still names
/// the unplugged device.
struct Watched {
    host: Arc<cpal::Host>,
    id: cpal::DeviceId,
}

/// Looks for a chosen sink every [`PRESENCE_CHECK`] on a thread of its own (a round trip to the
/// server, up to cpal's 2 s handshake timeout when it restarts, must not hold up the audio
/// thread that fills the ring), and records it as gone in `failure`. Ends when `stop` is set;
/// nobody waits for it (a check in progress finishes on its own).
fn watch(watched: Watched, failure: Arc<Mutex<Option<String>>>) -> Option<Watching> {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let spawned = std::thread::Builder::new()
        .name("earshot-device-watch".into())
        .spawn(move || loop {
            std::thread::park_timeout(PRESENCE_CHECK);
            if stopped.load(Ordering::Acquire) {
                return;
            }
            if watched.host.device_by_id(&watched.id).is_none() {
                if let Ok(mut slot) = failure.lock() {
                    slot.get_or_insert_with(|| "it was disconnected".to_string());
                }
                return;
            }
        });
    match spawned {
        Ok(thread) => Some(Watching {
            stop,
            thread: thread.thread().clone(),
        }),
        Err(error) => {
            tracing::warn!(%error, "cannot start the audio device watch; an unplugged device will go unnoticed");
            None
        }
    }
}

/// The host that names the devices on this system now (a sound server can start or stop while
/// we run, so this is decided at every listing and opening).
#[cfg(target_os = "linux")]
fn listing_host() -> Arc<cpal::Host> {
    match forced_host() {
        Some(cpal::HostId::Alsa) => alsa_host(),
        _ => pulse_host().unwrap_or_else(alsa_host),
    }
}

#[cfg(not(target_os = "linux"))]
fn listing_host() -> Arc<cpal::Host> {
    Arc::new(cpal::default_host())
}

/// The host that plays the system default: on Linux ALSA's `default` (the sound server's ALSA
/// plugin when a server runs), whose playback timestamps the jam's time keeping was measured
/// with; cpal's PulseAudio host reported timestamps that drifted ~550 ppm in half the syncmeter
/// runs (docs/architecture.md, "Outputs"). `EARSHOT_AUDIO_HOST=pulseaudio` plays it there anyway.
#[cfg(target_os = "linux")]
fn default_host() -> Arc<cpal::Host> {
    match forced_host() {
        Some(cpal::HostId::PulseAudio) => pulse_host().unwrap_or_else(alsa_host),
        _ => alsa_host(),
    }
}

#[cfg(not(target_os = "linux"))]
fn default_host() -> Arc<cpal::Host> {
    Arc::new(cpal::default_host())
}

/// The host a device id names (the one connection to the sound server for its sinks).
fn host_of(id: &cpal::DeviceId) -> Option<Arc<cpal::Host>> {
    #[cfg(target_os = "linux")]
    if id.host() == cpal::HostId::PulseAudio {
        return pulse_host();
    }
    cpal::host_from_id(id.host()).ok().map(Arc::new)
}

#[cfg(target_os = "linux")]
fn forced_host() -> Option<cpal::HostId> {
    match std::env::var(HOST_VAR).ok()?.as_str() {
        "alsa" => Some(cpal::HostId::Alsa),
        "pulseaudio" => Some(cpal::HostId::PulseAudio),
        "" => None,
        other => {
            tracing::warn!(value = other, "{HOST_VAR} is neither alsa nor pulseaudio");
            None
        }
    }
}

#[cfg(target_os = "linux")]
fn alsa_host() -> Arc<cpal::Host> {
    Arc::new(cpal::host_from_id(cpal::HostId::Alsa).unwrap_or_else(|_| cpal::default_host()))
}

/// The connection to the sound server, kept for the process: each new one costs a handshake
/// and a thread of the protocol client, and a dropped client's thread does not always end.
#[cfg(target_os = "linux")]
static PULSE: Mutex<Option<Arc<cpal::Host>>> = Mutex::new(None);

/// cpal's PulseAudio host when a server answers: the kept connection while it still answers,
/// else a new one. `available_hosts` only looks for the server's socket; connecting tells
/// whether it answers (within cpal's 2 s handshake timeout).
#[cfg(target_os = "linux")]
fn pulse_host() -> Option<Arc<cpal::Host>> {
    let mut kept = PULSE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(host) = kept.as_ref() {
        if host.output_devices().is_ok() {
            return Some(Arc::clone(host));
        }
        *kept = None;
    }
    if !cpal::available_hosts().contains(&cpal::HostId::PulseAudio) {
        return None;
    }
    let host = cpal::host_from_id(cpal::HostId::PulseAudio)
        .inspect_err(|error| tracing::debug!(%error, "no PulseAudio server answers; using ALSA"))
        .ok()
        .map(Arc::new)?;
    *kept = Some(Arc::clone(&host));
    Some(host)
}

/// Whether this host is a sound server's (whose sinks can vanish without an error to cpal).
fn is_sound_server(host: &cpal::Host) -> bool {
    #[cfg(target_os = "linux")]
    {
        host.id() == cpal::HostId::PulseAudio
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = host;
        false
    }
}

/// A device's id as text; none for an id with control or bidi characters (a sink name is set by
/// any local client, and the id is logged and stored), so such a device is not offered.
fn device_id(device: &cpal::Device) -> Option<String> {
    device
        .id()
        .ok()
        .map(|id| id.to_string())
        .filter(|id| !id.chars().any(crate::profile::is_forbidden_in_name))
}

fn device_name(device: &cpal::Device) -> String {
    device
        .description()
        .map_or_else(|_| UNKNOWN_DEVICE.into(), |d| clean_name(d.name()))
}

const UNKNOWN_DEVICE: &str = "Unknown device";

/// The most characters of a device's name shown or logged.
const MAX_DEVICE_NAME_CHARS: usize = 128;

/// A device's name as the system gives it, made fit to show and log: any local client can set a
/// sound server's sink description, and a Bluetooth device names itself. Control characters (a
/// newline would forge a log line) and bidirectional marks and overrides (which reorder what is
/// shown) go, as in peers' names ([`crate::profile::is_forbidden_in_name`]); at most
/// [`MAX_DEVICE_NAME_CHARS`]; "Unknown device" when nothing is left.
pub fn clean_name(raw: &str) -> String {
    let kept: String = raw
        .chars()
        .filter(|c| !crate::profile::is_forbidden_in_name(*c))
        .collect();
    let cut: String = kept.trim().chars().take(MAX_DEVICE_NAME_CHARS).collect();
    match cut.trim_end() {
        "" => UNKNOWN_DEVICE.to_string(),
        name => name.to_string(),
    }
}

/// The sink `PULSE_SINK` names, as libpulse clients honour it: the default for this process
/// (the syncmeter routes each player to its own sink this way).
#[cfg(target_os = "linux")]
fn pulse_sink_override(host: &cpal::Host) -> Option<cpal::Device> {
    if host.id() != cpal::HostId::PulseAudio {
        return None;
    }
    let sink = std::env::var("PULSE_SINK").ok().filter(|s| !s.is_empty())?;
    host.device_by_id(&cpal::DeviceId::new(cpal::HostId::PulseAudio, sink))
}

fn default_device(host: &cpal::Host) -> Option<cpal::Device> {
    #[cfg(target_os = "linux")]
    if let Some(device) = pulse_sink_override(host) {
        return Some(device);
    }
    host.default_output_device()
}

/// The device to open, the name to show for it, and the host and id to watch it by (a chosen
/// sound-server sink): the one with this id (or, for a choice saved by an earlier version, this
/// name), or the system default.
fn find_device(id: Option<&str>) -> Result<(cpal::Device, String, Option<Watched>), String> {
    let Some(wanted) = id else {
        let device = default_device(&default_host())
            .ok_or_else(|| "there is no audio output device".to_string())?;
        // ALSA's `default` is "Default Audio Device"; the server, when there is one, knows what
        // it plays to.
        let name = if cfg!(target_os = "linux") {
            default_device(&listing_host())
                .map_or_else(|| device_name(&device), |d| device_name(&d))
        } else {
            device_name(&device)
        };
        return Ok((device, name, None));
    };
    if let Ok(parsed) = wanted.parse::<cpal::DeviceId>() {
        if let Some(host) = host_of(&parsed) {
            if let Some(device) = host.device_by_id(&parsed) {
                let name = device_name(&device);
                let watched = is_sound_server(&host).then_some(Watched { host, id: parsed });
                return Ok((device, name, watched));
            }
        }
    }
    listing_host()
        .output_devices()
        .map_err(|e| format!("cannot list audio devices: {e}"))?
        .find(|d| device_name(d) == wanted)
        .map(|d| {
            let name = device_name(&d);
            (d, name, None)
        })
        .ok_or_else(|| "the chosen audio device is not connected".to_string())
}

/// The rate and channel count the device will be opened with.
pub fn probe_format(id: Option<&str>) -> Result<(u32, usize), String> {
    let (device, _, _) = find_device(id)?;
    let config = device
        .default_output_config()
        .map_err(|e| format!("the audio device cannot play: {e}"))?;
    Ok((config.sample_rate(), config.channels() as usize))
}

/// The output devices a person can pick, the default first.
pub fn devices() -> Vec<OutputDevice> {
    let host = listing_host();
    let default = default_device(&host);
    let default_id = default.as_ref().and_then(device_id);
    let listed = match host.output_devices() {
        Ok(devices) => devices.collect::<Vec<_>>(),
        Err(error) => {
            tracing::warn!(%error, "cannot list audio devices");
            Vec::new()
        }
    };
    #[cfg(target_os = "linux")]
    if host.id() == cpal::HostId::Alsa {
        let hints: Vec<AlsaHint> = listed
            .iter()
            .filter(|d| {
                d.description()
                    .is_ok_and(|d| d.direction() != cpal::DeviceDirection::Input)
            })
            .filter_map(|d| {
                let id = d.id().ok()?;
                let description = d.description().ok()?;
                Some(AlsaHint {
                    pcm: id.id().to_string(),
                    description: std::iter::once(description.name())
                        .chain(description.extended())
                        .collect::<Vec<_>>()
                        .join("\n"),
                })
            })
            .collect();
        return alsa_outputs(&hints)
            .into_iter()
            .map(|(pcm, name)| OutputDevice {
                default: false,
                id: cpal::DeviceId::new(cpal::HostId::Alsa, pcm).to_string(),
                name,
                connected: true,
            })
            .collect();
    }
    let mut devices: Vec<OutputDevice> = listed
        .iter()
        .filter(|d| {
            d.description()
                .is_ok_and(|d| d.direction() != cpal::DeviceDirection::Input)
        })
        .filter_map(|d| {
            let id = device_id(d)?;
            Some(OutputDevice {
                default: Some(&id) == default_id.as_ref(),
                id,
                name: device_name(d),
                connected: true,
            })
        })
        .collect();
    if let Some(default) = default.filter(|_| !devices.iter().any(|d| d.default)) {
        // A default the listing missed (cpal's ALSA `default` is not always among the hints).
        if let Some(id) = device_id(&default) {
            devices.push(OutputDevice {
                id,
                name: device_name(&default),
                default: true,
                connected: true,
            });
        }
    }
    let mut seen = std::collections::HashSet::new();
    devices.retain(|d| seen.insert(d.id.clone()));
    // Stable: the default first, the rest as the system lists them.
    devices.sort_by_key(|d| !d.default);
    devices
}

/// One entry of ALSA's device hints (`aplay -L`): the PCM name and its description, whose first
/// line names the card and device ("HDA Intel PCH, ALC892 Analog") for a card's PCMs and says
/// what a plugin does otherwise ("Rate Converter Plugin Using Libav/FFmpeg Library").
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub struct AlsaHint {
    pub pcm: String,
    pub description: String,
}

/// The interfaces that are a whole output of a card, most preferred first: the card's own
/// default (which converts formats and mixes), its front (analog) output, its HDMI and S/PDIF
/// ports, then the raw device (with conversions, then without). Everything else ALSA's hints
/// offer is a plugin or a view of these: resamplers, `null`, `jack`, `oss`, `pulse`, up/down
/// mixers, `dmix`/`dsnoop`, `surround*` channel layouts.
const CARD_INTERFACES: [&str; 6] = ["sysdefault", "front", "hdmi", "iec958", "plughw", "hw"];

/// The ALSA outputs a person can pick, as `(pcm, readable name)`: one entry per card output,
/// named by its description's first line (the card and device), in the order ALSA lists them;
/// no plugin pseudo-devices; no two entries with the same name (the most preferred interface of
/// [`CARD_INTERFACES`] wins). ALSA's `default` is not among them: it is the "system default"
/// choice itself (no device chosen).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub fn alsa_outputs(hints: &[AlsaHint]) -> Vec<(String, String)> {
    let mut cards: Vec<(usize, String, String)> = Vec::new();
    for hint in hints {
        // A card's PCM reads `interface:CARD=name,DEV=n` (or `hw:0,0`); plugins name no card.
        let Some((interface, args)) = hint.pcm.split_once(':') else {
            continue;
        };
        let Some(rank) = CARD_INTERFACES.iter().position(|i| *i == interface) else {
            continue;
        };
        let names_card = args.contains("CARD=") || args.starts_with(|c: char| c.is_ascii_digit());
        let first_line = hint.description.lines().next().unwrap_or_default();
        if !names_card || first_line.trim().is_empty() {
            continue;
        }
        let name = clean_name(first_line);
        let name = name.as_str();
        match cards.iter_mut().find(|(_, _, n)| n == name) {
            Some(entry) if rank < entry.0 => *entry = (rank, hint.pcm.clone(), name.to_string()),
            Some(_) => {}
            None => cards.push((rank, hint.pcm.clone(), name.to_string())),
        }
    }
    cards
        .into_iter()
        .map(|(_, pcm, name)| (pcm, name))
        .collect()
}

impl CpalOutput {
    pub fn open(
        id: Option<&str>,
        timing: Timing,
        mut make_renderer: impl FnMut(u32, usize) -> Renderer,
    ) -> Result<Self, String> {
        let (device, name, watched) = find_device(id)?;
        let supported = device
            .default_output_config()
            .map_err(|e| format!("the audio device cannot play: {e}"))?;
        let rate = supported.sample_rate();
        let channels = supported.channels() as usize;
        let frames = buffer_frames(timing);
        let buffer_size = match supported.buffer_size() {
            SupportedBufferSize::Range { min, max } if (*min..=*max).contains(&frames) => {
                BufferSize::Fixed(frames)
            }
            _ => BufferSize::Default,
        };
        let config = StreamConfig {
            channels: supported.channels(),
            sample_rate: rate,
            buffer_size,
        };
        let mut renderer = make_renderer(rate, channels);
        let shared = renderer.shared();
        let failure: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let failed = Arc::clone(&failure);
        // engine clock − stream clock, in ns; the smallest sample is the best.
        let mut offset: Option<i128> = None;
        let stream = device
            .build_output_stream::<f32, _, _>(
                config,
                move |out: &mut [f32], info: &cpal::OutputCallbackInfo| {
                    let timestamp = info.timestamp();
                    let sample = clock::now_ns() as i128 - timestamp.callback.as_nanos() as i128;
                    let best = offset.map_or(sample, |o| o.min(sample));
                    offset = Some(best);
                    let playback = (timestamp.playback.as_nanos() as i128 + best).max(0) as u64;
                    renderer.render(out, playback);
                },
                move |error: cpal::Error| {
                    // Runs on cpal's thread (with ALSA, the one that calls the data callback).
                    // Only a device that went away (or a sound server that did) stops playback;
                    // passing I/O hiccups are noted and ridden out.
                    match error.kind() {
                        cpal::ErrorKind::DeviceNotAvailable
                        | cpal::ErrorKind::StreamInvalidated => {
                            if let Ok(mut slot) = failed.lock() {
                                slot.get_or_insert_with(|| error.to_string());
                            }
                        }
                        // The stream ran dry; cpal restarts it (with the pulse plugin, on a new
                        // stream of the server's): the renderer's timeline starts afresh.
                        cpal::ErrorKind::Xrun => {
                            shared
                                .restarts
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            tracing::debug!(%error, "audio device ran dry and restarts");
                        }
                        _ => {
                            tracing::debug!(%error, "audio device reported an error");
                            // While the pulse plugin rebuilds its stream after an xrun, every
                            // poll of cpal's loop fails at once with an I/O error: thousands a
                            // second, on the CPU the sound server needs to recover. A moment's
                            // pause keeps that loop from spinning (what it waits for takes
                            // milliseconds; the device's buffer covers ~20 ms).
                            std::thread::sleep(std::time::Duration::from_millis(1));
                        }
                    }
                },
                None,
            )
            .map_err(|e| format!("cannot open the audio device: {e}"))?;
        stream
            .play()
            .map_err(|e| format!("cannot start the audio device: {e}"))?;
        Ok(Self {
            _stream: stream,
            opened: Opened {
                device: name,
                rate,
                channels,
            },
            watching: watched.and_then(|w| watch(w, Arc::clone(&failure))),
            failure,
        })
    }

    pub fn opened(&self) -> &Opened {
        &self.opened
    }

    /// Why the device stopped (an error cpal reported, or a watched sink that went away).
    /// Called by the audio thread between buffers, never by the callback; only reads what cpal's
    /// error callback and the [`watch`] thread recorded.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hints(entries: &[(&str, &str)]) -> Vec<AlsaHint> {
        entries
            .iter()
            .map(|(pcm, description)| AlsaHint {
                pcm: pcm.to_string(),
                description: description.to_string(),
            })
            .collect()
    }

    /// What this machine's ALSA lists (no sound card, the Debian plugin packages), as cpal
    /// enumerates it: its `default` plus every plugin hint.
    const PLUGINS_ONLY: &[(&str, &str)] = &[
        ("default", "Default Audio Device"),
        (
            "null",
            "Discard all samples (playback) or generate zero samples (capture)",
        ),
        (
            "lavrate",
            "Rate Converter Plugin Using Libav/FFmpeg Library",
        ),
        (
            "samplerate",
            "Rate Converter Plugin Using Samplerate Library",
        ),
        ("speexrate", "Rate Converter Plugin Using Speex Resampler"),
        ("jack", "JACK Audio Connection Kit"),
        ("oss", "Open Sound System"),
        ("pulse", "PulseAudio Sound Server"),
        (
            "speex",
            "Plugin using Speex DSP (resample, agc, denoise, echo, dereverb)",
        ),
        ("upmix", "Plugin for channel upmix (4,6,8)"),
        (
            "vdownmix",
            "Plugin for channel downmix (stereo) with a simple spacialization",
        ),
    ];

    #[test]
    fn device_names_lose_control_and_bidi_characters_and_are_cut() {
        // A sink description set by a local client, forging a log line and reversing its text.
        assert_eq!(
            clean_name("USB\n2026-11-27 INFO forged\u{202E}teseH\u{202C}\u{7}"),
            "USB2026-11-27 INFO forgedteseH"
        );
        assert_eq!(clean_name(" \u{2066}\t "), UNKNOWN_DEVICE);
        assert_eq!(clean_name(&"é".repeat(500)).chars().count(), 128);
        let card = hints(&[(
            "sysdefault:CARD=X",
            "Evil\u{202E}draC\nDefault Audio Device",
        )]);
        assert_eq!(
            alsa_outputs(&card),
            vec![("sysdefault:CARD=X".to_string(), "EvildraC".to_string())]
        );
    }

    #[test]
    fn plugin_pseudo_devices_and_the_default_are_not_offered_as_devices() {
        assert_eq!(alsa_outputs(&hints(PLUGINS_ONLY)), Vec::new());
    }

    #[test]
    fn each_card_output_appears_once_by_its_card_name() {
        let mut entries = PLUGINS_ONLY[1..].to_vec();
        entries.extend_from_slice(&[
            (
                "hw:CARD=PCH,DEV=0",
                "HDA Intel PCH, ALC892 Analog\nDirect hardware device without any conversions",
            ),
            (
                "plughw:CARD=PCH,DEV=0",
                "HDA Intel PCH, ALC892 Analog\nHardware device with all software conversions",
            ),
            (
                "sysdefault:CARD=PCH",
                "HDA Intel PCH, ALC892 Analog\nDefault Audio Device",
            ),
            (
                "front:CARD=PCH,DEV=0",
                "HDA Intel PCH, ALC892 Analog\nFront output / input",
            ),
            (
                "surround51:CARD=PCH,DEV=0",
                "HDA Intel PCH, ALC892 Analog\n5.1 Surround output to Front, Center, Rear and Subwoofer speakers",
            ),
            (
                "dmix:CARD=PCH,DEV=0",
                "HDA Intel PCH, ALC892 Analog\nDirect sample mixing device",
            ),
            (
                "hdmi:CARD=PCH,DEV=0",
                "HDA Intel PCH, HDMI 0\nHDMI Audio Output",
            ),
            (
                "hdmi:CARD=PCH,DEV=1",
                "HDA Intel PCH, HDMI 1\nHDMI Audio Output",
            ),
            (
                "sysdefault:CARD=Device",
                "USB Audio Device, USB Audio\nDefault Audio Device",
            ),
            (
                "iec958:CARD=Device,DEV=0",
                "USB Audio Device, USB Audio\nIEC958 (S/PDIF) Digital Audio Output",
            ),
            ("usbstream:CARD=PCH", "HDA Intel PCH\nUSB Stream Output"),
            // cpal adds numeric-card names for every physical device.
            (
                "hw:CARD=0,DEV=0",
                "HDA Intel PCH, ALC892 Analog\nDirect hardware device without any conversions",
            ),
        ]);
        let listed = alsa_outputs(&hints(&entries));
        let expected = [
            ("sysdefault:CARD=PCH", "HDA Intel PCH, ALC892 Analog"),
            ("hdmi:CARD=PCH,DEV=0", "HDA Intel PCH, HDMI 0"),
            ("hdmi:CARD=PCH,DEV=1", "HDA Intel PCH, HDMI 1"),
            ("sysdefault:CARD=Device", "USB Audio Device, USB Audio"),
        ];
        assert_eq!(
            listed,
            expected
                .iter()
                .map(|(p, n)| (p.to_string(), n.to_string()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_card_with_only_raw_devices_is_offered_through_its_converting_one() {
        let entries = [
            (
                "hw:CARD=0,DEV=3",
                "HDA NVidia, HDMI 0\nDirect hardware device without any conversions",
            ),
            (
                "plughw:CARD=0,DEV=3",
                "HDA NVidia, HDMI 0\nHardware device with all software conversions",
            ),
        ];
        assert_eq!(
            alsa_outputs(&hints(&entries)),
            vec![(
                "plughw:CARD=0,DEV=3".to_string(),
                "HDA NVidia, HDMI 0".to_string()
            )]
        );
    }
}
