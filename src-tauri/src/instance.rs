//! Which running Earshot a second `earshot` process hands its link to.
//!
//! `tauri-plugin-single-instance` (2.5) finds the running instance by a name: the D-Bus name
//! `<dbus_id>.SingleInstance` on Linux (`dbus_id` defaults to the app identifier), the named mutex
//! `<identifier>-sim` on Windows, `/tmp/<identifier>_si.sock` on macOS. With the identifier from
//! tauri.conf.json alone, every Earshot on the machine would be "the same app", and
//! `earshot --data-dir B` would hand its arguments to the window on data dir A and quit. So the
//! name is made per data directory: the configured identifier for the per-OS default directory
//! (where links clicked in the browser or file manager go: the OS starts `earshot <link>` with no
//! `--data-dir`), and the configured one plus `.d<hash of the directory>` for any other. Two
//! processes on the same directory then meet; two on different directories never do. The shell
//! passes it as `dbus_id` on Linux and as the app identifier elsewhere (see `lib.rs`).

use std::path::{Component, Path, PathBuf};

/// The identifier for `data_dir`, given the configured identifier and the per-OS default
/// directory. Both directories are compared in canonical form, so `/tmp/a`, `/tmp/a/` and `a` run
/// from `/tmp` are one directory.
pub fn identifier(configured: &str, data_dir: &Path, default_dir: Option<&Path>) -> String {
    if is_default(data_dir, default_dir) {
        return configured.to_string();
    }
    let hash = blake3::hash(canonical(data_dir).as_os_str().as_encoded_bytes());
    // D-Bus name elements may not start with a digit, hence the "d"; 64 bits of hash are plenty
    // to tell one user's data directories apart.
    format!("{configured}.d{}", &hash.to_hex()[..16])
}

/// Whether `data_dir` is the per-OS default directory (where the OS sends clicked links).
pub fn is_default(data_dir: &Path, default_dir: Option<&Path>) -> bool {
    default_dir.is_some_and(|default| canonical(default) == canonical(data_dir))
}

/// The directory's canonical path; for one that does not exist yet (the engine creates it), the
/// canonical path of its nearest existing ancestor with the rest appended, so the name it gets
/// now is the name it will have once created.
fn canonical(dir: &Path) -> PathBuf {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(found) = existing.canonicalize() {
            return rest.iter().rev().fold(found, |path, part| path.join(part));
        }
        match (existing.parent(), existing.components().next_back()) {
            (Some(parent), Some(Component::Normal(name))) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "app.earshot.desktop";

    #[test]
    fn the_default_data_dir_keeps_the_configured_identifier() {
        let dir = tempfile::tempdir().expect("a temp dir to be made");
        assert_eq!(identifier(ID, dir.path(), Some(dir.path())), ID);
        assert!(is_default(dir.path(), Some(dir.path())));
    }

    #[test]
    fn other_data_dirs_get_an_identifier_of_their_own() {
        let a = tempfile::tempdir().expect("a temp dir to be made");
        let b = tempfile::tempdir().expect("a temp dir to be made");
        let id_a = identifier(ID, a.path(), None);
        let id_b = identifier(ID, b.path(), None);
        assert_ne!(id_a, id_b, "two data dirs must not share an instance");
        assert!(id_a.starts_with("app.earshot.desktop.d"), "{id_a}");
        assert_eq!(id_a, identifier(ID, a.path(), Some(b.path())));
    }

    #[test]
    fn spellings_of_one_directory_get_one_identifier() {
        let a = tempfile::tempdir().expect("a temp dir to be made");
        let with_slash = PathBuf::from(format!("{}/", a.path().display()));
        let with_dot = a.path().join(".");
        let id = identifier(ID, a.path(), None);
        assert_eq!(identifier(ID, &with_slash, None), id);
        assert_eq!(identifier(ID, &with_dot, None), id);
    }

    #[test]
    fn a_directory_gets_the_same_identifier_before_and_after_it_is_created() {
        let parent = tempfile::tempdir().expect("a temp dir to be made");
        let dir = parent.path().join("new").join("data");
        let before = identifier(ID, &dir, None);
        std::fs::create_dir_all(&dir).expect("the data dir to be created");
        assert_eq!(identifier(ID, &dir, None), before);
    }
}
