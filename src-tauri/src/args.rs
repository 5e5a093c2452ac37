//! The desktop app's command line: `earshot [--data-dir DIR] [--music DIR] [LINK]`.

use std::path::PathBuf;

pub const HELP: &str = "\
Earshot: message friends, see what they listen to, and listen together.

usage: earshot [--data-dir DIR] [--music DIR] [earshot://invite/…]

options:
  --data-dir DIR   where Earshot keeps its identity, history and logs
                   (also EARSHOT_DATA_DIR; default: the per-OS app data folder).
                   Only one Earshot may use a data directory at a time.
  --music DIR      add DIR to the music folders (if it is not one already)
  -h, --help       this help

An earshot://invite/… link on the command line opens in the window, which shows who it comes
from and adds the friend only when you confirm (this is also how the system hands Earshot a
clicked invite link). If Earshot already runs on the same data directory, the link goes to that
window and this process exits at once.";

#[derive(Debug, Default, PartialEq)]
pub struct Args {
    pub data_dir: Option<PathBuf>,
    /// An `earshot://` link to open at start.
    pub link: Option<String>,
    /// A music folder to add at start (the demo library, for `./dev run`).
    pub music: Option<PathBuf>,
}

#[derive(Debug, PartialEq)]
pub enum Parsed {
    Run(Args),
    Help,
}

impl Args {
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
        let mut parsed = Args::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-h" | "--help" => return Ok(Parsed::Help),
                "--music" => {
                    let dir = args.next().ok_or("--music needs a directory")?;
                    parsed.music = Some(PathBuf::from(dir));
                }
                "--data-dir" => {
                    let dir = args.next().ok_or("--data-dir needs a directory")?;
                    parsed.data_dir = Some(PathBuf::from(dir));
                }
                other => match other.strip_prefix("--data-dir=") {
                    Some(dir) => parsed.data_dir = Some(PathBuf::from(dir)),
                    // Ignore what the OS or a launcher may add (e.g. macOS's -psn_…).
                    None if other.starts_with("-psn_") => {}
                    None if other.starts_with("earshot:") => parsed.link = Some(other.to_string()),
                    None => return Err(format!("unknown argument {other:?}")),
                },
            }
        }
        Ok(Parsed::Run(parsed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed, String> {
        Args::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn no_arguments_use_the_default_data_dir() {
        assert_eq!(parse(&[]), Ok(Parsed::Run(Args::default())));
    }

    #[test]
    fn the_data_dir_is_read_in_both_spellings() {
        let expected = Ok(Parsed::Run(Args {
            data_dir: Some("/d".into()),
            ..Args::default()
        }));
        assert_eq!(parse(&["--data-dir", "/d"]), expected);
        assert_eq!(parse(&["--data-dir=/d"]), expected);
    }

    #[test]
    fn a_music_folder_can_be_added_at_start() {
        let Ok(Parsed::Run(args)) = parse(&["--music", "/srv/music"]) else {
            panic!("--music to parse");
        };
        assert_eq!(args.music, Some(PathBuf::from("/srv/music")));
    }

    #[test]
    fn an_invite_link_is_taken_to_open_at_start() {
        let Ok(Parsed::Run(args)) = parse(&["earshot://invite/abc"]) else {
            panic!("a link must parse");
        };
        assert_eq!(args.link.as_deref(), Some("earshot://invite/abc"));
    }

    #[test]
    fn unknown_arguments_are_errors() {
        assert!(parse(&["--frobnicate"]).is_err());
        assert!(parse(&["--data-dir"]).is_err());
    }
}
