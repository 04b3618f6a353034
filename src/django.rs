//! Django facts pyenvx needs: what a pin like `5.2` means, which series are LTS, and the edits
//! `pyenvx init` makes to a fresh project's settings.

use std::fmt;
use std::str::FromStr;

use anyhow::Result;
use pep440_rs::{Version, VersionSpecifiers};

use crate::user_error;

pub mod migrations;
pub mod probe;
pub mod settings_scan;
pub mod support;

/// The directory of a repository's `manage.py`: the root, else `app/` or `src/`, else the one
/// direct subdirectory that has one (a repository whose Django project lives beside its
/// compose file, docs and frontend).
pub fn manage_dir(root: &std::path::Path) -> Option<std::path::PathBuf> {
    if root.join("manage.py").is_file() {
        return Some(root.to_path_buf());
    }
    for sub in ["app", "src", "backend", "django"] {
        if root.join(sub).join("manage.py").is_file() {
            return Some(root.join(sub));
        }
    }
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir(root)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("manage.py").is_file())
        .collect();
    found.sort();
    (found.len() == 1).then(|| found.remove(0))
}

/// A Django pin from `pyenvx.toml` or the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DjangoSpec {
    raw: String,
    specifiers: VersionSpecifiers,
}

impl DjangoSpec {
    /// `5.2` (a series: its newest patch, `~=5.2.0`), `5` (`~=5.0`), `5.2.19` (exactly), or PEP 440
    /// specifiers such as `>=4.2,<5`.
    pub fn parse(input: &str) -> Result<Self> {
        let raw = input.trim().to_string();
        let invalid = |detail: String| {
            user_error!(
                hint = "use a series like `5.2`, an exact version like `5.2.19`, or specifiers like `>=4.2,<5`",
                "invalid Django pin `{raw}`{detail}"
            )
        };
        let spec = if raw.starts_with(['<', '>', '=', '!', '~']) {
            raw.clone()
        } else {
            let v = Version::from_str(&raw).map_err(|e| invalid(format!(": {e}")))?;
            match v.release().len() {
                1 => format!("~={}.0", v.release()[0]),
                2 => format!("~={}.{}.0", v.release()[0], v.release()[1]),
                _ => format!("=={raw}"),
            }
        };
        let specifiers =
            VersionSpecifiers::from_str(&spec).map_err(|e| invalid(format!(": {e}")))?;
        Ok(Self { raw, specifiers })
    }

    /// The PEP 508 requirement handed to the installer.
    pub fn requirement(&self) -> String {
        format!("django{}", self.specifiers)
    }

    /// The `major.minor` this pin names, when it names one series (`5.2`, `5.2.19`, `~=5.2.0`).
    pub fn series(&self) -> Option<(u64, u64)> {
        let v = Version::from_str(self.raw.trim_start_matches(['<', '>', '=', '!', '~'])).ok()?;
        let r = v.release();
        (r.len() >= 2).then(|| (r[0], r[1]))
    }

    /// The release this pin names exactly (`5.2.19`, `==5.2.19`), if it names one.
    pub fn exact(&self) -> Option<Version> {
        let raw = self.raw.trim();
        let bare = raw.strip_prefix("==").unwrap_or(raw).trim();
        if bare.starts_with(['<', '>', '=', '!', '~']) || bare.contains([',', '*']) {
            return None;
        }
        let v = Version::from_str(bare).ok()?;
        (v.release().len() >= 3).then_some(v)
    }

    /// Whether `version` satisfies this pin.
    pub fn contains(&self, version: &Version) -> bool {
        self.specifiers.contains(version)
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether every release this pin allows predates Django 4.2, the first whose PostgreSQL
    /// backend imports psycopg 3; older ones import psycopg2 only. Decided from the upper
    /// bounds the pin states (`4.0`, `3.2.25`, `<4.1`, `==4.0.*`, `~=3.2`), so a pin with none
    /// (`>=3.2`) counts as allowing 4.2.
    pub fn before_psycopg3(&self) -> bool {
        use pep440_rs::Operator;
        let first = (4u64, 2u64);
        let minor_of = |v: &Version| {
            let r = v.release();
            (r[0], r.get(1).copied().unwrap_or(0))
        };
        self.specifiers.iter().any(|s| {
            let v = s.version();
            match *s.operator() {
                // `<4.2` and `<4.2.0` exclude 4.2 too.
                Operator::LessThan => v <= &Version::new([first.0, first.1]),
                Operator::LessThanEqual
                | Operator::Equal
                | Operator::ExactEqual
                | Operator::EqualStar => minor_of(v) < first,
                // `~=3.2.0` stops before 3.3, `~=3.2` before 4.0.
                Operator::TildeEqual if v.release().len() >= 3 => minor_of(v) < first,
                Operator::TildeEqual => v.release()[0] < first.0,
                _ => false,
            }
        })
    }

    /// The PostgreSQL driver `--db postgres` adds for this pin: `psycopg[binary]` (psycopg 3),
    /// or `psycopg2-binary` when every release the pin allows predates Django 4.2.
    pub fn postgres_driver(&self) -> &'static str {
        if self.before_psycopg3() {
            "psycopg2-binary"
        } else {
            "psycopg[binary]"
        }
    }
}

impl fmt::Display for DjangoSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Django's long-term-support releases are the `.2` of each major (4.2, 5.2, 6.2, …).
pub fn is_lts(major: u64, minor: u64) -> bool {
    minor == 2 && major >= 2
}

/// The newest LTS series not newer than `newest` (the newest release the interpreter can run),
/// then older LTS series, newest first: the candidates for a default pin.
pub fn lts_candidates(newest: &Version) -> Vec<(u64, u64)> {
    let r = newest.release();
    let (major, minor) = (r[0], r.get(1).copied().unwrap_or(0));
    let first = if minor >= 2 {
        major
    } else {
        major.saturating_sub(1)
    };
    (2..=first)
        .rev()
        .map(|m| (m, 2))
        .filter(|&(m, n)| is_lts(m, n))
        .collect()
}

/// Older series than `(major, minor)`, newest first, to suggest when a pin cannot work:
/// every Django major has `.0`, `.1` and `.2`.
pub fn older_series(major: u64, minor: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let (mut ma, mut mi) = (major, minor);
    while out.len() < 8 && ma >= 2 {
        if mi == 0 {
            ma -= 1;
            mi = 2;
        } else {
            mi -= 1;
        }
        out.push((ma, mi));
    }
    out
}

/// Add `rest_framework` to INSTALLED_APPS of a fresh `settings.py`.
pub fn add_installed_app(settings: &str, app: &str) -> Option<String> {
    if settings.contains(&format!("\"{app}\"")) || settings.contains(&format!("'{app}'")) {
        return Some(settings.to_string());
    }
    let start = settings.find("INSTALLED_APPS")?;
    let close = start + settings[start..].find(']')?;
    let (head, tail) = settings.split_at(close);
    let quote = if head.contains("\"django.contrib") {
        '"'
    } else {
        '\''
    };
    let head = head.trim_end_matches([' ', '\n']);
    let comma = if head.ends_with(',') || head.ends_with('[') {
        ""
    } else {
        ","
    };
    Some(format!("{head}{comma}\n    {quote}{app}{quote},\n{tail}"))
}

/// Make `DATABASES` read `DATABASE_URL` (via dj-database-url), keeping SQLite when it is unset.
pub fn wire_database_url(settings: &str) -> Option<String> {
    if settings.contains("dj_database_url") {
        return Some(settings.to_string());
    }
    let start = settings.find("DATABASES = {")?;
    // The fresh settings' DATABASES block ends at the first line that is exactly `}`.
    let end = start + settings[start..].find("\n}\n")? + 3;
    let block = &settings[start..end];
    let sqlite = block
        .trim_start_matches("DATABASES = {")
        .trim_end()
        .trim_end_matches('}');
    let default = sqlite
        .trim()
        .trim_start_matches("'default':")
        .trim_start_matches("\"default\":")
        .trim()
        .trim_end_matches(',')
        .to_string();
    let replacement = format!(
        "import dj_database_url  # noqa: E402  (added by pyenvx)\n\n\
         # `pyenvx db up` and `pyenvx run` set DATABASE_URL; without it, SQLite as before.\n\
         DATABASES = {{\n    \"default\": dj_database_url.config(\n        default=None,\n        conn_max_age=600,\n    )\n    or {default},\n}}\n"
    );
    Some(format!(
        "{}{}{}",
        &settings[..start],
        replacement,
        &settings[end..]
    ))
}

/// Make `CACHES` use Redis when `REDIS_URL` is set (Django 4.0+ ships the backend); without it,
/// Django's default local-memory cache as before.
pub fn wire_redis_url(settings: &str) -> String {
    if settings.contains("REDIS_URL") {
        return settings.to_string();
    }
    let sep = if settings.ends_with('\n') { "" } else { "\n" };
    format!(
        "{settings}{sep}\n\
         # `pyenvx redis up` and `pyenvx run` set REDIS_URL; without it, the local-memory cache.\n\
         import os  # noqa: E402  (added by pyenvx)\n\n\
         if os.environ.get(\"REDIS_URL\"):\n\
         \x20   CACHES = {{\n\
         \x20       \"default\": {{\n\
         \x20           \"BACKEND\": \"django.core.cache.backends.redis.RedisCache\",\n\
         \x20           \"LOCATION\": os.environ[\"REDIS_URL\"],\n\
         \x20       }}\n\
         \x20   }}\n"
    )
}

/// A Python identifier for `startproject`, from a project or directory name.
pub fn module_name(name: &str) -> String {
    let mut out = crate::names::ascii_identifier(name);
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Django 1.4 and 1.5's `startproject` leaves `DATABASES` without a backend
/// (`'ENGINE': 'django.db.backends.'`), so not even `manage.py validate` runs: SQLite in
/// `db.sqlite3` beside `manage.py`, as 1.6 and later start. Other settings come back as they are.
pub fn default_sqlite(settings: &str) -> String {
    const BLANK_ENGINE: &str = "'ENGINE': 'django.db.backends.',";
    const BLANK_NAME: &str = "'NAME': '',";
    if !settings.contains(BLANK_ENGINE) {
        return settings.to_string();
    }
    settings
        .replacen(BLANK_ENGINE, "'ENGINE': 'django.db.backends.sqlite3',", 1)
        .replacen(BLANK_NAME, "'NAME': 'db.sqlite3',", 1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn old_templates_get_sqlite_and_new_ones_stay() {
        let old = "DATABASES = {\n    'default': {\n        'ENGINE': 'django.db.backends.', # Add\n        'NAME': '',   # Or path\n        'USER': '',\n";
        let fixed = default_sqlite(old);
        assert!(
            fixed.contains("'ENGINE': 'django.db.backends.sqlite3', # Add"),
            "{fixed}"
        );
        assert!(
            fixed.contains("'NAME': 'db.sqlite3',   # Or path"),
            "{fixed}"
        );
        assert!(fixed.contains("'USER': '',"), "{fixed}");
        let new = "'ENGINE': 'django.db.backends.sqlite3',\n'NAME': BASE_DIR / 'db.sqlite3',";
        assert_eq!(default_sqlite(new), new);
    }

    use super::*;

    #[test]
    fn django_before_4_2_gets_psycopg2() {
        for pin in [
            "4.0",
            "4.1.13",
            "3.2",
            "2.2.28",
            "==4.0.4",
            "<4.2",
            "<=4.1.13",
            ">=4.0,<4.1",
            "==4.1.*",
            "~=4.1.0",
            "~=3.2",
            "1.11",
        ] {
            let spec = DjangoSpec::parse(pin).unwrap();
            assert!(spec.before_psycopg3(), "{pin}");
            assert_eq!(spec.postgres_driver(), "psycopg2-binary", "{pin}");
        }
        for pin in [
            "4.2", "4.2.30", "5.2", "5", "6.0.10", ">=4.0", ">=3.2,<5", "<4.3", "~=4.2.0", "~=4.0",
            "==4.2.*", "!=4.0.1",
        ] {
            let spec = DjangoSpec::parse(pin).unwrap();
            assert!(!spec.before_psycopg3(), "{pin}");
            assert_eq!(spec.postgres_driver(), "psycopg[binary]", "{pin}");
        }
    }

    #[test]
    fn pins_mean_what_django_developers_expect() {
        assert_eq!(
            DjangoSpec::parse("5.2").unwrap().requirement(),
            "django~=5.2.0"
        );
        assert_eq!(DjangoSpec::parse("5").unwrap().requirement(), "django~=5.0");
        assert_eq!(
            DjangoSpec::parse("5.2.19").unwrap().requirement(),
            "django==5.2.19"
        );
        assert_eq!(
            DjangoSpec::parse(">=4.2,<5").unwrap().requirement(),
            "django>=4.2, <5"
        );
        assert_eq!(DjangoSpec::parse("5.2").unwrap().series(), Some((5, 2)));
        assert!(DjangoSpec::parse("five").is_err());
    }

    #[test]
    fn lts_and_older_series() {
        let v = |s: &str| Version::from_str(s).unwrap();
        assert_eq!(lts_candidates(&v("6.1.3"))[..2], [(5, 2), (4, 2)]);
        assert_eq!(lts_candidates(&v("5.2.19"))[0], (5, 2));
        assert_eq!(lts_candidates(&v("6.2.0"))[0], (6, 2));
        assert_eq!(older_series(6, 1)[..4], [(6, 0), (5, 2), (5, 1), (5, 0)]);
    }

    #[test]
    fn settings_edits() {
        let s = "INSTALLED_APPS = [\n    \"django.contrib.admin\",\n    \"django.contrib.staticfiles\",\n]\n\nDATABASES = {\n    \"default\": {\n        \"ENGINE\": \"django.db.backends.sqlite3\",\n        \"NAME\": BASE_DIR / \"db.sqlite3\",\n    }\n}\n\nX = 1\n";
        let with_app = add_installed_app(s, "rest_framework").unwrap();
        assert!(
            with_app.contains("\"django.contrib.staticfiles\",\n    \"rest_framework\",\n]"),
            "{with_app}"
        );
        let wired = wire_database_url(s).unwrap();
        assert!(
            wired.contains("dj_database_url.config(")
                && wired.contains("\"ENGINE\": \"django.db.backends.sqlite3\""),
            "{wired}"
        );
        assert!(wired.ends_with("\nX = 1\n"), "{wired}");
        let cached = wire_redis_url(s);
        assert!(
            cached.starts_with(s)
                && cached.contains("\"LOCATION\": os.environ[\"REDIS_URL\"]")
                && cached.ends_with("    }\n"),
            "{cached}"
        );
        assert_eq!(wire_redis_url(&cached), cached);
        assert_eq!(module_name("My-Library 2"), "my_library_2");
        assert_eq!(module_name("2fa"), "_2fa");
    }
}
