//! `db branch list`: every branch with its database's size and sessions, and each branch's
//! migrations against the checkout's.

use super::*;

/// One line of `db branch list`.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub name: String,
    pub current: bool,
    pub database: String,
    pub size_bytes: Option<u64>,
    pub from: Option<String>,
    /// Migrations applied in its database that the checkout lacks, each with the branch that
    /// applied it.
    pub applied_missing: Vec<(String, String)>,
    /// The checkout's migrations its database has not applied.
    pub unapplied: Vec<String>,
    /// Its database has no `django_migrations` table (never migrated).
    pub unmigrated: bool,
}

/// `app, name, applied` of a database's `django_migrations`, or `None` without the table.
pub(super) fn applied_in(
    identity: &Identity,
    database: &str,
) -> Result<Option<Vec<(String, String, i64)>>> {
    let mut conn = identity
        .connect(Some(database), Duration::from_secs(10))
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot connect to {database}")))?;
    let has = conn.query("SELECT to_regclass('django_migrations') IS NOT NULL")?;
    if has
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .as_deref()
        != Some("t")
    {
        return Ok(None);
    }
    let rows = conn.query(
        "SELECT app, name, (extract(epoch FROM applied) * 1000000)::bigint FROM django_migrations",
    )?;
    Ok(Some(
        rows.into_iter()
            .map(|r| {
                let get = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
                (get(0), get(1), get(2).parse().unwrap_or(0))
            })
            .collect(),
    ))
}

/// A branch database's migrations against the checkout.
#[derive(Debug, Clone, Default)]
pub struct Migrations {
    /// Applied in the database, missing from the checkout: `app.name` and the branch that
    /// applied it.
    pub applied_missing: Vec<(String, String)>,
    /// The checkout's, not applied in the database.
    pub unapplied: Vec<String>,
    /// The database has no `django_migrations` table.
    pub unmigrated: bool,
}

/// The migrations of `branch`'s `database` compared with the checkout: applied ones the
/// checkout lacks (with who applied them) and the checkout's not applied.
pub fn migration_drift(
    project: &Project,
    identity: &Identity,
    record: &Record,
    branch: &str,
    database: &str,
) -> Result<Migrations> {
    let Some(applied) = applied_in(identity, database)? else {
        return Ok(Migrations {
            unmigrated: true,
            ..Migrations::default()
        });
    };
    let disk = crate::django::migrations::on_disk(&project.root);
    let pairs: Vec<(String, String)> = applied
        .iter()
        .map(|(a, n, _)| (a.clone(), n.clone()))
        .collect();
    let drift = crate::django::migrations::drift(&disk, &pairs);
    let missing = drift
        .applied_missing
        .into_iter()
        .map(|m| {
            let at = applied
                .iter()
                .find(|(a, n, _)| format!("{a}.{n}") == m)
                .map_or(0, |x| x.2);
            let by = record.applied_by(branch, at);
            (m, by)
        })
        .collect();
    Ok(Migrations {
        applied_missing: missing,
        unapplied: drift.unapplied,
        unmigrated: false,
    })
}

/// What `db branch list` shows.
#[derive(Debug, Clone, Serialize)]
pub struct ListReport {
    pub branches: Vec<Listed>,
    /// What an interrupted command left, repaired first.
    pub repaired: Option<String>,
    /// Branch databases on the server that no recorded branch names (a record lost or
    /// replaced): kept, and shown so that nobody forgets them.
    pub unrecorded: Vec<String>,
}

/// Every branch with its database, size and migrations against the checkout.
pub fn list(project: &Project, identity: &Identity) -> Result<ListReport> {
    let mut admin = session(identity)?;
    let repaired = repair(project, &mut admin)?;
    let record = load_or_initial(project)?;
    let mut out = Vec::new();
    for (name, branch) in &record.branches {
        let current = *name == record.current;
        let database = if current {
            identity.credentials.database.clone()
        } else {
            database_name(name)
        };
        let size = admin
            .query(&format!(
                "SELECT pg_database_size(oid) FROM pg_database WHERE datname = '{database}'"
            ))?
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten())
            .and_then(|s| s.parse().ok());
        let Migrations {
            applied_missing,
            unapplied,
            unmigrated,
        } = if size.is_some() {
            migration_drift(project, identity, &record, name, &database)?
        } else {
            Migrations::default()
        };
        out.push(Listed {
            name: name.clone(),
            current,
            database,
            size_bytes: size,
            from: branch.from.clone(),
            applied_missing,
            unapplied,
            unmigrated,
        });
    }
    let recorded: Vec<String> = record.branches.keys().map(|b| database_name(b)).collect();
    let unrecorded = admin
        .query(&format!(
            "SELECT datname FROM pg_database WHERE datname LIKE '{}%' ORDER BY 1",
            PREFIX.replace('_', "\\_")
        ))?
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .filter(|d| !recorded.contains(d))
        .collect();
    Ok(ListReport {
        branches: out,
        repaired,
        unrecorded,
    })
}
