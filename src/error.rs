//! Errors a user can act on.
//!
//! Every domain module returns `anyhow::Error`; when the failure is the user's to fix we attach a
//! [`UserError`] somewhere in the chain, which carries the hint printed under the message and the
//! process exit code. `main` renders the chain as `error:` / `Caused by:` / `hint:` lines.

use std::fmt;

/// Exit codes, documented in docs/reference/exit-codes.md.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// The command failed for a reason the user can fix (bad request, nothing found, verification).
    pub const FAILURE: i32 = 1;
    /// Command-line usage error (clap uses the same code).
    pub const USAGE: i32 = 2;
    /// An unexpected internal error: a bug in pyenvx.
    pub const INTERNAL: i32 = 101;
}

/// A failure with a clear message and, usually, a hint about what to do next.
#[derive(Debug)]
pub struct UserError {
    pub message: String,
    pub hint: Option<String>,
    pub code: i32,
    /// What failed, for the code that branches on it; the message is for people.
    pub kind: Kind,
}

/// The failures code looks for in an error, rather than reading its words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    #[default]
    Other,
    /// The resolver's answer that no versions satisfy the requirements.
    NoSolution,
    /// A release the resolver had to build from source does not build here.
    DoesNotBuild,
}

impl UserError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
            code: exit::FAILURE,
            kind: Kind::Other,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }

    pub fn kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }
}

/// Whether a user error of `kind` is anywhere in the chain.
pub fn is_kind(err: &anyhow::Error, kind: Kind) -> bool {
    user_errors(err).any(|u| u.kind == kind)
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// Build a user error with a hint in one expression: `bail_hint!(hint, "format", args)`.
#[macro_export]
macro_rules! user_error {
    (hint = $hint:expr, $($arg:tt)+) => {
        ::anyhow::Error::new($crate::error::UserError::new(format!($($arg)+)).hint($hint))
    };
    ($($arg:tt)+) => {
        ::anyhow::Error::new($crate::error::UserError::new(format!($($arg)+)))
    };
}

/// The first hint anywhere in the chain, for rendering.
pub fn find_hint(err: &anyhow::Error) -> Option<&str> {
    user_errors(err).find_map(|u| u.hint.as_deref())
}

/// Every `UserError` in the chain; the outermost may be a context (`err.context(UserError…)`),
/// which only `anyhow::Error::downcast_ref` sees.
fn user_errors(err: &anyhow::Error) -> impl Iterator<Item = &UserError> {
    err.downcast_ref::<UserError>()
        .into_iter()
        .chain(err.chain().filter_map(|e| e.downcast_ref::<UserError>()))
}

/// The exit code the chain asks for; errors nobody classified are plain failures.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    user_errors(err).next().map_or(exit::FAILURE, |u| u.code)
}
