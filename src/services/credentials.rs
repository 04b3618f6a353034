//! Who a client logs in as and where: the project's credentials (generated once, kept in
//! `.pyenvx/services/db/credentials.json`, mode 0600) and its port from the registry
//! ([`super::ports`]). Both backends serve the same identity, so switching backends changes
//! nothing for Django; `pyenvx run`, `db url` and `db psql` read it without asking a server.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::config::DbEngine;
use super::{pgwire, ports};
use crate::dirs::Dirs;
use crate::fs::write_private_new;
use crate::project::Project;
use crate::secrets::random_password;
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

/// The project's credentials, generated on first use.
pub fn credentials(project: &Project) -> Result<Credentials> {
    let path = credentials_path(project);
    if !path.exists() {
        let name = sql_name(&project.config.name);
        let fresh = Credentials {
            user: name.clone(),
            password: random_password(24)?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_names() {
        assert_eq!(sql_name("Library"), "library");
        assert_eq!(sql_name("my-site 2"), "my_site_2");
        assert_eq!(sql_name("2fa"), "app_2fa");
        assert_eq!(sql_name("pg_tools"), "app_pg_tools");
        assert_eq!(sql_name("---"), "app");
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
