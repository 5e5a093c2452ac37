//! Build script of the window shell: tauri-build reads tauri.conf.json (at the repository root)
//! and prepares the app's context, capabilities and icons.
fn main() {
    tauri_build::build()
}
