//! Who a client logs in as and where: the project's credentials (generated once, kept in
//! `.pyenvx/services/db/credentials.json`, mode 0600) and its port from the registry
//! ([`super::ports`]). Both backends serve the same identity, so switching backends changes
//! nothing for Django; `pyenvx run`, `db url` and `db psql` read it without asking a server.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::config::DbEngine;
use super::{pgwire, ports};
use crate::dirs::Dirs;
use crate::project::Project;
use crate::user_error;

/// What clients log in with; generated once per project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    pub database: String,
}

/// Credentials and port: everything a client needs, read without touching the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub credentials: Credentials,
    pub port: u16,
    /// Which server serves them: the URL's scheme and the client variables follow it.
    pub engine: DbEngine,
}

impl Identity {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `postgres://user:password@127.0.0.1:port/database` (`mysql://…` for MariaDB); the
    /// generated names and password need no escaping.
    pub fn url(&self) -> String {
        let c = &self.credentials;
        format!(
            "{}://{}:{}@127.0.0.1:{}/{}",
            self.engine.scheme(),
            c.user,
            c.password,
            self.port,
            c.database
        )
    }

    /// The variables `pyenvx run` sets: `DATABASE_URL`, and for PostgreSQL libpq's `PG*` (the
    /// MySQL clients have no such set for the password; they read `DATABASE_URL` through
    /// Django or `pyenvx db shell`).
    pub fn vars(&self) -> Vec<(String, String)> {
        let c = &self.credentials;
        if self.engine == DbEngine::Mariadb {
            return vec![("DATABASE_URL".to_string(), self.url())];
        }
        [
            ("DATABASE_URL", self.url()),
            ("PGHOST", "127.0.0.1".to_string()),
            ("PGPORT", self.port.to_string()),
            ("PGUSER", c.user.clone()),
            ("PGPASSWORD", c.password.clone()),
            ("PGDATABASE", c.database.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Log in to `database` (default the project's) within `timeout`.
    pub fn connect(
        &self,
        database: Option<&str>,
        timeout: Duration,
    ) -> Result<pgwire::Connection, pgwire::ConnectError> {
        let c = &self.credentials;
        pgwire::Connection::connect(
            &pgwire::Target {
                addr: self.addr(),
                user: &c.user,
                password: &c.password,
                database: database.unwrap_or(&c.database),
            },
            timeout,
        )
    }
}

pub fn credentials_path(project: &Project) -> PathBuf {
    super::state_dir(project).join("credentials.json")
}

/// A role and database name from the project name: lower-case letters, digits and `_`.
/// `export docker` names the container database the same way, so a dump restores into either.
pub fn sql_name(project_name: &str) -> String {
    let mut name = crate::names::ascii_identifier(project_name);
    name = name.trim_matches('_').to_string();
    if name.is_empty() {
        name = "app".into();
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) || name.starts_with("pg_") {
        // Identifiers cannot start with a digit unquoted; `pg_` role names are reserved.
        name = format!("app_{name}");
    }
    name.truncate(63);
    name
}

/// Random bytes from the kernel.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        if f.read_exact(&mut buf).is_ok() {
            return buf;
        }
    }
    // No /dev/urandom (a very bare chroot): hash what differs between runs.
    let mut seed = Sha256::new();
    seed.update(format!(
        "{:?}{:?}{}",
        std::time::SystemTime::now(),
        std::thread::current().id(),
        std::process::id()
    ));
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let block = seed.clone().finalize();
        out.extend_from_slice(&block);
        seed.update(block);
    }
    out.truncate(n);
    out
}

/// A password of `len` letters and digits: safe in URLs, YAML, shells and `.env` files without
/// quoting.
pub fn random_password(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::new();
    while out.len() < len {
        for b in random_bytes(len + 8) {
            // 248 = 4 × 62: rejecting the rest keeps every character equally likely.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    out
}

/// Write `bytes` to `path` with mode 0600, atomically; never replaces an existing file.
/// Returns false when the file already existed.
pub fn write_private_new(path: &Path, bytes: &[u8]) -> Result<bool> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().context("no parent directory")?;
    fs_err::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        hex::encode(random_bytes(4))
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    // A hard link fails if the name exists: two first runs cannot both win.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// The project's credentials, generated on first use.
pub fn credentials(project: &Project) -> Result<Credentials> {
    let path = credentials_path(project);
    if !path.exists() {
        let name = sql_name(&project.config.name);
        let fresh = Credentials {
            user: name.clone(),
            password: random_password(24),
            database: name,
        };
        write_private_new(&path, serde_json::to_string_pretty(&fresh)?.as_bytes())?;
    }
    let text = fs_err::read_to_string(&path)?;
    serde_json::from_str(&text).map_err(|e| {
        user_error!(
            hint = "delete it together with the database (`pyenvx db reset --yes`) to start over",
            "{} is damaged: {e}",
            path.display()
        )
    })
}

/// Credentials and port, allocating either on first use. Starts nothing.
pub fn identity(dirs: &Dirs, project: &Project) -> Result<Identity> {
    let credentials = credentials(project)?;
    let port = ports::ensure(dirs, &ports::key(&project.root, super::DB))?;
    let engine = super::db_config(project)?.map_or(DbEngine::Postgres, |c| c.engine);
    Ok(Identity {
        credentials,
        port,
        engine,
    })
}

/// Replace `path` atomically with a 0600 file (never readable by others, not even briefly).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fs::write_atomic_mode(path, bytes, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_passwords() {
        assert_eq!(sql_name("Library"), "library");
        assert_eq!(sql_name("my-site 2"), "my_site_2");
        assert_eq!(sql_name("2fa"), "app_2fa");
        assert_eq!(sql_name("pg_tools"), "app_pg_tools");
        assert_eq!(sql_name("---"), "app");
        let a = random_password(24);
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, random_password(24));
    }

    #[test]
    fn private_files_are_0600_and_never_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a/creds.json");
        assert!(write_private_new(&path, b"one").unwrap());
        assert!(!write_private_new(&path, b"two").unwrap());
        assert_eq!(fs_err::read_to_string(&path).unwrap(), "one");
        let mode = fs_err::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(fs_err::read_dir(tmp.path().join("a")).unwrap().count(), 1);
    }

    #[test]
    fn url_and_vars() {
        let id = Identity {
            credentials: Credentials {
                user: "lib".into(),
                password: "pw".into(),
                database: "lib".into(),
            },
            port: 54321,
            engine: DbEngine::Postgres,
        };
        assert_eq!(id.url(), "postgres://lib:pw@127.0.0.1:54321/lib");
        let vars = id.vars();
        assert_eq!(vars.len(), 6);
        assert!(vars.contains(&("PGPORT".into(), "54321".into())));
        let maria = Identity {
            engine: DbEngine::Mariadb,
            ..id
        };
        assert_eq!(maria.url(), "mysql://lib:pw@127.0.0.1:54321/lib");
        assert_eq!(
            maria.vars(),
            vec![("DATABASE_URL".into(), maria.url())],
            "no PG* variables for MariaDB"
        );
    }
}
