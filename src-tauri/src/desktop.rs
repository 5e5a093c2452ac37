//! The window shell's own settings (not the engine's): whether closing the window keeps Earshot
//! running in the tray, and what closing the window does given that setting and what plays.
//!
//! They live in `desktop.json` in the data directory, so each data directory (a second profile, a
//! test, the demo) has its own. The file is written atomically (a temporary file of its own, then
//! a rename) and read forgivingly: a missing file is the defaults; an unreadable field falls back
//! to its default and an unreadable file (or anything but a regular file of at most 64 KiB: a
//! FIFO would hang the start) to all defaults, each with a warning, never a failed start; fields
//! this version does not know are ignored (a newer Earshot may have written them).
//!
//! Whether Earshot starts at login is not kept here: the OS's autostart entry is the truth
//! (see `autostart.rs`), so a user who deletes it by hand sees the switch off.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The settings file's name in the data directory.
pub const FILE_NAME: &str = "desktop.json";

/// When closing the window keeps Earshot running in the tray instead of quitting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepInTray {
    /// Always: Earshot stays online for friends and messages until Quit in the tray menu.
    Always,
    /// While music plays or a jam is on (the default): closing the window never cuts the music
    /// off, and quits when nothing plays, as most people expect of a closed window.
    #[default]
    WhilePlaying,
    /// Never: closing the window quits, music or not.
    Never,
}

/// The shell's settings as stored in `desktop.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesktopSettings {
    pub keep_in_tray: KeepInTray,
}

/// What closing the main window does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseAction {
    /// Hide the window; Earshot keeps running with its tray icon (Show brings the window back).
    HideToTray,
    /// Keep running, but there is no tray to come back from: minimise the window instead of
    /// hiding it, so it stays in the taskbar and the music is not cut off.
    Minimise,
    /// Let the window close, and Earshot quits.
    Quit,
}

/// What closing the window does, given the setting, whether music plays (alone or in a jam),
/// whether a jam is on (even paused: leaving it is a choice of its own), and whether a tray is
/// there to come back from.
pub fn on_close(setting: KeepInTray, playing: bool, in_jam: bool, tray: bool) -> CloseAction {
    let keep = match setting {
        KeepInTray::Always => true,
        KeepInTray::WhilePlaying => playing || in_jam,
        KeepInTray::Never => false,
    };
    match (keep, tray) {
        (false, _) => CloseAction::Quit,
        (true, true) => CloseAction::HideToTray,
        (true, false) => CloseAction::Minimise,
    }
}

/// The settings file of the data directory `dir`.
pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Reads the settings at `path`: the defaults when there is no file; with a warning for each
/// part that could not be read (which then takes its default).
pub fn load(path: &Path) -> (DesktopSettings, Vec<String>) {
    let text = match read_small(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (DesktopSettings::default(), Vec::new())
        }
        Err(e) => {
            return (
                DesktopSettings::default(),
                vec![format!(
                    "cannot read {}: {e}; using the defaults",
                    path.display()
                )],
            )
        }
    };
    parse(&text, path)
}

/// The largest settings file read: the real one is a few dozen bytes.
const MAX_FILE_LEN: u64 = 64 * 1024;

/// The text of `path`, refused (as corrupt) unless it is a regular file of at most
/// [`MAX_FILE_LEN`] bytes: a FIFO would hang the start before any window, a huge file would be
/// read whole.
fn read_small(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if metadata.len() > MAX_FILE_LEN {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_FILE_LEN} bytes"
        )));
    }
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_LEN + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_LEN {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_FILE_LEN} bytes"
        )));
    }
    Ok(text)
}

/// Reads the settings from the text of a settings file (named `path` in warnings).
fn parse(text: &str, path: &Path) -> (DesktopSettings, Vec<String>) {
    let mut settings = DesktopSettings::default();
    let mut warnings = Vec::new();
    let object = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(object)) => object,
        Ok(_) => {
            warnings.push(format!(
                "{} is not a JSON object; using the defaults",
                path.display()
            ));
            return (settings, warnings);
        }
        Err(e) => {
            warnings.push(format!(
                "{} is not valid JSON ({e}); using the defaults",
                path.display()
            ));
            return (settings, warnings);
        }
    };
    if let Some(value) = object.get("keep_in_tray") {
        match KeepInTray::deserialize(value) {
            Ok(choice) => settings.keep_in_tray = choice,
            Err(e) => warnings.push(format!(
                "{}: keep_in_tray {value} is not one of always, while_playing, never ({e}); \
                 using while_playing",
                path.display()
            )),
        }
    }
    (settings, warnings)
}

/// Writes `settings` to `path` atomically: a reader (or a crash) sees the old file or the new one,
/// never half of one. The temporary file's name is this process's and this save's own, and it is
/// created new (never through something already at that name, a symlink included), so two saves
/// never write one file; the caller serialises saves (`window.rs` holds the settings' lock).
pub fn save(path: &Path, settings: &DesktopSettings) -> std::io::Result<()> {
    static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let json = serde_json::to_vec_pretty(settings).map_err(std::io::Error::other)?;
    let n = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temporary = path.with_extension(format!("json.{}-{n}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        file.write_all(&json)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp() -> tempfile::TempDir {
        tempfile::tempdir().expect("a temp dir to be made")
    }

    #[test]
    fn a_data_dir_without_the_file_has_the_defaults() {
        let dir = temp();
        let (settings, warnings) = load(&path_in(dir.path()));
        assert_eq!(settings.keep_in_tray, KeepInTray::WhilePlaying);
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn settings_read_back_as_saved_and_leave_no_temporary_file() {
        let dir = temp();
        let path = path_in(dir.path());
        for choice in [
            KeepInTray::Always,
            KeepInTray::Never,
            KeepInTray::WhilePlaying,
        ] {
            let settings = DesktopSettings {
                keep_in_tray: choice,
            };
            save(&path, &settings).expect("the settings to be saved");
            assert_eq!(load(&path), (settings, Vec::new()));
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("the dir to be listed")
            .map(|e| e.expect("an entry").file_name())
            .collect();
        assert_eq!(names, [FILE_NAME], "only the settings file is left");
    }

    #[test]
    fn the_file_names_the_choice_in_words() {
        let dir = temp();
        let path = path_in(dir.path());
        save(
            &path,
            &DesktopSettings {
                keep_in_tray: KeepInTray::Never,
            },
        )
        .expect("the settings to be saved");
        let text = std::fs::read_to_string(&path).expect("the file to be read");
        assert!(text.contains(r#""keep_in_tray": "never""#), "{text}");
    }

    #[test]
    fn a_corrupt_file_gives_the_defaults_with_a_warning() {
        for text in ["{\"keep_in_tray\": \"alw", "", "[1, 2]", "\u{0}\u{1}binary"] {
            let (settings, warnings) = parse(text, Path::new("desktop.json"));
            assert_eq!(settings, DesktopSettings::default(), "for {text:?}");
            assert_eq!(warnings.len(), 1, "one warning for {text:?}: {warnings:?}");
        }
    }

    #[test]
    fn an_unknown_choice_falls_back_to_the_default_with_a_warning() {
        let (settings, warnings) = parse(
            r#"{"keep_in_tray": "sometimes"}"#,
            Path::new("desktop.json"),
        );
        assert_eq!(settings.keep_in_tray, KeepInTray::WhilePlaying);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("sometimes"), "{warnings:?}");
    }

    #[test]
    fn unknown_fields_from_a_newer_earshot_are_ignored() {
        let (settings, warnings) = parse(
            r#"{"keep_in_tray": "always", "start_hidden": true, "theme": {"x": 1}}"#,
            Path::new("desktop.json"),
        );
        assert_eq!(settings.keep_in_tray, KeepInTray::Always);
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn an_unreadable_path_gives_the_defaults_with_a_warning() {
        let dir = temp();
        // A directory where the file should be: reading it fails with something other than
        // "not found".
        let path = path_in(dir.path());
        std::fs::create_dir(&path).expect("a directory to be made");
        let (settings, warnings) = load(&path);
        assert_eq!(settings, DesktopSettings::default());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_or_an_oversized_file_is_not_read() {
        let dir = temp();
        let path = path_in(dir.path());
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo to run");
        assert!(made.success());
        // Would block for ever if it were opened for reading.
        let (settings, warnings) = load(&path);
        assert_eq!(settings, DesktopSettings::default());
        assert_eq!(warnings.len(), 1, "{warnings:?}");

        let big = dir.path().join("big.json");
        let mut text = String::from(r#"{"keep_in_tray": "never", "pad": ""#);
        text.push_str(&"x".repeat(MAX_FILE_LEN as usize));
        text.push_str("\"}");
        std::fs::write(&big, text).expect("write");
        let (settings, warnings) = load(&big);
        assert_eq!(settings, DesktopSettings::default());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    #[test]
    fn saves_never_share_a_temporary_file() {
        let dir = temp();
        let path = path_in(dir.path());
        std::thread::scope(|scope| {
            for keep in [KeepInTray::Always, KeepInTray::Never, KeepInTray::Always] {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..20 {
                        save(path, &DesktopSettings { keep_in_tray: keep }).expect("save");
                    }
                });
            }
        });
        let (_, warnings) = load(&path);
        assert!(warnings.is_empty(), "{warnings:?}");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left, [std::ffi::OsString::from(FILE_NAME)]);
    }

    #[test]
    fn never_quits_whatever_plays() {
        for (playing, in_jam, tray) in [
            (true, true, true),
            (true, false, true),
            (false, true, false),
        ] {
            assert_eq!(
                on_close(KeepInTray::Never, playing, in_jam, tray),
                CloseAction::Quit
            );
        }
    }

    #[test]
    fn while_playing_keeps_running_for_music_or_a_jam_and_quits_otherwise() {
        use CloseAction::*;
        let cases = [
            // (playing, in_jam, tray) → action
            ((false, false, true), Quit),
            ((false, false, false), Quit),
            ((true, false, true), HideToTray),
            ((false, true, true), HideToTray),
            ((true, true, true), HideToTray),
            ((true, false, false), Minimise),
            ((false, true, false), Minimise),
        ];
        for ((playing, in_jam, tray), expected) in cases {
            assert_eq!(
                on_close(KeepInTray::WhilePlaying, playing, in_jam, tray),
                expected,
                "playing {playing}, in a jam {in_jam}, tray {tray}"
            );
        }
    }

    #[test]
    fn always_keeps_running_in_the_tray_or_minimised_without_one() {
        for (playing, in_jam) in [(false, false), (true, false), (false, true)] {
            assert_eq!(
                on_close(KeepInTray::Always, playing, in_jam, true),
                CloseAction::HideToTray
            );
            assert_eq!(
                on_close(KeepInTray::Always, playing, in_jam, false),
                CloseAction::Minimise
            );
        }
    }
}
