//! The `earshot` desktop app's entry point; everything happens in the shell library.
// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    earshot_shell::run()
}
