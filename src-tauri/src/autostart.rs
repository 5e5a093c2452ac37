//! "Start Earshot when you log in" (a Settings switch, off by default), through
//! `tauri-plugin-autostart`: an XDG autostart entry `~/.config/autostart/<name>.desktop` on Linux,
//! a launch agent on macOS, the `Run` registry key on Windows. The entry itself is the setting's
//! truth: the switch shows whether it exists, so removing it by hand turns the switch off.
//!
//! The entry starts this binary on this window's data directory. The per-OS default directory
//! needs no argument and keeps the plain name `Earshot`; any other (a second profile, chosen with
//! `--data-dir` or `EARSHOT_DATA_DIR`, which the login session would not have) gets
//! `--data-dir <dir>` and a name of its own, so two profiles' entries never overwrite each other.
//!
//! The plugin (2.7, over auto-launch 0.6) writes the program's own path as it is: unquoted in the
//! Linux entry's `Exec=` and in the Windows `Run` value (a command line split at spaces), and not
//! XML-escaped in the macOS launch agent's plist. Such an entry exists, so the switch would read
//! "On", yet it never starts Earshot. The arguments are ours and are quoted or escaped per OS
//! ([`quote`]); a program path that would break the entry cannot be fixed from here, so
//! [`problem`] says so and the Settings page refuses to turn the switch on (and says why).

use std::path::Path;

/// Which OS's entry format: the plugin writes a different one on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Linux,
    Mac,
    Windows,
}

/// The OS this build runs on.
pub const THIS_OS: Os = if cfg!(target_os = "macos") {
    Os::Mac
} else if cfg!(windows) {
    Os::Windows
} else {
    Os::Linux
};

/// The entry's name (its file name on Linux), the arguments it starts Earshot with, and why an
/// entry would not work here, if it would not.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub args: Vec<String>,
    pub problem: Option<String>,
}

/// The autostart entry for data directory `data_dir`; `instance_id` is the single-instance
/// identifier of that directory (`instance::identifier`), whose suffix tells directories apart;
/// `exe` is the program the plugin will name (`current_exe`, as the plugin takes it).
pub fn entry(
    os: Os,
    product: &str,
    data_dir: &Path,
    on_default_dir: bool,
    instance_id: &str,
    exe: Option<&Path>,
) -> Entry {
    let exe_problem = match exe {
        Some(exe) => program_problem(os, exe),
        None => Some("Earshot cannot tell where its own program is.".to_string()),
    };
    if on_default_dir {
        return Entry {
            name: product.to_string(),
            args: Vec::new(),
            problem: exe_problem,
        };
    }
    let suffix = instance_id.rsplit('.').next().unwrap_or(instance_id);
    let dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    Entry {
        name: format!("{product}-{suffix}"),
        args: vec!["--data-dir".to_string(), quote(os, &dir.to_string_lossy())],
        problem: exe_problem.or_else(|| dir_problem(&dir)),
    }
}

/// Why the plugin's entry for program `exe` would not start it, if it would not.
fn program_problem(os: Os, exe: &Path) -> Option<String> {
    let Some(text) = exe.to_str() else {
        return Some(format!(
            "Earshot's program path ({}) is not valid text; a login entry cannot name it.",
            exe.display()
        ));
    };
    if text.chars().any(char::is_control) {
        return Some(
            "Earshot's program path contains control characters; a login entry cannot name it."
                .into(),
        );
    }
    let breaks = match os {
        // `Exec=` and the `Run` value are command lines; the plugin does not quote the program.
        Os::Linux => !text.chars().all(is_plain),
        Os::Windows => text.contains(' '),
        // The plist's `<string>` is not escaped by the plugin.
        Os::Mac => text.contains(['&', '<', '>']),
    };
    breaks.then(|| {
        format!(
            "Starting at login is not available: Earshot's program path ({text}) has characters              the login entry would break on. Install or move Earshot to a folder without spaces              or special characters."
        )
    })
}

fn dir_problem(dir: &Path) -> Option<String> {
    match dir.to_str() {
        // Written lossily, the entry would open another (U+FFFD) directory: a fresh identity.
        None => Some(format!(
            "Starting at login is not available: the data folder's path ({}) is not valid text.",
            dir.display()
        )),
        Some(text) if text.chars().any(char::is_control) => Some(
            "Starting at login is not available: the data folder's path contains control characters."
                .into(),
        ),
        Some(_) => None,
    }
}

/// `path` as one argument of the entry the plugin writes on `os`. Linux's desktop entries and
/// Windows's `Run` key are command lines split at spaces (the plugin joins the arguments with
/// spaces): a path with anything but plain characters is double-quoted, with the characters a
/// desktop entry's `Exec` reserves inside quotes escaped, and `%` doubled (a field code otherwise).
/// macOS's launch agent lists the arguments one by one in a plist, each inside `<string>`: no
/// quoting there, but XML escaping (the plugin does none).
fn quote(os: Os, text: &str) -> String {
    if os == Os::Mac {
        return text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
    }
    if text.chars().all(is_plain) {
        return text.to_string();
    }
    let linux = os == Os::Linux;
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            // A desktop entry's value is unescaped once (`\\` → `\`) before the command line
            // is split, where `\"`, `\``, `\$` and `\\` are unescaped again.
            '"' | '`' | '$' if linux => quoted.push_str("\\\\"),
            '\\' if linux => quoted.push_str("\\\\\\"),
            '%' if linux => quoted.push('%'),
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

    const EXE: &str = "/usr/bin/earshot";

    #[test]
    fn the_default_data_dir_starts_earshot_with_no_arguments() {
        let e = entry(
            Os::Linux,
            "Earshot",
            Path::new("/home/a/.local/share/earshot"),
            true,
            "app.earshot.desktop",
            Some(Path::new(EXE)),
        );
        assert_eq!(
            e,
            Entry {
                name: "Earshot".into(),
                args: vec![],
                problem: None,
            }
        );
    }

    #[test]
    fn another_data_dir_is_named_on_the_command_line_and_gets_an_entry_of_its_own() {
        let e = entry(
            Os::Linux,
            "Earshot",
            Path::new("/srv/earshot/second"),
            false,
            "app.earshot.desktop.d0123456789abcdef",
            Some(Path::new(EXE)),
        );
        assert_eq!(e.name, "Earshot-d0123456789abcdef");
        assert_eq!(e.args, ["--data-dir", "/srv/earshot/second"]);
        assert_eq!(e.problem, None);
    }

    #[test]
    fn a_path_with_spaces_or_reserved_characters_is_quoted_for_a_desktop_entry() {
        assert_eq!(quote(Os::Linux, "/tmp/my music"), r#""/tmp/my music""#);
        assert_eq!(quote(Os::Linux, "/tmp/a$b"), r#""/tmp/a\\$b""#);
        assert_eq!(quote(Os::Linux, "/tmp/100%"), r#""/tmp/100%%""#);
        assert_eq!(quote(Os::Linux, r"/tmp/a\b"), r#""/tmp/a\\\\b""#);
    }

    #[test]
    fn windows_quotes_a_spaced_argument_and_macos_escapes_it_for_the_plist() {
        assert_eq!(
            quote(Os::Windows, r"C:\Users\Ann Lee\Earshot data"),
            r#""C:\Users\Ann Lee\Earshot data""#
        );
        assert_eq!(quote(Os::Windows, r"C:\data"), r#""C:\data""#);
        assert_eq!(
            quote(Os::Mac, "/Users/a/R&B <live>"),
            "/Users/a/R&amp;B &lt;live&gt;"
        );
        assert_eq!(quote(Os::Mac, "/Users/a/my music"), "/Users/a/my music");
    }

    /// The plugin names its program unquoted (Linux `Exec=`, the Windows `Run` value) or
    /// unescaped (the macOS plist): a path that breaks the entry refuses the switch.
    #[test]
    fn a_program_path_the_entry_would_break_on_is_refused() {
        let refused = |os, exe: &str| program_problem(os, Path::new(exe)).is_some();
        assert!(!refused(Os::Linux, "/usr/bin/earshot"));
        assert!(refused(Os::Linux, "/home/a/my apps/earshot"));
        assert!(refused(Os::Linux, "/usr/bin/earshot (deleted)"));
        assert!(!refused(
            Os::Windows,
            r"C:\Users\ann\AppData\Local\Earshot\earshot.exe"
        ));
        assert!(refused(
            Os::Windows,
            r"C:\Users\Ann Lee\AppData\Local\Earshot\earshot.exe"
        ));
        assert!(!refused(
            Os::Mac,
            "/Applications/Earshot.app/Contents/MacOS/earshot"
        ));
        assert!(!refused(Os::Mac, "/Users/a/My Apps/Earshot.app"));
        assert!(refused(Os::Mac, "/Users/a/R&B/Earshot.app"));
        assert!(refused(Os::Linux, "/opt/earshot\nX-Evil=1/earshot"));
    }

    #[test]
    fn the_entry_carries_why_it_cannot_work() {
        let e = entry(
            Os::Windows,
            "Earshot",
            Path::new(r"C:\data"),
            true,
            "app.earshot.desktop",
            Some(Path::new(r"C:\Users\Ann Lee\earshot.exe")),
        );
        assert!(e.problem.is_some_and(|p| p.contains("Ann Lee")));
        let e = entry(Os::Linux, "Earshot", Path::new("/tmp/d"), true, "x", None);
        assert!(e.problem.is_some());
    }

    #[cfg(unix)]
    #[test]
    fn a_data_dir_that_is_not_text_or_has_control_characters_is_refused() {
        use std::os::unix::ffi::OsStrExt;
        let odd = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/\xff"));
        let e = entry(
            Os::Linux,
            "Earshot",
            odd,
            false,
            "x.d0",
            Some(Path::new(EXE)),
        );
        assert!(e.problem.is_some());
        let e = entry(
            Os::Linux,
            "Earshot",
            Path::new("/tmp/a\nb"),
            false,
            "x.d0",
            Some(Path::new(EXE)),
        );
        assert!(e.problem.is_some());
    }
}
