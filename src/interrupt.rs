//! Ctrl-C and SIGTERM during a command that edits the project (`add`, `remove`, `pin`, `init`)
//! end it as a failure does: what it wrote is taken back.
//!
//! Why a flag rather than dying: the default action kills pyenvx between two writes
//! (`pyenvx.toml` edited, the lock not), and nothing is left to put things back. While a
//! [`Guard`] lives, the signal only sets a flag. The places that wait (a uv run, a download)
//! look at it and stop early; the workflow then fails ([`settle`]), takes back what it wrote as
//! for any failure, and pyenvx exits 130. A second signal exits at once, as users expect of a
//! second Ctrl-C.

use std::sync::atomic::{AtomicUsize, Ordering};

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    // Only async-signal-safe work here: an atomic add, and `_exit`.
    if SIGNALS.fetch_add(1, Ordering::SeqCst) >= 1 {
        unsafe { libc::_exit(130) };
    }
}

/// Signals are caught while it lives; the previous handlers come back when it is dropped.
pub struct Guard {
    old: Vec<(libc::c_int, libc::sigaction)>,
}

/// Catch SIGINT and SIGTERM until the guard is dropped.
pub fn guard() -> Guard {
    let mut old = Vec::new();
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid; the handler only touches an atomic.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, &action, &mut previous) == 0 {
                old.push((sig, previous));
            }
        }
    }
    Guard { old }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for (sig, previous) in &self.old {
            // SAFETY: restoring the action sigaction gave us.
            unsafe {
                libc::sigaction(*sig, previous, std::ptr::null_mut());
            }
        }
    }
}

/// Whether SIGINT or SIGTERM arrived while a guard was up.
pub fn interrupted() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0
}

/// The error an interrupted command ends with (exit code 130, as a shell reports Ctrl-C).
fn error(what: &str) -> anyhow::Error {
    anyhow::Error::new(
        crate::error::UserError::new(format!("{what} was interrupted"))
            .hint("what it wrote was taken back; run it again")
            .code(130),
    )
}

/// `result`, or the interrupted error when a signal came while it was made: the caller then
/// takes back what it wrote, as for any failure.
pub fn settle<T>(result: anyhow::Result<T>, what: &str) -> anyhow::Result<T> {
    if interrupted() {
        return Err(error(what));
    }
    result
}

/// An error now if a signal already came: for the point before a command's first write.
pub fn check(what: &str) -> anyhow::Result<()> {
    settle(Ok(()), what)
}
