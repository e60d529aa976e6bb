//! Two network namespaces joined by a veth pair, for live capture tests:
//! traffic sent into one end with `tcpreplay` arrives on the other and
//! nowhere else. The namespaces are deleted on drop, also when a test fails.
//!
//! Needs root, `ip` (iproute2) and `tcpreplay`. Without them
//! [`prerequisites_met`] prints a note and returns false, except when `CI`
//! (or `VIRGA_REQUIRE_SHARED`) is set: then it panics, so CI cannot pass
//! without having run the test.

#![allow(dead_code)]

use std::process::{Command, Stdio};

/// True if `cmd args` runs and exits 0.
pub fn runs(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why live tests cannot run here, if they cannot.
pub fn missing_prerequisite() -> Option<&'static str> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not running as root");
    }
    if !runs("ip", &["-V"]) {
        return Some("`ip` (iproute2) not found");
    }
    if !runs("tcpreplay", &["-V"]) {
        return Some("`tcpreplay` not found");
    }
    None
}

/// Whether the live test `test` can run: a note and false when it cannot,
/// a panic instead when CI is set.
///
/// # Panics
/// When a prerequisite is missing and `CI` or `VIRGA_REQUIRE_SHARED` is set.
pub fn prerequisites_met(test: &str) -> bool {
    let Some(why) = missing_prerequisite() else {
        return true;
    };
    assert!(
        !virga_test_support::shared_required(),
        "{test}: cannot run ({why}), and CI is set: live capture tests must run in CI"
    );
    eprintln!("note: {test} skipped: {why}");
    false
}

/// Runs a command that must succeed.
pub fn must(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().expect(cmd);
    assert!(
        out.status.success(),
        "{cmd} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces joined by a veth pair; deleted on drop.
pub struct Netns {
    /// The sending side's namespace.
    pub ns_a: String,
    /// The capturing side's namespace.
    pub ns_b: String,
    /// The veth end in `ns_a`.
    pub veth_a: String,
    /// The veth end in `ns_b`.
    pub veth_b: String,
}

impl Netns {
    /// Creates the pair; `tag` (one or two characters) keeps the names of
    /// concurrent tests apart.
    pub fn create(tag: &str) -> Netns {
        let id = format!("{}{tag}", std::process::id() % 100_000);
        // Interface names are at most 15 bytes: "vg" + 5 digits + tag + a/b.
        let n = Netns {
            ns_a: format!("vg-{id}-a"),
            ns_b: format!("vg-{id}-b"),
            veth_a: format!("vg{id}a"),
            veth_b: format!("vg{id}b"),
        };
        // Leftovers of an earlier, killed run of the same pid.
        n.delete();
        must("ip", &["netns", "add", &n.ns_a]);
        must("ip", &["netns", "add", &n.ns_b]);
        for ns in [&n.ns_a, &n.ns_b] {
            // No IPv6 autoconfiguration chatter on the link (best effort).
            let _ = runs(
                "ip",
                &[
                    "netns",
                    "exec",
                    ns,
                    "sh",
                    "-c",
                    "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; \
                     echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6",
                ],
            );
        }
        must(
            "ip",
            &[
                "-n", &n.ns_a, "link", "add", &n.veth_a, "type", "veth", "peer", "name", &n.veth_b,
                "netns", &n.ns_b,
            ],
        );
        // Room for captured frames larger than a standard MTU.
        must(
            "ip",
            &["-n", &n.ns_a, "link", "set", &n.veth_a, "mtu", "9000", "up"],
        );
        must(
            "ip",
            &["-n", &n.ns_b, "link", "set", &n.veth_b, "mtu", "9000", "up"],
        );
        must("ip", &["-n", &n.ns_b, "link", "set", "lo", "up"]);
        n
    }

    fn delete(&self) {
        // Deleting a namespace deletes the veth end in it, and so the pair.
        let _ = runs("ip", &["netns", "del", &self.ns_a]);
        let _ = runs("ip", &["netns", "del", &self.ns_b]);
    }

    /// Sends `pcap` from side A with the extra tcpreplay `args` (speed,
    /// loops); returns when tcpreplay has sent everything.
    pub fn replay_from_a(&self, pcap: &str, args: &[&str]) {
        let mut all = vec![
            "netns",
            "exec",
            &self.ns_a,
            "tcpreplay",
            "-q",
            "-i",
            &self.veth_a,
        ];
        all.extend_from_slice(args);
        all.push(pcap);
        must("ip", &all);
    }

    /// Runs `f` on a thread inside namespace B (sockets it opens stay in B).
    #[cfg(target_os = "linux")]
    pub fn in_b<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/var/run/netns/{}", self.ns_b);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("setns {path}: {e}"));
            f()
        })
        .join()
        .expect("thread in namespace B")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.delete();
    }
}
