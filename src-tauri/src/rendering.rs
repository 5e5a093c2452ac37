//! How the web view draws on Linux. WebKitGTK composites the page with OpenGL; on a system
//! without a GPU (a virtual machine, a remote session, Xvfb) that OpenGL is Mesa's software
//! rasteriser, and compositing then costs more than it saves. In `earshot-node bench app` under
//! Xvfb (2026-11-27, WebKitGTK 2.50) the app with its web processes took 374 MB PSS and 2.6 % of a
//! core idle with compositing, 263 MB and 0.45 % without. So when the system has no GPU render
//! node, compositing is turned off (`WEBKIT_DISABLE_COMPOSITING_MODE=1`) before the first web view
//! exists. A value the person set themselves is left as it is, either way; with a GPU nothing
//! changes.

use std::path::Path;

/// WebKitGTK's switch.
pub const VAR: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";

/// What [`choose`] decided, to be logged once logging runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compositing {
    /// A GPU render node exists: WebKit composites as it would anyway.
    Gpu,
    /// No render node: compositing turned off.
    OffWithoutGpu,
    /// The person set [`VAR`] to this; left alone.
    AsSet(String),
}

impl Compositing {
    pub fn describe(&self) -> String {
        match self {
            Compositing::Gpu => "a GPU is present: the web view composites with it".into(),
            Compositing::OffWithoutGpu => {
                format!("no GPU render node in /dev/dri: compositing off ({VAR}=1), cheaper on software OpenGL")
            }
            Compositing::AsSet(value) => format!("{VAR}={value} as set in the environment"),
        }
    }
}

/// Whether a GPU render node (`renderD128`, …) is among the entries of `/dev/dri`.
fn has_render_node(names: impl IntoIterator<Item = String>) -> bool {
    names.into_iter().any(|name| name.starts_with("renderD"))
}

/// The decision for an environment whose [`VAR`] is `set` and whose `/dev/dri` lists `dri`.
fn decide(set: Option<String>, dri: impl IntoIterator<Item = String>) -> Compositing {
    match set {
        Some(value) => Compositing::AsSet(value),
        None if has_render_node(dri) => Compositing::Gpu,
        None => Compositing::OffWithoutGpu,
    }
}

/// Decides, and sets [`VAR`] when compositing goes off. Call before any thread starts (it
/// changes the process environment) and before the first web view is made.
pub fn choose() -> Compositing {
    let set = std::env::var(VAR).ok();
    let dri = std::fs::read_dir(Path::new("/dev/dri"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let decided = decide(set, dri);
    if decided == Compositing::OffWithoutGpu {
        std::env::set_var(VAR, "1");
    }
    decided
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn without_a_render_node_compositing_goes_off() {
        assert_eq!(decide(None, names(&[])), Compositing::OffWithoutGpu);
        // A display-only device (a primary node, no render node) renders nothing itself.
        assert_eq!(
            decide(None, names(&["card0", "by-path"])),
            Compositing::OffWithoutGpu
        );
    }

    #[test]
    fn with_a_render_node_nothing_changes() {
        assert_eq!(
            decide(None, names(&["card0", "renderD128", "by-path"])),
            Compositing::Gpu
        );
    }

    #[test]
    fn a_value_the_person_set_is_left_alone_either_way() {
        assert_eq!(
            decide(Some("0".into()), names(&[])),
            Compositing::AsSet("0".into())
        );
        assert_eq!(
            decide(Some("1".into()), names(&["renderD128"])),
            Compositing::AsSet("1".into())
        );
    }
}
