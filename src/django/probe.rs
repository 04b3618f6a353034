//! Asking Django where the project's database is, instead of reading its settings as text.
//!
//! Why run Python: settings build `DATABASES` from their own variables (`SQL_HOST`, a switch such
//! as `DB=postgres`, `POSTGRES_*`), helpers and branches no text scan follows. Django itself is
//! the only reliable witness, so the probe (`probe.py`) loads the settings the way `manage.py`
//! would, in the environment `pyenvx run` gives, and prints `DATABASES['default']` and
//! `CACHES['default']` without connecting.
//!
//! Why this runs the project's code only where the user asked to run it: importing settings runs
//! them, and a cloned repository is untrusted (issue 19). The callers decide when (see
//! `ops::django_check`); this module only knows how.
//!
//! Which variables feed `DATABASES` ([`trace`]): the probe records every variable the settings
//! read; each one whose name looks like a database's is given a distinct sentinel value and the
//! settings are loaded again. Where a sentinel lands (`HOST`, `PORT`, …) names the variable that
//! feeds that key, with whatever the settings put around it (`"django.db.backends." + X`).

use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Deserialize;

const SCRIPT: &str = include_str!("probe.py");
const MARKER: &str = "PYENVX-DJANGO-PROBE:";
/// Settings that take longer than this to import are not waited for.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The keys of `DATABASES['default']` the probe reports, in Django's order.
pub const KEYS: [&str; 6] = ["ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT"];

/// `DATABASES['default']` as the settings built it, each value as text (`None` is empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub struct Database {
    pub engine: String,
    pub name: String,
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: String,
}

impl Database {
    pub fn get(&self, key: &str) -> &str {
        match key {
            "ENGINE" => &self.engine,
            "NAME" => &self.name,
            "USER" => &self.user,
            "PASSWORD" => &self.password,
            "HOST" => &self.host,
            "PORT" => &self.port,
            _ => "",
        }
    }
}

/// `CACHES['default']` (its first `LOCATION` when it has several).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub struct Cache {
    pub backend: String,
    pub location: String,
    /// `OPTIONS['PASSWORD']` (django-redis).
    #[serde(default)]
    pub password: String,
}

impl Cache {
    /// Whether the cache is a Redis one (Django's own backend, django-redis, or a `redis://`
    /// location): only then is pyenvx's Redis its place.
    pub fn is_redis(&self) -> bool {
        self.backend.to_ascii_lowercase().contains("redis") || self.location.starts_with("redis")
    }
}

/// What part of a Redis location a variable gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachePart {
    /// The whole `redis://…` URL (`REDIS_URL`, `CACHE_URL`, `REDIS_LOCATION`).
    Url,
    Host,
    Port,
    Password,
}

/// A variable that feeds `CACHES['default']`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheFeed {
    pub var: String,
    pub part: CachePart,
}

/// Whether a variable's name says it may configure a cache.
pub fn is_cache_variable(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["REDIS", "CACHE", "VALKEY"].iter().any(|w| n.contains(w))
}

/// What part of a location a cache variable's name says it gives.
fn cache_part(var: &str) -> Option<CachePart> {
    let n = var.to_ascii_uppercase();
    if n.ends_with("URL") || n.ends_with("LOCATION") || n.ends_with("URI") {
        Some(CachePart::Url)
    } else if n.ends_with("HOST") {
        Some(CachePart::Host)
    } else if n.ends_with("PORT") {
        Some(CachePart::Port)
    } else if n.ends_with("PASSWORD") || n.ends_with("PASS") {
        Some(CachePart::Password)
    } else {
        None
    }
}

/// Which of `candidates` feed `CACHES['default']`, each given a sentinel shaped like what its
/// name says it holds (a URL for `*_URL`, a number for `*_PORT`), alone, the others keeping
/// their values. A sentinel that lands in the location or the password names a feed.
pub fn trace_cache(candidates: &[String], load: &mut Load) -> Result<Vec<CacheFeed>> {
    let mut feeds = Vec::new();
    for (i, var) in candidates.iter().enumerate().take(20) {
        let Some(part) = cache_part(var) else {
            continue;
        };
        let word = format!("pyenvxprobe{i}x");
        let sentinel = match part {
            CachePart::Url => format!("redis://{word}:6379/0"),
            CachePart::Port => (47_100 + i).to_string(),
            CachePart::Host | CachePart::Password => word.clone(),
        };
        let answer = load(&[(var.clone(), sentinel.clone())])?;
        let Some(cache) = answer.cache.filter(|_| answer.error.is_none()) else {
            continue;
        };
        let found = if part == CachePart::Port {
            cache.location.contains(&format!(":{sentinel}"))
        } else {
            cache.location.contains(&word) || cache.password.contains(&word)
        };
        if found {
            feeds.push(CacheFeed {
                var: var.clone(),
                part,
            });
        }
    }
    Ok(feeds)
}

/// A `redis://[user][:password]@host:port/db` location's host, port and password.
pub fn redis_location(location: &str) -> Option<(String, u16, String)> {
    let rest = location
        .strip_prefix("rediss://")
        .or_else(|| location.strip_prefix("redis://"))?;
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let (auth, hostport) = match authority.rsplit_once('@') {
        Some((a, h)) => (a, h),
        None => ("", authority),
    };
    let password = auth.split_once(':').map_or("", |(_, p)| p);
    let password = percent_encoding::percent_decode_str(password)
        .decode_utf8_lossy()
        .into_owned();
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (hostport, 6379),
    };
    Some((host.to_string(), port, password))
}

/// What Django said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Answer {
    pub settings_module: Option<String>,
    pub settings_file: Option<String>,
    pub database: Option<Database>,
    pub cache: Option<Cache>,
    /// Every environment variable the settings read, in order.
    pub reads: Vec<String>,
    /// The settings did not load: the exception's last line.
    pub error: Option<String>,
}

/// Load the settings of the project whose `manage.py` is in `manage_dir` with `python`, the
/// environment changes `env` (as `pyenvx run` applies them) and `set` on top.
pub fn ask(
    manage_dir: &Path,
    python: &Path,
    env: &[(OsString, Option<OsString>)],
    set: &[(String, String)],
) -> Result<Answer> {
    let sentinels: serde_json::Map<String, serde_json::Value> = set
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let mut cmd = Command::new(python);
    cmd.arg("-c")
        .arg(SCRIPT)
        .arg(serde_json::Value::Object(sentinels).to_string())
        .current_dir(manage_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    crate::children::die_with_pyenvx(&mut cmd);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", python.display()))?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let started = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!(
                "the project's settings did not load within {} s",
                TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = reader.join().unwrap_or_default();
    let line = out
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(MARKER))
        .context("the settings probe printed no answer (the settings ended the process)")?;
    serde_json::from_str(line).context("the settings probe's answer is not JSON")
}

/// Loads the settings with the given variables set (a sentinel per variable).
pub type Load<'a> = dyn FnMut(&[(String, String)]) -> Result<Answer> + 'a;

/// A variable that feeds one key of `DATABASES['default']`: the key is `prefix + VAR + suffix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    pub var: String,
    pub key: &'static str,
    pub prefix: String,
    pub suffix: String,
}

impl Feed {
    /// The variable's value that makes the key `want`, when the settings' prefix and suffix
    /// allow it.
    pub fn value_for(&self, want: &str) -> Option<String> {
        want.strip_prefix(self.prefix.as_str())?
            .strip_suffix(self.suffix.as_str())
            .map(str::to_string)
    }
}

/// Whether a variable's name says it may configure a database or a cache.
pub fn is_db_variable(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    let words = [
        "DB", "SQL", "POSTGRES", "DATABASE", "MYSQL", "MARIADB", "PG", "REDIS", "CACHE",
    ];
    n.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|part| words.iter().any(|w| part == *w || part.starts_with(w)))
        || words.iter().any(|w| n.starts_with(w))
}

/// Distinct sentinels: numbers for ports (settings often `int()` them), words otherwise.
fn sentinel(var: &str, i: usize) -> String {
    if var.to_ascii_uppercase().ends_with("PORT") {
        (47_100 + i).to_string()
    } else {
        format!("pyenvxprobe{i}x")
    }
}

/// Which of `candidates` feed which keys of `DATABASES['default']`. `load` runs the probe with
/// the given variables set. Each variable is tried alone, the others keeping their values: a
/// switch (`DB=postgres`) given a sentinel would take the other branch and hide the variables
/// behind it. A variable the settings refuse a sentinel for (parsed as a boolean) is left
/// out. A sentinel that makes the settings read new database variables (a switch turned on
/// by any value) is kept set while those are tried.
pub fn trace(candidates: &[String], load: &mut Load) -> Result<Vec<Feed>> {
    let mut queue: Vec<String> = candidates.to_vec();
    let mut seen: Vec<String> = candidates.to_vec();
    let mut enablers: Vec<(String, String)> = Vec::new();
    let mut feeds = Vec::new();
    let mut i = 0;
    // Bounded: settings read a handful of database variables.
    while i < queue.len() && i < 40 {
        let var = queue[i].clone();
        let mut set = enablers.clone();
        let s = sentinel(&var, i);
        set.push((var.clone(), s.clone()));
        i += 1;
        let answer = load(&set)?;
        if answer.error.is_some() {
            continue;
        }
        if let Some(db) = &answer.database {
            for key in KEYS {
                let value = db.get(key);
                if let Some(at) = value.find(s.as_str()) {
                    feeds.push(Feed {
                        var: var.clone(),
                        key,
                        prefix: value[..at].to_string(),
                        suffix: value[at + s.len()..].to_string(),
                    });
                }
            }
        }
        let more: Vec<String> = answer
            .reads
            .iter()
            .filter(|r| is_db_variable(r) && !seen.contains(r))
            .cloned()
            .collect();
        if !more.is_empty() {
            enablers.push((var, s));
            seen.extend(more.iter().cloned());
            queue.extend(more);
        }
    }
    Ok(feeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_locations_and_the_variables_that_feed_them() {
        assert_eq!(
            redis_location("redis://:p%40w@127.0.0.1:6380/1"),
            Some(("127.0.0.1".into(), 6380, "p@w".into()))
        );
        assert_eq!(
            redis_location("redis://redis/0"),
            Some(("redis".into(), 6379, String::new()))
        );
        assert_eq!(redis_location("127.0.0.1:11211"), None);
        // Settings: LOCATION = f"redis://{REDIS_HOST}:{REDIS_PORT}/1", or CACHE_URL whole.
        let feeds = trace_cache(
            &[
                "REDIS_HOST".into(),
                "REDIS_PORT".into(),
                "CACHE_URL".into(),
                "REDIS_DB".into(),
            ],
            &mut |set| {
                let get = |k: &str| set.iter().find(|(v, _)| v == k).map(|(_, s)| s.clone());
                let location = get("CACHE_URL").unwrap_or_else(|| {
                    format!(
                        "redis://{}:{}/1",
                        get("REDIS_HOST").unwrap_or("redis".into()),
                        get("REDIS_PORT").unwrap_or("6379".into())
                    )
                });
                Ok(Answer {
                    cache: Some(Cache {
                        backend: "django_redis.cache.RedisCache".into(),
                        location,
                        password: String::new(),
                    }),
                    ..Answer::default()
                })
            },
        )
        .unwrap();
        let parts: Vec<CachePart> = feeds.iter().map(|f| f.part).collect();
        assert_eq!(parts, [CachePart::Host, CachePart::Port, CachePart::Url]);
    }

    #[test]
    fn database_variable_names() {
        for yes in [
            "DB_HOST",
            "DB",
            "SQL_ENGINE",
            "POSTGRES_PASSWORD",
            "DATABASE_NAME",
            "MYSQL_USER",
            "REDIS_URL",
            "DJANGO_DB_PORT",
            "PGPORT",
        ] {
            assert!(is_db_variable(yes), "{yes}");
        }
        for no in [
            "DJANGO_SECRET_KEY",
            "DEBUG",
            "ALLOWED_HOSTS",
            "DJANGO_SETTINGS_MODULE",
        ] {
            assert!(!is_db_variable(no), "{no}");
        }
    }

    #[test]
    fn a_feed_gives_the_value_around_the_settings_text() {
        let feed = Feed {
            var: "SQL_ENGINE".into(),
            key: "ENGINE",
            prefix: "django.db.backends.".into(),
            suffix: String::new(),
        };
        assert_eq!(
            feed.value_for("django.db.backends.postgresql").as_deref(),
            Some("postgresql")
        );
        assert_eq!(feed.value_for("other.backend"), None);
    }

    /// Stand-in settings: `DB=postgres` switches to `DB_*`; `DB_SSL` is parsed as a boolean.
    fn settings(set: &[(String, String)]) -> Answer {
        let get = |k: &str| set.iter().find(|(v, _)| v == k).map(|(_, s)| s.clone());
        let mut reads = vec!["DB".to_string(), "DB_SSL".to_string()];
        if get("DB_SSL").is_some_and(|v| v != "1") {
            return Answer {
                error: Some("ValueError: not a boolean".into()),
                reads,
                ..Answer::default()
            };
        }
        let mut db = Database {
            engine: "django.db.backends.sqlite3".into(),
            name: "db.sqlite3".into(),
            ..Database::default()
        };
        if get("DB").is_some() {
            reads.extend(["DB_HOST", "DB_PORT"].map(String::from));
            db.engine = "django.db.backends.postgresql".into();
            db.host = get("DB_HOST").unwrap_or_default();
            db.port = get("DB_PORT").unwrap_or_default();
        }
        Answer {
            database: Some(db),
            reads,
            ..Answer::default()
        }
    }

    #[test]
    fn sentinels_find_the_variables_behind_a_switch() {
        let mut calls = 0;
        let feeds = trace(&["DB".into(), "DB_SSL".into()], &mut |set| {
            calls += 1;
            Ok(settings(set))
        })
        .unwrap();
        let found: Vec<(&str, &str)> = feeds.iter().map(|f| (f.var.as_str(), f.key)).collect();
        assert_eq!(found, [("DB_HOST", "HOST"), ("DB_PORT", "PORT")]);
        assert!(calls <= 4, "{calls}");
    }
}
