//! `pyenvx pin python|django`, and what a pin that cannot be had turns into: the conflicting
//! pins named, with the nearest that work (for `pin` and for `init`).
//!
//! A pin is tried in memory first (edited `pyenvx.toml`, resolution) under the project's sync
//! lock; only a pin that resolves is written, with its lock, and synced before the lock is let go.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Result;

use crate::django::{self, DjangoSpec};
use crate::project::config::{self, ConfigEdit};
use crate::project::sync::{self, SyncOptions, SyncReport};
use crate::project::Env;
use crate::project::Project;
use crate::python::Interpreter;

/// What `pin` is asked for.
#[derive(Debug, Clone)]
pub struct PinInput {
    /// `python` or `django`: the key of `[project]`.
    pub key: String,
    /// The pin, already checked to parse as one.
    pub value: String,
    pub upgrade: bool,
    pub allow_unsupported: bool,
}

/// What a pin did.
#[derive(Debug)]
pub struct PinReport {
    pub key: String,
    pub value: String,
    pub root: PathBuf,
    pub sync: SyncReport,
    pub python: String,
    /// The locked Django's version, `-` without one.
    pub django: String,
}

/// Apply a pin: check it resolves (nothing changes if not), then edit pyenvx.toml and sync.
pub fn apply_pin(env: &Env, input: PinInput) -> Result<PinReport> {
    let PinInput {
        key,
        value,
        upgrade,
        allow_unsupported,
    } = input;
    let (key, value) = (key.as_str(), value.as_str());
    let mut project = Project::from_cwd()?;
    let reporter = env.reporter;
    // Held from reading pyenvx.toml to the end of the sync: every `add`, `remove` and `pin`
    // takes it before reading, so none writes text another changed meanwhile.
    let guard = sync::project_lock(&project, reporter)?;
    project.reload()?;
    // Ctrl-C or SIGTERM: nothing written before the resolution; after it, taken back.
    let _signals = crate::interrupt::guard();

    let mut candidate_text = ConfigEdit::open(&project.config_path())?;
    candidate_text.set_project_str(key, value)?;
    let candidate = Project {
        root: project.root.clone(),
        config: config::Config::parse(&candidate_text.text(), &project.config_path())?,
    };
    let index = env.index(&candidate.config);
    let interp = sync::interpreter(&candidate, None, env)?;
    let sync::Supported {
        resolution: packages,
        allowed,
        ..
    } = resolve_pin(
        env,
        &interp,
        &candidate.config,
        &index,
        (upgrade, &[]),
        allow_unsupported,
        PinContext::Project,
    )?;

    if let Some(pair) = allowed {
        candidate_text.allow_unsupported(pair)?;
    }
    crate::interrupt::check("`pyenvx pin`")?;
    let original = fs_err::read(project.config_path())?;
    let original_lock = std::fs::read(project.lock_path()).ok();
    candidate_text.save()?;
    project.reload()?;
    let lock = sync::write_lock(&project, &interp, packages)?;
    // Still under the lock: an `add` waiting for it edits what this pin wrote, never the
    // text from before it.
    let synced = sync::sync_held(&project, &SyncOptions::default(), env, &guard);
    let report = match crate::interrupt::settle(synced, "`pyenvx pin`") {
        Err(e) if crate::interrupt::interrupted() => {
            // An interrupted pin is taken back whole (a failed sync keeps the pin, as before).
            crate::fs::write_atomic(&project.config_path(), &original)?;
            match &original_lock {
                Some(lock) => crate::fs::write_atomic(&project.lock_path(), lock)?,
                None => {
                    let _ = std::fs::remove_file(project.lock_path());
                }
            }
            return Err(e);
        }
        other => other?,
    };
    drop(guard);
    let django = lock
        .package("django")
        .map_or_else(|| "-".to_string(), |p| p.version.clone());
    Ok(PinReport {
        key: key.to_string(),
        value: value.to_string(),
        root: project.root,
        sync: report,
        python: interp.version().to_string(),
        django,
    })
}

/// Where a pin is being tried, which decides how a suggestion is spelled.
#[derive(Clone, Copy)]
pub enum PinContext {
    /// `pyenvx init`: suggest its flags.
    Init,
    /// An existing project: suggest `pyenvx pin`.
    Project,
}

impl PinContext {
    /// How this context spells a pin the user could try.
    fn suggest(self, key: &str, value: &str) -> String {
        match self {
            PinContext::Init => format!("`--{key} {value}`"),
            PinContext::Project => format!("`pyenvx pin {key} {value}`"),
        }
    }
}

/// Resolve `config` with a pin being tried `during` init or in a project, under Django's
/// support policy: an unsupported pair proceeds when `allow_unsupported` says so or the project
/// allows it, suggestions are spelled for `during`, and a resolution that fails is explained as
/// the pins that clash.
pub(super) fn resolve_pin(
    env: &Env,
    interp: &Interpreter,
    config: &config::Config,
    index: &crate::installer::IndexSettings,
    (upgrade, seeds): (bool, &[String]),
    allow_unsupported: bool,
    during: PinContext,
) -> Result<sync::Supported> {
    let get_uv = || env.uv(index);
    let allow = |pair| allow_unsupported || config.allow_unsupported.contains(&pair);
    let suggest = |key: &str, value: &str| during.suggest(key, value);
    let available = sync::available_minors_fn(env);
    let policy = django::support::Policy {
        allow: &allow,
        suggest: &suggest,
        available: &available,
    };
    sync::resolve_supported(
        env,
        &get_uv,
        interp,
        config,
        index,
        (upgrade, seeds),
        &policy,
    )
    .map_err(|e| {
        explain_incompatible(
            e,
            during,
            env,
            interp,
            config.django.as_ref(),
            &get_uv,
            index,
        )
    })
}

/// Turn a failed resolution into the error a Django developer needs: which pin conflicts
/// with which Python, and the nearest pins that would work.
pub fn explain_incompatible(
    err: anyhow::Error,
    during: PinContext,
    env: &Env,
    interp: &Interpreter,
    django_spec: Option<&DjangoSpec>,
    get_uv: &dyn Fn() -> Result<crate::installer::Uv>,
    index: &crate::installer::IndexSettings,
) -> anyhow::Error {
    let text = format!("{err:#}");
    let Some(spec) = django_spec else { return err };
    if !crate::installer::is_no_solution(&err) {
        return err;
    }
    // A failure that names neither Django nor a Python requirement is another package's
    // (a name the index lacks, a group's driver): uv's own words say it better.
    let names_django = text
        .to_ascii_lowercase()
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .any(|w| w == "django");
    if !names_django && requires_python_from(&text).is_none() {
        return err;
    }
    let suggest = |key: &str, value: &str| during.suggest(key, value);
    let mut suggestions = Vec::new();
    // The newest release that installs on this Python: one resolution, which says both what the
    // index has and the nearest pin for a series past it (a typo, or one not out yet).
    let newest_release = sync::resolve_with(env, get_uv, interp, &["django".into()], index, false)
        .ok()
        .and_then(|resolved| resolved.into_iter().find(|r| r.name == "django"))
        .map(|django| django.version);
    let newest = newest_release
        .as_deref()
        .and_then(|v| DjangoSpec::parse(v).ok()?.series());
    if let Some((major, minor)) = spec.series().or_else(|| {
        // `9`: a whole major past the newest.
        let major: u64 = spec.to_string().parse().ok()?;
        Some((major, 0))
    }) {
        match newest {
            Some(newest) if newest < (major, minor) => {
                suggestions.push(suggest("django", &format!("{}.{}", newest.0, newest.1)));
            }
            _ => {
                for (ma, mi) in django::older_series(major, minor).into_iter().take(6) {
                    let candidate = format!("django~={ma}.{mi}.0");
                    if sync::resolve_with(env, get_uv, interp, &[candidate], index, false).is_ok() {
                        suggestions.push(suggest("django", &format!("{ma}.{mi}")));
                        break;
                    }
                }
            }
        }
    }
    let requires = requires_python_from(&text);
    if let Some((_, req)) = &requires {
        if let Some(minor) = smallest_python_satisfying(env, req) {
            suggestions.push(suggest("python", &minor));
        }
    }
    let (message, hint) = incompatible_message(
        spec,
        &interp.version().to_string(),
        requires.as_ref(),
        newest_release.as_deref(),
        &suggestions,
    );
    let user = crate::error::UserError::new(message).hint(hint);
    match requires {
        // uv's own account of who needs which Python is worth reading under the message.
        Some(_) => err.context(user),
        // Otherwise the message says all of it (uv's "only django<=6.1.3 is available").
        None => user.into(),
    }
}

/// The message and hint of [`explain_incompatible`]: what conflicts with the project's Python
/// (`requires`: who needs which Python, as uv said), and the nearest pins that work.
fn incompatible_message(
    spec: &DjangoSpec,
    python: &str,
    requires: Option<&(String, String)>,
    newest: Option<&str>,
    suggestions: &[String],
) -> (String, String) {
    let message = match (requires, newest) {
        (None, Some(newest)) => format!(
            "no Django release matches `{spec}` on Python {python}: the newest there is {newest}"
        ),
        (None, None) => format!("no Django release matches `{spec}` on Python {python}"),
        (Some((who, req)), _) if who.starts_with("django") => format!(
            "Django {spec} requires Python {req} but the project's Python is {python}"
        ),
        (Some((who, req)), _) => format!(
            "Django {spec} cannot be installed on Python {python}: its dependency {who} requires Python {req}"
        ),
    };
    let hint = if suggestions.is_empty() {
        "check the pin against the releases your package index has".to_string()
    } else {
        format!("nearest pins that work: {}", suggestions.join(" or "))
    };
    (message, hint)
}

/// uv explains a Python conflict as "… django==6.1.3 depends on Python>=3.12 …": the package
/// that needs it and the range it needs.
fn requires_python_from(text: &str) -> Option<(String, String)> {
    let re =
        regex::Regex::new(r"(\S+) depends on Python\s*([<>=!~][^\s,]+(?:,\s*[<>=!~][^\s,]+)*)")
            .ok()?;
    re.captures(text).map(|c| {
        (
            c[1].to_string(),
            c[2].trim_end_matches([',', '.']).to_string(),
        )
    })
}

/// The smallest Python minor this machine has or can download that satisfies `requires`.
fn smallest_python_satisfying(env: &Env, requires: &str) -> Option<String> {
    smallest_satisfying(sync::available_versions(env), requires)
}

/// The smallest of `versions` (oldest first) that satisfies `requires`, as its minor.
fn smallest_satisfying(mut versions: Vec<pep440_rs::Version>, requires: &str) -> Option<String> {
    let specs = pep440_rs::VersionSpecifiers::from_str(requires).ok()?;
    versions.retain(|v| specs.contains(v));
    versions.first().map(|v| {
        let r = v.release();
        format!("{}.{}", r[0], r.get(1).copied().unwrap_or(0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvs_python_conflict_names_who_and_what() {
        let text = "no versions satisfy django~=6.1.0:\n  Because django==6.1.3 depends on Python>=3.12 and you require django~=6.1.0, we can conclude that your requirements are unsatisfiable.";
        assert_eq!(
            requires_python_from(text),
            Some(("django==6.1.3".to_string(), ">=3.12".to_string()))
        );
        // A range with several clauses, ending a sentence.
        let text = "Because asgiref==4.0.0 depends on Python >=3.10, <3.14. And because …";
        assert_eq!(
            requires_python_from(text),
            Some(("asgiref==4.0.0".to_string(), ">=3.10, <3.14".to_string()))
        );
        assert_eq!(requires_python_from("no versions satisfy foo"), None);
    }

    #[test]
    fn the_smallest_minor_that_satisfies() {
        let versions: Vec<pep440_rs::Version> = ["3.9.18", "3.10.4", "3.12.1", "3.13.0"]
            .iter()
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(
            smallest_satisfying(versions.clone(), ">=3.10"),
            Some("3.10".to_string())
        );
        assert_eq!(
            smallest_satisfying(versions.clone(), ">=3.11,<3.13"),
            Some("3.12".to_string())
        );
        assert_eq!(smallest_satisfying(versions.clone(), ">=3.14"), None);
        assert_eq!(smallest_satisfying(versions, "not a range"), None);
    }

    #[test]
    fn suggestions_are_spelled_for_where_the_pin_is_tried() {
        assert_eq!(PinContext::Init.suggest("django", "5.2"), "`--django 5.2`");
        assert_eq!(
            PinContext::Project.suggest("python", "3.12"),
            "`pyenvx pin python 3.12`"
        );
    }

    #[test]
    fn the_message_names_who_needs_which_python() {
        let spec = DjangoSpec::parse("6.1").unwrap();
        let (message, hint) = incompatible_message(&spec, "3.10.4", None, None, &[]);
        assert_eq!(
            message,
            format!("no Django release matches `{spec}` on Python 3.10.4")
        );
        assert_eq!(
            hint,
            "check the pin against the releases your package index has"
        );
        let nine = DjangoSpec::parse("9").unwrap();
        let (message, _) = incompatible_message(&nine, "3.12.1", None, Some("6.1.3"), &[]);
        assert_eq!(
            message,
            "no Django release matches `9` on Python 3.12.1: the newest there is 6.1.3"
        );

        let django = ("django==6.1.3".to_string(), ">=3.12".to_string());
        let suggestions = ["`--django 5.2`".to_string(), "`--python 3.12`".to_string()];
        let (message, hint) =
            incompatible_message(&spec, "3.10.4", Some(&django), None, &suggestions);
        assert_eq!(
            message,
            format!("Django {spec} requires Python >=3.12 but the project's Python is 3.10.4")
        );
        assert_eq!(
            hint,
            "nearest pins that work: `--django 5.2` or `--python 3.12`"
        );

        let dependency = ("asgiref==4.0.0".to_string(), ">=3.11".to_string());
        let (message, _) = incompatible_message(&spec, "3.10.4", Some(&dependency), None, &[]);
        assert_eq!(
            message,
            format!("Django {spec} cannot be installed on Python 3.10.4: its dependency asgiref==4.0.0 requires Python >=3.11")
        );
    }

    /// Settings under `tmp`, offline, with no build list: nothing is downloaded.
    fn sealed(tmp: &std::path::Path) -> crate::settings::Settings {
        crate::settings::Settings {
            offline: true,
            preference: crate::settings::PythonPreference::OnlyManaged,
            catalog: crate::settings::CatalogSource::UvJson(
                tmp.join("none.json").display().to_string(),
            ),
            ..crate::settings::Settings::new(crate::dirs::Dirs::new(
                tmp.join("home"),
                tmp.join("cache"),
            ))
        }
    }

    fn python_3_10(tmp: &std::path::Path) -> Interpreter {
        Interpreter::System(crate::python::discovery::Found {
            path: tmp.join("python3.10"),
            version: "3.10.4".parse().unwrap(),
            freethreaded: false,
            prefix: tmp.to_path_buf(),
            origin: crate::python::discovery::Origin::Path,
        })
    }

    fn no_uv() -> Result<crate::installer::Uv> {
        anyhow::bail!("no uv in a unit test")
    }

    #[test]
    fn an_error_that_is_not_a_conflict_passes_through() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let settings = sealed(tmp.path());
        let env = Env::new(&settings, &crate::reporter::Silent);
        let index = crate::installer::IndexSettings::default();
        let spec = DjangoSpec::parse("6.1").unwrap();
        let err = explain_incompatible(
            anyhow::anyhow!("network unreachable"),
            PinContext::Init,
            &env,
            &python_3_10(tmp.path()),
            Some(&spec),
            &no_uv,
            &index,
        );
        assert_eq!(format!("{err:#}"), "network unreachable");
        assert!(crate::error::find_hint(&err).is_none());
    }

    #[test]
    fn a_conflict_becomes_the_pins_that_clash_over_uvs_explanation() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let settings = sealed(tmp.path());
        let env = Env::new(&settings, &crate::reporter::Silent);
        let index = crate::installer::IndexSettings::default();
        let spec = DjangoSpec::parse("6.1").unwrap();
        let uv_said = crate::error::UserError::new(
            "no versions satisfy django~=6.1.0:\n  Because django==6.1.3 depends on Python>=3.12 and you require django~=6.1.0, we can conclude that your requirements are unsatisfiable.",
        )
        .kind(crate::error::Kind::NoSolution);
        let err = explain_incompatible(
            anyhow::Error::new(uv_said),
            PinContext::Project,
            &env,
            &python_3_10(tmp.path()),
            Some(&spec),
            &no_uv,
            &index,
        );
        assert_eq!(
            err.to_string(),
            format!("Django {spec} requires Python >=3.12 but the project's Python is 3.10.4")
        );
        // uv's own words stay in the chain, under the explanation.
        assert!(
            err.chain()
                .any(|e| e.to_string().starts_with("no versions satisfy")),
            "{err:#}"
        );
        // Without uv no Django is tried; a Python is suggested only if this machine has one.
        let hint = crate::error::find_hint(&err).unwrap();
        assert!(!hint.contains("django"), "{hint}");
    }
}
