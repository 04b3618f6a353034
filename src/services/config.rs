//! `[services.db]` of `pyenvx.toml`, validated: which engine, which major, which backend. Errors
//! name the file, line, column and key, as every configuration error does.
//!
//! [`DbEngine`] is the one place that says what differs per database engine in words a user
//! or a client reads (its name, its URL scheme, its client program, its default image); what
//! differs in how a server runs lives in each engine's [`super::Backend`] implementations.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::project::config::{config_error, toml_error};
use crate::project::Project;
use crate::user_error;

/// `[services.db]`, the database the `pyenvx db` commands drive.
pub const DB: &str = "db";

/// `[services.cache]`: read by `services::redis`, skipped by the database's reader here.
pub const CACHE: &str = "cache";

/// How the database runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// A `postgres` process from real PostgreSQL binaries, data in the project.
    Native,
    /// A Docker or Podman container from the official image, data in a named volume.
    Container,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Native => "native",
            Self::Container => "container",
        })
    }
}

impl FromStr for BackendKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "native" => Ok(Self::Native),
            "container" => Ok(Self::Container),
            other => Err(anyhow::anyhow!(
                "unknown backend `{other}`; use \"native\" or \"container\""
            )),
        }
    }
}

/// The database engine of `[services.db] engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbEngine {
    #[default]
    Postgres,
    /// Django's MySQL backend, served by MariaDB.
    Mariadb,
}

impl DbEngine {
    /// The engine's own name, for messages.
    pub fn title(self) -> &'static str {
        match self {
            Self::Postgres => "PostgreSQL",
            Self::Mariadb => "MariaDB",
        }
    }

    /// The scheme of `DATABASE_URL` (what dj-database-url and Django's own parsers read).
    pub fn scheme(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Mariadb => "mysql",
        }
    }

    /// The interactive client `pyenvx db shell` runs.
    pub fn client(self) -> &'static str {
        match self {
            Self::Postgres => "psql",
            Self::Mariadb => "mariadb",
        }
    }
}

impl fmt::Display for DbEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Postgres => "postgres",
            Self::Mariadb => "mariadb",
        })
    }
}

/// `[services.db]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbConfig {
    pub engine: DbEngine,
    /// PostgreSQL: the major version, e.g. 15. MariaDB: the first number of `version` (10, 11),
    /// 0 when unpinned.
    pub major: u32,
    /// MariaDB: `version` as written (`10.11`, `11`); `None` takes the machine's server.
    pub version: Option<String>,
    pub backend: BackendKind,
    /// Container image; default the official `postgres:<major>`.
    pub image: Option<String>,
    /// Native binaries to use before looking anywhere else (absolute).
    pub bin_dir: Option<PathBuf>,
    /// Extensions `db up` creates in the database and in `template1`.
    pub extensions: Vec<String>,
    /// `branches = "git"`: the database follows the checked-out git branch
    /// ([`super::branches`]).
    pub follow_git: bool,
}

impl DbConfig {
    pub fn image(&self) -> String {
        self.image.clone().unwrap_or_else(|| match self.engine {
            DbEngine::Postgres => format!("postgres:{}", self.major),
            DbEngine::Mariadb => format!("mariadb:{}", self.version.as_deref().unwrap_or("11")),
        })
    }

    /// The engine and its version, for messages: `PostgreSQL 15`, `MariaDB 10.11`, `MariaDB`.
    pub fn describe(&self) -> String {
        match (self.engine, &self.version) {
            (DbEngine::Postgres, _) => format!("PostgreSQL {}", self.major),
            (DbEngine::Mariadb, Some(v)) => format!("MariaDB {v}"),
            (DbEngine::Mariadb, None) => "MariaDB".to_string(),
        }
    }
}

#[derive(Deserialize)]
struct RawNames {
    #[serde(default)]
    services: BTreeMap<String, Spanned<toml::Value>>,
}

#[derive(Deserialize)]
struct RawFile {
    services: Option<RawServices>,
}

#[derive(Deserialize)]
struct RawServices {
    db: Option<Spanned<RawDb>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDb {
    engine: Option<Spanned<String>>,
    version: Option<Spanned<toml::Value>>,
    backend: Option<Spanned<String>>,
    image: Option<Spanned<String>>,
    bin_dir: Option<Spanned<String>>,
    extensions: Option<Vec<Spanned<String>>>,
    branches: Option<Spanned<String>>,
}

/// `[services.db]` of the project, or `None` when it declares no database.
pub fn db_config(project: &Project) -> Result<Option<DbConfig>> {
    if project.config.services.is_empty() {
        return Ok(None);
    }
    let path = &project.config.path;
    // The file again, for positions: `Config` keeps the tables but not where they were.
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(_) => toml::to_string(&BTreeMap::from([("services", &project.config.services)]))?,
    };
    parse(&text, path, &project.root)
}

/// The file being read, for errors that name its path, line and key.
#[derive(Clone, Copy)]
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn error(&self, at: usize, key: &str, message: impl std::fmt::Display) -> anyhow::Error {
        config_error(self.path, self.text, at, key, message)
    }
}

fn parse(text: &str, path: &Path, root: &Path) -> Result<Option<DbConfig>> {
    let src = Source { path, text };
    let err_at = |e: toml::de::Error| toml_error(path, text, &e);
    let names: RawNames = toml::from_str(text).map_err(err_at)?;
    check_service_names(src, &names)?;
    let raw: RawFile = toml::from_str(text).map_err(err_at)?;
    let Some(db) = raw.services.and_then(|s| s.db) else {
        return Ok(None);
    };
    let db = db.into_inner();
    let engine = match &db.engine {
        Some(e) => parse_engine(src, e)?,
        None => DbEngine::Postgres,
    };
    let (major, version) = match &db.version {
        Some(v) if engine == DbEngine::Mariadb => {
            let (major, version) = parse_mariadb_version(src, v)?;
            (major, Some(version))
        }
        Some(v) => (parse_postgres_major(src, v)?, None),
        None if engine == DbEngine::Mariadb => (0, None),
        None => (super::postgres::default_major(), None),
    };
    let backend = match &db.backend {
        None => BackendKind::Native,
        Some(b) => b.get_ref().parse().map_err(|e: anyhow::Error| {
            src.error(b.span().start, "services.db.backend", e.to_string())
        })?,
    };
    let image = match &db.image {
        Some(i) if i.get_ref().trim().is_empty() => {
            return Err(src.error(i.span().start, "services.db.image", "the image is empty"))
        }
        Some(i) => Some(i.get_ref().trim().to_string()),
        None => None,
    };
    let bin_dir = db.bin_dir.as_ref().map(|b| root.join(b.get_ref()));
    let extensions = parse_extensions(src, engine, db.extensions.unwrap_or_default())?;
    let follow_git = match &db.branches {
        None => false,
        Some(b) => parse_branches(src, engine, b)?,
    };
    Ok(Some(DbConfig {
        engine,
        major,
        version,
        backend,
        image,
        bin_dir,
        extensions,
        follow_git,
    }))
}

/// `[services.*]` names only `db` and `cache` (read by `services::redis`), and `db` is a table.
fn check_service_names(src: Source, names: &RawNames) -> Result<()> {
    for (name, value) in &names.services {
        if name == CACHE {
            continue;
        }
        if name != DB {
            return Err(src.error(
                value.span().start,
                &format!("services.{name}"),
                format!("unknown service `{name}`: pyenvx runs [services.db] and [services.cache]"),
            ));
        }
        if !value.get_ref().is_table() {
            return Err(src.error(
                value.span().start,
                "services.db",
                "[services.db] must be a table",
            ));
        }
    }
    Ok(())
}

fn parse_engine(src: Source, e: &Spanned<String>) -> Result<DbEngine> {
    match e.get_ref().as_str() {
        "postgres" | "postgresql" => Ok(DbEngine::Postgres),
        "mariadb" => Ok(DbEngine::Mariadb),
        other => Err(src.error(
            e.span().start,
            "services.db.engine",
            format!("unsupported engine `{other}`; pyenvx runs \"postgres\" and \"mariadb\""),
        )),
    }
}

/// A MariaDB `version`: `"11"` or `"10.11"`, as its major and the text.
fn parse_mariadb_version(src: Source, v: &Spanned<toml::Value>) -> Result<(u32, String)> {
    let s = match v.get_ref() {
        toml::Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    };
    let parts: Vec<&str> = s.split('.').collect();
    let valid = (1..=2).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
    if !valid {
        return Err(src.error(
            v.span().start,
            "services.db.version",
            format!("`{s}` is not a MariaDB version such as \"10.11\" or \"11\""),
        ));
    }
    Ok((parts[0].parse().unwrap_or(0), s))
}

/// A PostgreSQL `version`: its major, 9 to 99, as a string or a number.
fn parse_postgres_major(src: Source, v: &Spanned<toml::Value>) -> Result<u32> {
    let s = match v.get_ref() {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        other => other.to_string(),
    };
    match s.trim().parse::<u32>() {
        Ok(m) if (9..=99).contains(&m) => Ok(m),
        _ => Err(src.error(
            v.span().start,
            "services.db.version",
            format!("`{s}` is not a PostgreSQL major version such as \"16\""),
        )),
    }
}

/// `extensions`: PostgreSQL's only, names that can go into SQL, each once.
fn parse_extensions(
    src: Source,
    engine: DbEngine,
    list: Vec<Spanned<String>>,
) -> Result<Vec<String>> {
    if let (DbEngine::Mariadb, Some(first)) = (engine, list.first()) {
        return Err(src.error(
            first.span().start,
            "services.db.extensions",
            "extensions are PostgreSQL's; MariaDB has none to create",
        ));
    }
    let mut extensions = Vec::new();
    for e in list {
        let name = e.get_ref().trim();
        // Names go into SQL; PostgreSQL's own are lower-case words (`uuid-ossp` has a dash).
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !valid {
            return Err(src.error(
                e.span().start,
                "services.db.extensions",
                format!("`{name}` is not an extension name such as \"pg_trgm\""),
            ));
        }
        if !extensions.iter().any(|x| x == name) {
            extensions.push(name.to_string());
        }
    }
    Ok(extensions)
}

/// `branches`: `"git"` (PostgreSQL only) to follow git's branch, or `"manual"`.
fn parse_branches(src: Source, engine: DbEngine, b: &Spanned<String>) -> Result<bool> {
    let error = |msg: String| src.error(b.span().start, "services.db.branches", msg);
    match b.get_ref().as_str() {
        "git" if engine == DbEngine::Mariadb => Err(error(
            "database branches are PostgreSQL's: MariaDB cannot rename a database (see `pyenvx db branch`)".to_string(),
        )),
        "git" => Ok(true),
        "manual" => Ok(false),
        other => Err(error(format!(
            "`{other}` is not a way to follow branches; use \"git\" (or \"manual\": `pyenvx db branch` only)"
        ))),
    }
}

/// `[services.db]` or a user error saying how to declare it.
pub fn require_db(project: &Project) -> Result<DbConfig> {
    db_config(project)?.ok_or_else(|| {
        user_error!(
            hint = format!(
                "add to {}:\n{}",
                project.config_path().display(),
                init_table(DbEngine::Postgres, super::postgres::default_major()).trim()
            ),
            "{} declares no database",
            project.config_path().display()
        )
    })
}

/// The `[services.db]` table `pyenvx init --db <engine>` appends to a new `pyenvx.toml`.
/// MariaDB is left unpinned: `db up` runs the machine's server, whichever its version.
pub fn init_table(engine: DbEngine, major: u32) -> String {
    match engine {
        DbEngine::Postgres => format!(
            "\n[services.db]\nengine = \"postgres\"\nversion = \"{major}\"\nbackend = \"native\"  # or \"container\" (Docker/Podman)\n"
        ),
        DbEngine::Mariadb => "\n[services.db]\nengine = \"mariadb\"\nbackend = \"native\"  # or \"container\" (Docker/Podman)\n".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "/p";

    fn parse_str(text: &str) -> Result<Option<DbConfig>> {
        parse(text, Path::new("/p/pyenvx.toml"), Path::new(ROOT))
    }

    #[test]
    fn parses_the_db_table() {
        let text = "[project]\nname = \"x\"\n\n[services.db]\nengine = \"postgres\"\nversion = \"16\"\nbackend = \"container\"\nimage = \"postgres:16-alpine\"\nbin_dir = \"pg/bin\"\nextensions = [\"pg_trgm\", \"uuid-ossp\", \"pg_trgm\"]\n";
        let db = parse_str(text).unwrap().unwrap();
        assert_eq!(
            db,
            DbConfig {
                engine: DbEngine::Postgres,
                major: 16,
                version: None,
                backend: BackendKind::Container,
                image: Some("postgres:16-alpine".into()),
                bin_dir: Some(PathBuf::from("/p/pg/bin")),
                extensions: vec!["pg_trgm".into(), "uuid-ossp".into()],
                follow_git: false,
            }
        );
        let db = parse_str("[services.db]\nbranches = \"git\"\n")
            .unwrap()
            .unwrap();
        assert!(db.follow_git);
        let err = parse_str("[services.db]\nbranches = \"svn\"\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("services.db.branches"),
            "{err:#}"
        );
        let err =
            parse_str("[services.db]\nengine = \"mariadb\"\nbranches = \"git\"\n").unwrap_err();
        assert!(
            format!("{err:#}").contains("MariaDB cannot rename"),
            "{err:#}"
        );
        let db = parse_str("[services.db]\nversion = 15\n").unwrap().unwrap();
        assert_eq!((db.major, db.backend), (15, BackendKind::Native));
        assert_eq!(db.image(), "postgres:15");
        assert!(parse_str("[project]\nname = \"x\"\n").unwrap().is_none());
    }

    #[test]
    fn parses_mariadb() {
        let db = parse_str("[services.db]\nengine = \"mariadb\"\nversion = \"10.11\"\n")
            .unwrap()
            .unwrap();
        assert_eq!(db.engine, DbEngine::Mariadb);
        assert_eq!((db.major, db.version.as_deref()), (10, Some("10.11")));
        assert_eq!(db.image(), "mariadb:10.11");
        assert_eq!(db.describe(), "MariaDB 10.11");
        let unpinned = parse_str("[services.db]\nengine = \"mariadb\"\n")
            .unwrap()
            .unwrap();
        assert_eq!((unpinned.major, unpinned.version.as_deref()), (0, None));
        assert_eq!(unpinned.image(), "mariadb:11");
        let table = init_table(DbEngine::Mariadb, 0);
        assert_eq!(
            parse_str(&table).unwrap().unwrap().engine,
            DbEngine::Mariadb,
            "{table}"
        );
        for (text, at, key) in [
            (
                "[services.db]\nengine = \"mariadb\"\nversion = \"10.x\"\n",
                "/p/pyenvx.toml:3:11",
                "services.db.version",
            ),
            (
                "[services.db]\nengine = \"mariadb\"\nextensions = [\"hstore\"]\n",
                "/p/pyenvx.toml:3:15",
                "services.db.extensions",
            ),
            (
                "[services.db]\nengine = \"mysql\"\n",
                "/p/pyenvx.toml:2:10",
                "services.db.engine",
            ),
        ] {
            let msg = format!("{:#}", parse_str(text).unwrap_err());
            assert!(msg.starts_with(at), "{text:?}: {msg}");
            assert!(msg.contains(key), "{text:?}: {msg}");
        }
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases = [
            (
                "[project]\nname = \"x\"\n[services.db]\nbackend = \"dokker\"\n",
                "/p/pyenvx.toml:4:11",
                "services.db.backend",
            ),
            (
                "[services.db]\nversion = \"16.2\"\n",
                "/p/pyenvx.toml:2:11",
                "services.db.version",
            ),
            (
                "[services.db]\nengine = \"redis\"\n",
                "/p/pyenvx.toml:2:10",
                "services.db.engine",
            ),
            (
                "[services.queue]\nengine = \"rabbitmq\"\n",
                "/p/pyenvx.toml:",
                "services.queue",
            ),
            (
                "[services.db]\nextensions = [\"hstore\", \"x; drop\"]\n",
                "/p/pyenvx.toml:2:25",
                "services.db.extensions",
            ),
            (
                "[services.db]\nvresion = \"16\"\n",
                "/p/pyenvx.toml:2:1",
                "",
            ),
        ];
        for (text, at, key) in cases {
            let err = parse_str(text).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.starts_with(at), "{text:?}: {msg}");
            assert!(msg.contains(key), "{text:?}: {msg}");
            assert!(err.downcast_ref::<crate::error::UserError>().is_some());
        }
    }
}
