//! `pyenvx init`: a new project, or an existing one adopted, in one step that either completes
//! or leaves the directory as it was.
//!
//! The order is the promise: every clash is checked before anything is written, the project is
//! resolved in memory before `pyenvx.toml` exists, and a failure after the first write takes
//! back what init made (and only that).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result};
use pep440_rs::Version;

use crate::django::support::Minor;
use crate::django::{self, DjangoSpec};
use crate::project::config::{self, CONFIG_FILE};
use crate::project::environment::Merged;
use crate::project::sync::{self, SyncOptions, SyncReport};
use crate::project::undo::Snapshot;
use crate::project::Env;
use crate::project::{adopt, Project, LOCK_FILE};
use crate::python::{self, Interpreter, PythonRequest};
use crate::user_error;

/// `init --db`: a development database service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbChoice {
    Postgres,
    /// MariaDB, through Django's MySQL backend (`mysqlclient`).
    Mariadb,
    None,
}

/// `init --cache`: a cache service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheChoice {
    Redis,
    None,
}

/// What `init` is asked for; the fields are `init`'s flags.
#[derive(Debug, Clone)]
pub struct InitInput {
    /// The project directory, relative to the working directory; `None` for the working
    /// directory itself.
    pub dir: Option<PathBuf>,
    pub name: Option<String>,
    pub python: Option<String>,
    pub django: Option<String>,
    pub drf: bool,
    /// `None` when `--db` was not given: an adopted project's compose database then counts.
    pub db: Option<DbChoice>,
    /// `None` when `--cache` was not given: an adopted project's Redis (compose, settings) then
    /// counts.
    pub cache: Option<CacheChoice>,
    pub no_startproject: bool,
    pub seed: bool,
    pub allow_unsupported: bool,
    pub wire_settings: bool,
    /// Load an adopted project's settings (its code runs) to see where Django connects.
    pub ask_django: bool,
}

/// What `init` has to say before the step that may take long or fail.
#[derive(Debug)]
pub enum Step<'a> {
    /// An existing project is adopted: each of its files, with what was taken from it.
    Adopting {
        dir: &'a Path,
        rows: &'a [(String, String)],
    },
    /// The Python an adopted project gets, before it is found or installed.
    ChosePython { minor: Minor, with_django: bool },
    /// The adopted project's own lock file seeded pyenvx's: `kept` of its `total` versions
    /// are the locked ones (the rest did not resolve for this Python, or are no longer needed).
    LockSeeded {
        file: &'a str,
        kept: usize,
        total: usize,
        /// The locked versions left out because they did not resolve, with the reason.
        unkept: &'a [crate::project::foreign_lock::Unkept],
        /// The setuptools a virtual environment of this Python has (its version, the
        /// Python's), locked because the file leaves it to the environment.
        environment: Option<(&'a str, String)>,
    },
    /// A directory that holds files but no project to adopt: what init adds beside them.
    IntoNonEmpty {
        dir: &'a Path,
        entries: Vec<String>,
        startproject: Option<String>,
    },
    /// The Python a new project gets without `--python`: the global pin (`global`), or the
    /// newest that the `--django` pin supports by Django's table.
    ChoseNewPython {
        minor: Minor,
        global: Option<String>,
        django: Option<String>,
    },
}

/// What `init` made.
#[derive(Debug)]
pub struct InitReport {
    pub name: String,
    pub dir: PathBuf,
    pub python: String,
    /// The locked Django's version.
    pub django: Option<String>,
    pub sync: SyncReport,
    /// For an adopted project: what became of its environment and settings.
    pub adoption: Option<AdoptionReport>,
    /// The command that starts the services init declared (`pyenvx up`, `pyenvx db up`, …).
    pub next_services: Option<&'static str>,
    /// Whether there is a `manage.py` to migrate and run.
    pub next_migrate: bool,
    /// The directory was a pyenvx project already: nothing changed but what `--wire-settings`
    /// did.
    pub again: bool,
    /// Where `manage.py` is when not at the root (`app`), relative to the project.
    pub manage_dir: Option<PathBuf>,
    /// The project's own `.venv`, set aside (relative to the project).
    pub venv_aside: Option<PathBuf>,
}

/// An adopted project's environment and settings, as `init` left them.
#[derive(Debug, Default)]
pub struct AdoptionReport {
    /// The compose file could not be read (why): its variables are not in `.env`.
    pub compose_error: Option<String>,
    /// The compose file's web variables, merged into `.env`.
    pub compose: Option<ComposeVars>,
    /// The project's `.env` sample, merged into `.env` (service empty).
    pub sample: Option<ComposeVars>,
    /// Django, asked where it connects (`init --ask-django`).
    pub django: Option<super::django_check::DjangoCheck>,
    /// The settings file `--wire-settings` edited, relative to the project.
    pub wired: Option<PathBuf>,
    /// Settings that hard-code `DATABASES`: the headline and the change that would read
    /// `DATABASE_URL` (`django::settings_scan::literal_advice`).
    pub literal_advice: Option<(String, String)>,
    /// `--wire-settings` found the settings reading `DATABASE_URL` already, through this helper.
    pub reads_url_via: Option<String>,
    /// Why `--wire-settings` changed nothing.
    pub wire_refused: Option<String>,
}

/// The compose file's web variables and what merging them into `.env` did.
#[derive(Debug)]
pub struct ComposeVars {
    pub file: String,
    pub service: String,
    pub merged: Merged,
    /// `env_file:` entries that do not exist.
    pub missing: Vec<String>,
    /// `env_file:` entries that do not exist, and the sample read instead.
    pub samples: Vec<(String, String)>,
}

/// Make `args.dir` a project. A failure after init's first write takes back what it made.
pub fn init(args: InitInput, env: &Env, step: &mut dyn FnMut(Step)) -> Result<InitReport> {
    let cwd = std::env::current_dir()?;
    let dir = match &args.dir {
        Some(d) if d.is_absolute() => d.clone(),
        Some(d) => cwd.join(d),
        None => cwd,
    };
    if dir.join(CONFIG_FILE).is_file() {
        return init_again(&dir, &args);
    }
    let created = std::fs::symlink_metadata(&dir).is_err();
    fs_err::create_dir_all(&dir)?;
    let dir = fs_err::canonicalize(&dir)?;
    // An adopted project's own `.venv` (venv, virtualenv, uv, poetry) is set aside, not refused
    // nor deleted: it comes back if init fails, and stays beside the new one otherwise.
    let aside = dir.join(VENV_ASIDE);
    let set_aside = adopt::is_existing_project(&dir)
        && std::fs::symlink_metadata(dir.join(".venv")).is_ok()
        && std::fs::symlink_metadata(&aside).is_err();
    if set_aside {
        fs_err::rename(dir.join(".venv"), &aside)?;
    }
    let put_back = || {
        if set_aside {
            let _ = std::fs::remove_dir_all(dir.join(".venv"));
            let _ = std::fs::rename(&aside, dir.join(".venv"));
        }
    };
    // Everything init may write, as it is now: a failure (Django refusing the name, a failed
    // sync) takes back what init made and nothing else, so `init` can simply be run again.
    let module = django::module_name(&project_name(&args, &dir));
    let snapshot = Snapshot::take(
        &dir,
        &[
            CONFIG_FILE,
            LOCK_FILE,
            ".venv",
            ".env",
            ".python-version",
            ".gitignore",
            ".pyenvx",
            "manage.py",
            module.as_str(),
        ],
    );
    let wrote = std::cell::Cell::new(false);
    // Ctrl-C or SIGTERM goes the way of a failure: what init made is taken back.
    let _signals = crate::interrupt::guard();
    let result = crate::interrupt::settle(init_in(&dir, args, env, step, &wrote), "`pyenvx init`");
    if let Err(e) = result {
        // Before its first write, init has made nothing: what appeared meanwhile is another
        // process's (a second `init` refused by the clash check must not undo the first).
        let failed = if wrote.get() {
            snapshot.restore()
        } else {
            Vec::new()
        };
        // After the snapshot's undo, which removes the `.venv` init made.
        put_back();
        if created {
            // `remove_dir` removes only an empty directory: what init did not make stays.
            let _ = std::fs::remove_dir(&dir);
        }
        if !failed.is_empty() {
            return Err(e.context(format!(
                "init failed, and could not remove all it made: {}",
                failed.join("; ")
            )));
        }
        return Err(e);
    }
    let mut result = result;
    if let Ok(report) = result.as_mut() {
        if set_aside {
            crate::project::ignore::ignore(&dir, &[&format!("{VENV_ASIDE}/")])?;
            report.venv_aside = Some(PathBuf::from(VENV_ASIDE));
        }
    }
    result
}

/// Where an adopted project's own `.venv` goes.
pub const VENV_ASIDE: &str = ".venv.before-pyenvx";

/// `init` in a pyenvx project: nothing changes, except what `--wire-settings` asks for.
fn init_again(dir: &Path, args: &InitInput) -> Result<InitReport> {
    // Options that would make another project are not silently dropped.
    let asked = args.python.is_some()
        || args.django.is_some()
        || args.name.is_some()
        || args.db.is_some()
        || args.drf
        || args.cache.is_some();
    if asked {
        return Err(user_error!(
            hint = "change it with `pyenvx pin python|django`, `pyenvx add`, or [services] in pyenvx.toml; `pyenvx init` alone changes nothing",
            "{} already has {CONFIG_FILE}",
            dir.display()
        ));
    }
    let project = Project::load(dir)?;
    let mut adoption = None;
    if args.wire_settings {
        let mut report = AdoptionReport::default();
        wire_settings(&project, &mut report)?;
        adoption = Some(report);
    }
    let lock = crate::project::lock::Lock::load(&project.lock_path())
        .ok()
        .flatten();
    Ok(InitReport {
        name: project.config.name.clone(),
        dir: project.root.clone(),
        python: project
            .config
            .python
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        django: lock
            .as_ref()
            .and_then(|l| l.package("django"))
            .map(|p| p.version.clone()),
        sync: SyncReport::default(),
        adoption,
        next_services: None,
        next_migrate: false,
        again: true,
        manage_dir: None,
        venv_aside: None,
    })
}

/// `--wire-settings`: the three lines after a literal `DATABASES`, or why not.
fn wire_settings(project: &Project, report: &mut AdoptionReport) -> Result<()> {
    let dir = &project.root;
    let Some(scan) = django::settings_scan::scan(dir) else {
        report.wire_refused =
            Some("no manage.py naming a settings module (DJANGO_SETTINGS_MODULE)".into());
        return Ok(());
    };
    let rel = scan
        .path
        .strip_prefix(dir)
        .unwrap_or(&scan.path)
        .to_path_buf();
    match &scan.style {
        django::settings_scan::DatabaseStyle::Url { via } => {
            report.reads_url_via = Some(via.to_string());
            return Ok(());
        }
        django::settings_scan::DatabaseStyle::Absent => {
            report.wire_refused = Some(format!(
                "{} (and its package) has no `DATABASES = {{…}}` dict to wire",
                rel.display()
            ));
            return Ok(());
        }
        django::settings_scan::DatabaseStyle::Literal { .. } => {}
    }
    let has_helper = project
        .config
        .dependencies
        .iter()
        .any(|d| config::requirement_name(d).is_ok_and(|n| n == "dj-database-url"));
    if !has_helper {
        report.wire_refused = Some(format!(
            "the lines for {} import dj_database_url, which the sandbox lacks: \
             `pyenvx add dj-database-url`, then `pyenvx init --wire-settings` again",
            rel.display()
        ));
        return Ok(());
    }
    let text = fs_err::read_to_string(&scan.path)?;
    match django::settings_scan::wire(&text) {
        Some(wired) => {
            crate::fs::write_atomic(&scan.path, wired.as_bytes())?;
            report.wired = Some(rel);
        }
        None => {
            report.wire_refused = Some(format!("{} is wired already", rel.display()));
        }
    }
    Ok(())
}

/// Whether `dir` (or a directory right under it) holds Python files.
fn holds_python_code(dir: &Path) -> bool {
    let py = |p: &Path| p.extension().is_some_and(|e| e == "py");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(|e| e.ok().map(|e| e.path())).any(|p| {
        py(&p)
            || (p.is_dir()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                && std::fs::read_dir(&p)
                    .map(|rd| rd.filter_map(|e| e.ok()).any(|e| py(&e.path())))
                    .unwrap_or(false))
    })
}

/// The project's name: `--name`, else the directory's.
/// `--name`; for an adopted project, what its Django module calls it
/// ([`adopt::project_name`]); else the directory's name.
fn project_name(args: &InitInput, dir: &Path) -> String {
    if let Some(n) = &args.name {
        return n.clone();
    }
    if adopt::is_existing_project(dir) {
        if let Some(n) = adopt::project_name(dir) {
            return n;
        }
    }
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "project".into())
}

/// The default interpreter for a new project: the newest stable CPython on the machine
/// (managed or found); only when there is none, the newest downloadable one.
fn default_python(env: &Env) -> Result<Interpreter> {
    let any = PythonRequest::any();
    let settings = env.settings;
    let best = python::find_newest(settings, &env.platform, &any)?;
    match best {
        Some(b) if !b.version().any_prerelease() => Ok(b),
        _ => python::find_or_install(settings, &env.platform, &any, env.reporter),
    }
}

/// A new project's interpreter without `--python`: the global pin when the `--django` pin
/// supports it (or there is none), else the newest Python that the Django pin supports by
/// Django's table (on the machine, else to download), else [`default_python`].
fn new_project_python(
    env: &Env,
    django: Option<&str>,
    step: &mut dyn FnMut(Step),
) -> Result<Interpreter> {
    let settings = env.settings;
    let spec = django.map(DjangoSpec::parse).transpose()?;
    // Only a series Django's table knows decides anything; a range is checked once resolved.
    let series = spec
        .as_ref()
        .and_then(|s| Some((s.series()?, s.exact())))
        .filter(|(series, _)| !django::support::pythons_for(*series).is_empty());
    let supports = |v: &Version| {
        let Some((series, exact)) = &series else {
            return true;
        };
        let py = django::support::minor_of(v);
        let verdict = match exact {
            Some(e) => django::support::check_version(e, py),
            None => django::support::check_series(*series, py),
        };
        matches!(verdict, django::support::Verdict::Supported { .. })
    };
    let offered = std::cell::OnceCell::new();
    let offered = || {
        offered
            .get_or_init(|| sync::available_versions(env))
            .clone()
    };
    if let Some(pin) = python::global_pin(&settings.dirs) {
        if let Ok(request) = PythonRequest::parse(&pin) {
            let candidate = match python::find_newest(settings, &env.platform, &request)? {
                Some(found) => Some(found.version().clone()),
                None => offered()
                    .into_iter()
                    .filter(|v| request.matches(v, false))
                    .max(),
            };
            if let Some(v) = candidate.filter(|v| supports(v)) {
                step(Step::ChoseNewPython {
                    minor: django::support::minor_of(&v),
                    global: Some(pin.clone()),
                    django: django.map(str::to_string),
                });
                return python::find_or_install(settings, &env.platform, &request, env.reporter);
            }
        }
    }
    if series.is_none() {
        return default_python(env);
    }
    // What the machine has first, as without `--django`: a download only when nothing here
    // suits the pin.
    let mut here: Vec<Version> = python::managed::list(&settings.dirs, &env.platform)
        .unwrap_or_default()
        .iter()
        .map(|i| i.version().clone())
        .collect();
    here.extend(
        python::discovery::find_all(&settings.dirs, &settings.shim_dirs())
            .unwrap_or_default()
            .into_iter()
            .map(|f| f.version),
    );
    let newest_supported = |versions: Vec<Version>| {
        versions
            .into_iter()
            .filter(|v| !v.any_prerelease() && supports(v))
            .max()
    };
    let Some(best) = newest_supported(here).or_else(|| newest_supported(offered())) else {
        // Nothing on offer suits the pin: the check before resolving says so, with the pins
        // that would work.
        return default_python(env);
    };
    let minor = django::support::minor_of(&best);
    step(Step::ChoseNewPython {
        minor,
        global: None,
        django: django.map(str::to_string),
    });
    python::find_or_install(
        settings,
        &env.platform,
        &PythonRequest::parse(&format!("{}.{}", minor.0, minor.1))?,
        env.reporter,
    )
}

/// The names in `dir` a user would call its contents (not `.git`, `.env` and other dotfiles),
/// sorted, directories with a `/`.
fn visible_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                return None;
            }
            let slash = if e.path().is_dir() { "/" } else { "" };
            Some(format!("{name}{slash}"))
        })
        .collect();
    names.sort();
    names
}

/// The newest Django LTS series that resolves on `interp`.
fn default_django(
    env: &Env,
    project_like: &Project,
    interp: &Interpreter,
    get_uv: &dyn Fn() -> Result<crate::installer::Uv>,
) -> Result<DjangoSpec> {
    let index = env.index(&project_like.config);
    let newest = sync::resolve_with(env, get_uv, interp, &["django".to_string()], &index, false)?;
    let newest = newest
        .iter()
        .find(|p| p.name == "django")
        .and_then(|p| Version::from_str(&p.version).ok())
        .context("the installer resolved `django` without a Django")?;
    let python = django::support::minor_of(interp.version());
    for (major, minor) in django::lts_candidates(&newest) {
        if django::support::check_series((major, minor), python)
            == django::support::Verdict::Unsupported
        {
            continue;
        }
        let spec = DjangoSpec::parse(&format!("{major}.{minor}"))?;
        if sync::resolve_with(env, get_uv, interp, &[spec.requirement()], &index, false).is_ok() {
            return Ok(spec);
        }
    }
    let r = newest.release();
    DjangoSpec::parse(&format!("{}.{}", r[0], r.get(1).copied().unwrap_or(0)))
}

fn init_in(
    dir: &Path,
    args: InitInput,
    env: &Env,
    step: &mut dyn FnMut(Step),
    wrote: &std::cell::Cell<bool>,
) -> Result<InitReport> {
    let settings = env.settings;
    let dir = fs_err::canonicalize(dir)?;
    let name = project_name(&args, &dir);
    let module = django::module_name(&name);
    // A directory with a manage.py, pyproject.toml, Pipfile or requirements file is a project
    // already: adopt it (read its pins, write only pyenvx's files) instead of starting one.
    let mut adopted = if adopt::is_existing_project(&dir) {
        Some(adopt::Adopted::read(&dir)?)
    } else {
        None
    };
    // The compose file's PostgreSQL, or the nearest newer major this machine runs: said in the
    // table and in pyenvx.toml, never silently.
    // The compose file's PostgreSQL unless `--db` chose otherwise (`none`, or another engine).
    let db = args.db.unwrap_or(DbChoice::None);
    let mut postgres_pick = adopted
        .as_mut()
        .filter(|_| matches!(args.db, None | Some(DbChoice::Postgres)))
        .and_then(|a| {
            a.settle_postgres(&crate::services::postgres::runnable_majors(&settings.dirs))
        });
    // Settings that write in a server database: its ENGINE alone declares the service (unless
    // `--db` said otherwise), and the server gets the role, password and database written there.
    let hard = adopted
        .as_ref()
        .and_then(|_| django::settings_scan::hard_coded(&dir));
    let mut settings_db = None;
    if let (Some(h), None) = (&hard, args.db) {
        if h.is_mysql() {
            settings_db = Some(crate::services::DbEngine::Mariadb);
            postgres_pick = None;
        } else if postgres_pick.is_none() {
            settings_db = Some(crate::services::DbEngine::Postgres);
        }
    }
    let serves_settings = hard.as_ref().is_some_and(|h| {
        if h.is_mysql() {
            db == DbChoice::Mariadb || settings_db.is_some()
        } else {
            db == DbChoice::Postgres || postgres_pick.is_some() || settings_db.is_some()
        }
    });
    let given =
        hard.as_ref()
            .filter(|_| serves_settings)
            .map(|h| crate::services::credentials::Given {
                user: h.user.clone(),
                password: h.password.clone(),
                database: h.name.clone(),
            });
    if let (Some(a), Some(h), Some(given)) = (adopted.as_mut(), &hard, &given) {
        if let Some(row) = hard_coded_row(h, given, settings_db.is_some()) {
            a.rows.push((h.file.clone(), row));
        }
    }
    // The compose file's Redis, or settings whose cache or broker is Redis, declare
    // [services.cache] as a postgres image declares the database (unless `--cache` said).
    let settings_redis = adopted
        .as_ref()
        .filter(|a| a.redis.is_none())
        .and_then(|_| django::settings_scan::redis_use(&dir));
    let cache = match (args.cache, &adopted) {
        (Some(c), _) => c,
        (None, Some(a)) if a.redis.is_some() || settings_redis.is_some() => CacheChoice::Redis,
        (None, _) => CacheChoice::None,
    };
    if let (Some(a), Some((file, what))) = (adopted.as_mut(), &settings_redis) {
        if cache == CacheChoice::Redis {
            let file = file
                .strip_prefix(&dir)
                .unwrap_or(file)
                .display()
                .to_string();
            let row = format!("Redis ({what}) ([services.cache])");
            match a.rows.iter_mut().find(|r| r.0 == file) {
                Some(r) => r.1 = format!("{}; {row}", r.1),
                None => a.rows.push((file, row)),
            }
        }
    }
    let startproject_wanted = !args.no_startproject && adopted.is_none();
    if startproject_wanted && holds_python_code(&dir) {
        return Err(user_error!(
            hint = "`pyenvx init --no-startproject` makes the sandbox without a Django project; `pyenvx init NEWDIR` starts one in a new directory",
            "{} holds Python code but no Django project (manage.py) or requirements: init does not scaffold a new Django project into it",
            dir.display()
        ));
    }
    // `manage.py` in `app/` or `src/`: said in the table, used by every hint.
    let manage_sub = crate::django::manage_dir(&dir)
        .filter(|m| *m != dir)
        .and_then(|m| m.strip_prefix(&dir).ok().map(Path::to_path_buf));
    if let (Some(adopted), Some(sub)) = (adopted.as_mut(), &manage_sub) {
        adopted.rows.insert(
            0,
            (
                format!("{}/manage.py", sub.display()),
                "the Django project (run its commands from there)".to_string(),
            ),
        );
    }

    // Never overwrite: check everything init would write before writing anything.
    let mut clashes: Vec<String> = [CONFIG_FILE, LOCK_FILE, ".venv"]
        .iter()
        .filter(|f| std::fs::symlink_metadata(dir.join(f)).is_ok())
        .map(|f| f.to_string())
        .collect();
    if startproject_wanted {
        for f in ["manage.py", module.as_str()] {
            if std::fs::symlink_metadata(dir.join(f)).is_ok() {
                clashes.push(f.to_string());
            }
        }
    }
    if !clashes.is_empty() {
        return Err(user_error!(
            hint = "pyenvx init never overwrites a project; use an empty directory, or `pyenvx sync` in an existing project",
            "{} already has {}",
            dir.display(),
            clashes.join(", ")
        ));
    }

    if adopted.is_none() {
        let entries = visible_entries(&dir);
        if !entries.is_empty() {
            step(Step::IntoNonEmpty {
                dir: &dir,
                entries,
                startproject: startproject_wanted.then(|| module.clone()),
            });
        }
    }
    let reporter = env.reporter;
    // Resolving needs uv: on a first run, it is fetched while the interpreter is looked for.
    // Not for a Python uv cannot serve (2.7, 3.5: pip resolves there), nor while adopting,
    // where the project's files choose the Python only later.
    let legacy_only = match &args.python {
        Some(req) => PythonRequest::parse(req).is_ok_and(|r| r.only_legacy()),
        None => adopted.is_some(),
    };
    let _uv = (!legacy_only).then(|| {
        crate::installer::prefetch_uv(
            settings,
            &crate::installer::IndexSettings::from_settings(settings),
        )
    });
    if let Some(adopted) = &adopted {
        step(Step::Adopting {
            dir: &dir,
            rows: &adopted.rows,
        });
    }
    // The project's own Django pin, as its files wrote it, unless `--django` says otherwise.
    let adopted_django = match (&args.django, &adopted) {
        (None, Some(a)) => a.django_pin()?,
        _ => None,
    };
    let interp = match (&args.python, &adopted) {
        (Some(req), _) => python::find_or_install(
            settings,
            &env.platform,
            &PythonRequest::parse(req)?,
            reporter,
        )?,
        (None, Some(a)) => {
            let pin = args.django.clone().or_else(|| adopted_django.clone());
            let django = pin.as_deref().map(DjangoSpec::parse).transpose()?;
            let (major, minor) =
                a.choose_python(&sync::available_versions(env), django.as_ref())?;
            step(Step::ChosePython {
                minor: (major, minor),
                with_django: django.is_some(),
            });
            python::find_or_install(
                settings,
                &env.platform,
                &PythonRequest::parse(&format!("{major}.{minor}"))?,
                reporter,
            )?
        }
        (None, None) => new_project_python(env, args.django.as_deref(), step)?,
    };
    // A path the user typed is written absolute: `pyenvx.toml` refuses relative ones, which a
    // cloned repository could point at its own files.
    let python_pin = match args.python.as_deref() {
        Some(p) if p.contains('/') && !Path::new(p).is_absolute() => {
            std::path::absolute(p).map_or_else(|_| p.to_string(), |a| a.display().to_string())
        }
        Some(p) => p.to_string(),
        None => sync::minor_string(&interp),
    };

    let mut dependencies = Vec::new();
    if args.drf {
        dependencies.push("djangorestframework".to_string());
    }
    match db {
        DbChoice::Postgres => {
            dependencies.push("dj-database-url".to_string());
            // Django before 4.2 imports psycopg2 only: the driver follows the pin when one is
            // known here (the default Django is a recent LTS).
            let pin = args.django.as_ref().or(adopted_django.as_ref());
            let driver = match pin {
                Some(pin) => DjangoSpec::parse(pin)?.postgres_driver(),
                None => "psycopg[binary]",
            };
            dependencies.push(driver.to_string());
        }
        // Django's recommended MySQL driver (it builds against the MariaDB client library).
        DbChoice::Mariadb => {
            dependencies.push("dj-database-url".to_string());
            dependencies.push("mysqlclient".to_string());
        }
        DbChoice::None => {}
    }
    // An adopted project that uses Redis brings its own client (redis, django-redis, celery's).
    if args.cache == Some(CacheChoice::Redis) {
        dependencies.push("redis".to_string());
    }
    if settings_db == Some(crate::services::DbEngine::Postgres) {
        // The settings' ENGINE imports a driver; the project's own stands in when it has one.
        let pin = args.django.as_ref().or(adopted_django.as_ref());
        let driver = match pin {
            Some(pin) => DjangoSpec::parse(pin)?.postgres_driver(),
            None => "psycopg[binary]",
        };
        dependencies.push(driver.to_string());
    }
    if let Some(adopted) = &adopted {
        // The project's own requirements, as it pinned them, stand in for the unpinned ones the
        // options add: no `dj-database-url` beside `dj-database-url==3.1.2`, no psycopg beside
        // the project's psycopg2.
        dependencies.retain(|d| !adopted.covers(d));
        dependencies.extend(adopted.dependencies.iter().cloned());
    }
    // The settings edit `--wire-settings` makes needs dj-database-url in the sandbox.
    let wiring = adopted.is_some()
        && args.wire_settings
        && (django::settings_scan::literal_advice(&dir).is_some()
            || django::settings_scan::hard_coded(&dir).is_some());
    if wiring
        && !dependencies
            .iter()
            .any(|d| config::requirement_name(d).is_ok_and(|n| n == "dj-database-url"))
    {
        dependencies.push("dj-database-url".to_string());
    }
    // A provisional project, in memory, so index settings and resolution work before any file exists.
    let groups: Vec<(String, Vec<String>)> = adopted
        .as_ref()
        .map(|a| a.groups.clone())
        .unwrap_or_default();
    let index_keys = adopted
        .as_ref()
        .map(|a| a.index.clone())
        .unwrap_or_default();
    let provisional_text = index_keys.apply(&config::render_new(
        &name,
        &python_pin,
        None,
        &dependencies,
        &groups,
        args.seed,
    ));
    let provisional = Project {
        root: dir.clone(),
        config: config::Config::parse(&provisional_text, &dir.join(CONFIG_FILE))?,
    };
    let index = env.index(&provisional.config);
    let get_uv = || env.uv(&index);
    let django_spec = match args.django.as_ref().or(adopted_django.as_ref()) {
        Some(spec) => DjangoSpec::parse(spec)?,
        None => default_django(env, &provisional, &interp, &get_uv)?,
    };
    let mut text = index_keys.apply(&config::render_new(
        &name,
        &python_pin,
        Some(django_spec.as_str()),
        &dependencies,
        &groups,
        args.seed,
    ));
    if db == DbChoice::Mariadb || settings_db == Some(crate::services::DbEngine::Mariadb) {
        text.push_str(&crate::services::init_table(
            crate::services::DbEngine::Mariadb,
            0,
        ));
    } else if db == DbChoice::Postgres || postgres_pick.is_some() || settings_db.is_some() {
        // The major adoption settled from the compose file, else the binaries `db up` will
        // use: the machine's newest, else the download.
        let table = crate::services::init_table(
            crate::services::DbEngine::Postgres,
            postgres_pick
                .as_ref()
                .map_or_else(crate::services::postgres::default_major, |p| p.major),
        );
        match &postgres_pick {
            Some(pick) if !pick.toml_comment().is_empty() => {
                text.push('\n');
                text.push_str(&pick.toml_comment());
                text.push_str(table.trim_start_matches('\n'));
            }
            _ => text.push_str(&table),
        }
    }
    if cache == CacheChoice::Redis {
        text.push_str(&crate::services::redis::init_table());
    }
    let project = Project {
        root: dir.clone(),
        config: config::Config::parse(&text, &dir.join(CONFIG_FILE))?,
    };
    // Resolve before writing: an impossible pin leaves the directory as it was. The project's
    // own lock holds the versions where they resolve for this Python.
    let mut seeds: Vec<String> = adopted
        .as_ref()
        .and_then(|a| a.locked.as_ref())
        .map(|l| l.constraints())
        .unwrap_or_default();
    // pip-compile leaves setuptools to the environment: a virtual environment of this Python
    // (before 3.12) has ensurepip's, which old code's `import pkg_resources` still finds; the
    // newest setuptools no longer ships it.
    let environment_setuptools = adopted
        .as_ref()
        .and_then(|a| a.locked.as_ref())
        .filter(|l| l.from_environment.iter().any(|n| n == "setuptools"))
        .and_then(|_| interp.bundled_version("setuptools"));
    if let Some(v) = &environment_setuptools {
        seeds.push(format!("setuptools=={v}"));
    }
    let sync::Supported {
        resolution: packages,
        allowed,
        unkept,
    } = super::pin::resolve_pin(
        env,
        &interp,
        &project.config,
        &index,
        (false, &seeds),
        args.allow_unsupported,
        super::pin::PinContext::Init,
    )?;
    if let Some(locked) = adopted.as_ref().and_then(|a| a.locked.as_ref()) {
        step(Step::LockSeeded {
            file: &locked.file,
            kept: locked.kept(&packages.packages),
            total: locked.versions.len(),
            unkept: &unkept,
            environment: environment_setuptools
                .as_deref()
                .filter(|v| {
                    packages
                        .packages
                        .iter()
                        .any(|p| p.name == "setuptools" && p.version == *v)
                })
                .map(|v| (v, interp.version().to_string())),
        });
    }
    wrote.set(true);
    crate::fs::write_atomic(&project.config_path(), text.as_bytes())?;
    let mut project = project;
    if let Some(pair) = allowed {
        sync::record_allowed(&project, pair)?;
        project.reload()?;
    }
    let lock = sync::write_lock(&project, &interp, packages)?;
    if adopted.is_some() {
        // An adopted project keeps its own ignore rules and its tracked files: only what pyenvx
        // itself creates, in `.git/info/exclude` when it is a checkout.
        crate::project::ignore::ignore(&dir, &[".venv/", ".pyenvx/"])?;
    } else {
        ensure_gitignore(
            &dir,
            &[".venv/", ".pyenvx/", ".env", "__pycache__/", "db.sqlite3"],
        )?;
    }
    if let Some(given) = &given {
        // Before anything else asks for the credentials: they are made once.
        crate::services::credentials::adopt(&project, given)?;
    }
    if db != DbChoice::None || cache == CacheChoice::Redis {
        // Credentials, ports, and `.env` (0600) with DATABASE_URL and REDIS_URL; a `.env` git tracks is the
        // project's and stays as it is (`pyenvx run` sets DATABASE_URL itself).
        if adopted.is_some() && crate::project::envfile::git_tracks(&dir, ".env") {
            crate::services::identity(settings, &project)?;
        } else {
            crate::services::init_project(settings, &project)?;
        }
    }
    let report = sync::sync(&project, &SyncOptions::default(), env)?;
    let mut adoption = if adopted.is_some() {
        Some(adopt_environment(&project, args.wire_settings, settings)?)
    } else {
        None
    };
    if let Some(adoption) = adoption.as_mut().filter(|_| args.ask_django) {
        adoption.django =
            crate::reporter::spinning(env.reporter, "asking Django where it connects", || {
                super::django_check::check(&project, env, true)
            })?;
        super::django_check::trust(env, &project)?;
    }
    // Never `migrate` as the next step when Django was asked and it would go elsewhere.
    let django_elsewhere = adoption
        .as_ref()
        .and_then(|a| a.django.as_ref())
        .is_some_and(|c| !c.reaches());

    if startproject_wanted {
        // Django's own Redis cache backend arrived in 4.0; older ones keep the default cache.
        let redis_backend = lock
            .package("django")
            .and_then(|p| p.version.split('.').next()?.parse::<u32>().ok())
            .is_some_and(|major| major >= 4);
        let django = lock
            .package("django")
            .and_then(|p| Version::from_str(&p.version).ok());
        startproject(
            &project,
            &module,
            django.as_ref(),
            args.drf,
            db != DbChoice::None,
            cache == CacheChoice::Redis && redis_backend,
        )?;
    }
    let has_db = db != DbChoice::None || postgres_pick.is_some() || settings_db.is_some();
    Ok(InitReport {
        name,
        python: interp.version().to_string(),
        django: lock.package("django").map(|p| p.version.clone()),
        sync: report,
        adoption,
        next_services: next_services(has_db, cache == CacheChoice::Redis),
        next_migrate: !django_elsewhere
            && (startproject_wanted || crate::django::manage_dir(&dir).is_some()),
        again: false,
        manage_dir: manage_sub,
        venv_aside: None,
        dir,
    })
}

/// The adoption table's row for settings that write in a server database: what the server
/// gets from them, and the port when the settings write one in (pyenvx's is allocated per
/// project).
fn hard_coded_row(
    h: &django::settings_scan::HardCoded,
    given: &crate::services::credentials::Given,
    declared: bool,
) -> Option<String> {
    let engine = if h.is_mysql() { "MySQL" } else { "PostgreSQL" };
    let taken = crate::services::credentials::servable(given);
    let mut parts = Vec::new();
    if let Some(u) = &taken.user {
        parts.push(format!("role {u}"));
    }
    if taken.password.is_some() {
        parts.push("its password".to_string());
    }
    if let Some(d) = &taken.database {
        parts.push(format!("database {d}"));
    }
    if parts.is_empty() && !declared && h.port.is_none() {
        // The ENGINE alone, with a service declared otherwise: nothing to say.
        return None;
    }
    let mut row = format!(
        "{engine} written in DATABASES{}",
        if declared { " ([services.db])" } else { "" }
    );
    if !parts.is_empty() {
        row.push_str(&format!(
            "; pyenvx's server gets the same {}",
            parts.join(", ")
        ));
    }
    let skipped: Vec<&str> = [
        ("USER", &given.user, &taken.user),
        ("PASSWORD", &given.password, &taken.password),
        ("NAME", &given.database, &taken.database),
    ]
    .iter()
    .filter(|(_, g, t)| g.is_some() && t.is_none())
    .map(|(k, _, _)| *k)
    .collect();
    if !skipped.is_empty() {
        row.push_str(&format!(
            " ({} not taken: quotes, spaces or backslashes)",
            skipped.join(", ")
        ));
    }
    if let Some(port) = &h.port {
        row.push_str(&format!(
            "\nPORT {port} written in: `pyenvx db up --port {port}` puts pyenvx's server there"
        ));
    }
    Some(row)
}

/// The one command that starts what init declared: both services, or the one there is.
fn next_services(has_db: bool, has_cache: bool) -> Option<&'static str> {
    match (has_db, has_cache) {
        (true, true) => Some("pyenvx up"),
        (true, false) => Some("pyenvx db up"),
        (false, true) => Some("pyenvx redis up"),
        (false, false) => None,
    }
}

/// An adopted project's environment: the compose file's web variables offered to `.env`, and
/// its settings' `DATABASES` checked (and, with `--wire-settings`, wired to `DATABASE_URL`).
fn adopt_environment(
    project: &Project,
    wire_requested: bool,
    settings: &crate::settings::Settings,
) -> Result<AdoptionReport> {
    let mut report = AdoptionReport::default();
    let dir = &project.root;
    // With [services.cache], a URL naming the compose file's Redis becomes pyenvx's.
    let local_redis = match crate::services::redis::cache_config(project)? {
        Some(_) => Some(crate::services::redis::identity(settings, project)?.url()),
        None => None,
    };
    // `.env`, or `.pyenvx/env` when git tracks `.env`: a tracked file is never written.
    let dotenv = crate::project::envfile::target(project);
    // A compose file pyenvx cannot read costs the variables, not the adoption.
    let web = crate::project::environment::web_environment(dir).unwrap_or_else(|e| {
        report.compose_error = Some(format!("{e:#}"));
        None
    });
    let mut services = Vec::new();
    let mut redis_services = Vec::new();
    if let Some(mut web) = web {
        web.local_redis = local_redis.clone();
        let merged = web.merge_into(&dotenv)?;
        services = web.services.clone();
        redis_services = web.redis_services.clone();
        report.compose = Some(ComposeVars {
            file: web.file,
            service: web.service,
            merged,
            missing: web.missing,
            samples: web.samples,
        });
    }
    if let Some(mut sample) = crate::project::environment::sample_environment(dir, &services)? {
        sample.redis_services = redis_services;
        sample.local_redis = local_redis;
        let merged = sample.merge_into(&dotenv)?;
        report.sample = Some(ComposeVars {
            file: sample.file,
            service: String::new(),
            merged,
            missing: Vec::new(),
            samples: Vec::new(),
        });
    }
    if project.dotenv_path().exists() && !crate::project::envfile::git_tracks(dir, ".env") {
        // Secrets: never in git, whoever wrote them.
        crate::project::ignore::ignore(dir, &[".env"])?;
    }
    if wire_requested {
        wire_settings(project, &mut report)?;
    } else if crate::services::db_config(project)?.is_some() {
        report.literal_advice = django::settings_scan::literal_advice(&project.root);
    }
    Ok(report)
}

fn ensure_gitignore(dir: &Path, lines: &[&str]) -> Result<()> {
    crate::project::ignore::append_missing(&dir.join(".gitignore"), lines)
}

/// Django's own `startproject` from the sandbox, the way the locked series can (`python -m
/// django` exists from 1.9; before it, `django-admin.py`), then the edits `--drf` and `--db`
/// ask for.
fn startproject(
    project: &Project,
    module: &str,
    django: Option<&Version>,
    drf: bool,
    db: bool,
    redis_cache: bool,
) -> Result<()> {
    let python = project.venv_dir().join("bin/python");
    let before_1_9 = django.is_some_and(|v| *v < Version::new([1, 9]));
    let mut command = std::process::Command::new(&python);
    if before_1_9 {
        let script = project.venv_dir().join("bin/django-admin.py");
        if script.is_file() {
            command.arg(script);
        } else {
            // What django-admin.py itself runs.
            command.args([
                "-c",
                "import sys; from django.core import management; management.execute_from_command_line(['django-admin.py'] + sys.argv[1:])",
            ]);
        }
    } else {
        command.args(["-m", "django"]);
    }
    let output = command
        .args(["startproject", module])
        .arg(&project.root)
        .current_dir(&project.root)
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        // Only a name Django refuses is fixed by another name.
        let hint = if stderr.contains("is not a valid") || stderr.contains("conflicts with") {
            "choose another name with `--name`, or pass `--no-startproject`"
        } else {
            "pass `--no-startproject` to make the sandbox without it"
        };
        return Err(user_error!(
            hint = hint,
            "django-admin startproject failed: {}",
            stderr.trim().lines().last().unwrap_or("")
        ));
    }
    let settings_path = project.root.join(module).join("settings.py");
    let mut text = fs_err::read_to_string(&settings_path)?;
    if drf {
        text = django::add_installed_app(&text, "rest_framework").unwrap_or(text);
    }
    if db {
        text = django::wire_database_url(&text).unwrap_or(text);
    }
    if redis_cache {
        text = django::wire_redis_url(&text);
    }
    text = django::default_sqlite(&text);
    crate::fs::write_atomic(&settings_path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: Option<&str>) -> InitInput {
        InitInput {
            dir: None,
            name: name.map(str::to_string),
            python: None,
            django: None,
            drf: false,
            db: None,
            cache: None,
            no_startproject: false,
            seed: false,
            allow_unsupported: false,
            wire_settings: false,
            ask_django: false,
        }
    }

    #[test]
    fn the_name_is_the_flag_else_the_directory() {
        assert_eq!(
            project_name(&input(Some("shop")), Path::new("/tmp/x")),
            "shop"
        );
        assert_eq!(project_name(&input(None), Path::new("/tmp/blog")), "blog");
        assert_eq!(project_name(&input(None), Path::new("/")), "project");
    }

    #[test]
    fn the_next_step_starts_what_was_declared() {
        assert_eq!(next_services(true, true), Some("pyenvx up"));
        assert_eq!(next_services(true, false), Some("pyenvx db up"));
        assert_eq!(next_services(false, true), Some("pyenvx redis up"));
        assert_eq!(next_services(false, false), None);
    }

    #[test]
    fn gitignore_gains_only_missing_lines_and_keeps_the_users() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let path = tmp.path().join(".gitignore");
        ensure_gitignore(tmp.path(), &[".venv/", ".env"]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), ".venv/\n.env\n");

        // A file without a final newline gets one before the new lines; present lines stay once.
        std::fs::write(&path, "node_modules/\n  .env  ").unwrap();
        ensure_gitignore(tmp.path(), &[".venv/", ".env"]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "node_modules/\n  .env  \n.venv/\n"
        );
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        ensure_gitignore(tmp.path(), &[".venv/"]).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            before,
            "nothing to add: the file is not rewritten"
        );
    }

    #[test]
    fn an_adopted_project_without_compose_or_services_reports_nothing() {
        let tmp = crate::test_machine::tempdir().unwrap();
        let text = config::render_new("site", "3.12", Some("5.2"), &[], &[], false);
        let project = Project {
            root: tmp.path().to_path_buf(),
            config: config::Config::parse(&text, &tmp.path().join(CONFIG_FILE)).unwrap(),
        };
        let settings = crate::settings::Settings::new(crate::dirs::Dirs::new(
            tmp.path().join("home"),
            tmp.path().join("cache"),
        ));
        let report = adopt_environment(&project, false, &settings).unwrap();
        assert!(report.compose_error.is_none());
        assert!(report.compose.is_none());
        assert!(report.wired.is_none());
        assert!(report.literal_advice.is_none());
        assert!(report.reads_url_via.is_none());
        assert!(!tmp.path().join(".gitignore").exists());
    }
}
