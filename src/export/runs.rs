//! What an adopted project runs, read from its own files without importing its code (an export
//! must not run the project): the WSGI application its settings name, whether its settings use
//! Redis, the PostgreSQL major its compose file runs, and which locked packages build from
//! source and need headers to.

use std::path::{Path, PathBuf};

use crate::project::lock::Lock;

/// The settings module `manage.py` defaults `DJANGO_SETTINGS_MODULE` to
/// (`config.settings.local`).
pub fn settings_module(root: &Path) -> Option<String> {
    let manage = std::fs::read_to_string(root.join("manage.py")).ok()?;
    let re = regex::Regex::new(r#"DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([A-Za-z_][\w.]*)['"]"#)
        .expect("valid regex");
    re.captures(&manage).map(|c| c[1].to_string())
}

/// The files of the settings module: `a/b/settings.py`, or every `.py` of a settings package
/// (`base.py` usually holds `WSGI_APPLICATION`, `production.py` the cache).
fn settings_files(root: &Path) -> Vec<PathBuf> {
    let Some(module) = settings_module(root) else {
        return Vec::new();
    };
    let path = root.join(module.replace('.', "/"));
    let file = path.with_extension("py");
    // `config.settings.local`: the package is `config/settings/`.
    let package = if file.is_file()
        && file
            .parent()
            .is_some_and(|p| p.join("__init__.py").is_file())
    {
        file.parent().map(Path::to_path_buf)
    } else if path.join("__init__.py").is_file() {
        Some(path.clone())
    } else {
        None
    };
    let mut out = Vec::new();
    if let Some(dir) = package.filter(|d| d.file_name().is_some_and(|n| n == "settings")) {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "py"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        out.extend(files);
    } else if file.is_file() {
        out.push(file);
    }
    out
}

fn settings_text(root: &Path) -> String {
    settings_files(root)
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The settings' `WSGI_APPLICATION` as gunicorn takes it: `config.wsgi` for
/// `"config.wsgi.application"` (gunicorn's default callable), `config.wsgi:app` otherwise.
pub fn wsgi_application(root: &Path) -> Option<String> {
    let re =
        regex::Regex::new(r#"(?m)^\s*WSGI_APPLICATION\s*=\s*['"]([A-Za-z_][\w.]*)\.(\w+)['"]"#)
            .expect("valid regex");
    let text = settings_text(root);
    re.captures(&text).map(|c| match &c[2] {
        "application" => c[1].to_string(),
        callable => format!("{}:{callable}", &c[1]),
    })
}

/// Whether the settings use Redis (a `REDIS_URL`, a `redis://` location, Django's or
/// django-redis's cache backend, a Redis channel layer).
pub fn settings_use_redis(root: &Path) -> bool {
    let text = settings_text(root);
    [
        "REDIS_URL",
        "redis://",
        "RedisCache",
        "django_redis",
        "channels_redis",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// The PostgreSQL major of the project's own compose file (`image: postgres:17-alpine` → 17).
pub fn compose_postgres_major(root: &Path) -> Option<u32> {
    let path = crate::project::environment::compose_file(root)?;
    if generated_by_pyenvx(&path) {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let re =
        regex::Regex::new(r#"(?m)^\s*image:\s*["']?(?:\S+/)?postgres:(\d+)"#).expect("valid regex");
    re.captures(&text)?[1].parse().ok()
}

/// What a package with no wheel needs to build and then to run, as Debian packages: the
/// headers and tools in the builder stage, the shared libraries in the runtime image.
struct Needs {
    build: &'static [&'static str],
    run: &'static [&'static str],
}

fn needs(package: &str) -> Needs {
    match package {
        "psycopg2" | "psycopg-c" => Needs {
            build: &["libpq-dev"],
            run: &["libpq5"],
        },
        "mysqlclient" => Needs {
            build: &["default-libmysqlclient-dev", "pkg-config"],
            run: &["libmariadb3"],
        },
        "python-ldap" => Needs {
            build: &["libldap2-dev", "libsasl2-dev"],
            run: &["libldap-2.5-0", "libsasl2-2"],
        },
        "pillow" => Needs {
            build: &["libjpeg-dev", "zlib1g-dev"],
            run: &["libjpeg62-turbo", "zlib1g"],
        },
        "lxml" => Needs {
            build: &["libxml2-dev", "libxslt1-dev"],
            run: &["libxml2", "libxslt1.1"],
        },
        _ => Needs {
            build: &[],
            run: &[],
        },
    }
}

/// The locked packages a Linux container must build from source (no Linux or pure wheel), and
/// the Debian packages their build and their runtime need.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SourceBuilds {
    pub packages: Vec<String>,
    pub build_deps: Vec<String>,
    pub run_deps: Vec<String>,
}

pub fn source_builds(lock: &Lock) -> SourceBuilds {
    let mut out = SourceBuilds::default();
    for p in &lock.packages {
        let wheel_here = p.files.iter().any(|f| {
            super::wheel_platform(&f.file).is_some_and(|t| t == "any" || t.contains("linux"))
        });
        if p.files.is_empty() || wheel_here {
            continue;
        }
        out.packages.push(p.name.clone());
        let n = needs(&p.name);
        for d in n.build {
            if !out.build_deps.iter().any(|x| x == d) {
                out.build_deps.push((*d).to_string());
            }
        }
        for d in n.run {
            if !out.run_deps.iter().any(|x| x == d) {
                out.run_deps.push((*d).to_string());
            }
        }
    }
    out
}

/// How every file pyenvx generates begins: a file without it is the user's.
pub const GENERATED_MARK: &str = "# Generated by `pyenvx export";

/// Whether the file at `path` carries pyenvx's header (in its first lines).
pub fn generated_by_pyenvx(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| {
        t.lines()
            .take(3)
            .any(|l| l.trim_start().starts_with(GENERATED_MARK))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_machine::tempdir_with as project;

    #[test]
    fn reads_the_settings_package_manage_py_names() {
        let dir = project(&[
            (
                "manage.py",
                "os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"config.settings.local\")\n",
            ),
            ("config/__init__.py", ""),
            ("config/settings/__init__.py", ""),
            (
                "config/settings/base.py",
                "WSGI_APPLICATION = \"config.wsgi.application\"\n",
            ),
            (
                "config/settings/local.py",
                "from .base import *\nCACHES = {\"default\": {\"LOCATION\": env(\"REDIS_URL\")}}\n",
            ),
            (
                "docker-compose.yml",
                "services:\n  postgres:\n    image: docker.io/postgres:17-alpine\n",
            ),
        ]);
        assert_eq!(wsgi_application(dir.path()).as_deref(), Some("config.wsgi"));
        assert!(settings_use_redis(dir.path()));
        assert_eq!(compose_postgres_major(dir.path()), Some(17));

        let plain = project(&[
            (
                "manage.py",
                "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n",
            ),
            ("mysite/__init__.py", ""),
            (
                "mysite/settings.py",
                "WSGI_APPLICATION = 'mysite.wsgi.app'\n",
            ),
        ]);
        assert_eq!(
            wsgi_application(plain.path()).as_deref(),
            Some("mysite.wsgi:app")
        );
        assert!(!settings_use_redis(plain.path()));
        assert_eq!(compose_postgres_major(plain.path()), None);
    }
}
