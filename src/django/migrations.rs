//! The migrations a checkout has, read from its files: every `<app>/migrations/<name>.py` under
//! the project, without importing anything (no project code runs, so a checkout of any branch
//! can be read, and reading costs a directory walk).
//!
//! Decisions and why:
//! * The app label is the name of the directory holding `migrations/`, which is Django's
//!   default label (the last part of the app's module). An `AppConfig.label` of its own is not
//!   seen; such an app's migrations are compared under the directory's name.
//! * Migration modules are what Django's loader takes: `.py` files of a `migrations` package
//!   (it has `__init__.py`) whose names start with neither `_` nor `~`.
//! * Virtual environments (a `pyvenv.cfg`), hidden directories (`.git`, `.venv`, `.pyenvx`),
//!   `node_modules` and `__pycache__` are not walked: installed apps' migrations (Django's own,
//!   `auth`, `admin`) are the packages', the same on every branch, and compared nowhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// How deep below the project root an app may sit (`src/project/apps/books/migrations`).
const MAX_DEPTH: usize = 6;

/// The checkout's migrations: app label → migration names.
pub fn on_disk(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut found = BTreeMap::new();
    walk(root, 0, &mut found);
    found
}

fn walk(dir: &Path, depth: usize, found: &mut BTreeMap<String, BTreeSet<String>>) {
    if depth > MAX_DEPTH || dir.join("pyvenv.cfg").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // A link could lead out of the project or round in a circle.
        if !entry.file_type().is_ok_and(|t| t.is_dir())
            || name.starts_with('.')
            || name == "node_modules"
            || name == "__pycache__"
        {
            continue;
        }
        let path = entry.path();
        if name == "migrations" && path.join("__init__.py").is_file() {
            if let Some(app) = dir.file_name() {
                let names = migrations_in(&path);
                found
                    .entry(app.to_string_lossy().into_owned())
                    .or_default()
                    .extend(names);
            }
            continue;
        }
        walk(&path, depth + 1, found);
    }
}

fn migrations_in(dir: &Path) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeSet::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".py")?;
            (!stem.starts_with('_') && !stem.starts_with('~')).then(|| stem.to_string())
        })
        .collect()
}

/// What differs between a database's `django_migrations` rows and a checkout's files, for the
/// apps the checkout has.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Drift {
    /// Applied in the database, missing from the checkout: `app.name`.
    pub applied_missing: Vec<String>,
    /// In the checkout, not applied in the database.
    pub unapplied: Vec<String>,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.applied_missing.is_empty() && self.unapplied.is_empty()
    }
}

/// Compare `applied` (app, name) rows with the checkout's `disk`. Apps the checkout does not
/// have (Django's own, installed packages) are left out.
pub fn drift(disk: &BTreeMap<String, BTreeSet<String>>, applied: &[(String, String)]) -> Drift {
    let mut out = Drift::default();
    let applied_set: BTreeSet<(&str, &str)> = applied
        .iter()
        .map(|(a, n)| (a.as_str(), n.as_str()))
        .collect();
    for (app, name) in &applied_set {
        if disk.get(*app).is_some_and(|names| !names.contains(*name)) {
            out.applied_missing.push(format!("{app}.{name}"));
        }
    }
    for (app, names) in disk {
        for name in names {
            if !applied_set.contains(&(app.as_str(), name.as_str())) {
                out.unapplied.push(format!("{app}.{name}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_app_migrations_and_skips_venvs_and_hidden_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let write = |rel: &str| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        };
        write("books/migrations/__init__.py");
        write("books/migrations/0001_initial.py");
        write("books/migrations/0002_isbn.py");
        write("books/migrations/_helpers.py");
        write("books/migrations/notes.txt");
        write("src/shop/migrations/__init__.py");
        write("src/shop/migrations/0001_initial.py");
        // Not a package: not migrations.
        write("docs/migrations/0001_x.py");
        write(".venv/pyvenv.cfg");
        write(".venv/lib/django/contrib/auth/migrations/__init__.py");
        write(".venv/lib/django/contrib/auth/migrations/0001_initial.py");
        write("env/pyvenv.cfg");
        write("env/auth/migrations/__init__.py");
        write("env/auth/migrations/0001_initial.py");
        let disk = on_disk(root);
        assert_eq!(
            disk.keys().collect::<Vec<_>>(),
            vec!["books", "shop"],
            "{disk:?}"
        );
        assert_eq!(disk["books"].len(), 2);

        let applied = vec![
            ("books".to_string(), "0001_initial".to_string()),
            ("books".to_string(), "0003_gone".to_string()),
            ("auth".to_string(), "0001_initial".to_string()),
            ("shop".to_string(), "0001_initial".to_string()),
        ];
        let d = drift(&disk, &applied);
        assert_eq!(d.applied_missing, vec!["books.0003_gone"]);
        assert_eq!(d.unapplied, vec!["books.0002_isbn"]);
    }
}
