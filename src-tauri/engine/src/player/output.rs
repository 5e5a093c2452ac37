//! The seam to the audio hardware (conventions 6): an output that calls a [`Renderer`] for every
//! buffer and tells it when that buffer leaves the device, on the engine clock.
//!
//! - [`Output::Cpal`]: the real device through cpal (the PulseAudio/PipeWire server, or ALSA
//!   without one, on Linux; WASAPI, CoreAudio): see [`super::cpal_out`] for which host and how
//!   devices are named and chosen (by a stable id).
//! - [`Output::Virtual`]: a paced software sink for tests: it renders buffers in real time with a
//!   fixed latency and keeps what it "played", and when, for inspection; its clock can drift
//!   against the engine clock as a real sound card's does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::render::Renderer;
use crate::api::OutputDevice;
use crate::clock;

/// Which output the player uses. Cheap to clone; decided when the engine starts.
#[derive(Clone, Debug, Default)]
pub enum OutputKind {
    /// The system's audio devices through cpal.
    #[default]
    Cpal,
    /// A software sink (tests): rate, channels, and where the played samples go.
    Virtual(VirtualSink),
}

/// How exactly playback must keep time, which sets the device buffer and how often the audio
/// thread looks in: a small buffer costs wake-ups (the device, the sound server's client thread
/// and ours, each several hundred times a second), a large one delays what is heard after a
/// pause or a volume change and lets a scheduled start's timestamps coarsen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Timing {
    /// Listening alone: ~64 ms device periods (3072 frames at 48 kHz) and the audio thread
    /// waking every 50 ms. A pause or a volume change is heard within ~90 ms (PulseAudio
    /// reports 85 ms of buffer latency).
    #[default]
    Relaxed,
    /// Scheduled playback (a jam, `play --at`): ~11 ms periods, so the instant each buffer
    /// leaves the device is known finely enough to land a sample within a millisecond, and the
    /// audio thread waking every 20 ms.
    Exact,
}

impl Timing {
    /// Frames per device period to ask for, where the device lets us choose.
    pub fn buffer_frames(self) -> u32 {
        match self {
            Timing::Relaxed => 3072,
            Timing::Exact => 512,
        }
    }

    /// How long the audio thread sleeps while the ring needs nothing (a command wakes it at
    /// once): the ring holds 0.5 s and is topped up once a quarter of it has played, so either
    /// is ample, and "started" and "finished" are reported within this long of being heard.
    pub fn idle_wait(self) -> Duration {
        match self {
            Timing::Relaxed => Duration::from_millis(50),
            Timing::Exact => Duration::from_millis(20),
        }
    }
}

/// Facts about an opened output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub device: String,
    pub rate: u32,
    pub channels: usize,
}

/// A running output; dropping it closes the device.
pub enum Output {
    Cpal(super::cpal_out::CpalOutput),
    Virtual(VirtualRun),
}

impl Output {
    pub fn opened(&self) -> &Opened {
        match self {
            Output::Cpal(o) => o.opened(),
            Output::Virtual(v) => &v.opened,
        }
    }

    /// Whether the device failed since it was opened (unplugged, server gone), with the reason.
    pub fn failure(&self) -> Option<String> {
        match self {
            Output::Cpal(o) => o.failure(),
            Output::Virtual(v) => v.sink.fail.lock().expect("the virtual sink lock").clone(),
        }
    }
}

/// The rate and channel count an output will use, so the decoder can prepare samples before the
/// device opens.
pub fn probe_format(kind: &OutputKind, device: Option<&str>) -> Result<(u32, usize), String> {
    match kind {
        OutputKind::Cpal => super::cpal_out::probe_format(device),
        OutputKind::Virtual(sink) => Ok((sink.rate, sink.channels)),
    }
}

/// Opens the output for `timing` and starts calling `renderer`. (The virtual sink keeps the
/// buffer and latency its test gave it, and notes the timing in `openings`.)
pub fn open(
    kind: &OutputKind,
    device: Option<&str>,
    timing: Timing,
    make_renderer: impl FnMut(u32, usize) -> Renderer,
) -> Result<Output, String> {
    match kind {
        OutputKind::Cpal => {
            super::cpal_out::CpalOutput::open(device, timing, make_renderer).map(Output::Cpal)
        }
        OutputKind::Virtual(sink) => Ok(Output::Virtual(sink.start(timing, make_renderer))),
    }
}

/// The output devices a person can pick in Settings, the default first.
pub fn devices(kind: &OutputKind) -> Vec<OutputDevice> {
    match kind {
        OutputKind::Cpal => super::cpal_out::devices(),
        OutputKind::Virtual(_) => vec![OutputDevice {
            id: VIRTUAL_ID.into(),
            name: "Virtual sink".into(),
            default: true,
            connected: true,
        }],
    }
}

/// The virtual sink's device id.
const VIRTUAL_ID: &str = "virtual:sink";

/// A paced software output for tests.
#[derive(Clone, Debug)]
pub struct VirtualSink {
    pub rate: u32,
    pub channels: usize,
    /// Frames per buffer.
    pub buffer: usize,
    /// How long after rendering a buffer "leaves the device".
    pub latency: Duration,
    /// Everything rendered since the sink started (interleaved), capped at `keep` samples.
    pub played: Arc<Mutex<Vec<f32>>>,
    pub keep: usize,
    /// Set to make the sink fail (as if unplugged).
    pub fail: Arc<Mutex<Option<String>>>,
    /// When the first sample in `played` left the "device" (engine clock, ns).
    pub first_ns: Arc<Mutex<Option<u64>>>,
    /// While set, opening the sink waits, as a sound server that is slow to answer would: the
    /// audio thread is busy and takes no commands.
    pub hold_open: Arc<AtomicBool>,
    /// How fast the virtual device's clock runs against the engine clock, in parts per million:
    /// it consumes `rate × (1 + drift_ppm / 1e6)` frames per engine second (sound cards are
    /// typically within ±100 ppm). The playback instants it reports are the true ones, on the
    /// engine clock.
    pub drift_ppm: f64,
    /// The playback instant (engine ns) of each buffer appended to `played`, in order: buffer
    /// `i` is `played[i × buffer × channels ..]`, and its frame `j` leaves the device at
    /// `instants[i] + j × 1e9 / (rate × (1 + drift_ppm / 1e6))`.
    pub instants: Arc<Mutex<Vec<u64>>>,
    /// The [`Timing`] of each opening, in order (its buffer and latency stay the test's).
    pub openings: Arc<Mutex<Vec<Timing>>>,
}

impl VirtualSink {
    pub fn new(rate: u32, channels: usize) -> Self {
        Self {
            rate,
            channels,
            buffer: 480,
            latency: Duration::from_millis(20),
            played: Arc::new(Mutex::new(Vec::new())),
            keep: rate as usize * channels * 600,
            fail: Arc::new(Mutex::new(None)),
            first_ns: Arc::new(Mutex::new(None)),
            hold_open: Arc::new(AtomicBool::new(false)),
            drift_ppm: 0.0,
            instants: Arc::new(Mutex::new(Vec::new())),
            openings: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The length of one frame on the engine clock, in ns.
    pub fn frame_ns(&self) -> f64 {
        1e9 / (self.rate as f64 * (1.0 + self.drift_ppm * 1e-6))
    }

    fn start(
        &self,
        timing: Timing,
        mut make_renderer: impl FnMut(u32, usize) -> Renderer,
    ) -> VirtualRun {
        while self.hold_open.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.openings
            .lock()
            .expect("the virtual sink lock")
            .push(timing);
        let mut renderer = make_renderer(self.rate, self.channels);
        let stop = Arc::new(AtomicBool::new(false));
        let sink = self.clone();
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("earshot-virtual-out".into())
            .spawn(move || {
                // Instants are computed from the buffer count, so they do not accumulate
                // rounding: buffer `n` is rendered at `start + n × period`.
                let period_ns = sink.buffer as f64 * sink.frame_ns();
                let mut buffer = vec![0.0f32; sink.buffer * sink.channels];
                let start = clock::now_ns();
                let mut count = 0u64;
                while !stopping.load(Ordering::Relaxed) {
                    if sink.fail.lock().expect("the virtual sink lock").is_some() {
                        break;
                    }
                    let rendered_at = start + (count as f64 * period_ns) as u64;
                    let playback = rendered_at + sink.latency.as_nanos() as u64;
                    renderer.render(&mut buffer, playback);
                    {
                        let mut played = sink.played.lock().expect("the virtual sink lock");
                        if played.is_empty() {
                            *sink.first_ns.lock().expect("the virtual sink lock") = Some(playback);
                        }
                        if played.len() + buffer.len() <= sink.keep {
                            played.extend_from_slice(&buffer);
                            sink.instants
                                .lock()
                                .expect("the virtual sink lock")
                                .push(playback);
                        }
                    }
                    count += 1;
                    let next = start + (count as f64 * period_ns) as u64;
                    let now = clock::now_ns();
                    if next > now {
                        std::thread::sleep(Duration::from_nanos(next - now));
                    }
                }
            })
            .expect("to start the virtual output thread");
        VirtualRun {
            opened: Opened {
                device: "Virtual sink".into(),
                rate: self.rate,
                channels: self.channels,
            },
            sink: self.clone(),
            stop,
            thread: Some(thread),
        }
    }
}

pub struct VirtualRun {
    opened: Opened,
    sink: VirtualSink,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for VirtualRun {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
