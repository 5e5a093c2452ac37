//! "Start Earshot when you log in" (a Settings switch, off by default), through
//! `tauri-plugin-autostart`: an XDG autostart entry `~/.config/autostart/<name>.desktop` on Linux,
//! a launch agent on macOS, the `Run` registry key on Windows. The entry itself is the setting's
//! truth: the switch shows whether it exists, so removing it by hand turns the switch off.
//!
//! The entry starts this binary on this window's data directory. The per-OS default directory
//! needs no argument and keeps the plain name `Earshot`; any other (a second profile, chosen with
//! `--data-dir` or `EARSHOT_DATA_DIR`, which the login session would not have) gets
//! `--data-dir <dir>` and a name of its own, so two profiles' entries never overwrite each other.

use std::path::Path;

/// The entry's name (its file name on Linux) and the arguments it starts Earshot with.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub args: Vec<String>,
}

/// The autostart entry for data directory `data_dir`; `instance_id` is the single-instance
/// identifier of that directory (`instance::identifier`), whose suffix tells directories apart.
pub fn entry(product: &str, data_dir: &Path, on_default_dir: bool, instance_id: &str) -> Entry {
    if on_default_dir {
        return Entry {
            name: product.to_string(),
            args: Vec::new(),
        };
    }
    let suffix = instance_id.rsplit('.').next().unwrap_or(instance_id);
    Entry {
        name: format!("{product}-{suffix}"),
        args: vec![
            "--data-dir".to_string(),
            quote(&std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf())),
        ],
    }
}

/// `path` as one argument of the command line the plugin writes. Linux's desktop entries and
/// Windows's `Run` key are command lines split at spaces (the plugin joins the arguments with
/// spaces): a path with anything but plain characters is double-quoted, with the characters a
/// desktop entry's `Exec` reserves inside quotes escaped, and `%` doubled (a field code otherwise).
/// macOS's launch agent lists the arguments one by one: no quoting there.
fn quote(path: &Path) -> String {
    let text = path.to_string_lossy();
    if cfg!(target_os = "macos") || text.chars().all(is_plain) {
        return text.into_owned();
    }
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            // A desktop entry's value is unescaped once (`\\` → `\`) before the command line
            // is split, where `\"`, `\``, `\$` and `\\` are unescaped again.
            '"' | '`' | '$' if cfg!(target_os = "linux") => quoted.push_str("\\\\"),
            '\\' if cfg!(target_os = "linux") => quoted.push_str("\\\\\\"),
            '%' if cfg!(target_os = "linux") => quoted.push('%'),
            _ => {}
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/._-+,:@=".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_data_dir_starts_earshot_with_no_arguments() {
        let e = entry(
            "Earshot",
            Path::new("/home/a/.local/share/earshot"),
            true,
            "app.earshot.desktop",
        );
        assert_eq!(
            e,
            Entry {
                name: "Earshot".into(),
                args: vec![]
            }
        );
    }

    #[test]
    fn another_data_dir_is_named_on_the_command_line_and_gets_an_entry_of_its_own() {
        let e = entry(
            "Earshot",
            Path::new("/srv/earshot/second"),
            false,
            "app.earshot.desktop.d0123456789abcdef",
        );
        assert_eq!(e.name, "Earshot-d0123456789abcdef");
        assert_eq!(e.args, ["--data-dir", "/srv/earshot/second"]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_path_with_spaces_or_reserved_characters_is_quoted_for_a_desktop_entry() {
        assert_eq!(quote(Path::new("/tmp/my music")), r#""/tmp/my music""#);
        assert_eq!(quote(Path::new("/tmp/a$b")), r#""/tmp/a\\$b""#);
        assert_eq!(quote(Path::new("/tmp/100%")), r#""/tmp/100%%""#);
        assert_eq!(quote(Path::new(r"/tmp/a\b")), r#""/tmp/a\\\\b""#);
    }
}
