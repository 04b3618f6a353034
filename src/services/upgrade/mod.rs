//! `db upgrade MAJOR`: moving a project's PostgreSQL to a newer major without losing data, which
//! a new `version` alone refuses to do (a data directory is readable by its own major only).
//!
//! Decisions and why:
//! * Native: `pg_upgrade` from the new major's binaries, into a new cluster made beside the old
//!   one (`pg<new>.upgrading`) with the old one's superuser, password, encoding, locale, data
//!   checksums and WAL segment size (pg_upgrade refuses clusters that differ in those). Files are
//!   cloned where the file system has reflinks, else copied; never linked (`--link`, `--swap`):
//!   the old cluster must stay startable until the new one proved itself, since it is the way
//!   back.
//! * The way back is the old data directory itself, kept as `pg<old>.pre-upgrade`, rather than a
//!   snapshot: a snapshot lives inside its cluster, which pg_upgrade carries to the new major, so
//!   it could never take the project back to the old one. The project's snapshots are carried
//!   that way too (their records move to the new major); their databases refuse connections,
//!   which pg_upgrade cannot work with, so they accept them for the duration.
//! * Nothing the project uses changes before the new cluster started and accepted the project's
//!   login. Then, in an order where every intermediate state is one `db up` refuses clearly
//!   rather than guesses about: the new directory takes its final name, gets its marker, the old
//!   directory moves aside, and last `[services.db] version` moves (the commit point). Any
//!   failure before that removes the new cluster and starts the old one again; pg_upgrade's logs
//!   stay in `.pyenvx/services/db/upgrade/`.
//! * pg_upgrade runs in that directory (it writes logs and scripts into its working directory),
//!   with the server's socket directory (`-s`) short enough for a socket path, as the server's
//!   user when pyenvx runs as root.
//! * Container: the old image's `pg_dump`, then a container of the new image on a fresh volume,
//!   loaded through `db restore`'s scratch-and-swap; the dump file is kept as the way back.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use super::config::{BackendKind, DbConfig};
use super::credentials::Identity;
use super::postgres::{self, Binaries, ServerUser};
use super::{native, snapshot, state_dir, UpReport};
use crate::project::Env;
use crate::project::Project;

mod dump_load;
mod pg_upgrade;

use crate::user_error;
use dump_load::*;
use pg_upgrade::*;

/// A checked request to upgrade, made before anything is asked or touched.
#[derive(Debug, Clone)]
pub struct Plan {
    pub from: u32,
    pub to: u32,
    pub backend: BackendKind,
    /// Where the old cluster will be kept (native) or the dump written (container).
    pub keep: PathBuf,
    /// Container: the new major's image, when `[services.db] image` names one.
    pub image: Option<String>,
}

/// What `db upgrade` did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub from: u32,
    pub to: u32,
    pub backend: BackendKind,
    /// `clone`, `copy` (pg_upgrade's transfer mode) or `dump` (container).
    pub method: String,
    /// How long the data transfer itself took (pg_upgrade, or dump + load).
    pub transfer_ms: u128,
    /// Snapshots carried to the new major.
    pub snapshots: usize,
    /// The old cluster (native) or the dump of it (container), kept as the way back.
    pub kept: PathBuf,
    pub up: UpReport,
}

/// `.pyenvx/services/db/upgrade/`: pg_upgrade's working directory, and where its logs stay
/// after a failure.
pub fn work_dir(project: &Project) -> PathBuf {
    state_dir(project).join("upgrade")
}

/// Where the old major's data directory is kept after a native upgrade.
pub fn kept_dir(project: &Project, from: u32) -> PathBuf {
    state_dir(project).join(format!("pg{from}.pre-upgrade"))
}

fn upgrading_dir(project: &Project, to: u32) -> PathBuf {
    state_dir(project).join(format!("pg{to}.upgrading"))
}

/// Where the container upgrade writes the old major's dump, kept as the way back.
pub fn kept_dump(project: &Project, from: u32) -> PathBuf {
    state_dir(project).join(format!("pg{from}.pre-upgrade.dump"))
}

/// Refuse what cannot be upgraded, before asking. `image`: the container image of the new major
/// (needed when `[services.db] image` names the old one's).
pub fn check(env: &Env, project: &Project, to: u32, image: Option<&str>) -> Result<Plan> {
    super::stop_leftovers(env, project);
    let config = super::require_db(project)?;
    if config.engine != super::DbEngine::Postgres {
        return Err(user_error!(
            hint = "`pyenvx db dump FILE`, set `version` in [services.db], `pyenvx db reset --yes`, then \
                    `pyenvx db restore FILE`",
            "`db upgrade` moves PostgreSQL between majors; this project's database is {}",
            config.engine.title()
        ));
    }
    let from = config.major;
    let backend = super::active_backend(project, &config);
    if to == from {
        return Err(user_error!(
            hint = "`pyenvx db status` shows the version; give a newer major to upgrade",
            "the database is already PostgreSQL {from}"
        ));
    }
    if to < from {
        return Err(user_error!(
            hint = format!(
                "to go back, `pyenvx db dump FILE`, set `version = \"{to}\"`, `pyenvx db reset --yes` and \
                 `pyenvx db restore FILE` (a dump of a newer major may need edits to load)"
            ),
            "PostgreSQL {from} cannot be upgraded to the older {to}: upgrades only go to a newer major"
        ));
    }
    match backend {
        BackendKind::Native if image.is_some() => Err(user_error!(
            hint = "leave out --image",
            "--image is for the container backend, and this database runs natively"
        )),
        BackendKind::Native => check_native(env, project, &config, from, to),
        BackendKind::Container => check_container(project, &config, from, to, image),
    }
}

fn check_native(
    env: &Env,
    project: &Project,
    config: &DbConfig,
    from: u32,
    to: u32,
) -> Result<Plan> {
    if let Some(dir) = &config.bin_dir {
        return Err(user_error!(
            hint = format!(
                "remove `bin_dir` from [services.db] for the upgrade (pyenvx finds both majors), \
                 then point it at PostgreSQL {to} if you want"
            ),
            "[services.db] bin_dir {} names PostgreSQL {from}'s programs, which cannot serve PostgreSQL {to}",
            dir.display()
        ));
    }
    let old_data = native::data_dir(project, from);
    if !native::marker(project, from).exists() || !old_data.join("PG_VERSION").is_file() {
        return Err(user_error!(
            hint = format!("set `version = \"{to}\"` in [services.db]; `pyenvx db up` creates it"),
            "this project has no PostgreSQL {from} database to upgrade yet"
        ));
    }
    let new_data = native::data_dir(project, to);
    if new_data.exists() {
        return Err(user_error!(
            hint = "it is left from an earlier upgrade or version: move it away (or delete it) and try again",
            "{} exists already; pyenvx neither replaces nor deletes it",
            new_data.display()
        ));
    }
    let keep = kept_dir(project, from);
    if keep.exists() {
        return Err(user_error!(
            hint = "it is the PostgreSQL data kept by an earlier upgrade: delete it (or move it away) and try again",
            "{} exists already, and this upgrade keeps the PostgreSQL {from} data there",
            keep.display()
        ));
    }
    if postgres::find(&env.settings.dirs, from, None)?.is_none() {
        return Err(user_error!(
            hint = format!("install PostgreSQL {from} again for the upgrade; pg_upgrade needs both majors' programs"),
            "this machine has no PostgreSQL {from} programs any more"
        ));
    }
    Ok(Plan {
        from,
        to,
        backend: BackendKind::Native,
        keep,
        image: None,
    })
}

fn check_container(
    project: &Project,
    config: &DbConfig,
    from: u32,
    to: u32,
    image: Option<&str>,
) -> Result<Plan> {
    if let (Some(old), None) = (&config.image, image) {
        return Err(user_error!(
            hint = format!("name PostgreSQL {to}'s image: `pyenvx db upgrade {to} --image IMAGE`"),
            "[services.db] image = \"{old}\" is PostgreSQL {from}'s, and pyenvx cannot tell which image is its {to}"
        ));
    }
    // Snapshots live in the volume the upgrade replaces, and a dump carries one database.
    if let Some(snap) = snapshot::list(project)?
        .into_iter()
        .find(|s| s.major == from && s.backend == BackendKind::Container)
    {
        return Err(user_error!(
            hint = format!(
                "restore the one you want (`pyenvx db snapshot restore {0}`) and delete them (`pyenvx db snapshot rm {0}`) first",
                snap.name
            ),
            "the container upgrade cannot carry snapshots, and this project has snapshot `{}`",
            snap.name
        ));
    }
    // Branches too: each is a database of the volume, and the dump carries the one in use.
    if let Some(record) = super::branches::load(project)?.filter(|r| r.branches.len() > 1) {
        let other = record
            .branches
            .keys()
            .find(|b| **b != record.current)
            .cloned()
            .unwrap_or_default();
        return Err(user_error!(
            hint = format!(
                "switch to the branch to keep and delete the others (`pyenvx db branch rm {other}`) first"
            ),
            "the container upgrade carries only the database in use, and this project has {} database branches",
            record.branches.len()
        ));
    }
    let keep = kept_dump(project, from);
    if keep.exists() {
        return Err(user_error!(
            hint = "it is the dump kept by an earlier upgrade: delete it (or move it away) and try again",
            "{} exists already, and this upgrade keeps the PostgreSQL {from} dump there",
            keep.display()
        ));
    }
    Ok(Plan {
        from,
        to,
        backend: BackendKind::Container,
        keep,
        image: image.map(str::to_string),
    })
}

/// Upgrade the project's database as planned; on failure the old major runs with its data and
/// the configuration is untouched.
pub fn upgrade(env: &Env, project: &Project, plan: &Plan) -> Result<Report> {
    let identity = super::identity(env.settings, project)?;
    let (method, transfer_ms, snapshots) = {
        let _lock = super::lock(project, env)?;
        // Read and checked again under the lock: another pyenvx may have moved things since.
        let project = &Project::load(&project.root)?;
        let config = super::require_db(project)?;
        let again = check(env, project, plan.to, plan.image.as_deref())?;
        if again.from != plan.from || again.backend != plan.backend {
            return Err(user_error!(
                hint = "run `pyenvx db upgrade` again",
                "the database changed while this upgrade waited"
            ));
        }
        match plan.backend {
            BackendKind::Native => native_upgrade(env, project, &config, &identity, plan)?,
            BackendKind::Container => container_upgrade(env, project, &config, &identity, plan)?,
        }
    };
    // The commit point: from here on the project is on the new major.
    set_version(env, project, plan.to, plan.image.as_deref())?;
    let project = Project::load(&project.root)?;
    let up = super::up(env, &project, &super::UpOptions::default()).with_context(|| {
        format!(
            "the data was upgraded to PostgreSQL {} and the project now uses it, but it did not start",
            plan.to
        )
    })?;
    Ok(Report {
        from: plan.from,
        to: plan.to,
        backend: plan.backend,
        method,
        transfer_ms,
        snapshots,
        kept: plan.keep.clone(),
        up,
    })
}

/// `[services.db] version = "<to>"`, comments and all kept, under the project's sync lock (as
/// every other edit of pyenvx.toml).
fn set_version(env: &Env, project: &Project, to: u32, image: Option<&str>) -> Result<()> {
    let _guard = crate::project::sync::project_lock(project, env.reporter)?;
    let mut edit = crate::project::config::ConfigEdit::open(&project.config_path())?;
    edit.set_table_str(&["services", "db"], "version", &to.to_string())?;
    if let Some(image) = image {
        edit.set_table_str(&["services", "db"], "image", image)?;
    }
    edit.save()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_moves_with_its_comment_and_type() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let path = tmp.path().join("pyenvx.toml");
        let text = "[project]\nname = \"x\"\n\n[services.db]\nengine = \"postgres\"\nversion = \"15\"  # pinned for prod\nbackend = \"native\"\n";
        fs_err::write(&path, text).unwrap();
        let mut edit = crate::project::config::ConfigEdit::open(&path).unwrap();
        edit.set_table_str(&["services", "db"], "version", "18")
            .unwrap();
        assert_eq!(edit.text(), text.replace("\"15\"", "\"18\""));
        fs_err::write(
            &path,
            "[project]\nname = \"x\"\n[services.db]\nversion = 15\n",
        )
        .unwrap();
        let mut edit = crate::project::config::ConfigEdit::open(&path).unwrap();
        edit.set_table_str(&["services", "db"], "version", "18")
            .unwrap();
        assert!(edit.text().contains("version = 18\n"), "{}", edit.text());
        let mut edit = crate::project::config::ConfigEdit::open(&path).unwrap();
        assert!(edit
            .set_table_str(&["services", "cache"], "version", "7")
            .is_err());
    }
}
