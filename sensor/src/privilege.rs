//! Dropping root after the capture is open (`[run]` `run_as_user`,
//! `run_as_group`, `allow_root`).
//!
//! `virga run` opens the interface first (that needs `CAP_NET_RAW`, and
//! `CAP_NET_ADMIN` for promiscuous mode), then calls [`enforce`] before any
//! packet is read and before any thread is started:
//!
//! 1. with `run_as_user`/`run_as_group` set and running as root: supplementary
//!    groups are replaced by the one target group, then `setgid`, then
//!    `setuid`. These are libc's calls (through the `nix` crate, which keeps
//!    the crate free of `unsafe`): glibc and musl apply them to every thread of
//!    the process, unlike the raw per-thread Linux syscalls. virga calls them
//!    while it has one thread anyway, and [`enforce`] then checks every task in
//!    `/proc/self/task` and that `setuid(0)` now fails. Switching from root
//!    to another uid clears the permitted and effective capability sets, so
//!    the open capture socket is the only privilege left;
//! 2. not running as root: the settings must already hold (systemd's `User=`
//!    with `AmbientCapabilities=`, or a container's file capabilities), since
//!    nothing can be switched;
//! 3. then, still uid 0 (no `run_as_user`) is refused unless `allow_root` (or
//!    `--allow-root`) says so;
//! 4. not root (after 1 or 2): every capability is given up, ambient,
//!    effective, permitted and inheritable ([`shed_capabilities`]). systemd's
//!    `AmbientCapabilities=` and a container's file capabilities grant
//!    `CAP_NET_RAW`/`CAP_NET_ADMIN` for the whole process life; virga needs
//!    them only to open the interface, which is done by now. The sets are
//!    per thread, and virga still has one; every task is checked in
//!    `/proc/self/task`. Root with `allow_root` keeps what it has.
//!
//! The EVE outputs are opened after the drop, by the unprivileged user: the
//! start-up open and every SIGHUP reopen (logrotate) run under the same
//! permissions, so an output directory the user cannot write fails at start
//! (exit 2), not at the first rotation.

use nix::unistd::{self, Gid, Group, Uid, User};

/// What [`enforce`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Switched from root to this uid/gid.
    Dropped {
        /// User id now in force (real, effective and saved).
        uid: u32,
        /// Group id now in force; also the only supplementary group.
        gid: u32,
    },
    /// Not root, nothing to switch (the settings, if any, already held).
    Unprivileged {
        /// The process's user id.
        uid: u32,
        /// The capabilities it held and gave up (`CAP_NET_RAW`, …), sorted.
        shed: Vec<String>,
    },
    /// Still root, allowed by `allow_root` or `--allow-root`.
    RootAllowed,
}

/// Why the process may not go on.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// `run_as_user` names no account.
    #[error("run.run_as_user: no user `{0}` on this system")]
    UnknownUser(String),
    /// `run_as_group` names no group.
    #[error("run.run_as_group: no group `{0}` on this system")]
    UnknownGroup(String),
    /// Not root and not already the configured user/group.
    #[error(
        "run.{key}: cannot switch to `{name}`: not running as root (uid {uid}, gid {gid}); \
         start virga as root or as that account"
    )]
    CannotSwitch {
        /// `run_as_user` or `run_as_group`.
        key: &'static str,
        /// The configured account.
        name: String,
        /// Current uid.
        uid: u32,
        /// Current gid.
        gid: u32,
    },
    /// A system call failed, or the check after it did.
    #[error("cannot drop privileges: {step}: {reason}")]
    Failed {
        /// Which step.
        step: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// Still root after start-up without permission to be.
    #[error(
        "refusing to process packets as root: set run.run_as_user (and run.run_as_group) to an \
         unprivileged account, or run.allow_root = true (--allow-root) to accept the risk"
    )]
    StillRoot,
}

/// The account to switch to, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    /// Target uid; `None` when only a group is configured.
    pub uid: Option<Uid>,
    /// Target gid: `run_as_group`, else the user's primary group.
    pub gid: Option<Gid>,
}

/// Looks up `run_as_user`/`run_as_group` (names first, then numeric ids).
///
/// # Errors
/// [`PrivilegeError::UnknownUser`] or [`PrivilegeError::UnknownGroup`].
pub fn resolve(run: &virga_config::Run) -> Result<Account, PrivilegeError> {
    let user = match run.run_as_user.as_deref() {
        None => None,
        Some(name) => Some(lookup_user(name)?),
    };
    let gid = match run.run_as_group.as_deref() {
        Some(name) => Some(lookup_group(name)?),
        None => user.map(|(_, g)| g),
    };
    Ok(Account {
        uid: user.map(|(u, _)| u),
        gid,
    })
}

fn lookup_user(name: &str) -> Result<(Uid, Gid), PrivilegeError> {
    let unknown = || PrivilegeError::UnknownUser(name.to_string());
    if let Ok(Some(u)) = User::from_name(name) {
        return Ok((u.uid, u.gid));
    }
    let id: u32 = name.parse().map_err(|_| unknown())?;
    let uid = Uid::from_raw(id);
    match User::from_uid(uid) {
        Ok(Some(u)) => Ok((u.uid, u.gid)),
        // A numeric id without a passwd entry (containers): its group must
        // be the same number unless run_as_group says otherwise.
        _ => Ok((uid, Gid::from_raw(id))),
    }
}

fn lookup_group(name: &str) -> Result<Gid, PrivilegeError> {
    if let Ok(Some(g)) = Group::from_name(name) {
        return Ok(g.gid);
    }
    name.parse::<u32>()
        .map(Gid::from_raw)
        .map_err(|_| PrivilegeError::UnknownGroup(name.to_string()))
}

/// Applies `[run]` (see the module documentation); `allow_root_cli` is
/// `--allow-root`. Call it once the capture is open and before any thread
/// is spawned or any packet read.
///
/// # Errors
/// Any [`PrivilegeError`]; the caller exits 2.
pub fn enforce(run: &virga_config::Run, allow_root_cli: bool) -> Result<Outcome, PrivilegeError> {
    let want = resolve(run)?;
    let (uid, gid) = (unistd::geteuid(), unistd::getegid());
    let outcome = if want.uid.is_none() && want.gid.is_none() {
        None
    } else if uid.is_root() {
        Some(switch(want)?)
    } else {
        if want.uid.is_some_and(|u| u != uid) {
            return Err(cannot_switch(
                "run_as_user",
                run.run_as_user.as_deref(),
                uid,
                gid,
            ));
        }
        // Only an explicit group must match (a user's primary group may
        // differ from the group a service manager started us with).
        if run.run_as_group.is_some() && want.gid.is_some_and(|g| g != gid) {
            return Err(cannot_switch(
                "run_as_group",
                run.run_as_group.as_deref(),
                uid,
                gid,
            ));
        }
        None
    };
    if unistd::geteuid().is_root() || unistd::getuid().is_root() {
        if run.allow_root || allow_root_cli {
            return Ok(Outcome::RootAllowed);
        }
        return Err(PrivilegeError::StillRoot);
    }
    let shed = shed_capabilities()?;
    Ok(outcome.unwrap_or(Outcome::Unprivileged {
        uid: unistd::getuid().as_raw(),
        shed,
    }))
}

/// Clears this thread's ambient, effective, permitted and inheritable
/// capability sets and checks every task of the process holds none; returns
/// the names of the capabilities that were permitted, sorted. Call it while
/// the process has one thread: the sets are per thread and new threads
/// inherit them.
///
/// # Errors
/// [`PrivilegeError::Failed`] when a set cannot be cleared or a task still
/// holds a capability.
pub fn shed_capabilities() -> Result<Vec<String>, PrivilegeError> {
    use caps::CapSet;
    let fail = |step: &'static str| {
        move |e: caps::errors::CapsError| PrivilegeError::Failed {
            step,
            reason: e.to_string(),
        }
    };
    let held = caps::read(None, CapSet::Permitted).map_err(fail("read capabilities"))?;
    // Ambient first (it must stay within permitted and inheritable), and
    // effective before permitted (the same rule).
    if caps::runtime::ambient_set_supported().is_ok() {
        caps::clear(None, CapSet::Ambient).map_err(fail("clear ambient capabilities"))?;
    }
    for (set, step) in [
        (CapSet::Effective, "clear effective capabilities"),
        (CapSet::Permitted, "clear permitted capabilities"),
        (CapSet::Inheritable, "clear inheritable capabilities"),
    ] {
        caps::clear(None, set).map_err(fail(step))?;
    }
    for e in std::fs::read_dir("/proc/self/task").map_err(|e| PrivilegeError::Failed {
        step: "check",
        reason: format!("cannot read /proc/self/task: {e}"),
    })? {
        let status = e
            .and_then(|e| std::fs::read_to_string(e.path().join("status")))
            .map_err(|e| PrivilegeError::Failed {
                step: "check",
                reason: format!("cannot read a task's status: {e}"),
            })?;
        for key in ["CapInh:", "CapPrm:", "CapEff:", "CapAmb:"] {
            if status_capabilities(&status, key).is_none_or(|mask| mask != 0) {
                return Err(PrivilegeError::Failed {
                    step: "check",
                    reason: format!("a thread still holds capabilities ({key})"),
                });
            }
        }
    }
    let mut names: Vec<String> = held.iter().map(ToString::to_string).collect();
    names.sort();
    Ok(names)
}

/// The hexadecimal capability mask of the `key` line (`CapEff:`, …) of a
/// `/proc/*/status` text.
pub fn status_capabilities(status: &str, key: &str) -> Option<u64> {
    let rest = status.lines().find_map(|l| l.strip_prefix(key))?;
    u64::from_str_radix(rest.trim(), 16).ok()
}

fn cannot_switch(key: &'static str, name: Option<&str>, uid: Uid, gid: Gid) -> PrivilegeError {
    PrivilegeError::CannotSwitch {
        key,
        name: name.unwrap_or_default().to_string(),
        uid: uid.as_raw(),
        gid: gid.as_raw(),
    }
}

fn failed(step: &'static str) -> impl FnOnce(nix::Error) -> PrivilegeError {
    move |e| PrivilegeError::Failed {
        step,
        reason: e.desc().to_string(),
    }
}

/// Switches from root to `want`: groups first (setgid needs root), the uid
/// last; then checks the result.
fn switch(want: Account) -> Result<Outcome, PrivilegeError> {
    if let Some(g) = want.gid {
        unistd::setgroups(&[g]).map_err(failed("setgroups"))?;
        unistd::setgid(g).map_err(failed("setgid"))?;
    }
    if let Some(u) = want.uid {
        unistd::setuid(u).map_err(failed("setuid"))?;
    }
    let (uid, gid) = (unistd::getuid(), unistd::getgid());
    let check = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(PrivilegeError::Failed {
                step: "check",
                reason: what.to_string(),
            })
        }
    };
    if let Some(u) = want.uid {
        check(uid == u && unistd::geteuid() == u, "uid not switched")?;
        if !u.is_root() {
            // Regaining root must be impossible now.
            check(
                unistd::setuid(Uid::from_raw(0)).is_err(),
                "setuid(0) still succeeds",
            )?;
        }
    }
    if let Some(g) = want.gid {
        check(gid == g && unistd::getegid() == g, "gid not switched")?;
    }
    // Every thread (there should be one) carries the new ids.
    let ids = task_ids().map_err(|e| PrivilegeError::Failed {
        step: "check",
        reason: format!("cannot read /proc/self/task: {e}"),
    })?;
    for (tu, tg) in ids {
        check(
            tu.iter().all(|x| *x == uid.as_raw()) && tg.iter().all(|x| *x == gid.as_raw()),
            "a thread kept other ids",
        )?;
    }
    Ok(Outcome::Dropped {
        uid: uid.as_raw(),
        gid: gid.as_raw(),
    })
}

/// (Uid, Gid) lines (real, effective, saved, filesystem) of every task of
/// this process, from `/proc/self/task/*/status`.
fn task_ids() -> std::io::Result<Vec<(Vec<u32>, Vec<u32>)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc/self/task")? {
        let status = std::fs::read_to_string(e?.path().join("status"))?;
        out.push((status_ids(&status, "Uid:"), status_ids(&status, "Gid:")));
    }
    Ok(out)
}

/// The numbers of the `key` line of a `/proc/*/status` text.
pub fn status_ids(status: &str, key: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(user: Option<&str>, group: Option<&str>, allow_root: bool) -> virga_config::Run {
        virga_config::Run {
            run_as_user: user.map(str::to_string),
            run_as_group: group.map(str::to_string),
            allow_root,
        }
    }

    #[test]
    fn names_and_numbers_resolve() {
        // root is uid 0 with primary group 0 on every Linux system.
        let a = resolve(&run(Some("root"), None, false)).unwrap();
        assert_eq!(a.uid, Some(Uid::from_raw(0)));
        assert_eq!(a.gid, Some(Gid::from_raw(0)));
        let a = resolve(&run(Some("0"), Some("12345"), false)).unwrap();
        assert_eq!(a.uid, Some(Uid::from_raw(0)));
        assert_eq!(a.gid, Some(Gid::from_raw(12345)));
        let a = resolve(&run(None, None, false)).unwrap();
        assert_eq!((a.uid, a.gid), (None, None));
    }

    #[test]
    fn unknown_accounts_are_named() {
        let e = resolve(&run(Some("vg-no-such-user"), None, false)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "run.run_as_user: no user `vg-no-such-user` on this system"
        );
        let e = resolve(&run(Some("root"), Some("vg-no-such-group"), false)).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("run.run_as_group: no group `vg-no-such-group`"));
    }

    /// In this (test) process: as root without settings, the refusal; with
    /// `allow_root`, accepted. (The actual switch is tested end to end in
    /// tests/live_netns.rs, in a process of its own, since it is for good.)
    #[test]
    fn root_without_run_as_is_refused_unless_allowed() {
        if !unistd::geteuid().is_root() {
            // Not root: nothing to switch, no refusal.
            assert!(matches!(
                enforce(&run(None, None, false), false),
                Ok(Outcome::Unprivileged { .. })
            ));
            // Asking for another account cannot be done.
            let e = enforce(&run(Some("root"), None, false), false).unwrap_err();
            assert!(
                matches!(
                    e,
                    PrivilegeError::CannotSwitch {
                        key: "run_as_user",
                        ..
                    }
                ),
                "{e}"
            );
            return;
        }
        let e = enforce(&run(None, None, false), false).unwrap_err();
        assert!(matches!(e, PrivilegeError::StillRoot));
        assert!(e.to_string().contains("run.allow_root = true"));
        assert_eq!(
            enforce(&run(None, None, true), false).unwrap(),
            Outcome::RootAllowed
        );
        assert_eq!(
            enforce(&run(None, None, false), true).unwrap(),
            Outcome::RootAllowed
        );
    }

    #[test]
    fn status_lines_parse() {
        let s =
            "Name:\tvirga\nUid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\n";
        assert_eq!(status_ids(s, "Uid:"), vec![65534; 4]);
        assert_eq!(status_ids(s, "Gid:"), vec![65534; 4]);
        assert!(status_ids(s, "Groups:").is_empty());
    }

    #[test]
    fn capability_masks_parse_from_this_process() {
        let own = std::fs::read_to_string("/proc/self/status").unwrap();
        for key in ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:"] {
            assert!(status_capabilities(&own, key).is_some(), "{key}");
        }
        let s = "CapPrm:\t0000000000003000\nCapEff:\t0000000000000000\nCapAmb:\tzz\n";
        assert_eq!(status_capabilities(s, "CapPrm:"), Some(0x3000));
        assert_eq!(status_capabilities(s, "CapEff:"), Some(0));
        assert_eq!(status_capabilities(s, "CapAmb:"), None);
        assert_eq!(status_capabilities(s, "CapInh:"), None);
    }
}
