//! `pyenvx cache dir | clean`: pyenvx's own caches, as `uv cache` manages uv's. The Redis verbs
//! this name once held run on as hidden aliases of `pyenvx redis`, with a warning.

use anyhow::Result;

use crate::cli::{CacheCommand, RedisCommand};
use crate::error::exit;
use crate::printer::Printer;
use crate::settings::Settings;

pub fn run(cmd: CacheCommand, settings: &Settings, printer: &Printer) -> Result<i32> {
    let old = |redis: RedisCommand, verb: &str| {
        printer.warn(format!(
            "`pyenvx cache {verb}` is now `pyenvx redis {verb}` (`pyenvx cache` manages pyenvx's caches)"
        ));
        super::redis::run(redis, settings, printer)
    };
    match cmd {
        CacheCommand::Dir => {
            printer.data(settings.dirs.cache().display().to_string());
            Ok(exit::OK)
        }
        CacheCommand::Clean => {
            // A uv cache of a few hundred MB is tens of thousands of files: seconds to remove.
            let reporter = printer.reporter();
            let report = crate::reporter::spinning(&reporter, "removing pyenvx's caches", || {
                crate::ops::cache::clean(&settings.dirs)
            })?;
            printer.success(format!(
                "Removed {} from {} ({} entries); the package store stays",
                crate::printer::human_size(report.bytes),
                settings.dirs.cache().display(),
                report.entries
            ));
            Ok(exit::OK)
        }
        CacheCommand::Up => old(RedisCommand::Up, "up"),
        CacheCommand::Down => old(RedisCommand::Down, "down"),
        CacheCommand::Status(args) => old(RedisCommand::Status(args), "status"),
        CacheCommand::Url => old(RedisCommand::Url, "url"),
    }
}
