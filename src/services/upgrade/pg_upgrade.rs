//! A native upgrade: `pg_upgrade` into a new cluster made beside the old one with the settings
//! it must share, checked with the project's login, swapped in only then (the old directory
//! kept as the way back), and rolled back on any failure before that.

use super::*;

/// What the new cluster must share with the old one for pg_upgrade to accept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ClusterSettings {
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

pub(super) fn first_row(rows: Vec<Vec<Option<String>>>) -> Vec<Option<String>> {
    rows.into_iter().next().unwrap_or_default()
}

/// Ask the running old cluster what the new one must match, and which databases refuse
/// connections (the snapshots).
pub(super) fn read_settings(
    identity: &Identity,
    major: u32,
    snapshots: &[String],
) -> Result<(ClusterSettings, Vec<String>)> {
    let mut admin = crate::services::transfer::admin_session(identity)?;
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
pub(super) fn allow_connections(
    identity: &Identity,
    databases: &[String],
    allow: bool,
) -> Result<()> {
    if databases.is_empty() {
        return Ok(());
    }
    let mut admin = crate::services::transfer::admin_session(identity)?;
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
pub(super) fn can_clone(dir: &Path) -> bool {
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

pub(super) fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot delete {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// The native upgrade up to (not including) the version change; returns (method, ms, snapshots).
pub(super) fn native_upgrade(
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
    let old = crate::services::open(BackendKind::Native, env, project, config);
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
        crate::services::server::give(&work, user.as_ref())?;
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
pub(super) fn initdb(
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
pub(super) fn pg_upgrade(
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
    let out = crate::services::server::output_as(cmd, user)?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let name = if check {
        "pg_upgrade-check.out"
    } else {
        "pg_upgrade.out"
    };
    let _ = std::fs::write(work.join(name), &text);
    if !out.status.success() {
        let tail = crate::services::server::last_lines(&text, 12);
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
pub(super) fn verify(
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
pub(super) fn roll_back(
    project: &Project,
    identity: &Identity,
    old: &dyn crate::services::Backend,
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
pub(super) fn move_snapshots(project: &Project, from: u32, to: u32) -> Result<usize> {
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
}
