//! The engine clock: nanoseconds on the system's monotonic clock (`CLOCK_MONOTONIC` on Linux,
//! `mach_continuous_time`-backed `Instant` elsewhere). Every process on a machine reads the same
//! clock, so two `earshot-node` processes can be told to start on the same instant; scheduled
//! playback and (later) the jam timeline are expressed on it.
//!
//! A test and benchmark knob: [`OFFSET_ENV`] (`EARSHOT_CLOCK_OFFSET_MS`, signed milliseconds,
//! read once per process) shifts this process's engine clock, so that peers on one machine can
//! have clocks seconds apart as peers on different machines do (`earshot-node bench jam`, the
//! syncmeter runs). Everything on the engine clock moves with it, including Unix times converted
//! by [`from_unix_ms`]; nothing else should set it.

/// The environment variable that offsets this process's engine clock (signed milliseconds).
pub const OFFSET_ENV: &str = "EARSHOT_CLOCK_OFFSET_MS";

/// This process's clock offset in ns, from [`OFFSET_ENV`] (0 when unset or unreadable).
pub fn offset_ns() -> i64 {
    static OFFSET: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| {
        std::env::var(OFFSET_ENV)
            .ok()
            .and_then(|v| parse_offset_ms(&v))
            .map_or(0, |ms| ms.saturating_mul(1_000_000))
    })
}

/// Parses an offset in (possibly fractional, signed) milliseconds.
fn parse_offset_ms(text: &str) -> Option<i64> {
    let ms: f64 = text.trim().parse().ok()?;
    // Within a day: enough for any test, far from overflowing the clock.
    (ms.is_finite() && ms.abs() <= 86_400_000.0).then(|| ms.round() as i64)
}

/// The engine clock now, in nanoseconds.
pub fn now_ns() -> u64 {
    let raw = raw_now_ns();
    match offset_ns() {
        0 => raw,
        offset => (raw as i128 + offset as i128).max(0) as u64,
    }
}

/// The system clock without this process's offset.
#[cfg(unix)]
fn raw_now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC is always available on the
    // platforms Earshot supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    debug_assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC) to succeed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The system clock (since this process first asked) without this process's offset.
#[cfg(not(unix))]
fn raw_now_ns() -> u64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    EPOCH
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}

/// Converts a Unix time in milliseconds to the engine clock (for command lines that start two
/// processes "at 12:00:03.000"): both clocks are read back to back, so the error is microseconds.
pub fn from_unix_ms(unix_ms: u64) -> u64 {
    let wall_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    let mono_now = now_ns() as i128;
    (mono_now + unix_ms as i128 * 1_000_000 - wall_now).max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_forward() {
        let a = now_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = now_ns();
        assert!(b >= a + 2_000_000, "{a} then {b}");
    }

    #[test]
    fn an_offset_is_read_in_signed_milliseconds() {
        assert_eq!(parse_offset_ms("2500"), Some(2500));
        assert_eq!(parse_offset_ms(" -7000.4 "), Some(-7000));
        assert_eq!(parse_offset_ms("soon"), None);
        assert_eq!(parse_offset_ms("1e12"), None);
    }

    #[test]
    fn a_unix_time_converts_to_the_same_distance_ahead() {
        let in_one_second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            + 1000;
        let ahead = from_unix_ms(in_one_second) as i128 - now_ns() as i128;
        assert!((990_000_000..=1_001_000_000).contains(&ahead), "{ahead}");
    }
}
