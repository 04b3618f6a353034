//! `up` and `redis up`: the project's declared services started, the database first (Django's
//! migrations need it), then the cache, each followed by the shims' variables file so a
//! `python` started next sees `DATABASE_URL` and `REDIS_URL`.
//!
//! What is said as each service comes up goes to the command's callback in that order, so it can
//! follow the database's branch (which prints) before the cache starts, as it always has.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::project::{Env, Project};
use crate::reporter::spinning;
use crate::services::redis::{self, CacheUp};
use crate::services::{self, UpOptions, UpReport};
use crate::settings::Settings;

/// What `up` did, step by step.
pub enum UpStep {
    /// The database is up (or was already), after this long.
    Database(UpReport, Duration),
    /// The cache is up (or was already), after this long.
    Cache(CacheUp, Duration),
}

/// Which services the project declares: (`[services.db]`, `[services.cache]`).
pub fn declared(project: &Project) -> Result<(bool, bool)> {
    Ok((
        services::db_config(project)?.is_some(),
        redis::cache_config(project)?.is_some(),
    ))
}

/// Start every declared service, the database first; `step` hears of each as it is up.
pub fn up_all(env: &Env, project: &Project, step: &mut dyn FnMut(UpStep)) -> Result<()> {
    let (has_db, has_cache) = declared(project)?;
    if has_db {
        let started = Instant::now();
        let report = spinning(env.reporter, "starting the database", || {
            services::up(env, project, &UpOptions::default())
        })?;
        step(UpStep::Database(report, started.elapsed()));
    }
    if has_cache {
        let (report, took) = cache_up(env.settings, project)?;
        step(UpStep::Cache(report, took));
    }
    Ok(())
}

/// Start the project's Redis, then write the shims' variables file, where `REDIS_URL` joins
/// `DATABASE_URL`.
pub fn cache_up(settings: &Settings, project: &Project) -> Result<(CacheUp, Duration)> {
    let started = Instant::now();
    let report = redis::up(settings, project)?;
    services::write_shim_env(settings, project)?;
    Ok((report, started.elapsed()))
}
