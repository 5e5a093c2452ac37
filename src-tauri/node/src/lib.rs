//! `earshot-node`: a headless Earshot peer.
//!
//! With no subcommand it starts an engine on a data directory and speaks the engine's API as
//! JSON lines on stdin/stdout (see `docs/control-protocol.md` and [`control`]); logs go to stderr
//! and `<data dir>/logs`. It stops cleanly at end of input, on Ctrl-C or on SIGTERM.
//! Subcommands cover tooling that needs no running peer, such as regenerating the UI's bindings.
//!
//! A library as well as a binary: the desktop app runs it as `earshot node …`, so a Linux
//! package ships the engine once (`/usr/bin/earshot-node` is a two-line script).

mod bench;
mod bench_audio;
mod control;
mod demo;
mod jam_cli;
mod play;
mod relay;
mod virtual_log;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand};
use earshot_engine::net::NetConfig;
use earshot_engine::player::{OutputKind, VirtualSink};
use earshot_engine::{data_dir, logging, Config, Engine};
use libp2p::{Multiaddr, PeerId};

#[derive(Parser, Debug)]
#[command(
    name = "earshot-node",
    version,
    about = "A headless Earshot peer driven by JSON lines on stdin/stdout",
    long_about = "A headless Earshot peer. Without a subcommand it runs a peer and speaks the \
engine's API as JSON lines: write {\"id\":1,\"call\":{\"type\":\"status\"}} to stdin, read \
{\"id\":1,\"ok\":{...}} or {\"id\":1,\"err\":{\"kind\":...,\"message\":...}} from stdout, plus \
{\"event\":{...}} lines as things happen. End of input shuts the peer down cleanly. Logs go to \
stderr (filter with RUST_LOG) and to <data dir>/logs. See docs/control-protocol.md."
)]
struct Cli {
    /// Where this peer keeps its identity, database and logs [default: the per-OS app data dir].
    /// Only one process may use a data directory at a time.
    #[arg(long, global = true, env = data_dir::ENV_VAR, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(flatten)]
    net: NetArgs,

    /// Play into a silent, paced software sink instead of a sound device (and stay out of the
    /// desktop's media controls): for headless peers, tests and machines without audio. The
    /// demo friend always does.
    #[arg(long, global = true)]
    virtual_audio: bool,

    /// With --virtual-audio: how fast the virtual device's clock runs against the engine clock,
    /// in parts per million (real sound cards: within ±100).
    #[arg(
        long,
        global = true,
        value_name = "PPM",
        default_value_t = 0.0,
        allow_hyphen_values = true
    )]
    virtual_drift_ppm: f64,

    /// With --virtual-audio: log which source frame leaves the virtual device when, for the ramp
    /// test signal of `bench jam` (see virtual_log.rs for the format).
    #[arg(long, global = true, value_name = "FILE")]
    virtual_log: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

/// How the peer joins the network.
#[derive(clap::Args, Debug, Clone)]
struct NetArgs {
    /// Address to listen on (repeatable) [default: TCP and QUIC on every interface, random ports].
    #[arg(long = "listen", value_name = "MULTIADDR")]
    listen: Vec<Multiaddr>,
    /// A relay to reserve a slot on, ending in /p2p/<relay peer id> (repeatable).
    #[arg(long = "relay", value_name = "MULTIADDR")]
    relays: Vec<Multiaddr>,
    /// Do not look for peers on the local network (mDNS).
    #[arg(long)]
    no_mdns: bool,
    /// Run with no networking at all.
    #[arg(long, conflicts_with_all = ["listen", "relays", "no_mdns"])]
    offline: bool,
}

impl NetArgs {
    fn config(&self) -> Option<NetConfig> {
        if self.offline {
            return None;
        }
        let mut config = NetConfig::default();
        if !self.listen.is_empty() {
            config.listen = self.listen.clone();
        }
        config.relays = self.relays.clone();
        config.mdns = !self.no_mdns;
        Some(config)
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a peer and serve the control protocol on stdin/stdout (the default).
    Serve,
    /// Run a relay for friends: circuits without the default 2-minute / 128 KiB cap, served only
    /// to the allowed peers. Prints one JSON line per event (listening, reserved, circuit).
    Relay {
        /// Address to listen on (repeatable), e.g. /ip4/0.0.0.0/tcp/4001.
        #[arg(long = "listen", value_name = "MULTIADDR", required = true)]
        listen: Vec<Multiaddr>,
        /// Address others reach this relay at, if not a listen address (repeatable).
        #[arg(long = "external", value_name = "MULTIADDR")]
        external: Vec<Multiaddr>,
        /// A peer id allowed to use the relay (repeatable).
        #[arg(long = "allow", value_name = "PEER_ID")]
        allow: Vec<PeerId>,
        /// A file of allowed peer ids, one per line (# starts a comment).
        #[arg(long = "allow-file", value_name = "FILE")]
        allow_file: Option<PathBuf>,
    },
    /// Run a demo friend: names itself, prints an invite, accepts every friend request, answers
    /// messages and reacts to shares, and serves the control protocol; keeps running after end
    /// of input until Ctrl-C or SIGTERM.
    DemoFriend {
        /// The demo friend's display name.
        #[arg(long, default_value = "Robin (demo friend)")]
        name: String,
    },
    /// Play one audio file through the real output device (its folder is added to the library),
    /// optionally so that it starts at an exact instant; prints scheduled playback's error
    /// once a second as `{"sync":{...}}` lines.
    Play {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Start at this Unix time in milliseconds (two processes given the same value start
        /// together) [default: in 300 ms].
        #[arg(long, value_name = "UNIX_MS")]
        at_unix_ms: Option<u64>,
        /// The first frame to play.
        #[arg(long, default_value_t = 0)]
        frame: u64,
        /// Stop after this many seconds [default: at the end of the track].
        #[arg(long)]
        seconds: Option<f64>,
    },
    /// Two peers jamming from the command line (the syncmeter runs): `host FILE` invites
    /// whoever redeems its link and jams FILE with them; `join` redeems and accepts.
    JamDemo {
        #[command(subcommand)]
        role: jam_cli::Role,
    },
    /// Measure something and print one JSON object.
    Bench {
        /// What to measure.
        #[arg(value_enum)]
        what: bench::Bench,
        /// Print JSON (the only format; accepted for clarity in scripts).
        #[arg(long)]
        json: bool,
        /// How many runs to take the median of.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// `bench jam`: how many peers jam (one host).
        #[arg(long, default_value_t = 3)]
        peers: usize,
        /// `bench jam`: seconds of steady playing measured before the commands; `bench idle`:
        /// seconds measured after the first minute.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// `bench app`: the app binary [default: target/release/earshot beside this binary's
        /// target directory].
        #[arg(long, value_name = "PATH")]
        app: Option<PathBuf>,
    },
    /// Write the UI's TypeScript bindings of the API to FILE (or stdout with `-`).
    Bindings {
        #[arg(value_name = "FILE")]
        out: PathBuf,
    },
}

/// Whether this process is the app binary running as `earshot node …` (the Linux packages ship
/// one binary: `/usr/bin/earshot-node` runs `earshot node "$@"`).
static VIA_APP: AtomicBool = AtomicBool::new(false);

/// Runs `earshot-node` with `args` (the first is the program name), as its own binary does.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    dispatch(Cli::parse_from(args))
}

/// Runs `earshot-node` inside the app binary: `earshot node <args>` (`args` after `node`).
pub fn run_in_app(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    VIA_APP.store(true, Ordering::Relaxed);
    run(std::iter::once(OsString::from("earshot-node")).chain(args))
}

/// How to start another `earshot-node` like this one (benches start friends): the program, and
/// the arguments that come before the node's own.
pub(crate) fn own_command() -> std::io::Result<(PathBuf, &'static [&'static str])> {
    let prefix: &[&str] = if VIA_APP.load(Ordering::Relaxed) {
        &["node"]
    } else {
        &[]
    };
    Ok((std::env::current_exe()?, prefix))
}

fn dispatch(cli: Cli) -> ExitCode {
    let audio = Audio {
        virtual_audio: cli.virtual_audio,
        drift_ppm: cli.virtual_drift_ppm,
        log: cli.virtual_log.clone(),
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Bindings { out } => write_bindings(&out),
        Command::Serve => serve(cli.data_dir, cli.net.config(), audio, Mode::Serve),
        // The demo friend listens silently: it runs beside the app, often on the same machine.
        Command::DemoFriend { name } => {
            let audio = Audio {
                virtual_audio: true,
                ..audio
            };
            serve(
                cli.data_dir,
                cli.net.config(),
                audio,
                Mode::DemoFriend(name),
            )
        }
        Command::Play {
            file,
            at_unix_ms,
            frame,
            seconds,
        } => serve(
            cli.data_dir,
            cli.net.config(),
            audio,
            Mode::Play(play::PlayArgs {
                file,
                at_unix_ms,
                frame,
                seconds,
            }),
        ),
        Command::JamDemo { role } => {
            serve(cli.data_dir, cli.net.config(), audio, Mode::JamDemo(role))
        }
        Command::Bench {
            what,
            runs,
            peers,
            seconds,
            app,
            ..
        } => bench(
            what,
            bench::Options {
                runs: runs.max(1),
                peers,
                seconds,
                app,
            },
        ),
        Command::Relay {
            listen,
            external,
            allow,
            allow_file,
        } => relay::run(cli.data_dir, listen, external, allow, allow_file),
    }
}

fn write_bindings(out: &std::path::Path) -> ExitCode {
    let text = earshot_engine::bindings::typescript();
    let result = if out.as_os_str() == "-" {
        print!("{text}");
        Ok(())
    } else {
        std::fs::write(out, text)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("earshot-node: cannot write {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

enum Mode {
    Serve,
    DemoFriend(String),
    Play(play::PlayArgs),
    JamDemo(jam_cli::Role),
}

/// Which output a served peer plays into.
struct Audio {
    virtual_audio: bool,
    drift_ppm: f64,
    log: Option<PathBuf>,
}

fn bench(what: bench::Bench, options: bench::Options) -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match runtime.block_on(bench::run(what, options)) {
        Ok(figures) => {
            println!("{figures}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("the benchmark failed: {e:#}")),
    }
}

fn serve(data_dir: Option<PathBuf>, net: Option<NetConfig>, audio: Audio, mode: Mode) -> ExitCode {
    let data_dir = match data_dir::resolve(data_dir) {
        Ok(dir) => dir,
        Err(e) => return fail(&e),
    };
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let code = runtime.block_on(async move {
        control::listen_for_stop();
        let mut config = Config {
            net,
            ..Config::new(&data_dir)
        };
        let mut _virtual_log = None;
        if audio.virtual_audio {
            let mut sink = silent_sink();
            sink.drift_ppm = audio.drift_ppm;
            if let Some(path) = &audio.log {
                // Drained a few times a second: a few seconds' room is plenty.
                sink.keep = sink.rate as usize * sink.channels * 10;
                match virtual_log::VirtualLog::start(&sink, path) {
                    Ok(log) => _virtual_log = Some(log),
                    Err(e) => return fail(&format!("{e:#}")),
                }
            }
            config.audio = OutputKind::Virtual(sink);
            config.media_controls = false;
        }
        // Logging first, so the network's first seconds (listening, relay reservations) are kept.
        let _log_guard = logging::init(&data_dir, "earshot-node");
        let engine = match Engine::start(config).await {
            Ok(engine) => engine,
            Err(e) => return fail(&e),
        };
        tracing::info!(peer = %engine.peer_id(), "serving the control protocol on stdin/stdout");
        let code = match mode {
            Mode::Serve => {
                match control::serve(engine.clone(), tokio::io::stdin(), tokio::io::stdout()).await
                {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => fail(&format!("control protocol failed: {e}")),
                }
            }
            Mode::DemoFriend(name) => demo::run(engine.clone(), name).await,
            Mode::Play(args) => play::run(engine.clone(), args).await,
            Mode::JamDemo(role) => jam_cli::run(engine.clone(), role).await,
        };
        engine.shutdown().await;
        // The log's last buffers are drained once the player has stopped.
        drop(_virtual_log);
        code
    });
    // tokio's stdin reads on a blocking thread that only returns when a line or end of input
    // arrives; a plain runtime drop would wait for it forever after SIGTERM with stdin still open.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}

/// A paced software output that keeps none of what it plays (the test sink keeps minutes of it).
fn silent_sink() -> VirtualSink {
    VirtualSink {
        keep: 0,
        ..VirtualSink::new(48_000, 2)
    }
}

/// The multi-threaded tokio runtime every subcommand runs on, or the exit code saying why not.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(&format!("cannot start the async runtime: {e}")))
}

pub(crate) fn fail(message: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("earshot-node: {message}");
    ExitCode::from(2)
}
