//! `pyenvx outdated`: each locked package against the newest release `pyenvx.toml` allows
//! (a fresh resolution of the project, written nowhere) and the newest release for the locked
//! Python (each package alone, nothing else considered). Nothing is written.

use std::str::FromStr;

use anyhow::Result;
use pep440_rs::Version;
use serde::Serialize;

use crate::installer;
use crate::project::{sync, Env, Project};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outdated {
    pub name: String,
    pub locked: String,
    /// The newest that pyenvx.toml's pins allow; `None` when no resolution holds it any more.
    pub allowed: Option<String>,
    /// The newest for the locked Python; `None` where only uv can ask (not for Python 2.7).
    pub newest: Option<String>,
}

/// The locked packages with a newer release allowed or out, by name.
pub fn outdated(project: &Project, env: &Env) -> Result<Vec<Outdated>> {
    let lock = super::lock::existing(project, "`pyenvx outdated`")?;
    let interp = sync::interpreter(project, Some(&lock), env)?;
    let index = env.index(&project.config);
    let get_uv = || env.uv(&index);
    let allow = |pair| project.config.allow_unsupported.contains(&pair);
    let suggest = |key: &str, value: &str| format!("`pyenvx pin {key} {value}`");
    let available = sync::available_minors_fn(env);
    let policy = crate::django::support::Policy {
        allow: &allow,
        suggest: &suggest,
        available: &available,
    };
    let allowed = sync::resolve_supported(
        env,
        &get_uv,
        &interp,
        &project.config,
        &index,
        (true, &[]),
        &policy,
    )?
    .resolution;
    // Local directories and VCS checkouts have no newer release to ask an index about.
    let indexed: Vec<String> = lock
        .packages
        .iter()
        .filter(|p| p.directory.is_none() && p.vcs.is_none() && !p.direct)
        .map(|p| p.name.clone())
        .collect();
    let newest = if installer::legacy::needs_pip(interp.version()) || indexed.is_empty() {
        Vec::new()
    } else {
        installer::resolve_no_deps(
            &get_uv()?,
            &interp.executable(),
            &indexed,
            &index,
            env.settings.offline,
            &env.uv_cache(),
        )?
    };
    let version_of = |list: &[crate::project::lock::Resolved], name: &str| {
        list.iter()
            .find(|p| p.name == name)
            .map(|p| p.version.clone())
    };
    Ok(compare(
        lock.packages
            .iter()
            .filter(|p| indexed.contains(&p.name))
            .map(|p| Outdated {
                name: p.name.clone(),
                locked: p.version.clone(),
                allowed: version_of(&allowed.packages, &p.name),
                newest: version_of(&newest, &p.name),
            }),
    ))
}

/// Only rows where something newer than the locked version exists.
fn compare(rows: impl Iterator<Item = Outdated>) -> Vec<Outdated> {
    let newer = |candidate: &Option<String>, locked: &str| match (
        candidate.as_deref().map(Version::from_str),
        Version::from_str(locked),
    ) {
        (Some(Ok(c)), Ok(l)) => c > l,
        _ => false,
    };
    rows.filter(|r| newer(&r.allowed, &r.locked) || newer(&r.newest, &r.locked))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, locked: &str, allowed: Option<&str>, newest: Option<&str>) -> Outdated {
        Outdated {
            name: name.into(),
            locked: locked.into(),
            allowed: allowed.map(Into::into),
            newest: newest.map(Into::into),
        }
    }

    #[test]
    fn only_packages_with_something_newer_are_listed() {
        let rows = vec![
            row("django", "5.2.18", Some("5.2.19"), Some("6.1.3")),
            row("asgiref", "3.13.0", Some("3.13.0"), Some("3.13.0")),
            row("sqlparse", "0.6.1", Some("0.6.1"), Some("0.10.0")),
            row("gone", "1.0", None, None),
        ];
        let names: Vec<String> = compare(rows.into_iter())
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["django", "sqlparse"]);
    }
}
