//! A network lab in Linux network namespaces: hosts, bridges, veth links and NAT routers made with
//! `ip` and `nft`, removed again when the [`Lab`] is dropped (design §9, layer 3).
//!
//! Every name carries a per-process prefix, so labs of concurrent test binaries never collide.
//! Addresses are test ranges inside the lab's own namespaces; nothing leaves this machine.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Why namespaces cannot be used here, if they cannot.
pub fn unavailable() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("network namespaces exist on Linux only".into());
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        == Some("0");
    if !root {
        return Some("creating network namespaces needs root".into());
    }
    crate::util::missing_tools(&[("ip", "iproute2"), ("nft", "nftables")])
}

/// Skips the calling test with a printed reason when namespaces are unavailable — or, under CI,
/// fails it (`util::prerequisite_missing`).
macro_rules! require_netns {
    () => {
        crate::util::require!(crate::lab::unavailable())
    };
}
pub(crate) use require_netns;

pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
}

fn sh(args: &[&str]) {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("to run a lab command");
    assert!(
        output.status.success(),
        "lab command failed: {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Lab {
    pub fn new() -> Lab {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Lab {
            prefix: format!("es{}x{n}", std::process::id() % 100_000),
            namespaces: Vec::new(),
        }
    }

    /// The full name of namespace `name`.
    pub fn ns_name(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// Creates namespace `name` with its loopback up; returns its full name.
    pub fn host(&mut self, name: &str) -> String {
        let ns = self.ns_name(name);
        sh(&["ip", "netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        ns
    }

    /// `ip netns exec NS` as a wrapper for a process.
    pub fn wrapper(ns: &str) -> Vec<String> {
        vec!["ip".into(), "netns".into(), "exec".into(), ns.into()]
    }

    /// Runs a command inside `ns`.
    pub fn exec(&self, ns: &str, args: &[&str]) {
        let mut full = vec!["ip", "netns", "exec", ns];
        full.extend_from_slice(args);
        sh(&full);
    }

    /// A bridge named `br0` inside `ns` (a switch).
    pub fn switch(&mut self, name: &str) -> String {
        let ns = self.host(name);
        sh(&["ip", "-n", &ns, "link", "add", "br0", "type", "bridge"]);
        sh(&["ip", "-n", &ns, "link", "set", "br0", "up"]);
        ns
    }

    /// Plugs `host` into the switch `switch_ns` with interface `ifname` and address `cidr`.
    pub fn plug(&mut self, switch_ns: &str, host: &str, ifname: &str, cidr: &str) {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let (inside, port) = (format!("v{n}h"), format!("v{n}s"));
        sh(&[
            "ip", "link", "add", &inside, "type", "veth", "peer", "name", &port,
        ]);
        sh(&["ip", "link", "set", &inside, "netns", host]);
        sh(&["ip", "link", "set", &port, "netns", switch_ns]);
        sh(&["ip", "-n", host, "link", "set", &inside, "name", ifname]);
        sh(&["ip", "-n", host, "addr", "add", cidr, "dev", ifname]);
        sh(&["ip", "-n", host, "link", "set", ifname, "up"]);
        sh(&["ip", "-n", switch_ns, "link", "set", &port, "master", "br0"]);
        sh(&["ip", "-n", switch_ns, "link", "set", &port, "up"]);
    }

    /// Takes `ifname` in `host` down or up: a pulled or replugged cable.
    pub fn cable(&self, host: &str, ifname: &str, up: bool) {
        sh(&[
            "ip",
            "-n",
            host,
            "link",
            "set",
            ifname,
            if up { "up" } else { "down" },
        ]);
    }

    pub fn default_route(&self, host: &str, via: &str) {
        sh(&["ip", "-n", host, "route", "add", "default", "via", via]);
    }

    /// Makes `router` a NAT of kind `nat` for what leaves through `wan`: it forwards, masquerades,
    /// and, as real home routers do, drops unsolicited traffic arriving on `wan` for itself.
    ///
    /// Without that input rule hole punching loses a race in a lab: one peer's first punch packet
    /// reaches the other NAT before that side has sent anything, conntrack records it as a flow to
    /// the router itself, and masquerade then moves the inside peer's outgoing port — the NAT
    /// turns symmetric (measured: 1 direct in 8 runs without the rule, 4 in 4 with it).
    pub fn nat(&self, router: &str, wan: &str, nat: Nat) {
        self.exec(router, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        self.exec(router, &["nft", "add", "table", "ip", "nat"]);
        self.exec(
            router,
            &[
                "nft",
                "add chain ip nat post { type nat hook postrouting priority srcnat ; }",
            ],
        );
        let mut rule = vec!["nft", "add", "rule", "ip", "nat", "post", "oifname", wan];
        match nat {
            Nat::PortRestricted => rule.push("masquerade"),
            Nat::Symmetric => rule.extend(["masquerade", "random"]),
        }
        self.exec(router, &rule);
        self.exec(router, &["nft", "add", "table", "inet", "fw"]);
        self.exec(
            router,
            &[
                "nft",
                "add chain inet fw input { type filter hook input priority filter ; }",
            ],
        );
        self.exec(
            router,
            &[
                "nft", "add", "rule", "inet", "fw", "input", "iifname", wan, "ct", "state", "new",
                "drop",
            ],
        );
    }
}

/// How a lab NAT maps an inside peer's flows to its outside address.
#[derive(Debug, Clone, Copy)]
pub enum Nat {
    /// Linux's plain masquerade: the inside port is kept where it is free, one mapping for every
    /// destination, and only answers get in — a typical home router; hole punching works.
    PortRestricted,
    /// `masquerade random`: a fresh random port for each flow, so the address the relay observes
    /// is not the one the other peer would have to reach — hole punching cannot work.
    Symmetric,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}
