//! How the web view runs on Linux: two of WebKitGTK's environment switches, decided before the
//! first web view exists (WebKit reads them once, when its processes start). A value the person
//! set themselves is always left as it is.
//!
//! - **Compositing.** WebKitGTK composites the page with OpenGL; on a system without a GPU (a
//!   virtual machine, a remote session, Xvfb) that OpenGL is Mesa's software rasteriser, and
//!   compositing then costs more than it saves. In `earshot-node bench app` under Xvfb
//!   (2026-11-27, WebKitGTK 2.50) the app with its web processes took 365 MB PSS, a first view of
//!   0.7–1.3 s and 15.7 % of a core while a friend played with compositing; 273 MB, 0.5–0.6 s and
//!   2.6 % without. So without a GPU render node compositing is off
//!   (`WEBKIT_DISABLE_COMPOSITING_MODE=1`); with one nothing changes.
//! - **The memory-pressure monitor.** WebKit's UI-process monitor reads `/proc/self/cgroup` one
//!   byte at a time every few seconds (~150 reads a second on average), and the web process
//!   reads its whole `/proc/self/smaps` to measure itself: the largest part of an idle window's
//!   CPU left once nothing on the page moves. What it buys is caches released when the system
//!   runs short of memory, and Earshot's page keeps ~40 MB of its own. So it is off
//!   (`WEBKIT_DISABLE_MEMORY_PRESSURE_MONITOR=1`).

use std::path::Path;

/// WebKitGTK's compositing switch.
pub const COMPOSITING: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";
/// WebKitGTK's memory-pressure monitor switch.
pub const PRESSURE_MONITOR: &str = "WEBKIT_DISABLE_MEMORY_PRESSURE_MONITOR";

/// What became of one switch, to be logged once logging runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Set by us to `value`, for `why`.
    Set {
        var: &'static str,
        value: &'static str,
        why: &'static str,
    },
    /// Left unset: WebKit's default is right here, for `why`.
    Default {
        var: &'static str,
        why: &'static str,
    },
    /// The person set it to this; left alone.
    AsSet { var: &'static str, value: String },
}

impl Choice {
    pub fn describe(&self) -> String {
        match self {
            Choice::Set { var, value, why } => format!("{var}={value}: {why}"),
            Choice::Default { var, why } => format!("{var} unset: {why}"),
            Choice::AsSet { var, value } => format!("{var}={value} as set in the environment"),
        }
    }
}

/// Whether a GPU render node (`renderD128`, …) is among the entries of `/dev/dri`.
fn has_render_node(names: impl IntoIterator<Item = String>) -> bool {
    names.into_iter().any(|name| name.starts_with("renderD"))
}

/// Compositing, for an environment whose [`COMPOSITING`] is `set` and whose `/dev/dri` lists `dri`.
fn compositing(set: Option<String>, dri: impl IntoIterator<Item = String>) -> Choice {
    let var = COMPOSITING;
    match set {
        Some(value) => Choice::AsSet { var, value },
        None if has_render_node(dri) => Choice::Default {
            var,
            why: "a GPU render node is present: the web view composites with it",
        },
        None => Choice::Set {
            var,
            value: "1",
            why: "no GPU render node in /dev/dri: compositing on software OpenGL costs more than it saves",
        },
    }
}

/// The memory-pressure monitor, for an environment whose [`PRESSURE_MONITOR`] is `set`.
fn pressure_monitor(set: Option<String>) -> Choice {
    let var = PRESSURE_MONITOR;
    match set {
        Some(value) => Choice::AsSet { var, value },
        None => Choice::Set {
            var,
            value: "1",
            why: "WebKit's memory-pressure monitor polls /proc every few seconds, for ever",
        },
    }
}

/// Decides both switches and sets those that are ours to set. Call before any thread starts (it
/// changes the process environment) and before the first web view is made.
pub fn choose() -> [Choice; 2] {
    let dri = std::fs::read_dir(Path::new("/dev/dri"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let choices = [
        compositing(std::env::var(COMPOSITING).ok(), dri),
        pressure_monitor(std::env::var(PRESSURE_MONITOR).ok()),
    ];
    for choice in &choices {
        match choice {
            Choice::Set { var, value, .. } => std::env::set_var(var, value),
            Choice::Default { .. } | Choice::AsSet { .. } => {}
        }
    }
    choices
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn value(choice: &Choice) -> Option<&str> {
        match choice {
            Choice::Set { value, .. } => Some(value),
            Choice::Default { .. } => None,
            Choice::AsSet { value, .. } => Some(value),
        }
    }

    #[test]
    fn without_a_render_node_compositing_goes_off() {
        assert_eq!(value(&compositing(None, names(&[]))), Some("1"));
        // A display-only device (a primary node, no render node) renders nothing itself.
        let choice = compositing(None, names(&["card0", "by-path"]));
        assert!(
            matches!(
                choice,
                Choice::Set {
                    var: COMPOSITING,
                    value: "1",
                    ..
                }
            ),
            "{choice:?}"
        );
    }

    #[test]
    fn with_a_render_node_compositing_stays_as_webkit_has_it() {
        let choice = compositing(None, names(&["card0", "renderD128", "by-path"]));
        assert!(
            matches!(
                choice,
                Choice::Default {
                    var: COMPOSITING,
                    ..
                }
            ),
            "{choice:?}"
        );
    }

    #[test]
    fn the_memory_pressure_monitor_goes_off() {
        let choice = pressure_monitor(None);
        assert!(
            matches!(
                choice,
                Choice::Set {
                    var: PRESSURE_MONITOR,
                    value: "1",
                    ..
                }
            ),
            "{choice:?}"
        );
    }

    #[test]
    fn a_value_the_person_set_is_left_alone_either_way() {
        assert_eq!(
            compositing(Some("0".into()), names(&[])),
            Choice::AsSet {
                var: COMPOSITING,
                value: "0".into()
            }
        );
        assert_eq!(
            compositing(Some("1".into()), names(&["renderD128"])),
            Choice::AsSet {
                var: COMPOSITING,
                value: "1".into()
            }
        );
        assert_eq!(
            pressure_monitor(Some("0".into())),
            Choice::AsSet {
                var: PRESSURE_MONITOR,
                value: "0".into()
            }
        );
    }
}
