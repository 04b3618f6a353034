//! `pyenvx run`: the sandbox brought up to date when it is stale, and the environment the
//! command runs in (the project's `.env`, the services' variables, `.venv` first on `PATH`).
//!
//! Replacing pyenvx with the command is the command layer's last act; what it runs with is
//! decided here, so the precedence (process environment over `.env` over the services) is
//! testable without starting anything.

use std::ffi::OsString;
use std::path::Path;

use anyhow::{Context, Result};

use crate::project::sync::{self, SyncOptions, SyncReport};
use crate::project::{Env, Project};
use crate::user_error;

/// A variable to set (`Some`) or to remove (`None`), in the order they apply.
pub type EnvChange = (OsString, Option<OsString>);

/// Sync the project when its `.venv` is not fresh. The report is there only when the sync
/// changed something: a run that found the sandbox current says nothing.
pub fn sync_if_stale(project: &Project, env: &Env) -> Result<Option<SyncReport>> {
    if sync::is_fresh(project) {
        return Ok(None);
    }
    let report = sync::sync(project, &SyncOptions::default(), env)?;
    let changed = !report.installed.is_empty() || !report.removed.is_empty() || report.venv_created;
    Ok(changed.then_some(report))
}

/// What the command runs with, on top of pyenvx's own environment.
pub fn environment(project: &Project, env: &Env) -> Result<Vec<EnvChange>> {
    let dotenv = dotenv_vars(project)?;
    // The database's DATABASE_URL and PG* variables, read from the port registry and the
    // project's credentials (nothing is started); .env and the process environment win.
    let services = crate::services::env_vars(&env.settings.dirs, project)?;
    layer(&project.venv_dir(), services, dotenv, &|k| {
        std::env::var_os(k)
    })
}

/// The services' variables under `.env`'s under the process's (`process` reads one of its
/// variables), then the sandbox's own: `VIRTUAL_ENV`, no `PYTHONHOME`, `.venv/bin` first on
/// `PATH`.
pub(super) fn layer(
    venv: &Path,
    services: Vec<(String, String)>,
    dotenv: Vec<(String, String)>,
    process: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Vec<EnvChange>> {
    let mut out: Vec<EnvChange> = Vec::new();
    for (k, v) in services {
        if process(&k).is_none() && !dotenv.iter().any(|(d, _)| *d == k) {
            out.push((k.into(), Some(v.into())));
        }
    }
    for (k, v) in dotenv {
        // The process environment wins over .env, as with every dotenv loader.
        if process(&k).is_none() {
            out.push((k.into(), Some(v.into())));
        }
    }
    out.push(("VIRTUAL_ENV".into(), Some(venv.as_os_str().to_owned())));
    out.push(("PYTHONHOME".into(), None));
    let mut path = vec![venv.join("bin")];
    if let Some(existing) = process("PATH") {
        path.extend(std::env::split_paths(&existing));
    }
    out.push((
        "PATH".into(),
        Some(std::env::join_paths(path).context("PATH contains an invalid entry")?),
    ));
    Ok(out)
}

pub(super) fn dotenv_vars(project: &Project) -> Result<Vec<(String, String)>> {
    let path = project.dotenv_path();
    if !path.exists() {
        return Ok(Vec::new());
    }
    let iter = dotenvy::from_path_iter(&path)
        .map_err(|e| user_error!("cannot read {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for item in iter {
        let (k, v) = item.map_err(|e| {
            user_error!(
                hint = "lines look like `KEY=value`",
                "{}: {e}",
                path.display()
            )
        })?;
        out.push((k, v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_process_wins_over_dotenv_which_wins_over_the_services() {
        let venv = Path::new("/p/.venv");
        let process = |k: &str| match k {
            "PGPORT" | "SECRET" => Some(OsString::from("mine")),
            "PATH" => Some(OsString::from("/usr/bin:/bin")),
            _ => None,
        };
        let changes = layer(
            venv,
            pairs(&[
                ("DATABASE_URL", "postgres://svc"),
                ("PGPORT", "5433"),
                ("PGUSER", "svc"),
            ]),
            pairs(&[("PGUSER", "dotenv"), ("SECRET", "x"), ("DEBUG", "1")]),
            &process,
        )
        .unwrap();
        let want: Vec<EnvChange> = vec![
            ("DATABASE_URL".into(), Some("postgres://svc".into())),
            ("PGUSER".into(), Some("dotenv".into())),
            ("DEBUG".into(), Some("1".into())),
            ("VIRTUAL_ENV".into(), Some("/p/.venv".into())),
            ("PYTHONHOME".into(), None),
            ("PATH".into(), Some("/p/.venv/bin:/usr/bin:/bin".into())),
        ];
        assert_eq!(changes, want);
    }

    #[test]
    fn the_sandbox_variables_come_last_so_dotenv_cannot_move_them() {
        let changes = layer(
            Path::new("/p/.venv"),
            Vec::new(),
            pairs(&[("PATH", "/elsewhere"), ("PYTHONHOME", "/x")]),
            &|_| None,
        )
        .unwrap();
        // Applied in order, the later entries win: PYTHONHOME removed, PATH the sandbox's.
        assert_eq!(changes.len(), 5);
        assert_eq!(changes[3], ("PYTHONHOME".into(), None));
        assert_eq!(changes[4], ("PATH".into(), Some("/p/.venv/bin".into())));
    }

    #[test]
    fn dotenv_is_read_and_a_bad_line_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let text = crate::project::config::render_new("p", "3.12", None, &[], false);
        let project = Project {
            root: tmp.path().to_path_buf(),
            config: crate::project::Config::parse(&text, &tmp.path().join("pyenvx.toml")).unwrap(),
        };
        assert!(dotenv_vars(&project).unwrap().is_empty());
        std::fs::write(project.dotenv_path(), "A=1\n# note\nB=\"two words\"\n").unwrap();
        assert_eq!(
            dotenv_vars(&project).unwrap(),
            pairs(&[("A", "1"), ("B", "two words")])
        );
        std::fs::write(project.dotenv_path(), "A=1\nnot a line\n").unwrap();
        let err = dotenv_vars(&project).unwrap_err();
        assert!(
            format!("{err:#}").contains(&project.dotenv_path().display().to_string()),
            "{err:#}"
        );
    }
}
