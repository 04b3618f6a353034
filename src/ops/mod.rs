//! The workflows behind the commands, between `commands` (arguments in, lines out) and the
//! domain (`project`, `python`, `services`, …).
//!
//! A command used to be its own workflow: `init` checked clashes, resolved, wrote the config and
//! the lock, started services and ran Django's startproject in the same function that printed
//! the result, so none of it could be tested without running the binary. Here each workflow
//! takes its inputs as a plain struct and returns a report; the command prints the report.
//! Nothing here prints. Where a workflow has something to say before a long or failing step
//! (the files `init` adopts, the requirement options `add` ignores), it hands a structured note
//! to a callback the command gives, so the order users read stays the order things happen.

pub mod cache;
pub mod deps;
pub mod django_check;
pub mod env;
pub mod init;
pub mod lock;
pub mod outdated;
pub mod pin;
pub mod python;
pub mod run;
pub mod status;
pub mod tree;
pub mod up;
