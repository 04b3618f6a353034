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
use crate::user_error;

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

// ---------------------------------------------------------------------------------------------
// Native: pg_upgrade

/// What the new cluster must share with the old one for pg_upgrade to accept it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ClusterSettings {
    encoding: String,
    collate: String,
    ctype: String,
    /// `c` (libc), `i` (ICU), `b` (builtin).
    provider: String,
    /// The ICU or builtin locale.
    provider_locale: Option<String>,
    checksums: bool,
    wal_segment_mb: u64,
}

impl ClusterSettings {
    fn initdb_args(&self, new_major: u32) -> Vec<String> {
        let mut args = vec![
            format!("--encoding={}", self.encoding),
            // Every category first (messages, money, …), so the environment's locale, which may
            // not exist, is never asked; then the two a cluster is bound to.
            format!("--locale={}", self.ctype),
            format!("--lc-collate={}", self.collate),
            format!("--lc-ctype={}", self.ctype),
            format!("--wal-segsize={}", self.wal_segment_mb),
        ];
        match (self.provider.as_str(), &self.provider_locale) {
            ("i", Some(l)) => {
                args.push("--locale-provider=icu".into());
                args.push(format!("--icu-locale={l}"));
            }
            ("b", Some(l)) => {
                args.push("--locale-provider=builtin".into());
                args.push(format!("--builtin-locale={l}"));
            }
            _ => {}
        }
        if self.checksums {
            args.push("--data-checksums".into());
        } else if new_major >= 18 {
            // 18 turns them on by default; pg_upgrade needs both clusters alike.
            args.push("--no-data-checksums".into());
        }
        args
    }
}

fn first_row(rows: Vec<Vec<Option<String>>>) -> Vec<Option<String>> {
    rows.into_iter().next().unwrap_or_default()
}

/// Ask the running old cluster what the new one must match, and which databases refuse
/// connections (the snapshots).
fn read_settings(
    identity: &Identity,
    major: u32,
    snapshots: &[String],
) -> Result<(ClusterSettings, Vec<String>)> {
    let mut admin = super::transfer::admin_session(identity)?;
    let provider = if major >= 17 {
        "datlocprovider::text, datlocale"
    } else if major >= 15 {
        "datlocprovider::text, daticulocale"
    } else {
        "'c', NULL::text"
    };
    let row = first_row(admin.query(&format!(
        "SELECT pg_encoding_to_char(encoding), datcollate, datctype, {provider}, \
                current_setting('data_checksums'), \
                (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') \
           FROM pg_database WHERE datname = 'template1'"
    ))?);
    let get = |i: usize| row.get(i).cloned().flatten();
    let text = |i: usize| get(i).with_context(|| "the old cluster did not describe itself");
    let segment: u64 = text(6)?.parse().context("wal_segment_size")?;
    let settings = ClusterSettings {
        encoding: text(0)?,
        collate: text(1)?,
        ctype: text(2)?,
        provider: text(3)?,
        provider_locale: get(4),
        checksums: text(5)? == "on",
        // In bytes since PostgreSQL 11.
        wal_segment_mb: (segment / (1024 * 1024)).max(1),
    };
    // A killed upgrade may have left a snapshot open: snapshots end up closed whatever happens.
    let names: Vec<String> = snapshots
        .iter()
        .map(|n| format!("'{}'", n.replace('\'', "''")))
        .collect();
    let snapshots = if names.is_empty() {
        String::new()
    } else {
        format!(" OR datname IN ({})", names.join(", "))
    };
    let closed = admin
        .query(&format!(
            "SELECT datname FROM pg_database \
              WHERE (NOT datallowconn{snapshots}) AND datname <> 'template0' ORDER BY 1"
        ))?
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    Ok((settings, closed))
}

/// `ALLOW_CONNECTIONS` for each of `databases`.
fn allow_connections(identity: &Identity, databases: &[String], allow: bool) -> Result<()> {
    if databases.is_empty() {
        return Ok(());
    }
    let mut admin = super::transfer::admin_session(identity)?;
    for db in databases {
        admin.query(&format!(
            "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS {allow}",
            db.replace('"', "\"\"")
        ))?;
    }
    Ok(())
}

/// Whether files in `dir` can be cloned (reflinks: Btrfs, XFS, …), asked of the kernel with two
/// scratch files.
fn can_clone(dir: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let Ok(mut src) = tempfile::NamedTempFile::new_in(dir) else {
            return false;
        };
        let Ok(dst) = tempfile::NamedTempFile::new_in(dir) else {
            return false;
        };
        if src
            .write_all(&[0u8; 4096])
            .and_then(|()| src.flush())
            .is_err()
        {
            return false;
        }
        // SAFETY: both descriptors are open for the duration of the call.
        let rc = unsafe {
            libc::ioctl(
                dst.as_file().as_raw_fd(),
                libc::FICLONE,
                src.as_file().as_raw_fd(),
            )
        };
        rc == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        false
    }
}

fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot delete {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// The native upgrade up to (not including) the version change; returns (method, ms, snapshots).
fn native_upgrade(
    env: &Env,
    project: &Project,
    config: &DbConfig,
    identity: &Identity,
    plan: &Plan,
) -> Result<(String, u128, usize)> {
    let (from, to) = (plan.from, plan.to);
    let dirs = &env.settings.dirs;
    let old_bins = postgres::find(dirs, from, None)?
        .with_context(|| format!("this machine has no PostgreSQL {from} programs"))?;
    let new_bins = postgres::binaries(env, project, to, None)?;
    if !new_bins.tool("pg_upgrade").is_file() {
        return Err(user_error!(
            hint = format!(
                "install PostgreSQL {to}'s pg_upgrade (Debian and Ubuntu: `apt install postgresql-{to}`; \
                 RPMs: `postgresql{to}-contrib`)"
            ),
            "PostgreSQL {to} in {} has no pg_upgrade",
            new_bins.bin_dir.display()
        ));
    }
    let user = postgres::server_user()?;
    if let Some(u) = &user {
        postgres::check_reachable(u, &new_bins.bin_dir)?;
        postgres::check_reachable(u, &old_bins.bin_dir)?;
    }
    let old = super::open(BackendKind::Native, env, project, config);
    // The old cluster describes itself while it runs.
    old.up(identity)?;
    let snapshots: Vec<String> = snapshot::list(project)?
        .into_iter()
        .filter(|s| s.major == from)
        .map(|s| s.database)
        .collect();
    let (settings, closed) = read_settings(identity, from, &snapshots)?;
    allow_connections(identity, &closed, true)?;

    let old_data = native::data_dir(project, from);
    let new_data = upgrading_dir(project, to);
    let work = work_dir(project);
    let result = (|| -> Result<(String, u128)> {
        old.down()?;
        // Leftovers of an upgrade that was killed: never the user's data (that is `pg<from>`).
        remove_dir_if_exists(&new_data)?;
        remove_dir_if_exists(&work)?;
        fs_err::create_dir(&work)?;
        fs_err::set_permissions(&work, std::fs::Permissions::from_mode(0o700))?;
        super::server::give(&work, user.as_ref())?;
        let socket = native::socket_dir(project, user.as_ref())?;
        initdb(
            &new_bins,
            &new_data,
            &work,
            user.as_ref(),
            identity,
            &settings,
        )?;
        let method = if can_clone(&state_dir(project)) {
            "clone"
        } else {
            "copy"
        };
        let run = |check: bool| {
            pg_upgrade(
                &old_bins,
                &new_bins,
                &old_data,
                &new_data,
                &work,
                &socket,
                user.as_ref(),
                identity,
                method,
                check,
            )
        };
        run(true)?;
        let started = Instant::now();
        run(false)?;
        let ms = started.elapsed().as_millis();
        verify(
            &new_bins,
            project,
            &new_data,
            &socket,
            user.as_ref(),
            identity,
            &closed,
        )?;
        Ok((method.to_string(), ms))
    })();
    let (method, ms) = match result {
        Ok(r) => r,
        Err(e) => {
            return Err(roll_back(
                project, identity, &*old, &new_data, &work, &closed, from, to, e,
            ))
        }
    };

    // The swap, in an order where a kill at any point leaves a state `db up` refuses clearly
    // (two majors' directories) rather than one it would act on.
    let final_data = native::data_dir(project, to);
    fs_err::rename(&new_data, &final_data)?;
    crate::fs::write_atomic(
        &native::marker(project, to),
        format!(
            "PostgreSQL {} upgraded by pyenvx from PostgreSQL {} for {}\n",
            new_bins.version,
            old_bins.version,
            project.root.display()
        )
        .as_bytes(),
    )?;
    fs_err::rename(&old_data, &plan.keep)?;
    let carried = move_snapshots(project, from, to)?;
    remove_dir_if_exists(&work)?;
    Ok((method, ms, carried))
}

/// The new cluster, with the old one's superuser and password and its settings.
fn initdb(
    bins: &Binaries,
    data: &Path,
    work: &Path,
    user: Option<&ServerUser>,
    identity: &Identity,
    settings: &ClusterSettings,
) -> Result<()> {
    // initdb learned --no-instructions in 14.
    let mut options = Vec::new();
    if bins.major >= 14 {
        options.push("--no-instructions".to_string());
    }
    options.extend(settings.initdb_args(bins.major));
    native::init_cluster(
        bins,
        data,
        work,
        user,
        identity,
        &options,
        &format!("initdb of the new PostgreSQL {} cluster", bins.major),
    )
}

/// One pg_upgrade run (`--check` or the real one) in `work`; its output is kept in
/// `work/pg_upgrade.out` (or `pg_upgrade-check.out`).
#[allow(clippy::too_many_arguments)]
fn pg_upgrade(
    old: &Binaries,
    new: &Binaries,
    old_data: &Path,
    new_data: &Path,
    work: &Path,
    socket: &Path,
    user: Option<&ServerUser>,
    identity: &Identity,
    method: &str,
    check: bool,
) -> Result<()> {
    let port = identity.port.to_string();
    let mut cmd = new.command("pg_upgrade");
    cmd.arg("--old-bindir")
        .arg(&old.bin_dir)
        .arg("--new-bindir")
        .arg(&new.bin_dir)
        .arg("--old-datadir")
        .arg(old_data)
        .arg("--new-datadir")
        .arg(new_data)
        .arg("--username")
        .arg(&identity.credentials.user)
        .args(["--old-port", &port, "--new-port", &port])
        .arg("--socketdir")
        .arg(socket)
        .arg(format!("--{method}"));
    if check {
        cmd.arg("--check");
    }
    // The servers pg_upgrade starts listen on the socket only and ask the password there.
    cmd.env("PGPASSWORD", &identity.credentials.password)
        .env_remove("PGDATA")
        .env_remove("PGHOST")
        .env_remove("PGHOSTADDR")
        .env_remove("PGPORT")
        .env_remove("PGUSER")
        .current_dir(work);
    let out = super::server::output_as(cmd, user)?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let name = if check {
        "pg_upgrade-check.out"
    } else {
        "pg_upgrade.out"
    };
    let _ = std::fs::write(work.join(name), &text);
    if !out.status.success() {
        let tail = super::server::last_lines(&text, 12);
        anyhow::bail!(
            "pg_upgrade{} failed ({}):\n{tail}",
            if check { " --check" } else { "" },
            out.status
        );
    }
    Ok(())
}

/// Start the new cluster where it was made, log in as the project, put the snapshots' closed
/// doors back, and stop it.
fn verify(
    bins: &Binaries,
    project: &Project,
    data: &Path,
    socket: &Path,
    user: Option<&ServerUser>,
    identity: &Identity,
    closed: &[String],
) -> Result<()> {
    let mut child = native::spawn_with(bins, project, data, socket, user, identity.port, true)?;
    let checked = (|| -> Result<()> {
        native::wait_ready(identity, None, Some(&mut child), native::START_TIMEOUT)
            .context("the upgraded cluster did not accept the project's login")?;
        let mut conn = identity
            .connect(None, Duration::from_secs(10))
            .context("cannot log in to the upgraded cluster")?;
        let major = first_row(conn.query("SELECT current_setting('server_version_num')")?)
            .into_iter()
            .next()
            .flatten()
            .and_then(|v| v.parse::<u32>().ok())
            .map(|n| n / 10000);
        if major != Some(bins.major) {
            anyhow::bail!(
                "the upgraded cluster says it is {major:?}, not {}",
                bins.major
            );
        }
        drop(conn);
        allow_connections(identity, closed, false)
    })();
    let stopped = native::stop(bins, data, user, "fast");
    checked?;
    stopped
}

/// After a failure: the new cluster goes, pg_upgrade's logs stay, the old cluster runs again.
#[allow(clippy::too_many_arguments)]
fn roll_back(
    project: &Project,
    identity: &Identity,
    old: &dyn super::Backend,
    new_data: &Path,
    work: &Path,
    closed: &[String],
    from: u32,
    to: u32,
    err: anyhow::Error,
) -> anyhow::Error {
    let mut notes = Vec::new();
    let logs = new_data.join("pg_upgrade_output.d");
    if logs.is_dir() && work.is_dir() {
        let _ = std::fs::rename(&logs, work.join("pg_upgrade_output.d"));
    }
    if let Err(e) = remove_dir_if_exists(new_data) {
        notes.push(format!("the unfinished new cluster remains: {e:#}"));
    }
    match old.up(identity) {
        Ok(_) => {
            if let Err(e) = allow_connections(identity, closed, false) {
                notes.push(format!("snapshots could not be closed again: {e:#}"));
            }
        }
        Err(e) => notes.push(format!(
            "PostgreSQL {from} did not start again ({e:#}); its data is untouched in {}",
            native::data_dir(project, from).display()
        )),
    }
    let running = if notes.is_empty() {
        format!("PostgreSQL {from} runs again with the data as it was")
    } else {
        notes.join("; ")
    };
    let logs = if work.is_dir() {
        format!("pg_upgrade's logs are in {}", work.display())
    } else {
        "pg_upgrade left no logs".to_string()
    };
    err.context(crate::error::UserError::new(format!(
        "the upgrade to PostgreSQL {to} failed; {running}, and [services.db] version is still \"{from}\""
    ))
    .hint(logs))
}

/// The snapshots went to the new cluster with its databases: their records follow.
fn move_snapshots(project: &Project, from: u32, to: u32) -> Result<usize> {
    let mut moved = 0;
    for mut snap in snapshot::list(project)? {
        if snap.major != from {
            continue;
        }
        snap.major = to;
        let path = snapshot::dir(project).join(format!("{}.json", snap.name));
        crate::fs::write_atomic(&path, serde_json::to_string_pretty(&snap)?.as_bytes())?;
        moved += 1;
    }
    Ok(moved)
}

// ---------------------------------------------------------------------------------------------
// Container: dump and load

fn container_upgrade(
    env: &Env,
    project: &Project,
    config: &DbConfig,
    identity: &Identity,
    plan: &Plan,
) -> Result<(String, u128, usize)> {
    let (from, to) = (plan.from, plan.to);
    let new_config = DbConfig {
        major: to,
        image: plan.image.clone().or_else(|| config.image.clone()),
        ..config.clone()
    };
    // Before anything is touched: an image the engine cannot get ends here.
    let image = new_config.image();
    let engine = super::container::engine(env.settings)?;
    let mut inspect = engine.command();
    inspect.args(["image", "inspect", "--format", "{{.Id}}", &image]);
    if super::container::run_engine(inspect, &format!("inspect {image}")).is_err() {
        let mut pull = engine.command();
        pull.args(["pull", &image]);
        super::container::run_engine(pull, &format!("pull {image}")).map_err(|e| {
            e.context(
                crate::error::UserError::new(format!(
                    "the image {image} for PostgreSQL {to} is not available"
                ))
                .hint(format!(
                    "make {image} available to the container engine (`pull` it, or load it), then try again; nothing was changed"
                )),
            )
        })?;
    }
    let old = super::open(BackendKind::Container, env, project, config);
    old.up(identity)?;

    // The dump is the way back: written, synced and read back before the old volume goes.
    let started = Instant::now();
    let keep = &plan.keep;
    let target = super::transfer::DumpTarget::new(keep, keep, false)?;
    old.dump(identity, &target)?;
    target.commit(keep)?;
    let plan_back = old.check_restore(identity, keep, keep)?;
    old.destroy()?;

    let new = super::open(BackendKind::Container, env, project, &new_config);
    let loaded = (|| -> Result<()> {
        let up = new.up(identity)?;
        let runs = postgres::parse_version(&up.server_version).map(|(_, m)| m);
        if runs != Some(to) {
            return Err(user_error!(
                hint = format!("name an image of PostgreSQL {to} with --image"),
                "the image {image} runs PostgreSQL {}, not {to}",
                up.server_version
            ));
        }
        new.restore(identity, &plan_back)
    })();
    if let Err(e) = loaded {
        let _ = new.destroy();
        let back = (|| -> Result<()> {
            old.up(identity)?;
            old.restore(identity, &plan_back)
        })();
        let running = match back {
            Ok(()) => format!("PostgreSQL {from} runs again, loaded back from {}", keep.display()),
            Err(b) => format!(
                "PostgreSQL {from} could not be loaded back ({b:#}); the data is in {}: `pyenvx db up`, then \
                 `pyenvx db restore {}`",
                keep.display(),
                keep.display()
            ),
        };
        return Err(e.context(
            crate::error::UserError::new(format!(
                "the upgrade to PostgreSQL {to} failed; {running}, and [services.db] version is still \"{from}\""
            ))
            .hint(format!(
                "the dump of PostgreSQL {from} stays in {}",
                keep.display()
            )),
        ));
    }
    Ok(("dump".to_string(), started.elapsed().as_millis(), 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initdb_matches_the_old_cluster() {
        let mut s = ClusterSettings {
            encoding: "UTF8".into(),
            collate: "C".into(),
            ctype: "C".into(),
            provider: "c".into(),
            provider_locale: None,
            checksums: false,
            wal_segment_mb: 16,
        };
        let args = s.initdb_args(18);
        assert!(
            args.contains(&"--no-data-checksums".to_string()),
            "{args:?}"
        );
        assert!(args.contains(&"--encoding=UTF8".to_string()), "{args:?}");
        assert!(args.contains(&"--wal-segsize=16".to_string()), "{args:?}");
        // Before 18, off is initdb's default.
        assert!(
            !s.initdb_args(17).iter().any(|a| a.contains("checksums")),
            "{args:?}"
        );
        s.checksums = true;
        s.provider = "i".into();
        s.provider_locale = Some("en-US".into());
        let args = s.initdb_args(18);
        assert!(args.contains(&"--data-checksums".to_string()), "{args:?}");
        assert!(args.contains(&"--icu-locale=en-US".to_string()), "{args:?}");
    }

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
