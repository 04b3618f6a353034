//! Hermetic test support shared by the integration tests.
//!
//! * [`pbs_archive`]: python-build-standalone style archives built (once, cached under
//!   `target/tmp`) from this machine's pyenv interpreters, plus [`malicious_archive`].
//! * [`Mirror`] and [`write_catalog`]: a release download area and a uv-format
//!   `download-metadata.json` describing it.
//! * [`TestServer`]: a loopback HTTP server with per-path fault injection.
//! * [`package_index`], [`serve_index`] and [`shared_uv`]: a PEP 503 index of the shared
//!   wheelhouse's real wheels, served over loopback, and the uv binary from its uv wheel.
//! * [`TestContext`]: runs the pyenvx binary with a sealed environment in a temp root.
//! * [`DbProjects`]: projects with a database, shared by both backends' tests; [`NativePg`]
//!   wraps it for this machine's PostgreSQL 15 ([`NativeMaria`] for its MariaDB), and
//!   [`listeners`] tells who listens on a port.
//! * [`clone_project`] and [`adopt_and_run_its_tests`]: Django projects as users clone them, and
//!   the adoption of one checked end to end (both index tiers).
//! * [`pg_image`] and friends: PostgreSQL test support (port ranges, a stand-in `postgres`
//!   image for an engine with no registry).
//! * [`uv_lock`], [`stand_in_wheel`] and friends: other tools' lock files, and a wheel the
//!   wheelhouse lacks, for adopting a project's dependencies.
//! * [`write_package`]: a local package with an in-tree build backend.
//! * [`maria_image`]: a stand-in `mariadb` image from this machine's MariaDB.
//! * [`python_image`]: a stand-in `python:X.Y-slim` image from this machine's pyenv CPython.
//!
//! Every test file compiles this module separately and uses only part of it.
#![allow(dead_code, unused_imports)]

mod adoptdeps;
mod catalog;
mod cloned;
mod context;
mod dbproject;
mod index;
mod localpkg;
#[path = "../../src/test_machine.rs"]
mod machine;
mod mariaimage;
mod pbs;
mod pgimage;
mod pyimage;
mod sandbox;
mod server;
mod tls;

pub use adoptdeps::*;
pub use catalog::*;
pub use cloned::*;
pub use context::*;
pub use dbproject::*;
pub use index::*;
pub use localpkg::*;
pub use machine::*;
pub use mariaimage::*;
pub use pbs::*;
pub use pgimage::*;
pub use pyimage::*;
pub use sandbox::*;
pub use server::*;
pub use tls::*;
