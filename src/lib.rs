//! pyenvx: per-project Python/Django sandboxes.
//!
//! The binary in `main.rs` is a thin layer over this library: it parses the command line
//! (`cli`), resolves global settings, and calls one function in `commands`, which calls one
//! workflow in `ops` and prints its report. Everything below `commands` is free of terminal
//! concerns; long-running work reports progress through the [`reporter::Reporter`] trait so
//! that the library never prints.

pub mod certs;
pub mod children;
pub mod cli;
pub mod commands;
pub mod dirs;
pub mod django;
pub mod download;
pub mod error;
pub mod export;
pub mod filelock;
pub mod fs;
#[cfg(test)]
mod fuzz;
pub mod installer;
pub mod interrupt;
#[cfg(test)]
mod layers_test;
pub mod leftovers;
pub mod names;
pub mod ops;
pub mod platform;
pub mod printer;
pub mod process;
pub mod project;
pub mod python;
pub mod reporter;
pub mod resolution;
pub mod secrets;
pub mod services;
pub mod settings;
pub mod shims;
pub mod store;
pub mod tags;
#[cfg(test)]
pub(crate) mod test_machine;
#[cfg(test)]
mod test_machine_tests;
pub mod venv;
