//! Progress reporting from library code to whatever front end is attached.
//!
//! Domain code never prints: it tells a `Reporter` what happens, and the CLI decides whether that
//! becomes an indicatif bar, one summary line, or nothing.

/// Receives progress events. All methods default to doing nothing.
pub trait Reporter: Sync {
    /// A transfer named `name` starts; `total` is its size when known. Returns an id for updates.
    fn download_start(&self, _name: &str, _total: Option<u64>) -> usize {
        0
    }
    /// `bytes` more arrived for transfer `id`.
    fn download_progress(&self, _id: usize, _bytes: u64) {}
    /// Transfer `id` is over (successfully or not).
    fn download_done(&self, _id: usize) {}
    /// Another process holds a lock we need; we are waiting for it.
    fn waiting_for_lock(&self, _what: &str) {}
    /// Something the user should know that does not stop the command.
    fn warn(&self, _message: &str) {}
    /// What is being done and why (which interpreter, which cache, which command): shown with
    /// `-v`, for someone asking why pyenvx did what it did.
    fn detail(&self, _message: &str) {}
}

/// Runs a step that can take a second or more under a spinner saying what it does. The CLI's
/// reporter draws it on a terminal only (not with `--quiet`, `--no-progress`,
/// `PYENVX_NO_PROGRESS`, or stderr redirected), so logs and pipes see just the result line.
pub fn spinning<T, E>(
    reporter: &dyn Reporter,
    what: &str,
    step: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let spinner = reporter.download_start(what, None);
    let result = step();
    reporter.download_done(spinner);
    result
}

/// Reports nothing; for tests and library callers that do not care.
pub struct Silent;

impl Reporter for Silent {}
