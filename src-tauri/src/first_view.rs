//! The first-view marker: the window reports once that its main view has painted (after mount and
//! two animation frames), and the shell logs it — and, when [`REPORT_ENV`] is set, prints
//! [`LINE_PREFIX`]` N ms (script S ms, mounted M ms)` on stderr, which `earshot-node bench app`
//! waits for to time launch to first view. The times are the page's own clock (`performance.now()`:
//! from the start of loading the page): the first frame, when the bundle started running, and when
//! mounting ended. The bench measures the whole launch itself, from spawning the process to the line.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set (to anything) to print the marker line on stderr.
pub const REPORT_ENV: &str = "EARSHOT_REPORT_FIRST_VIEW";
/// The marker line's start; the page's milliseconds follow (`earshot: first view 231 ms`).
pub const LINE_PREFIX: &str = "earshot: first view";

static REPORTED: AtomicBool = AtomicBool::new(false);

/// The window's main view painted its first frame `page_ms` after the page started loading; its
/// script started running at `script_ms` and had mounted the view at `mounted_ms`. Only the first
/// report counts (a reload of the page does not report again).
#[tauri::command]
pub fn first_view(page_ms: f64, script_ms: f64, mounted_ms: f64) {
    if REPORTED.swap(true, Ordering::Relaxed) {
        return;
    }
    tracing::info!(
        page_ms,
        script_ms,
        mounted_ms,
        "the window's main view painted its first frame"
    );
    if std::env::var_os(REPORT_ENV).is_some() {
        eprintln!("{}", line(page_ms, script_ms, mounted_ms));
    }
}

fn line(page_ms: f64, script_ms: f64, mounted_ms: f64) -> String {
    let ms = |t: f64| t.max(0.0).round();
    format!(
        "{LINE_PREFIX} {} ms (script {} ms, mounted {} ms)",
        ms(page_ms),
        ms(script_ms),
        ms(mounted_ms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_line_gives_whole_milliseconds_after_the_prefix() {
        assert_eq!(
            line(231.6, 120.2, 200.0),
            "earshot: first view 232 ms (script 120 ms, mounted 200 ms)"
        );
        assert_eq!(
            line(-1.0, 0.0, 0.0),
            "earshot: first view 0 ms (script 0 ms, mounted 0 ms)",
            "never negative"
        );
    }
}
