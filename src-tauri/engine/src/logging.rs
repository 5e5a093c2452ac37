//! Logs: `tracing` to stderr and to a daily-rolling file in `<data dir>/logs`, filtered by
//! `RUST_LOG` (default `info` for Earshot's crates, `warn` for the rest).

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

const DEFAULT_FILTER: &str =
    "warn,earshot=info,earshot_engine=info,earshot_node=info,earshot_shell=info";
/// Old log files beyond this many days are deleted.
const KEEP_DAYS: usize = 14;

/// Installs the global subscriber. Keep the guard alive until exit so buffered lines are written.
/// Returns `None` for the guard when the log folder cannot be used (logging then goes to stderr
/// only, with a warning) — a read-only disk must not stop the app.
pub fn init(data_dir: &Path, file_prefix: &str) -> Option<WorkerGuard> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(true)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let dir = data_dir.join("logs");
    let appender = std::fs::create_dir_all(&dir)
        .map_err(|e| e.to_string())
        .and_then(|_| {
            tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix(file_prefix)
                .filename_suffix("log")
                .max_log_files(KEEP_DAYS)
                .build(&dir)
                .map_err(|e| e.to_string())
        });
    match appender {
        Ok(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let file = fmt::layer().with_writer(writer).with_ansi(false);
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(stderr)
                .with(file)
                .try_init();
            Some(guard)
        }
        Err(error) => {
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(stderr)
                .try_init();
            tracing::warn!(dir = %dir.display(), %error, "cannot write log files; logging to stderr only");
            None
        }
    }
}
