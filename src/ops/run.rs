//! `pyenvx run`: the sandbox brought up to date when it is stale, and the environment the
//! command runs in (the project's `.env`, the services' variables, `.venv` first on `PATH`).
//!
//! Replacing pyenvx with the command is the command layer's last act; what it runs with is
//! decided here, so the precedence (process environment over `.env` over the services) is
//! testable without starting anything.

use std::ffi::OsString;
use std::path::Path;

use anyhow::{Context, Result};

use pyenvx_shim::{set_by_pyenvx, SET_PROJECT_VAR, SET_VAR};

use crate::project::sync::{self, SyncOptions, SyncReport};
use crate::project::{Env, Project};

/// A variable to set (`Some`) or to remove (`None`), in the order they apply.
pub type EnvChange = (OsString, Option<OsString>);

/// Sync the project when its `.venv` is not fresh. The report is there only when the sync
/// changed something: a run that found the sandbox current says nothing.
pub fn sync_if_stale(project: &Project, env: &Env) -> Result<Option<SyncReport>> {
    if sync::is_fresh(env.settings.dirs.home(), project) {
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
    let services = crate::services::env_vars(env.settings, project)?;
    layer(&project.venv_dir(), services, dotenv, &|k| {
        std::env::var_os(k)
    })
    .map(|mut changes| {
        changes.push((SET_PROJECT_VAR.into(), Some(project.root.clone().into())));
        changes
    })
}

/// The services' variables under `.env`'s under the process's (`process` reads one of its
/// variables), then the sandbox's own: `VIRTUAL_ENV`, no `PYTHONHOME`, `.venv/bin` first on
/// `PATH`. What an outer `pyenvx run` set (named in `PYENVX_SET`, for the project in
/// `PYENVX_PROJECT`) is not the process's own: it is replaced, or removed, and the outer
/// sandbox's `bin` leaves `PATH`, so a run for project B never keeps project A's database.
pub(super) fn layer(
    venv: &Path,
    services: Vec<(String, String)>,
    dotenv: Vec<(String, String)>,
    process: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Vec<EnvChange>> {
    let outer = set_by_pyenvx(process(SET_VAR).as_deref());
    let own = |k: &str| process(k).filter(|_| !outer.iter().any(|o| o == k));
    let mut out: Vec<EnvChange> = Vec::new();
    let mut set: Vec<String> = Vec::new();
    for (k, v) in services {
        if own(&k).is_none() && !dotenv.iter().any(|(d, _)| *d == k) {
            set.push(k.clone());
            out.push((k.into(), Some(v.into())));
        }
    }
    for (k, v) in dotenv {
        // The process environment wins over .env, as with every dotenv loader.
        if own(&k).is_none() {
            set.push(k.clone());
            out.push((k.into(), Some(v.into())));
        }
    }
    for k in outer.iter().filter(|k| !set.contains(k)) {
        out.push((k.into(), None));
    }
    set.sort();
    set.dedup();
    out.push((SET_VAR.into(), Some(set.join(":").into())));
    out.push(("VIRTUAL_ENV".into(), Some(venv.as_os_str().to_owned())));
    out.push(("PYTHONHOME".into(), None));
    let outer_bin = process(SET_PROJECT_VAR)
        .filter(|p| !p.is_empty())
        .map(|p| Path::new(&p).join(".venv").join("bin"));
    let mut path = vec![venv.join("bin")];
    if let Some(existing) = process("PATH") {
        path.extend(std::env::split_paths(&existing).filter(|d| Some(d) != outer_bin.as_ref()));
    }
    out.push((
        "PATH".into(),
        Some(std::env::join_paths(path).context("PATH contains an invalid entry")?),
    ));
    Ok(out)
}

/// `.env`, with `.pyenvx/env` (pyenvx's variables when git tracks `.env`) over it.
pub(super) fn dotenv_vars(project: &Project) -> Result<Vec<(String, String)>> {
    crate::project::envfile::project_vars(project)
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
            (
                "PYENVX_SET".into(),
                Some("DATABASE_URL:DEBUG:PGUSER".into()),
            ),
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
        assert_eq!(changes.len(), 6);
        assert_eq!(changes[4], ("PYTHONHOME".into(), None));
        assert_eq!(changes[5], ("PATH".into(), Some("/p/.venv/bin".into())));
    }

    #[test]
    fn what_an_outer_run_set_for_another_project_is_replaced_or_removed() {
        // `pyenvx run` in /a set DATABASE_URL and SECRET (its .env) and put /a/.venv/bin on
        // PATH; the user set MINE. A run for /b below it must not keep any of /a's.
        let process = |k: &str| match k {
            "DATABASE_URL" => Some(OsString::from("postgres://a")),
            "SECRET" => Some(OsString::from("a-secret")),
            "MINE" => Some(OsString::from("mine")),
            "PYENVX_SET" => Some(OsString::from("DATABASE_URL:SECRET")),
            "PYENVX_PROJECT" => Some(OsString::from("/a")),
            "PATH" => Some(OsString::from("/a/.venv/bin:/usr/bin")),
            _ => None,
        };
        let changes = layer(
            Path::new("/b/.venv"),
            pairs(&[("DATABASE_URL", "postgres://b")]),
            pairs(&[("MINE", "b's"), ("DEBUG", "1")]),
            &process,
        )
        .unwrap();
        let want: Vec<EnvChange> = vec![
            ("DATABASE_URL".into(), Some("postgres://b".into())),
            ("DEBUG".into(), Some("1".into())),
            ("SECRET".into(), None),
            ("PYENVX_SET".into(), Some("DATABASE_URL:DEBUG".into())),
            ("VIRTUAL_ENV".into(), Some("/b/.venv".into())),
            ("PYTHONHOME".into(), None),
            ("PATH".into(), Some("/b/.venv/bin:/usr/bin".into())),
        ];
        assert_eq!(changes, want);
    }

    #[test]
    fn dotenv_is_read_and_a_bad_line_names_the_file() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let text = crate::project::config::render_new("p", "3.12", None, &[], &[], false);
        let project = Project {
            root: tmp.path().to_path_buf(),
            config: crate::project::Config::parse(&text, &tmp.path().join("pyenvx.toml")).unwrap(),
        };
        assert!(dotenv_vars(&project).unwrap().is_empty());
        std::fs::write(
            project.dotenv_path(),
            "A=1\n# note\nB=\"two words\"\nC=a b c\n",
        )
        .unwrap();
        assert_eq!(
            dotenv_vars(&project).unwrap(),
            pairs(&[("A", "1"), ("B", "two words"), ("C", "a b c")])
        );
        // pyenvx's own file, when `.env` is tracked, wins over it.
        std::fs::create_dir_all(project.state_dir()).unwrap();
        std::fs::write(project.state_dir().join("env"), "A=2\n").unwrap();
        assert_eq!(
            dotenv_vars(&project).unwrap(),
            pairs(&[("B", "two words"), ("C", "a b c"), ("A", "2")])
        );
        std::fs::remove_file(project.state_dir().join("env")).unwrap();
        std::fs::write(project.dotenv_path(), "A=1\nnot a line\n").unwrap();
        let err = dotenv_vars(&project).unwrap_err();
        assert!(
            format!("{err:#}").contains(&project.dotenv_path().display().to_string()),
            "{err:#}"
        );
    }
}
