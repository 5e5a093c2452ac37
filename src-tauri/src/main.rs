//! The `earshot` desktop app's entry point; everything happens in the shell library.
//!
//! `earshot node <args>` is the headless peer (`earshot-node <args>`) instead: the Linux packages
//! ship one binary, with `/usr/bin/earshot-node` a script that runs `earshot node "$@"`.
// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|first| first == "node") {
        return earshot_node::run_in_app(args);
    }
    earshot_shell::run()
}
