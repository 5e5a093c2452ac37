//! The real output: a cpal stream whose data callback runs the [`Renderer`].
//!
//! cpal reports, per buffer, when it will be played (`OutputCallbackInfo::timestamp().playback`)
//! on a stream-relative clock. The callback maps that onto the engine clock with an offset learnt
//! from the callback's own instant (`callback` is "now" on that clock): the smallest
//! `engine_now − callback` seen is the best estimate, since the callback instant can only lag.
//! Built and dropped on the player's audio thread (a cpal stream is not `Send` everywhere).

use std::sync::{Arc, Mutex};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{BufferSize, StreamConfig, SupportedBufferSize};

use super::output::Opened;
use super::render::Renderer;
use crate::clock;

/// Frames per device buffer where the device lets us choose: ~11 ms at 48 kHz. cpal's ALSA host
/// through PulseAudio needs a fixed size (the default gives a stream of I/O-error callbacks).
const BUFFER_FRAMES: u32 = 512;

pub struct CpalOutput {
    _stream: cpal::Stream,
    opened: Opened,
    failure: Arc<Mutex<Option<String>>>,
}

fn device_name(device: &cpal::Device) -> String {
    device
        .description()
        .map(|d| d.name().to_string())
        .unwrap_or_else(|_| "Unknown device".into())
}

fn find_device(name: Option<&str>) -> Result<cpal::Device, String> {
    let host = cpal::default_host();
    match name {
        None => host
            .default_output_device()
            .ok_or_else(|| "there is no audio output device".to_string()),
        Some(wanted) => host
            .output_devices()
            .map_err(|e| format!("cannot list audio devices: {e}"))?
            .find(|d| device_name(d) == wanted)
            .ok_or_else(|| format!("the audio device \"{wanted}\" is not connected")),
    }
}

/// The rate and channel count the device will be opened with.
pub fn probe_format(name: Option<&str>) -> Result<(u32, usize), String> {
    let device = find_device(name)?;
    let config = device
        .default_output_config()
        .map_err(|e| format!("the audio device cannot play: {e}"))?;
    Ok((config.sample_rate(), config.channels() as usize))
}

/// Output device names and the default one.
pub fn devices() -> (Vec<String>, Option<String>) {
    let host = cpal::default_host();
    let names = host
        .output_devices()
        .map(|devices| devices.map(|d| device_name(&d)).collect())
        .unwrap_or_default();
    (names, host.default_output_device().map(|d| device_name(&d)))
}

impl CpalOutput {
    pub fn open(
        name: Option<&str>,
        mut make_renderer: impl FnMut(u32, usize) -> Renderer,
    ) -> Result<Self, String> {
        let device = find_device(name)?;
        let supported = device
            .default_output_config()
            .map_err(|e| format!("the audio device cannot play: {e}"))?;
        let rate = supported.sample_rate();
        let channels = supported.channels() as usize;
        let buffer_size = match supported.buffer_size() {
            SupportedBufferSize::Range { min, max } if (*min..=*max).contains(&BUFFER_FRAMES) => {
                BufferSize::Fixed(BUFFER_FRAMES)
            }
            _ => BufferSize::Default,
        };
        let config = StreamConfig {
            channels: supported.channels(),
            sample_rate: rate,
            buffer_size,
        };
        let mut renderer = make_renderer(rate, channels);
        let failure = Arc::new(Mutex::new(None));
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
                    // Runs on cpal's thread (not the data callback). Only a device that went
                    // away stops playback; passing I/O hiccups are noted and ridden out.
                    if error.kind() == cpal::ErrorKind::DeviceNotAvailable {
                        if let Ok(mut slot) = failed.lock() {
                            slot.get_or_insert_with(|| error.to_string());
                        }
                    } else {
                        tracing::debug!(%error, "audio device reported an error");
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
                device: device_name(&device),
                rate,
                channels,
            },
            failure,
        })
    }

    pub fn opened(&self) -> &Opened {
        &self.opened
    }

    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }
}
