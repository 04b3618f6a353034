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
use crate::fs::write_private_new;
use crate::project::Project;
use crate::secrets::random_password;
use crate::settings::Settings;
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

    /// `postgres://user:password@127.0.0.1:port/database` (`mysql://…` for MariaDB). Generated
    /// names and passwords need no escaping; a password the project's settings wrote in may
    /// hold `@`, `:` or `/`, which are percent-encoded as URL parsers expect.
    pub fn url(&self) -> String {
        use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
        let c = &self.credentials;
        let esc = |s: &str| {
            if s.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.'))
            {
                s.to_string()
            } else {
                utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
            }
        };
        format!(
            "{}://{}:{}@127.0.0.1:{}/{}",
            self.engine.scheme(),
            esc(&c.user),
            esc(&c.password),
            self.port,
            esc(&c.database)
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
    super::shared::state_dir(project).join("credentials.json")
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

/// A role, password and database the project's settings write in (`DATABASES` with `USER`,
/// `PASSWORD`, `NAME` as literals): the server is made with exactly those, since the settings
/// cannot be pointed elsewhere without editing them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Given {
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: Option<String>,
}

/// Whether `name` can be a role or database name as pyenvx writes them: quoted in SQL and
/// bare in URLs, so only the characters that need no escaping in either.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Whether `password` can be passed as it is to every client and server pyenvx starts (a file
/// line for initdb, an environment variable, an SQL literal).
fn plain_password(password: &str) -> bool {
    !password.is_empty()
        && password.len() <= 100
        && password
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '\'' | '"' | '\\'))
}

/// What of `given` pyenvx can serve as it is (names and a password that need no quoting).
pub fn servable(given: &Given) -> Given {
    Given {
        user: given.user.clone().filter(|u| plain_name(u)),
        database: given.database.clone().filter(|d| plain_name(d)),
        password: given.password.clone().filter(|p| plain_password(p)),
    }
}

/// The project's credentials with what the settings write in, where pyenvx can serve it; the
/// rest generated. Only before the first use: a server made with other credentials keeps them.
/// What was taken from `given`.
pub fn adopt(project: &Project, given: &Given) -> Result<Given> {
    if credentials_path(project).exists() {
        return Ok(Given::default());
    }
    let name = sql_name(&project.config.name);
    let taken = servable(given);
    let fresh = Credentials {
        user: taken.user.clone().unwrap_or_else(|| name.clone()),
        password: match &taken.password {
            Some(p) => p.clone(),
            None => random_password(24)?,
        },
        database: taken.database.clone().unwrap_or(name),
    };
    write_new(project, &fresh)?;
    Ok(taken)
}

fn write_new(project: &Project, fresh: &Credentials) -> Result<()> {
    crate::fs::owned_dirs(&project.root, &super::shared::state_dir(project))?;
    write_private_new(
        &credentials_path(project),
        serde_json::to_string_pretty(fresh)?.as_bytes(),
    )?;
    Ok(())
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
        write_new(project, &fresh)?;
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
/// Give a running PostgreSQL server the role, password and database that settings write in
/// (found by asking Django, after the server was made with pyenvx's own), and make them the
/// project's credentials, so `DATABASE_URL`, `PG*` and `db psql` follow. The role is a
/// superuser, as the one initdb makes for the project is: Django's test runner creates
/// databases, and pyenvx's own operations log in as it. `false` (nothing changed) when the
/// server cannot be reached or the names need quoting pyenvx does not do.
pub fn serve_given(project: &Project, identity: &Identity, given: &Credentials) -> Result<bool> {
    let taken = servable(&Given {
        user: Some(given.user.clone()),
        password: Some(given.password.clone()),
        database: Some(given.database.clone()),
    });
    let (Some(user), Some(password), Some(database)) = (taken.user, taken.password, taken.database)
    else {
        return Ok(false);
    };
    let Ok(mut admin) = identity.connect(Some("postgres"), Duration::from_secs(5)) else {
        return Ok(false);
    };
    // Names and password are plain (no quotes, no backslashes): quoted as they are.
    let role_exists = !admin
        .query(&format!("SELECT 1 FROM pg_roles WHERE rolname = '{user}'"))?
        .is_empty();
    let verb = if role_exists { "ALTER" } else { "CREATE" };
    admin.query(&format!(
        "{verb} ROLE \"{user}\" WITH SUPERUSER LOGIN PASSWORD '{password}'"
    ))?;
    if admin
        .query(&format!(
            "SELECT 1 FROM pg_database WHERE datname = '{database}'"
        ))?
        .is_empty()
    {
        admin.query(&format!("CREATE DATABASE \"{database}\" OWNER \"{user}\""))?;
    }
    drop(admin);
    let fresh = Credentials {
        user,
        password,
        database,
    };
    crate::fs::write_private(
        &credentials_path(project),
        serde_json::to_string_pretty(&fresh)?.as_bytes(),
    )?;
    Ok(true)
}

pub fn identity(settings: &Settings, project: &Project) -> Result<Identity> {
    let credentials = credentials(project)?;
    let port = ports::ensure(settings, &ports::key(&project.root, super::config::DB))?;
    let engine = super::config::db_config(project)?.map_or(DbEngine::Postgres, |c| c.engine);
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
    fn written_in_passwords_are_escaped_in_the_url_and_odd_names_refused() {
        let id = Identity {
            credentials: Credentials {
                user: "shop".into(),
                password: "p@ss:w/rd".into(),
                database: "shop".into(),
            },
            port: 5433,
            engine: DbEngine::Postgres,
        };
        assert_eq!(
            id.url(),
            "postgres://shop:p%40ss%3Aw%2Frd@127.0.0.1:5433/shop"
        );
        assert!(plain_name("my-db.1") && !plain_name("a\"b") && !plain_name(""));
        assert!(plain_password("p@ss:w/rd") && !plain_password("it's") && !plain_password("a b"));
    }

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
