//! Embeds the SQL files of `migrations/` (at the repository root) into the engine.
//!
//! Files are named `NNNN_name.sql`, numbered from 0001 without gaps; they are append-only, so the
//! build fails on a gap or a stray file rather than shipping a schema history that cannot be
//! replayed. The generated `migrations.rs` is a list of `(name, sql)` in order.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let dir = manifest.join("../../migrations");
    println!("cargo:rerun-if-changed={}", dir.display());

    let mut files: Vec<(u32, String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("a readable migrations entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".sql") else {
            panic!("migrations/{name}: only NNNN_name.sql files belong in migrations/");
        };
        let number: u32 = stem
            .get(..4)
            .filter(|_| stem.as_bytes().get(4) == Some(&b'_'))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("migrations/{name}: name it NNNN_name.sql"));
        files.push((number, stem.to_string(), path.canonicalize().unwrap()));
    }
    files.sort();
    for (i, (number, name, _)) in files.iter().enumerate() {
        assert_eq!(
            *number as usize,
            i + 1,
            "migrations/{name}.sql: numbers must run 0001, 0002, … without gaps"
        );
    }

    let mut out = String::from("/// `(name, sql)` of every migration, in order.\npub const MIGRATIONS: &[(&str, &str)] = &[\n");
    for (_, name, path) in &files {
        out.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("migrations.rs");
    std::fs::write(dest, out).expect("to write migrations.rs");
}
