//! How an existing project's settings configure `DATABASES`, and the one edit that makes a
//! literal dict read `DATABASE_URL`.
//!
//! Why a text scan and not Python: the settings of a cloned project import things the sandbox
//! may not have yet, and reading them must not run them. The scan only has to tell three
//! shapes apart (a URL helper, a literal dict, none), which the text does reliably.
//!
//! Why the edit adds lines after the dict instead of rewriting it: the literal dict stays the
//! project's fallback (its `"HOST": "db"` is still right inside its own containers), and one
//! assignment after it works whatever the dict holds, so the edit never depends on parsing it.

use std::path::{Path, PathBuf};

/// How the settings fill `DATABASES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseStyle {
    /// From `DATABASE_URL`, through the named helper (`dj-database-url`, `environs`,
    /// `django-environ`).
    Url { via: &'static str },
    /// A dict written in the settings; `host` is its `"HOST"` when it names one.
    Literal {
        engine: Option<String>,
        host: Option<String>,
        /// 1-based line of the dict's closing brace: where the wiring goes.
        end_line: usize,
    },
    /// No `DATABASES` in the file.
    Absent,
}

/// The settings file and what it does with `DATABASES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsScan {
    /// The settings file, absolute.
    pub path: PathBuf,
    pub style: DatabaseStyle,
}

/// The lines `--wire-settings` adds after a literal `DATABASES` dict.
pub const WIRING: &str = "\
# DATABASE_URL when set (`pyenvx db up`, `pyenvx run`); the dict above otherwise (added by pyenvx).
import dj_database_url  # noqa: E402
DATABASES[\"default\"] = dj_database_url.config(default=None) or DATABASES[\"default\"]
";

/// The settings module `manage.py` names (`DJANGO_SETTINGS_MODULE` default), as a file under
/// `root`: `mysite/settings.py`, or `mysite/settings/__init__.py` for a package.
pub fn settings_file(root: &Path) -> Option<PathBuf> {
    let module = settings_module(root)?.replace('.', "/");
    // `manage.py` in `app/` or `src/`: its settings module is relative to that directory.
    let root = &super::manage_dir(root)?;
    let file = root.join(format!("{module}.py"));
    if file.is_file() {
        return Some(file);
    }
    let package = root.join(&module).join("__init__.py");
    package.is_file().then_some(package)
}

/// The settings module `manage.py` names as its `DJANGO_SETTINGS_MODULE` default
/// (`mysite.settings`, `config.settings.local`).
pub fn settings_module(root: &Path) -> Option<String> {
    let root = &super::manage_dir(root)?;
    let manage = std::fs::read_to_string(root.join("manage.py")).ok()?;
    let re = regex::Regex::new(r#"DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([A-Za-z_][\w.]*)['"]"#)
        .expect("valid regex");
    Some(re.captures(&manage)?[1].to_string())
}

/// Scan the project's settings; `None` when there is no `manage.py` naming a settings file.
///
/// A settings package (`settings/base.py`, `settings/dev.py`) is scanned file by file: the
/// first that mentions `DATABASES` decides.
pub fn scan(root: &Path) -> Option<SettingsScan> {
    let file = settings_file(root)?;
    for path in &candidates(&file) {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let style = style_of(&text);
        if style != DatabaseStyle::Absent {
            return Some(SettingsScan {
                path: path.clone(),
                style,
            });
        }
    }
    Some(SettingsScan {
        path: file,
        style: DatabaseStyle::Absent,
    })
}

/// Where the settings use Redis, and what says so: the first settings file (a package's files
/// included) whose cache, channel layer or Celery broker is Redis, with the variable it reads
/// (`REDIS_URL`, `CELERY_BROKER_URL`) or the backend it names (`django_redis`).
pub fn redis_use(root: &Path) -> Option<(PathBuf, &'static str)> {
    let file = settings_file(root)?;
    candidates(&file).into_iter().find_map(|path| {
        let text = without_comments(&std::fs::read_to_string(&path).ok()?);
        let redis = text.to_ascii_lowercase().contains("redis");
        let what = [
            ("REDIS_URL", true),
            // A broker read from a variable is Redis only when the settings say Redis somewhere.
            ("CELERY_BROKER_URL", redis),
            ("django_redis", true),
            ("RedisCache", true),
            ("channels_redis", true),
        ]
        .into_iter()
        .find(|(needle, evident)| *evident && text.contains(needle))?
        .0;
        Some((path, what))
    })
}

/// The settings file first, then, for a module of a settings package (`config.settings.local`,
/// or the package's `__init__.py`), its siblings (`base.py`), which it starts from.
fn candidates(file: &Path) -> Vec<PathBuf> {
    let mut candidates = vec![file.to_path_buf()];
    // A module of a settings package (`config.settings.local`) starts from its siblings
    // (`base.py`) as much as a package's `__init__.py` does.
    let in_package = file.ends_with("__init__.py")
        || file
            .parent()
            .is_some_and(|p| p.ends_with("settings") && p.join("__init__.py").is_file());
    if let Some(dir) = file.parent().filter(|_| in_package) {
        let mut others: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "py") && p != file)
            .collect();
        others.sort();
        candidates.extend(others);
    }
    candidates
}

/// What `text` (one settings file) does with `DATABASES`.
pub fn style_of(text: &str) -> DatabaseStyle {
    let code = without_comments(text);
    if !code.contains("DATABASES") {
        return DatabaseStyle::Absent;
    }
    // The URL helpers, by what their use looks like in settings.
    let helpers: [(&str, &'static str); 4] = [
        (r"dj_database_url\.(config|parse)\s*\(", "dj-database-url"),
        (r"\benv\.dj_db_url\s*\(", "environs"),
        (r"\benv\.db(_url)?\s*\(", "django-environ"),
        (r"\bdb_url\s*\(", "environs"),
    ];
    for (pattern, via) in helpers {
        if regex::Regex::new(pattern)
            .expect("valid regex")
            .is_match(&code)
        {
            return DatabaseStyle::Url { via };
        }
    }
    let Some((start, end)) = literal_dict(&code) else {
        return DatabaseStyle::Absent;
    };
    let dict = &code[start..end];
    let value = |key: &str| {
        let re = regex::Regex::new(&format!(r#"['"]{key}['"]\s*:\s*['"]([^'"]*)['"]"#))
            .expect("valid regex");
        re.captures(dict).map(|c| c[1].to_string())
    };
    DatabaseStyle::Literal {
        engine: value("ENGINE"),
        host: value("HOST").filter(|h| !h.is_empty()),
        end_line: code[..end].matches('\n').count() + 1,
    }
}

/// What a literal `DATABASES` dict writes in for a server database: the engine and whichever
/// of the role, password, database and port are plain literals (a value read from a variable is
/// wired through that variable instead, `ops::django_check`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HardCoded {
    /// The settings file, relative to the project.
    pub file: String,
    pub engine: String,
    pub name: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: Option<String>,
    pub port: Option<String>,
}

impl HardCoded {
    pub fn is_postgres(&self) -> bool {
        self.engine.contains("postg")
    }

    pub fn is_mysql(&self) -> bool {
        self.engine.contains("mysql")
    }

    /// Whether the dict names a host that is not this machine (a compose service such as
    /// `db`): then the role alone does not bring Django here.
    pub fn remote_host(&self) -> bool {
        self.host
            .as_deref()
            .is_some_and(|h| !["localhost", "127.0.0.1", "::1"].contains(&h))
    }
}

/// The server database a literal `DATABASES` dict in the project's settings writes in, when its
/// ENGINE is PostgreSQL's or MySQL's (written in, not read from a variable).
pub fn hard_coded(root: &Path) -> Option<HardCoded> {
    let scan = scan(root)?;
    if !matches!(scan.style, DatabaseStyle::Literal { .. }) {
        return None;
    }
    let code = without_comments(&std::fs::read_to_string(&scan.path).ok()?);
    let (start, end) = literal_dict(&code)?;
    let dict = &code[start..end];
    // The first value of each key: `default` comes first in every settings file seen.
    let value = |key: &str| {
        let re = regex::Regex::new(&format!(
            r#"['"]{key}['"]\s*:\s*(?:['"]([^'"\n]*)['"]|(\d+))\s*[,}}\n]"#
        ))
        .expect("valid regex");
        re.captures(dict)
            .and_then(|c| c.get(1).or(c.get(2)).map(|m| m.as_str().to_string()))
            .filter(|v| !v.is_empty())
    };
    let engine = value("ENGINE")?;
    let out = HardCoded {
        file: scan
            .path
            .strip_prefix(root)
            .unwrap_or(&scan.path)
            .display()
            .to_string(),
        engine,
        name: value("NAME"),
        user: value("USER"),
        password: value("PASSWORD"),
        host: value("HOST"),
        port: value("PORT"),
    };
    (out.is_postgres() || out.is_mysql()).then_some(out)
}

/// Whether the literal `DATABASES` dict in `text` takes values from the environment.
fn reads_variables(text: &str) -> bool {
    let code = without_comments(text);
    let Some((start, end)) = literal_dict(&code) else {
        return false;
    };
    let dict = &code[start..end];
    ["environ", "getenv", "env(", "env.", "config("]
        .iter()
        .any(|w| dict.contains(w))
}

/// The byte range of `DATABASES = { … }` (braces included), braces inside strings ignored.
fn literal_dict(code: &str) -> Option<(usize, usize)> {
    // `DATABASES: dict[str, Any] = {` too: annotated settings are common in typed projects.
    let re = regex::Regex::new(r"(?m)^DATABASES\s*(?::[^=\n]+)?=\s*\{").expect("valid regex");
    let m = re.find(code)?;
    let open = m.end() - 1;
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in code[open..].char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some((m.start(), open + i + 1));
                }
            }
            _ => {}
        }
    }
    None
}

/// `text` with `#` comments blanked (same length and lines, so offsets and line numbers hold).
/// A `#` inside a string is kept.
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let mut quote: Option<char> = None;
        let mut cut = None;
        for (i, c) in line.char_indices() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '#') => {
                    cut = Some(i);
                    break;
                }
                _ => {}
            }
        }
        match cut {
            Some(i) => {
                out.push_str(&line[..i]);
                out.extend(
                    line[i..]
                        .chars()
                        .map(|c| if c == '\n' { '\n' } else { ' ' }),
                );
            }
            None => out.push_str(line),
        }
    }
    out
}

/// The settings with [`WIRING`] after the literal dict ending on `end_line`; `None` when the
/// settings already read `DATABASE_URL` or have no literal dict.
pub fn wire(text: &str) -> Option<String> {
    let DatabaseStyle::Literal { end_line, .. } = style_of(text) else {
        return None;
    };
    let mut out = String::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        out.push_str(line);
        if i + 1 == end_line {
            if !line.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(WIRING);
        }
    }
    Some(out)
}

/// What to tell a user whose settings hard-code `DATABASES`: a headline, and the one change
/// (the lines to add and where) that makes them read `DATABASE_URL`. `None` when the settings
/// read it already, or have no literal dict.
pub fn literal_advice(root: &Path) -> Option<(String, String)> {
    let scan = scan(root)?;
    // A dict that reads the project's own variables (`os.environ.get("SQL_HOST")`) is wired
    // through them (`ops::django_check`): editing the settings is not the advice there.
    if reads_variables(&std::fs::read_to_string(&scan.path).ok()?) {
        return None;
    }
    // A server database written in with this machine as its host is met where it is: pyenvx's
    // server gets its role and database, and libpq's PGPORT its port (`hard_coded`).
    if hard_coded(root).is_some_and(|h| !h.remote_host()) {
        return None;
    }
    let DatabaseStyle::Literal {
        engine,
        host,
        end_line,
    } = &scan.style
    else {
        return None;
    };
    let rel = scan
        .path
        .strip_prefix(root)
        .unwrap_or(&scan.path)
        .display()
        .to_string();
    let what = match (host, engine) {
        (Some(h), _) => format!(" (HOST \"{h}\")"),
        (None, Some(e)) => format!(" ({e})"),
        (None, None) => String::new(),
    };
    let headline = format!(
        "{rel} sets DATABASES to a literal dict{what}, so the project does not use pyenvx's database (DATABASE_URL)"
    );
    let mut change = format!("the one change, after line {end_line} of {rel}:\n");
    for line in WIRING.lines() {
        change.push_str(&format!("  + {line}\n"));
    }
    Some((headline, change))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LITERAL: &str = "import os\n\nDATABASES = {\n    \"default\": {\n        \"ENGINE\": \"django.db.backends.postgresql\",\n        \"NAME\": \"postgres\",  # {not a brace}\n        \"HOST\": \"db\",\n        \"OPTIONS\": {\"options\": \"-c x='}'\"},\n    }\n}\n\nUSE_TZ = True\n";

    #[test]
    fn tells_the_shapes_apart() {
        assert_eq!(
            style_of(LITERAL),
            DatabaseStyle::Literal {
                engine: Some("django.db.backends.postgresql".into()),
                host: Some("db".into()),
                end_line: 10,
            }
        );
        for (text, via) in [
            (
                "import dj_database_url\nDATABASES = {'default': dj_database_url.config(conn_max_age=600)}\n",
                "dj-database-url",
            ),
            (
                "from environs import Env\nenv = Env()\nDATABASES = {\"default\": env.dj_db_url(\"DATABASE_URL\")}\n",
                "environs",
            ),
            (
                "import environ\nenv = environ.Env()\nDATABASES = {\"default\": env.db()}\n",
                "django-environ",
            ),
        ] {
            assert_eq!(style_of(text), DatabaseStyle::Url { via }, "{text}");
        }
        assert_eq!(style_of("DEBUG = True\n"), DatabaseStyle::Absent);
        // A commented-out helper is not a helper.
        let commented = format!("# DATABASES = {{'default': dj_database_url.config()}}\n{LITERAL}");
        assert!(matches!(
            style_of(&commented),
            DatabaseStyle::Literal { end_line: 11, .. }
        ));
    }

    #[test]
    fn wiring_goes_after_the_dict_once() {
        let wired = wire(LITERAL).unwrap();
        assert!(
            wired.contains(&format!("    }}\n}}\n{WIRING}\nUSE_TZ = True\n")),
            "{wired}"
        );
        assert_eq!(
            style_of(&wired),
            DatabaseStyle::Url {
                via: "dj-database-url"
            }
        );
        assert_eq!(wire(&wired), None);
    }

    #[test]
    fn finds_the_settings_module() {
        let dir = crate::test_machine::tempdir().unwrap();
        std::fs::write(
            dir.path().join("manage.py"),
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'conf.settings')\n",
        )
        .unwrap();
        assert_eq!(scan(dir.path()), None);
        std::fs::create_dir_all(dir.path().join("conf/settings")).unwrap();
        std::fs::write(
            dir.path().join("conf/settings/__init__.py"),
            "from .base import *\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("conf/settings/base.py"), LITERAL).unwrap();
        let found = scan(dir.path()).unwrap();
        assert!(found.path.ends_with("conf/settings/base.py"), "{found:?}");
        assert!(matches!(found.style, DatabaseStyle::Literal { .. }));
    }
}

#[cfg(test)]
mod issue_20 {
    use super::*;

    #[test]
    fn a_database_written_in_is_read_key_by_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("manage.py"),
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shop.settings')\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("shop")).unwrap();
        let settings = |dict: &str| {
            std::fs::write(
                dir.path().join("shop/settings.py"),
                format!("import os\nDATABASES = {{'default': {{{dict}}}}}\n"),
            )
            .unwrap();
            hard_coded(dir.path())
        };
        let h = settings(
            "'ENGINE': 'django.db.backends.postgresql', 'NAME': 'shop', 'USER': 'shopper', \
             'PASSWORD': os.environ.get('DB_PASSWORD', 'x'), 'HOST': '', 'PORT': 5433",
        )
        .unwrap();
        assert_eq!(h.name.as_deref(), Some("shop"));
        assert_eq!(h.user.as_deref(), Some("shopper"));
        // Read from a variable: wired through it, not taken.
        assert_eq!(h.password, None);
        assert_eq!(h.port.as_deref(), Some("5433"));
        assert!(h.is_postgres() && !h.remote_host());
        assert!(literal_advice(dir.path()).is_none());
        let maria = settings("'ENGINE': 'django.db.backends.mysql', 'HOST': 'db'").unwrap();
        assert!(maria.is_mysql() && maria.remote_host());
        assert!(settings("'ENGINE': 'django.db.backends.sqlite3', 'NAME': 'x'").is_none());
        assert!(settings("'ENGINE': os.environ['SQL_ENGINE']").is_none());
    }

    #[test]
    fn an_annotated_dict_and_a_module_of_a_settings_package() {
        let annotated = "from typing import Any\n\nDATABASES: dict[str, Any] = {\n    \"default\": {\"ENGINE\": \"django.db.backends.sqlite3\"},\n}\n";
        assert!(matches!(
            style_of(annotated),
            DatabaseStyle::Literal { end_line: 5, .. }
        ));
        assert!(wire(annotated).unwrap().ends_with(WIRING));

        let dir = crate::test_machine::tempdir().unwrap();
        std::fs::write(
            dir.path().join("manage.py"),
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings.local')\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("config/settings")).unwrap();
        for (f, text) in [
            ("config/__init__.py", ""),
            ("config/settings/__init__.py", ""),
            (
                "config/settings/local.py",
                "from .base import *\nDEBUG = True\n",
            ),
            ("config/settings/base.py", annotated),
        ] {
            std::fs::write(dir.path().join(f), text).unwrap();
        }
        let found = scan(dir.path()).unwrap();
        assert!(found.path.ends_with("config/settings/base.py"), "{found:?}");
        assert!(literal_advice(dir.path()).is_some());
        // A dict of the project's own variables is wired through them, not edited.
        std::fs::write(
            dir.path().join("config/settings/base.py"),
            "import os\nDATABASES = {\"default\": {\"HOST\": os.environ.get(\"SQL_HOST\")}}\n",
        )
        .unwrap();
        assert!(literal_advice(dir.path()).is_none());
    }
}
