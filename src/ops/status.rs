//! `pyenvx status`: the project's pins, its lock, how `.venv` compares with the lock, and each
//! service, gathered into one report that the command prints as lines or as JSON.

use std::path::PathBuf;

use anyhow::Result;

use crate::django;
use crate::project::sync;
use crate::project::{Env, Lock, Project};

/// Everything `status` shows; `status --json` prints it as it is.
#[derive(Debug, serde::Serialize)]
pub struct Status {
    pub root: PathBuf,
    pub name: String,
    pub python_pin: Option<String>,
    pub django_pin: Option<String>,
    pub dependencies: Vec<String>,
    pub python: Option<String>,
    pub django: Option<String>,
    /// Set when Django does not support the locked Python (Django's own table).
    pub unsupported: Option<String>,
    pub locked: bool,
    pub lock_matches_config: bool,
    pub synced: bool,
    /// Locked distributions `.venv` holds another file of (`name version`).
    pub mismatched: Vec<String>,
    pub packages: Vec<PackageJson>,
    /// In `.venv` but not in the lock (installed by hand, or another version): `name==version`.
    pub unlocked: Vec<String>,
    /// In the lock but not in `.venv` (uninstalled by hand): `name==version`.
    pub missing: Vec<String>,
    /// Installed editable by hand and not locked (sync keeps them): `name==version`.
    pub editable: Vec<String>,
    pub services: Vec<ServiceJson>,
}

#[derive(Debug, serde::Serialize)]
pub struct PackageJson {
    pub name: String,
    pub version: String,
}

#[derive(Debug, serde::Serialize)]
pub struct ServiceJson {
    pub name: String,
    /// `db status`'s view, for the database; `None` when it could not be read (`error` says why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<crate::services::Status>,
    /// `cache status`'s view, for the cache.
    #[serde(skip_serializing_if = "Option::is_none", rename = "state")]
    pub cache: Option<crate::services::redis::CacheStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Each `[services.*]` table with what is known of it now. Only the database has a backend;
/// a failure to ask (an engine that is not running) is reported, not fatal: status still shows
/// the rest.
fn services_status(env: &Env, project: &Project) -> Vec<ServiceJson> {
    let settings = env.settings;
    project
        .config
        .services
        .keys()
        .map(|name| {
            let mut service = ServiceJson {
                name: name.clone(),
                state: None,
                cache: None,
                url: None,
                error: None,
            };
            if name == crate::services::redis::CACHE {
                match crate::services::redis::status(settings, project) {
                    Ok(state) => {
                        service.url = Some(state.url.clone());
                        service.cache = Some(state);
                    }
                    Err(e) => service.error = Some(format!("{e:#}")),
                }
            }
            if name == "db" {
                let read = crate::services::status(env, project).and_then(|state| {
                    let url = crate::services::identity(settings, project)?.url();
                    Ok((state, url))
                });
                match read {
                    Ok((state, url)) => {
                        service.state = Some(state);
                        service.url = Some(url);
                    }
                    Err(e) => service.error = Some(format!("{e:#}")),
                }
            }
            service
        })
        .collect()
}

/// The project as it is now: read, compared, nothing changed.
pub fn status(project: &Project, env: &Env) -> Result<Status> {
    let lock = Lock::load(&project.lock_path())?;
    let inputs = sync::lock_inputs(project);
    // Without a lock or a `.venv` there is nothing to compare; the state line says why already.
    let drift = lock
        .as_ref()
        .filter(|_| project.venv_dir().is_dir())
        .and_then(|l| sync::venv_drift(project, l, &crate::platform::Platform::current()).ok())
        .unwrap_or_default();
    Ok(Status {
        root: project.root.clone(),
        name: project.config.name.clone(),
        python_pin: project.config.python.as_ref().map(ToString::to_string),
        django_pin: project.config.django.as_ref().map(ToString::to_string),
        dependencies: project.config.dependencies.clone(),
        python: lock.as_ref().map(|l| l.python.version.clone()),
        django: lock
            .as_ref()
            .and_then(|l| l.package("django"))
            .map(|p| p.version.clone()),
        unsupported: lock.as_ref().and_then(|l| {
            let django = l.package("django")?;
            django::support::status_note(
                &django.version,
                &l.python.version,
                &project.config.allow_unsupported,
            )
        }),
        locked: lock.is_some(),
        lock_matches_config: lock.as_ref().is_some_and(|l| l.inputs == inputs),
        synced: sync::is_fresh(env.settings.dirs.home(), project)
            && drift.unlocked.is_empty()
            && drift.missing.is_empty()
            && drift.mismatched.is_empty(),
        mismatched: drift.mismatched,
        packages: lock
            .as_ref()
            .map(|l| {
                l.packages
                    .iter()
                    .map(|p| PackageJson {
                        name: p.name.clone(),
                        version: p.version.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        unlocked: drift.unlocked,
        missing: drift.missing,
        editable: drift.editable,
        services: services_status(env, project),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_without_a_lock_reports_its_pins_and_nothing_locked() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let text = crate::project::config::render_new(
            "shop",
            "3.12",
            Some("5.2"),
            &["requests".to_string()],
            &[],
            false,
        );
        let path = tmp.path().join(crate::project::CONFIG_FILE);
        std::fs::write(&path, &text).unwrap();
        let project = Project::load(tmp.path()).unwrap();
        let settings = crate::settings::Settings {
            offline: true,
            preference: crate::settings::PythonPreference::OnlyManaged,
            catalog: crate::settings::CatalogSource::UvJson(
                tmp.path().join("none.json").display().to_string(),
            ),
            ..crate::settings::Settings::new(crate::dirs::Dirs::new(
                tmp.path().join("home"),
                tmp.path().join("cache"),
            ))
        };
        let env = Env::new(&settings, &crate::reporter::Silent);
        let status = status(&project, &env).unwrap();
        assert_eq!(status.name, "shop");
        assert_eq!(status.python_pin.as_deref(), Some("3.12"));
        assert!(status.django_pin.is_some());
        assert_eq!(status.dependencies, ["requests"]);
        assert!(!status.locked && !status.lock_matches_config && !status.synced);
        assert!(status.python.is_none() && status.django.is_none());
        assert!(status.packages.is_empty() && status.services.is_empty());
        // The JSON keeps its field names: scripts read them.
        let json = serde_json::to_value(&status).unwrap();
        for key in [
            "root",
            "name",
            "python_pin",
            "django_pin",
            "lock_matches_config",
            "unlocked",
            "services",
        ] {
            assert!(json.get(key).is_some(), "{key} missing from {json}");
        }
    }
}
