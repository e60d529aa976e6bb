//! Process signals as flags the packet loops poll (the `signal-hook` crate:
//! its handlers only store to an atomic, which is async-signal-safe).
//!
//! - SIGTERM, SIGINT: shutdown requested. The loop stops reading, ends every
//!   flow, flushes the output and the process exits 0. A second SIGTERM or
//!   SIGINT while that drain runs exits at once with status 1.
//! - SIGHUP: reload requested. `virga run` reloads its configuration file and
//!   reopens the EVE output (after logrotate moved it).

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Exit status of the immediate exit on a second SIGTERM/SIGINT.
pub const FORCED_EXIT_STATUS: i32 = 1;

/// Shutdown and reload flags, set by signal handlers (or by hand).
#[derive(Debug, Clone, Default)]
pub struct Signals {
    shutdown: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
}

impl Signals {
    /// Installs the SIGTERM, SIGINT and SIGHUP handlers and returns their
    /// flags. Should registration fail (it does not on Unix for these
    /// signals), one line says so and the signals keep their default action.
    pub fn install() -> Signals {
        let s = Signals::default();
        if let Err(e) = s.register() {
            eprintln!(
                "virga: cannot install signal handlers ({e}); signals keep their default action"
            );
        }
        s
    }

    fn register(&self) -> std::io::Result<()> {
        for sig in [SIGTERM, SIGINT] {
            // Order matters: the conditional exit is armed by the first
            // signal's flag, so it must be registered before the flag setter.
            signal_hook::flag::register_conditional_shutdown(
                sig,
                FORCED_EXIT_STATUS,
                Arc::clone(&self.shutdown),
            )?;
            signal_hook::flag::register(sig, Arc::clone(&self.shutdown))?;
        }
        signal_hook::flag::register(SIGHUP, Arc::clone(&self.reload))?;
        Ok(())
    }

    /// Flags with no handler behind them (library use and tests); set them
    /// with [`Signals::request_shutdown`] and [`Signals::request_reload`].
    pub fn inert() -> Signals {
        Signals::default()
    }

    /// True once SIGTERM or SIGINT arrived (stays true).
    pub fn shutdown_requested(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// True if SIGHUP arrived since the last call (clears the flag).
    pub fn take_reload(&self) -> bool {
        self.reload.swap(false, Ordering::Relaxed)
    }

    /// The shutdown flag itself, for loops that poll an `AtomicBool` (the
    /// replay pipeline).
    pub fn shutdown_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.shutdown)
    }

    /// Requests shutdown as SIGTERM would.
    pub fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::Relaxed);
    }

    /// Requests a reload as SIGHUP would.
    pub fn request_reload(&self) {
        self.reload.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sighup_sets_the_reload_flag_once() {
        // Only SIGHUP is raised here: the test harness must survive, and a
        // real SIGTERM would arm the immediate exit for any later one. The
        // shutdown path is tested end to end on the binary (tests/cli.rs,
        // tests/live_netns.rs).
        let s = Signals::install();
        assert!(!s.take_reload());
        signal_hook::low_level::raise(SIGHUP).unwrap();
        assert!(s.take_reload());
        assert!(!s.take_reload(), "the flag is taken, not sticky");
        assert!(!s.shutdown_requested());
    }

    #[test]
    fn inert_flags_are_set_by_hand_and_shared() {
        let s = Signals::inert();
        let flag = s.shutdown_flag();
        assert!(!s.shutdown_requested());
        s.request_shutdown();
        assert!(s.shutdown_requested());
        assert!(flag.load(Ordering::Relaxed));
        assert!(s.shutdown_requested(), "shutdown stays requested");
        s.request_reload();
        assert!(s.clone().take_reload());
        assert!(!s.take_reload());
    }
}
