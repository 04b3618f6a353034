//! `pyenvx add` and `pyenvx remove`: edit the dependencies in `pyenvx.toml`, lock and sync, as
//! one step under the project's sync lock; a failure puts `pyenvx.toml` back.
//!
//! Django is the project's pin, not one dependency among others: `add django==4.2.30` moves the
//! pin, and extras stay as a dependency without a version.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::django::DjangoSpec;
use crate::project::config::{self, ConfigEdit};
use crate::project::sync::{self, SyncOptions, SyncReport};
use crate::project::Env;
use crate::project::Project;
use crate::user_error;

/// What `add` is asked for; the fields are `add`'s arguments.
#[derive(Debug, Clone)]
pub struct AddInput {
    pub packages: Vec<String>,
    /// Requirements files (`-r`).
    pub requirements: Vec<PathBuf>,
    pub editable: bool,
    pub allow_unsupported: bool,
    /// The dependency group to add to (`--dev`, `--group NAME`); the main dependencies if none.
    pub group: Option<String>,
}

/// What `add` has to say before it locks and syncs.
#[derive(Debug, PartialEq, Eq)]
pub enum AddNote {
    /// A requirements file's option pyenvx does not take (`requirements.txt:2: --index-url …`).
    Ignored(String),
    /// `django` without a version or extras: the pin is there already.
    DjangoPinnedAlready,
    /// A Django requirement with a version: it becomes the project's pin.
    DjangoPin(String),
}

/// What an edit of the dependencies did.
#[derive(Debug)]
pub struct DepsReport {
    pub root: PathBuf,
    pub sync: SyncReport,
}

pub fn add(args: AddInput, env: &Env, note: &mut dyn FnMut(AddNote)) -> Result<DepsReport> {
    // Local directories are written relative to the project root, as `name @ ./path`.
    let root = crate::project::Project::from_cwd()?.root;
    let cwd = std::env::current_dir()?;
    let mut requirements = Vec::new();
    let mut editable = Vec::new();
    let mut editable_from_files = Vec::new();
    for arg in &args.packages {
        match crate::project::local::for_config(arg, &cwd, &root)? {
            Some(req) => {
                editable.push(config::requirement_name(&req)?);
                requirements.push(req);
            }
            None if args.editable => {
                return Err(user_error!(
                    hint =
                        "`--editable` takes local directories: `pyenvx add --editable ./libs/pkg`",
                    "{arg} is not a local directory"
                ))
            }
            None => requirements.push(arg.clone()),
        }
    }
    for file in &args.requirements {
        let imported = crate::project::requirements::read_with_editables(file)?;
        for option in &imported.ignored {
            note(AddNote::Ignored(option.clone()));
        }
        requirements.extend(imported.requirements);
        // `-e ./path` in the file: the directory, editable, as `add --editable ./path` adds it.
        for e in &imported.editable {
            let req = crate::project::local::for_config(&e.path, &cwd, &root)
                .with_context(|| format!("{}: cannot add `-e {}`", e.at, e.path))?
                .ok_or_else(|| {
                    user_error!(
                        hint = "`-e` takes a local directory holding a pyproject.toml",
                        "{}: `-e {}` is not a local directory",
                        e.at,
                        e.path
                    )
                })?;
            let name = config::requirement_name(&req)?;
            editable_from_files.push(name);
            requirements.push(req);
        }
    }
    // Django is the project's pin, not one dependency among others: a version moves the pin,
    // extras stay as a dependency without a version.
    let mut django_pin = None;
    let mut dependencies = Vec::new();
    for req in requirements {
        match django_requirement(&req)? {
            None => dependencies.push(req),
            Some((specifier, extras)) => {
                if specifier.is_empty() && extras.is_none() {
                    note(AddNote::DjangoPinnedAlready);
                }
                dependencies.extend(extras);
                if !specifier.is_empty() {
                    DjangoSpec::parse(&specifier)?;
                    note(AddNote::DjangoPin(specifier.clone()));
                    django_pin = Some(specifier);
                }
            }
        }
    }
    if let (Some(group), Some(pin)) = (&args.group, &django_pin) {
        return Err(user_error!(
            hint = "Django is the project's pin, shared by every group: `pyenvx pin django …` changes it",
            "Django `{pin}` cannot be pinned for the group `{group}` alone"
        ));
    }
    edit_dependencies(env, args.allow_unsupported, |edit| {
        if let Some(pin) = &django_pin {
            edit.set_project_str("django", pin)?;
        }
        match &args.group {
            Some(group) => edit.add_to_group(group, &dependencies)?,
            None => edit.add_dependencies(&dependencies)?,
        }
        for name in &editable {
            edit.set_editable(name, args.editable)?;
        }
        for name in &editable_from_files {
            edit.set_editable(name, true)?;
        }
        Ok(())
    })
}

/// For a requirement on Django: its version specifier (maybe empty) and, when it names
/// extras, the requirement for them without a version (`django[argon2]`). `None` for any other
/// package; an invalid requirement is the user error `requirement_name` gives.
pub fn django_requirement(req: &str) -> Result<Option<(String, Option<String>)>> {
    if config::requirement_name(req)? != "django" {
        return Ok(None);
    }
    let parsed = crate::project::pep508::parse(req)
        .map_err(|e| user_error!("invalid requirement `{req}`: {e}"))?;
    let specifier = match &parsed.version_or_url {
        // `==4.2.30` reads better in pyenvx.toml as the exact pin `4.2.30`.
        Some(pep508_rs::VersionOrUrl::VersionSpecifier(v)) => {
            let text = v.to_string();
            match text.strip_prefix("==") {
                Some(exact) if !exact.contains([',', '*']) => exact.to_string(),
                _ => text,
            }
        }
        Some(pep508_rs::VersionOrUrl::Url(_)) => {
            return Err(user_error!(
                hint = "pin Django by version: `pyenvx pin django 5.2`",
                "Django from a URL (`{req}`) is not supported"
            ))
        }
        None => String::new(),
    };
    let extras = (!parsed.extras.is_empty()).then(|| {
        let names: Vec<String> = parsed.extras.iter().map(ToString::to_string).collect();
        format!("django[{}]", names.join(","))
    });
    Ok(Some((specifier, extras)))
}

/// What `remove` is asked for.
#[derive(Debug, Clone)]
pub struct RemoveInput {
    pub packages: Vec<String>,
    /// The dependency group to remove from (`--dev`, `--group NAME`).
    pub group: Option<String>,
}

pub fn remove(args: RemoveInput, env: &Env) -> Result<DepsReport> {
    edit_dependencies(env, false, |edit| {
        if let Some(group) = &args.group {
            let missing = edit.remove_from_group(group, &args.packages)?;
            if !missing.is_empty() {
                return Err(user_error!(
                    hint = "`pyenvx status` lists the dependencies; pyenvx.toml's [dependency-groups] lists each group's",
                    "not in the dependency group `{group}`: {}",
                    missing.join(", ")
                ));
            }
            return Ok(());
        }
        let missing = edit.remove_dependencies(&args.packages)?;
        if !missing.is_empty() {
            let django = missing
                .iter()
                .any(|m| config::requirement_name(m).is_ok_and(|n| n == "django"));
            let hint = if django {
                "Django is the project's pin, not a dependency: `pyenvx pin django …` changes it, and deleting the `django` line of pyenvx.toml drops it"
            } else {
                "`pyenvx status` lists the dependencies"
            };
            return Err(user_error!(
                hint = hint,
                "not a dependency of this project: {}",
                missing.join(", ")
            ));
        }
        Ok(())
    })
}

/// Edit the dependencies, lock and sync; on a failure pyenvx.toml and the lock are left as they
/// were.
fn edit_dependencies(
    env: &Env,
    allow_unsupported: bool,
    change: impl FnOnce(&mut ConfigEdit) -> Result<()>,
) -> Result<DepsReport> {
    let project = Project::from_cwd()?;
    let reporter = env.reporter;
    // Ctrl-C or SIGTERM from here on goes the way of a failure: pyenvx.toml and the lock back.
    let _signals = crate::interrupt::guard();
    // Read, edit, resolve and write under the project's sync lock, as `pin` does: two edits
    // at once would otherwise each write the file as it was before the other.
    let guard = sync::project_lock(&project, reporter)?;
    let original = fs_err::read_to_string(project.config_path())?;
    // The lock is put back too: a sync that fails after relocking (a package that cannot be
    // installed) would otherwise leave a lock of requirements pyenvx.toml no longer has.
    let original_lock = std::fs::read(project.lock_path()).ok();
    let mut edit = ConfigEdit::open(&project.config_path())?;
    change(&mut edit)?;
    crate::interrupt::check("`pyenvx add`/`remove`")?;
    edit.save()?;
    let opts = SyncOptions {
        allow_unsupported,
        ..SyncOptions::default()
    };
    let result = Project::load(&project.root).and_then(|p| sync::sync_held(&p, &opts, env, &guard));
    match crate::interrupt::settle(result, "`pyenvx add`/`remove`") {
        Ok(report) => {
            drop(guard);
            Ok(DepsReport {
                root: project.root,
                sync: report,
            })
        }
        Err(e) => {
            crate::fs::write_atomic(&project.config_path(), original.as_bytes())?;
            if let Some(lock) = &original_lock {
                crate::fs::write_atomic(&project.lock_path(), lock)?;
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn django(req: &str) -> Option<(String, Option<String>)> {
        django_requirement(req).unwrap()
    }

    #[test]
    fn other_packages_are_not_djangos() {
        assert_eq!(django("requests>=2"), None);
        assert_eq!(django("django-environ==0.11"), None);
    }

    #[test]
    fn a_django_requirement_becomes_a_pin_and_its_extras() {
        assert_eq!(django("django"), Some((String::new(), None)));
        assert_eq!(django("Django"), Some((String::new(), None)));
        // An exact version reads as the exact pin; anything else stays a specifier.
        assert_eq!(django("django==4.2.30"), Some(("4.2.30".into(), None)));
        assert_eq!(django("django==4.2.*"), Some(("==4.2.*".into(), None)));
        assert_eq!(django("django>=4.2,<5"), Some((">=4.2, <5".into(), None)));
        assert_eq!(
            django("django[argon2,bcrypt]~=5.2.0"),
            Some(("~=5.2.0".into(), Some("django[argon2,bcrypt]".into())))
        );
        assert_eq!(
            django("django[argon2]"),
            Some((String::new(), Some("django[argon2]".into())))
        );
    }

    #[test]
    fn django_from_a_url_is_refused_with_a_hint() {
        let err = django_requirement("django @ https://example.invalid/django.tar.gz").unwrap_err();
        assert!(format!("{err:#}").contains("Django from a URL"), "{err:#}");
        assert_eq!(
            crate::error::find_hint(&err),
            Some("pin Django by version: `pyenvx pin django 5.2`")
        );
    }

    #[test]
    fn an_invalid_requirement_is_a_user_error() {
        assert!(django_requirement("django ===").is_err());
        assert!(django_requirement("").is_err());
    }
}
