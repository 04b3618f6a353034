//! `[services.db] extensions`: PostgreSQL extensions created at every `db up`, in the project's
//! database and in `template1`.
//!
//! Decisions and why:
//! * `template1` too: Django's test runner creates `test_<db>` from `template1`, so a model using
//!   `CITEXT` or a trigram index works in tests without a migration creating the extension.
//! * Every `db up`, not only the first: adding a name to the list and running `db up` again is
//!   how a user adds one. `CREATE EXTENSION IF NOT EXISTS … CASCADE` costs a catalog lookup when
//!   it is there, and brings what it depends on (`earthdistance` needs `cube`).
//! * The server is asked first which extensions it can install (`pg_available_extensions`), so a
//!   missing one is one error naming the package that provides it here, before anything is
//!   created.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use super::config::BackendKind;
use super::credentials::Identity;
use crate::user_error;

/// How this machine installs PostgreSQL packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packager {
    /// Debian, Ubuntu: `postgresql-<major>-…` (PGDG naming, which Debian follows).
    Apt,
    /// Fedora, RHEL with the PGDG repository: `…_<major>`.
    Rpm,
    Homebrew,
    Unknown,
}

impl Packager {
    pub fn current() -> Self {
        if cfg!(target_os = "macos") {
            Self::Homebrew
        } else if Path::new("/etc/debian_version").exists() {
            Self::Apt
        } else if Path::new("/etc/redhat-release").exists() {
            Self::Rpm
        } else {
            Self::Unknown
        }
    }
}

/// The contrib modules every full PostgreSQL install carries.
const CONTRIB: &[&str] = &[
    "adminpack",
    "amcheck",
    "autoinc",
    "bloom",
    "btree_gin",
    "btree_gist",
    "citext",
    "cube",
    "dblink",
    "dict_int",
    "dict_xsyn",
    "earthdistance",
    "file_fdw",
    "fuzzystrmatch",
    "hstore",
    "insert_username",
    "intagg",
    "intarray",
    "isn",
    "lo",
    "ltree",
    "moddatetime",
    "old_snapshot",
    "pageinspect",
    "pg_buffercache",
    "pg_freespacemap",
    "pg_prewarm",
    "pg_stat_statements",
    "pg_surgery",
    "pg_trgm",
    "pg_visibility",
    "pg_walinspect",
    "pgcrypto",
    "pgrowlocks",
    "pgstattuple",
    "postgres_fdw",
    "refint",
    "seg",
    "sslinfo",
    "tablefunc",
    "tcn",
    "tsm_system_rows",
    "tsm_system_time",
    "unaccent",
    "uuid-ossp",
    "xml2",
];

/// What provides extension `name` for PostgreSQL `major`, installed with `packager`.
pub fn provider(name: &str, major: u32, packager: Packager) -> String {
    let contrib = CONTRIB.contains(&name);
    // The project behind an extension, where its name differs from the extension's.
    let project = match name {
        n if n.starts_with("postgis") || n == "address_standardizer" => Some("postgis"),
        "vector" => Some("pgvector"),
        "pg_cron" => Some("cron"),
        "pgrouting" => Some("pgrouting"),
        "hypopg" => Some("hypopg"),
        "pg_partman" => Some("partman"),
        "timescaledb" => Some("timescaledb"),
        _ => None,
    };
    match packager {
        Packager::Apt => match (contrib, project) {
            (true, _) => format!("the Debian package `postgresql-{major}` (its contrib modules)"),
            (_, Some("postgis")) => format!("the Debian package `postgresql-{major}-postgis-3`"),
            (_, Some("timescaledb")) => {
                format!("the package `timescaledb-2-postgresql-{major}` (Timescale's repository)")
            }
            (_, Some(p)) => format!("the Debian package `postgresql-{major}-{p}`"),
            (_, None) => format!(
                "a package of the form `postgresql-{major}-<name>` (`apt-cache search postgresql-{major}` lists them)"
            ),
        },
        Packager::Rpm => match (contrib, project) {
            (true, _) => format!("the package `postgresql{major}-contrib`"),
            (_, Some("postgis")) => format!("the package `postgis34_{major}` (PGDG repository)"),
            (_, Some("pgvector")) => format!("the package `pgvector_{major}` (PGDG repository)"),
            (_, Some(p)) => format!("the package `{p}_{major}` (PGDG repository)"),
            (_, None) => format!("a package of the PGDG repository for PostgreSQL {major}"),
        },
        Packager::Homebrew => match (contrib, project) {
            (true, _) => format!("`postgresql@{major}` (its contrib modules)"),
            (_, Some(p)) => format!("the Homebrew formula `{p}`"),
            (_, None) => "a Homebrew formula that provides it".to_string(),
        },
        Packager::Unknown => match project {
            Some(p) => format!("the {p} package for PostgreSQL {major}"),
            None => format!("a package of it for PostgreSQL {major}"),
        },
    }
}

/// The error for extensions the server cannot install.
fn missing_error(missing: &[String], major: u32, backend: BackendKind) -> anyhow::Error {
    let names = missing.join("`, `");
    let first = &missing[0];
    let hint = match backend {
        BackendKind::Native => format!(
            "install {} and run `pyenvx db up` again, or take `{first}` out of [services.db] extensions",
            provider(first, major, Packager::current())
        ),
        BackendKind::Container if first.starts_with("postgis") => format!(
            "use an image that has it, e.g. `image = \"postgis/postgis:{major}-3.5\"` in [services.db]"
        ),
        BackendKind::Container => format!(
            "use an image that has it (`image` in [services.db]), or take `{first}` out of [services.db] extensions"
        ),
    };
    user_error!(
        hint = hint,
        "the PostgreSQL {major} server of this project has no extension `{names}`"
    )
}

/// Create `names` in the project's database and in `template1`.
pub fn ensure(
    identity: &Identity,
    major: u32,
    backend: BackendKind,
    names: &[String],
) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let connect = |db: Option<&str>| {
        identity
            .connect(db, Duration::from_secs(10))
            .map_err(|e| anyhow::Error::new(e).context("cannot connect to the database"))
    };
    let mut conn = connect(None)?;
    let list = names
        .iter()
        .map(|n| format!("('{n}')"))
        .collect::<Vec<_>>()
        .join(", ");
    let missing: Vec<String> = conn
        .query(&format!(
            "SELECT v.name FROM (VALUES {list}) AS v(name) \
             WHERE v.name NOT IN (SELECT name FROM pg_available_extensions)"
        ))?
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    if !missing.is_empty() {
        return Err(missing_error(&missing, major, backend));
    }
    let create: String = names
        .iter()
        .map(|n| format!("CREATE EXTENSION IF NOT EXISTS \"{n}\" CASCADE; "))
        .collect();
    conn.query(&create).with_context(|| {
        format!(
            "cannot create the extensions in {}",
            identity.credentials.database
        )
    })?;
    connect(Some("template1"))?
        .query(&create)
        .context("cannot create the extensions in template1")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_are_named_per_platform() {
        assert_eq!(
            provider("postgis", 15, Packager::Apt),
            "the Debian package `postgresql-15-postgis-3`"
        );
        assert!(provider("postgis_topology", 16, Packager::Apt).contains("postgresql-16-postgis-3"));
        assert!(provider("vector", 15, Packager::Apt).contains("postgresql-15-pgvector"));
        assert!(provider("pg_trgm", 15, Packager::Rpm).contains("postgresql15-contrib"));
        assert!(provider("postgis", 15, Packager::Homebrew).contains("`postgis`"));
    }
}
