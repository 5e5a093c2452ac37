//! The `earshot-node` binary; everything is in the library (the app runs it too).

fn main() -> std::process::ExitCode {
    earshot_node::run(std::env::args_os())
}
