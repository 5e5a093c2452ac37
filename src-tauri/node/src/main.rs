//! `earshot-node`: a headless Earshot peer.
//!
//! With no subcommand it starts an engine on a data directory and speaks the engine's API as
//! JSON lines on stdin/stdout (see `docs/control-protocol.md` and [`control`]); logs go to stderr
//! and `<data dir>/logs`. It stops cleanly at end of input, on Ctrl-C or on SIGTERM.
//! Subcommands cover tooling that needs no running peer, such as regenerating the UI's bindings.

mod control;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use earshot_engine::{data_dir, logging, Config, Engine};

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

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a peer and serve the control protocol on stdin/stdout (the default).
    Serve,
    /// Write the UI's TypeScript bindings of the API to FILE (or stdout with `-`).
    Bindings {
        #[arg(value_name = "FILE")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Bindings { out } => write_bindings(&out),
        Command::Serve => serve(cli.data_dir),
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

fn serve(data_dir: Option<PathBuf>) -> ExitCode {
    let data_dir = match data_dir::resolve(data_dir) {
        Ok(dir) => dir,
        Err(e) => return fail(&e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async move {
        let engine = match Engine::start(Config::new(&data_dir)).await {
            Ok(engine) => engine,
            // Before logging starts: a refused start must not touch the other process's logs.
            Err(e) => return fail(&e),
        };
        let _log_guard = logging::init(&data_dir, "earshot-node");
        tracing::info!(peer = %engine.peer_id(), "serving the control protocol on stdin/stdout");
        let outcome = control::serve(engine.clone(), tokio::io::stdin(), tokio::io::stdout()).await;
        engine.shutdown().await;
        match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("control protocol failed: {e}")),
        }
    })
}

fn fail(message: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("earshot-node: {message}");
    ExitCode::from(2)
}
