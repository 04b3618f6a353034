//! `pyenvx init | pin | sync | run | add | remove | status`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use anyhow::{Context, Result};
use pep440_rs::Version;

use crate::cli::{
    AddArgs, CacheChoice, DbChoice, InitArgs, PinArgs, RemoveArgs, RunArgs, StatusArgs, SyncArgs,
};
use crate::django::{self, DjangoSpec};
use crate::error::exit;
use crate::printer::Printer;
use crate::project::config::{self, ConfigEdit, CONFIG_FILE};
use crate::project::sync::{self, Env, LockMode, SyncOptions, SyncReport};
use crate::project::undo::Snapshot;
use crate::project::{adopt, find_root, Lock, Project, LOCK_FILE};
use crate::python::{self, Interpreter, PythonRequest};
use crate::settings::Settings;
use crate::user_error;

fn summarize(printer: &Printer, report: &SyncReport, started: Instant) {
    for removed in &report.removed {
        printer.info(format!(" {} {removed}", printer.dim("-")));
    }
    for added in &report.installed {
        printer.info(format!(" {} {added}", printer.code("+")));
    }
    let ms = started.elapsed().as_millis();
    if report.installed.is_empty() && report.removed.is_empty() && !report.venv_created {
        printer.success(format!(
            "Sandbox up to date (Python {}) in {ms} ms",
            report.python
        ));
    } else {
        printer.success(format!(
            "Synced .venv: {} installed, {} removed (Python {}) in {ms} ms",
            report.installed.len(),
            report.removed.len(),
            report.python
        ));
    }
}

pub fn sync(args: SyncArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    let started = Instant::now();
    let project = Project::from_cwd()?;
    let reporter = printer.reporter();
    let env = Env::new(settings, &reporter);
    let mode = if args.locked {
        LockMode::Locked
    } else if args.frozen {
        LockMode::Frozen
    } else {
        LockMode::Normal
    };
    let opts = SyncOptions {
        mode,
        upgrade: args.upgrade,
        replace_venv: args.replace_venv,
        allow_unsupported: args.allow_unsupported,
    };
    let report = sync::sync(&project, &opts, &env)?;
    summarize(printer, &report, started);
    super::shims::after_change(settings, printer, Some(&project.root));
    Ok(exit::OK)
}

/// The default interpreter for a new project: the newest stable CPython on the machine
/// (managed or found); only when there is none, the newest downloadable one.
fn default_python(env: &Env) -> Result<Interpreter> {
    let any = PythonRequest::any();
    let settings = env.settings;
    let mut best: Option<Interpreter> = None;
    if settings.preference.allows_managed() {
        let installs = python::managed::list(&settings.dirs, &env.platform)?;
        if let Some(m) =
            python::request::select_best(&any, installs.iter(), |i| (i.version(), i.freethreaded()))
        {
            best = Some(Interpreter::Managed(m.clone()));
        }
    }
    if settings.preference.allows_system() {
        let found = python::discovery::find_all(&settings.dirs, &settings.shim_dirs())?;
        if let Some(f) =
            python::request::select_best(&any, found.iter(), |f| (&f.version, f.freethreaded))
        {
            if best.as_ref().is_none_or(|b| f.version > *b.version()) {
                best = Some(Interpreter::System(f.clone()));
            }
        }
    }
    match best {
        Some(b) if !b.version().any_prerelease() => Ok(b),
        _ => python::find_or_install(settings, &env.platform, &any, env.reporter),
    }
}

/// The newest Django LTS series that resolves on `interp`.
fn default_django(
    env: &Env,
    project_like: &Project,
    interp: &Interpreter,
    get_uv: &dyn Fn() -> Result<crate::installer::Uv>,
) -> Result<DjangoSpec> {
    let index = env.index(project_like);
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

pub fn init(args: InitArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    let cwd = std::env::current_dir()?;
    let dir = match &args.dir {
        Some(d) if d.is_absolute() => d.clone(),
        Some(d) => cwd.join(d),
        None => cwd,
    };
    let created = std::fs::symlink_metadata(&dir).is_err();
    fs_err::create_dir_all(&dir)?;
    let dir = fs_err::canonicalize(&dir)?;
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
    let result = init_in(&dir, args, settings, printer, &wrote);
    if let Err(e) = result {
        // Before its first write, init has made nothing: what appeared meanwhile is another
        // process's (a second `init` refused by the clash check must not undo the first).
        let failed = if wrote.get() {
            snapshot.restore()
        } else {
            Vec::new()
        };
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
    result
}

/// The project's name: `--name`, else the directory's.
fn project_name(args: &InitArgs, dir: &Path) -> String {
    match &args.name {
        Some(n) => n.clone(),
        None => dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "project".into()),
    }
}

fn init_in(
    dir: &Path,
    args: InitArgs,
    settings: &Settings,
    printer: &Printer,
    wrote: &std::cell::Cell<bool>,
) -> Result<i32> {
    let started = Instant::now();
    let dir = fs_err::canonicalize(dir)?;
    let name = project_name(&args, &dir);
    let module = django::module_name(&name);
    // A directory with a manage.py, pyproject.toml, Pipfile or requirements file is a project
    // already: adopt it (read its pins, write only pyenvx's files) instead of starting one.
    let adopted = if adopt::is_existing_project(&dir) {
        Some(adopt::Adopted::read(&dir)?)
    } else {
        None
    };
    let startproject_wanted = !args.no_startproject && adopted.is_none();

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

    let reporter = printer.reporter();
    let env = Env::new(settings, &reporter);
    // Resolving needs uv: on a first run, it is fetched while the interpreter is looked for.
    let _uv = crate::installer::prefetch_uv(
        &settings.dirs,
        &crate::installer::IndexSettings::from_env(),
        settings.offline,
    );
    if let Some(adopted) = &adopted {
        printer.info(format!("Adopting the project in {}:", dir.display()));
        for (file, took) in &adopted.rows {
            printer.info(format!("  {:<24} {took}", printer.code(file)));
        }
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
            &reporter,
        )?,
        (None, Some(a)) => {
            let pin = args.django.clone().or_else(|| adopted_django.clone());
            let django = pin.as_deref().map(DjangoSpec::parse).transpose()?;
            let (major, minor) =
                a.choose_python(&sync::available_versions(&env), django.as_ref())?;
            printer.info(format!(
                "  {:<24} Python {major}.{minor}: the newest on offer that every file{} allows",
                printer.code("→"),
                if django.is_some() {
                    " and Django's table"
                } else {
                    ""
                }
            ));
            python::find_or_install(
                settings,
                &env.platform,
                &PythonRequest::parse(&format!("{major}.{minor}"))?,
                &reporter,
            )?
        }
        (None, None) => default_python(&env)?,
    };
    let python_pin = args
        .python
        .clone()
        .unwrap_or_else(|| sync::minor_string(&interp));

    let mut dependencies = Vec::new();
    if args.drf {
        dependencies.push("djangorestframework".to_string());
    }
    if args.db == DbChoice::Postgres {
        dependencies.push("dj-database-url".to_string());
        dependencies.push("psycopg[binary]".to_string());
    }
    if args.cache == CacheChoice::Redis {
        dependencies.push("redis".to_string());
    }
    if let Some(adopted) = &adopted {
        dependencies.extend(adopted.dependencies.iter().cloned());
    }
    // The settings edit `--wire-settings` makes needs dj-database-url in the sandbox.
    let wiring = adopted.is_some()
        && args.wire_settings
        && django::settings_scan::literal_advice(&dir).is_some();
    if wiring
        && !dependencies
            .iter()
            .any(|d| config::requirement_name(d).is_ok_and(|n| n == "dj-database-url"))
    {
        dependencies.push("dj-database-url".to_string());
    }
    // A provisional project, in memory, so index settings and resolution work before any file exists.
    let provisional_text = config::render_new(&name, &python_pin, None, &dependencies, args.seed);
    let provisional = Project {
        root: dir.clone(),
        config: config::Config::parse(&provisional_text, &dir.join(CONFIG_FILE))?,
    };
    let index = env.index(&provisional);
    let get_uv = || env.uv(&index);
    let django_spec = match args.django.as_ref().or(adopted_django.as_ref()) {
        Some(spec) => DjangoSpec::parse(spec)?,
        None => default_django(&env, &provisional, &interp, &get_uv)?,
    };
    let mut text = config::render_new(
        &name,
        &python_pin,
        Some(django_spec.as_str()),
        &dependencies,
        args.seed,
    );
    let compose_major = adopted
        .as_ref()
        .and_then(|a| a.postgres.as_ref())
        .map(|p| p.1);
    if args.db == DbChoice::Postgres || compose_major.is_some() {
        // The major the project's compose file runs, else the binaries `db up` will use: the
        // machine's newest, else the download.
        text.push_str(&crate::services::init_table(
            compose_major.unwrap_or_else(crate::services::postgres::default_major),
        ));
    }
    if args.cache == CacheChoice::Redis {
        text.push_str(&crate::services::redis::init_table());
    }
    let project = Project {
        root: dir.clone(),
        config: config::Config::parse(&text, &dir.join(CONFIG_FILE))?,
    };
    // Resolve before writing: an impossible pin leaves the directory as it was.
    let allow = |_| args.allow_unsupported;
    let suggest = |key: &str, value: &str| format!("`--{key} {value}`");
    let available = sync::available_minors_fn(&env);
    let policy = django::support::Policy {
        allow: &allow,
        suggest: &suggest,
        available: &available,
    };
    let (packages, allowed) = sync::resolve_supported(
        &env,
        &get_uv,
        &interp,
        &project.config,
        &index,
        false,
        &policy,
    )
    .map_err(|e| {
        explain_incompatible(
            e,
            PinContext::Init,
            &env,
            &interp,
            Some(&django_spec),
            &get_uv,
            &index,
        )
    })?;
    wrote.set(true);
    crate::python::catalog::write_atomic(&project.config_path(), text.as_bytes())?;
    let mut project = project;
    if let Some(pair) = allowed {
        sync::record_allowed(&project, pair)?;
        project.reload()?;
    }
    let lock = Lock::new(
        sync::locked_python(&interp),
        sync::lock_inputs(&project),
        packages,
    );
    lock.save(&project.lock_path())?;
    if adopted.is_some() {
        // An adopted project keeps its own ignore rules: only what pyenvx itself creates.
        ensure_gitignore(&dir, &[".venv/", ".pyenvx/"])?;
    } else {
        ensure_gitignore(
            &dir,
            &[".venv/", ".pyenvx/", ".env", "__pycache__/", "db.sqlite3"],
        )?;
    }
    if args.db == DbChoice::Postgres {
        // Credentials, a port, and `.env` (0600) with DATABASE_URL.
        crate::services::init_project(&settings.dirs, &project)?;
    }
    let report = sync::sync(&project, &SyncOptions::default(), &env)?;
    if adopted.is_some() {
        adopt_environment(printer, &project, args.wire_settings, wiring)?;
    }

    if startproject_wanted {
        // Django's own Redis cache backend arrived in 4.0; older ones keep the default cache.
        let redis_backend = lock
            .package("django")
            .and_then(|p| p.version.split('.').next()?.parse::<u32>().ok())
            .is_some_and(|major| major >= 4);
        startproject(
            &project,
            &module,
            args.drf,
            args.db == DbChoice::Postgres,
            args.cache == CacheChoice::Redis && redis_backend,
        )?;
    }
    summarize(printer, &report, started);
    printer.success(format!(
        "Initialized {} (Python {}, Django {}) in {}",
        name,
        interp.version(),
        lock.package("django").map_or("?", |p| p.version.as_str()),
        dir.display()
    ));
    if args.db == DbChoice::Postgres && args.cache == CacheChoice::Redis {
        printer.info(format!("  next: {}", printer.code("pyenvx up")));
    } else if args.db == DbChoice::Postgres {
        printer.info(format!("  next: {}", printer.code("pyenvx db up")));
    } else if args.cache == CacheChoice::Redis {
        printer.info(format!("  next: {}", printer.code("pyenvx cache up")));
    }
    if startproject_wanted || dir.join("manage.py").is_file() {
        printer.info(format!(
            "  next: {}",
            printer.code(
                "pyenvx run python manage.py migrate && pyenvx run python manage.py runserver"
            )
        ));
    }
    super::shims::after_change(settings, printer, Some(&dir));
    Ok(exit::OK)
}

/// An adopted project's environment: the compose file's web variables offered to `.env`, and
/// its settings' `DATABASES` checked (and, with `--wire-settings`, wired to `DATABASE_URL`).
fn adopt_environment(
    printer: &Printer,
    project: &Project,
    wire_requested: bool,
    wiring: bool,
) -> Result<()> {
    let dir = &project.root;
    let dotenv = project.dotenv_path();
    // A compose file pyenvx cannot read costs the variables, not the adoption.
    let web = crate::project::environment::web_environment(dir).unwrap_or_else(|e| {
        printer.warn(format!("{e:#}; its variables are not in .env"));
        None
    });
    if let Some(web) = web {
        let merged = web.merge_into(&dotenv)?;
        if !merged.added.is_empty() {
            let names: Vec<String> = merged
                .added
                .iter()
                .map(|(k, secret)| {
                    if *secret {
                        format!("{k} (fresh)")
                    } else {
                        k.clone()
                    }
                })
                .collect();
            printer.info(format!(
                "  {:<24} {} from {}'s `{}` service (mode 0600; `pyenvx run` reads it)",
                printer.code(".env"),
                names.join(", "),
                web.file,
                web.service
            ));
        }
        if !merged.kept.is_empty() {
            printer.info(format!(
                "  {:<24} kept your {}",
                printer.code(".env"),
                merged.kept.join(", ")
            ));
        }
        for (k, why) in &merged.skipped {
            printer.warn(format!(
                "{k} is not in .env: {why}; set it there if the code needs it"
            ));
        }
        for f in &web.missing {
            printer.warn(format!("{}: env_file `{f}` is missing", web.file));
        }
    }
    if dotenv.exists() {
        // Secrets: never in git, whoever wrote them.
        ensure_gitignore(dir, &[".env"])?;
    }
    if wiring {
        let scan = django::settings_scan::scan(dir).context("no settings file")?;
        let text = fs_err::read_to_string(&scan.path)?;
        if let Some(wired) = django::settings_scan::wire(&text) {
            crate::python::catalog::write_atomic(&scan.path, wired.as_bytes())?;
            printer.success(format!(
                "Wired {} to read DATABASE_URL (the dict stays as the fallback)",
                scan.path.strip_prefix(dir).unwrap_or(&scan.path).display()
            ));
        }
    } else if crate::services::db_config(project)?.is_some() {
        advise_literal_settings(printer, project);
    }
    if wire_requested && !wiring {
        if let Some(scan) = django::settings_scan::scan(dir) {
            if let django::settings_scan::DatabaseStyle::Url { via } = scan.style {
                printer.info(format!(
                    "  settings read DATABASE_URL already (through {via}); nothing to wire"
                ));
            }
        }
    }
    Ok(())
}

/// When the settings hard-code `DATABASES`, say so and show the one change that makes them read
/// `DATABASE_URL`; whether it did. pyenvx edits the settings only when `init --wire-settings`
/// asks.
pub(super) fn advise_literal_settings(printer: &Printer, project: &Project) -> bool {
    let Some((headline, change)) = django::settings_scan::literal_advice(&project.root) else {
        return false;
    };
    printer.warn(headline);
    for line in change.lines() {
        printer.info(format!("  {line}"));
    }
    printer.info(format!(
        "  with `{}` in the sandbox; `{}` makes both changes when it adopts a project",
        printer.code("pyenvx add dj-database-url"),
        printer.code("pyenvx init --wire-settings")
    ));
    true
}

fn ensure_gitignore(dir: &Path, lines: &[&str]) -> Result<()> {
    let path = dir.join(".gitignore");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let mut add = String::new();
    for &line in lines {
        if !existing.lines().any(|l| l.trim() == line) {
            add.push_str(line);
            add.push('\n');
        }
    }
    if !add.is_empty() {
        let sep = if existing.is_empty() || existing.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        crate::python::catalog::write_atomic(&path, format!("{existing}{sep}{add}").as_bytes())?;
    }
    Ok(())
}

/// Django's own `startproject` from the sandbox, then the edits `--drf` and `--db` ask for.
fn startproject(
    project: &Project,
    module: &str,
    drf: bool,
    db: bool,
    redis_cache: bool,
) -> Result<()> {
    let python = project.venv_dir().join("bin/python");
    let output = std::process::Command::new(&python)
        .args(["-m", "django", "startproject", module])
        .arg(&project.root)
        .current_dir(&project.root)
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !output.status.success() {
        return Err(user_error!(
            hint = "choose another name with `--name`, or pass `--no-startproject`",
            "django-admin startproject failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
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
    crate::python::catalog::write_atomic(&settings_path, text.as_bytes())
}

/// Where a pin is being tried, which decides how a suggestion is spelled.
#[derive(Clone, Copy)]
enum PinContext {
    /// `pyenvx init`: suggest its flags.
    Init,
    /// An existing project: suggest `pyenvx pin`.
    Project,
}

/// Turn a failed resolution into the error a Django developer needs: which pin conflicts
/// with which Python, and the nearest pins that would work.
fn explain_incompatible(
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
    let suggest = |key: &str, value: &str| match during {
        PinContext::Init => format!("`--{key} {value}`"),
        PinContext::Project => format!("`pyenvx pin {key} {value}`"),
    };
    let mut suggestions = Vec::new();
    if let Some((major, minor)) = spec.series() {
        // A series past the newest release (a typo, or one not out yet): the newest that
        // installs on this Python is the nearest, and one resolution finds it.
        let newest = sync::resolve_with(env, get_uv, interp, &["django".into()], index, false)
            .ok()
            .and_then(|resolved| {
                let django = resolved.into_iter().find(|r| r.name == "django")?;
                DjangoSpec::parse(&django.version).ok()?.series()
            });
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
    let message = match &requires {
        None => format!("no Django release matches `{spec}` on Python {}", interp.version()),
        Some((who, req)) if who.starts_with("django") => format!(
            "Django {spec} requires Python {req} but the project's Python is {}",
            interp.version()
        ),
        Some((who, req)) => format!(
            "Django {spec} cannot be installed on Python {}: its dependency {who} requires Python {req}",
            interp.version()
        ),
    };
    let hint = if suggestions.is_empty() {
        "check the pin against the releases your package index has".to_string()
    } else {
        format!("nearest pins that work: {}", suggestions.join(" or "))
    };
    err.context(crate::error::UserError::new(message).hint(hint))
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
    let specs = pep440_rs::VersionSpecifiers::from_str(requires).ok()?;
    let mut versions = sync::available_versions(env);
    versions.retain(|v| specs.contains(v));
    versions.first().map(|v| {
        let r = v.release();
        format!("{}.{}", r[0], r.get(1).copied().unwrap_or(0))
    })
}

/// Apply a pin: check it resolves (nothing changes if not), then edit pyenvx.toml and sync.
fn apply_pin(
    settings: &Settings,
    printer: &Printer,
    key: &str,
    value: &str,
    (upgrade, allow_unsupported): (bool, bool),
) -> Result<i32> {
    let started = Instant::now();
    let mut project = Project::from_cwd()?;
    let reporter = printer.reporter();
    let env = Env::new(settings, &reporter);
    // Held from reading pyenvx.toml to the end of the sync: every `add`, `remove` and `pin`
    // takes it before reading, so none writes text another changed meanwhile.
    let guard = sync::project_lock(&project, &reporter)?;
    project.reload()?;

    let mut candidate_text = ConfigEdit::open(&project.config_path())?;
    candidate_text.set_project_str(key, value)?;
    let candidate = Project {
        root: project.root.clone(),
        config: config::Config::parse(&candidate_text.text(), &project.config_path())?,
    };
    let index = env.index(&candidate);
    let get_uv = || env.uv(&index);
    let interp = sync::interpreter(&candidate, None, &env)?;
    let allow = |pair| allow_unsupported || candidate.config.allow_unsupported.contains(&pair);
    let suggest = |key: &str, value: &str| format!("`pyenvx pin {key} {value}`");
    let available = sync::available_minors_fn(&env);
    let policy = django::support::Policy {
        allow: &allow,
        suggest: &suggest,
        available: &available,
    };
    let (packages, allowed) = sync::resolve_supported(
        &env,
        &get_uv,
        &interp,
        &candidate.config,
        &index,
        upgrade,
        &policy,
    )
    .map_err(|e| {
        explain_incompatible(
            e,
            PinContext::Project,
            &env,
            &interp,
            candidate.config.django.as_ref(),
            &get_uv,
            &index,
        )
    })?;

    if let Some(pair) = allowed {
        candidate_text.allow_unsupported(pair)?;
    }
    candidate_text.save()?;
    project.reload()?;
    let lock = Lock::new(
        sync::locked_python(&interp),
        sync::lock_inputs(&project),
        packages,
    );
    lock.save(&project.lock_path())?;
    // Still under the lock: an `add` waiting for it edits what this pin wrote, never the
    // text from before it.
    let report = sync::sync_held(&project, &SyncOptions::default(), &env, &guard)?;
    drop(guard);
    summarize(printer, &report, started);
    let django = lock
        .package("django")
        .map_or_else(|| "-".to_string(), |p| p.version.clone());
    printer.success(format!(
        "Pinned {key} to `{value}`: Python {}, Django {django}",
        interp.version()
    ));
    super::shims::after_change(settings, printer, Some(&project.root));
    Ok(exit::OK)
}

pub fn pin_python(args: PinArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    PythonRequest::parse(&args.spec)?;
    apply_pin(
        settings,
        printer,
        "python",
        &args.spec,
        (args.upgrade, args.allow_unsupported),
    )
}

pub fn pin_django(args: PinArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    DjangoSpec::parse(&args.spec)?;
    apply_pin(
        settings,
        printer,
        "django",
        &args.spec,
        (args.upgrade, args.allow_unsupported),
    )
}

pub fn add(args: AddArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
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
            printer.info(format!(
                "ignored {option} (pyenvx takes index settings from [tool.pyenvx] or PYENVX_INDEX_URL)"
            ));
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
                    printer.info(
                        "Django is the project's pin already; `pyenvx pin django 5.2` changes it",
                    );
                }
                dependencies.extend(extras);
                if !specifier.is_empty() {
                    DjangoSpec::parse(&specifier)?;
                    printer.info(format!(
                        "Django `{specifier}` becomes the project's Django pin"
                    ));
                    django_pin = Some(specifier);
                }
            }
        }
    }
    edit_dependencies(settings, printer, args.allow_unsupported, |edit| {
        if let Some(pin) = &django_pin {
            edit.set_project_str("django", pin)?;
        }
        edit.add_dependencies(&dependencies)?;
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
fn django_requirement(req: &str) -> Result<Option<(String, Option<String>)>> {
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

pub fn remove(args: RemoveArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    edit_dependencies(settings, printer, false, |edit| {
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

/// Edit the dependencies, lock and sync; on a failed resolution pyenvx.toml is left as it was.
fn edit_dependencies(
    settings: &Settings,
    printer: &Printer,
    allow_unsupported: bool,
    change: impl FnOnce(&mut ConfigEdit) -> Result<()>,
) -> Result<i32> {
    let started = Instant::now();
    let project = Project::from_cwd()?;
    let reporter = printer.reporter();
    let env = Env::new(settings, &reporter);
    // Read, edit, resolve and write under the project's sync lock, as `pin` does: two edits
    // at once would otherwise each write the file as it was before the other.
    let guard = sync::project_lock(&project, &reporter)?;
    let original = fs_err::read_to_string(project.config_path())?;
    let mut edit = ConfigEdit::open(&project.config_path())?;
    change(&mut edit)?;
    edit.save()?;
    let opts = SyncOptions {
        allow_unsupported,
        ..SyncOptions::default()
    };
    let result =
        Project::load(&project.root).and_then(|p| sync::sync_held(&p, &opts, &env, &guard));
    match result {
        Ok(report) => {
            drop(guard);
            summarize(printer, &report, started);
            super::shims::after_change(settings, printer, Some(&project.root));
            Ok(exit::OK)
        }
        Err(e) => {
            crate::python::catalog::write_atomic(&project.config_path(), original.as_bytes())?;
            Err(e)
        }
    }
}

pub fn run(args: RunArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    let project = Project::from_cwd()?;
    if !sync::is_fresh(&project) {
        let reporter = printer.reporter();
        let env = Env::new(settings, &reporter);
        let started = Instant::now();
        let report = sync::sync(&project, &SyncOptions::default(), &env)?;
        if !report.installed.is_empty() || !report.removed.is_empty() || report.venv_created {
            summarize(printer, &report, started);
        }
    }
    let venv = project.venv_dir();
    let mut command = std::process::Command::new(&args.command[0]);
    command.args(&args.command[1..]);
    let dotenv = dotenv_vars(&project)?;
    // The database's DATABASE_URL and PG* variables, read from the port registry and the
    // project's credentials (nothing is started); .env and the process environment win.
    for (k, v) in crate::services::env_vars(&settings.dirs, &project)? {
        if std::env::var_os(&k).is_none() && !dotenv.iter().any(|(d, _)| *d == k) {
            command.env(k, v);
        }
    }
    for (k, v) in dotenv {
        // The process environment wins over .env, as with every dotenv loader.
        if std::env::var_os(&k).is_none() {
            command.env(k, v);
        }
    }
    command.env("VIRTUAL_ENV", &venv);
    command.env_remove("PYTHONHOME");
    let mut path = vec![venv.join("bin")];
    if let Some(existing) = std::env::var_os("PATH") {
        path.extend(std::env::split_paths(&existing));
    }
    command.env(
        "PATH",
        std::env::join_paths(path).context("PATH contains an invalid entry")?,
    );
    exec(command, &args.command[0])
}

/// Replace pyenvx with the command: signals reach it directly and its exit code is ours.
fn exec(mut command: std::process::Command, program: &OsString) -> Result<i32> {
    use std::os::unix::process::CommandExt;
    let err = command.exec();
    Err(if err.kind() == std::io::ErrorKind::NotFound {
        user_error!(
            hint = "add it with `pyenvx add`, or check the spelling",
            "command not found in the sandbox or on PATH: {}",
            program.to_string_lossy()
        )
    } else {
        anyhow::Error::new(err).context(format!("cannot run {}", program.to_string_lossy()))
    })
}

fn dotenv_vars(project: &Project) -> Result<Vec<(String, String)>> {
    let path = project.dotenv_path();
    if !path.exists() {
        return Ok(Vec::new());
    }
    let iter = dotenvy::from_path_iter(&path)
        .map_err(|e| user_error!("cannot read {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for item in iter {
        let (k, v) = item.map_err(|e| {
            user_error!(
                hint = "lines look like `KEY=value`",
                "{}: {e}",
                path.display()
            )
        })?;
        out.push((k, v));
    }
    Ok(out)
}

#[derive(serde::Serialize)]
struct Status {
    root: PathBuf,
    name: String,
    python_pin: Option<String>,
    django_pin: Option<String>,
    dependencies: Vec<String>,
    python: Option<String>,
    django: Option<String>,
    /// Set when Django does not support the locked Python (Django's own table).
    unsupported: Option<String>,
    locked: bool,
    lock_matches_config: bool,
    synced: bool,
    /// Locked distributions `.venv` holds another file of (`name version`).
    mismatched: Vec<String>,
    packages: Vec<PackageJson>,
    /// In `.venv` but not in the lock (installed by hand, or another version): `name==version`.
    unlocked: Vec<String>,
    /// In the lock but not in `.venv` (uninstalled by hand): `name==version`.
    missing: Vec<String>,
    /// Installed editable by hand and not locked (sync keeps them): `name==version`.
    editable: Vec<String>,
    services: Vec<ServiceJson>,
}

#[derive(serde::Serialize)]
struct PackageJson {
    name: String,
    version: String,
}

#[derive(serde::Serialize)]
struct ServiceJson {
    name: String,
    /// `db status`'s view, for the database; `None` when it could not be read (`error` says why).
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<crate::services::Status>,
    /// `cache status`'s view, for the cache.
    #[serde(skip_serializing_if = "Option::is_none", rename = "state")]
    cache: Option<crate::services::redis::CacheStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Each `[services.*]` table with what is known of it now. Only the database has a backend;
/// a failure to ask (an engine that is not running) is reported, not fatal: status still shows
/// the rest.
fn services_status(settings: &Settings, printer: &Printer, project: &Project) -> Vec<ServiceJson> {
    let reporter = printer.reporter();
    let env = Env::new(settings, &reporter);
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
                match crate::services::redis::status(&settings.dirs, project) {
                    Ok(state) => {
                        service.url = Some(state.url.clone());
                        service.cache = Some(state);
                    }
                    Err(e) => service.error = Some(format!("{e:#}")),
                }
            }
            if name == "db" {
                let read = crate::services::status(&env, project).and_then(|state| {
                    let url = crate::services::identity(&settings.dirs, project)?.url();
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

pub fn status(args: StatusArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    let cwd = std::env::current_dir()?;
    if find_root(&cwd).is_none() {
        Project::discover(&cwd)?;
    }
    let project = Project::from_cwd()?;
    let lock = Lock::load(&project.lock_path())?;
    let inputs = sync::lock_inputs(&project);
    // Without a lock or a `.venv` there is nothing to compare; the state line says why already.
    let drift = lock
        .as_ref()
        .filter(|_| project.venv_dir().is_dir())
        .and_then(|l| sync::venv_drift(&project, l, &crate::platform::Platform::current()).ok())
        .unwrap_or_default();
    let status = Status {
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
        synced: sync::is_fresh(&project)
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
        services: services_status(settings, printer, &project),
    };
    if args.json {
        printer.data(serde_json::to_string_pretty(&status)?);
        return Ok(exit::OK);
    }
    let or_dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    printer.data(format!(
        "project   {} ({})",
        status.name,
        status.root.display()
    ));
    printer.data(format!(
        "python    {} (pin `{}`)",
        or_dash(&status.python),
        or_dash(&status.python_pin)
    ));
    printer.data(format!(
        "django    {} (pin `{}`)",
        or_dash(&status.django),
        or_dash(&status.django_pin)
    ));
    if let Some(note) = &status.unsupported {
        printer.data(format!("warning   {note}"));
    }
    if !status.dependencies.is_empty() {
        printer.data(format!("deps      {}", status.dependencies.join(", ")));
    }
    let state = match (status.locked, status.lock_matches_config, status.synced) {
        (false, _, _) => "not locked: run `pyenvx sync`",
        (true, false, _) => "pyenvx.toml changed since the lock: run `pyenvx sync`",
        (true, true, false) => ".venv differs from the lock: run `pyenvx sync`",
        (true, true, true) => "in sync",
    };
    printer.data(format!("state     {state}"));
    if !status.unlocked.is_empty() {
        printer.data(format!(
            "unlocked  {} (in .venv, not in the lock: `pyenvx add NAME` locks one, `pyenvx sync` removes them)",
            status.unlocked.join(", ")
        ));
    }
    if !status.editable.is_empty() {
        printer.data(format!(
            "editable  {} (installed editable by hand, not locked: `pyenvx sync` keeps them)",
            status.editable.join(", ")
        ));
    }
    if !status.missing.is_empty() {
        printer.data(format!(
            "missing   {} (in the lock, not in .venv: `pyenvx sync` installs them)",
            status.missing.join(", ")
        ));
    }
    if !status.mismatched.is_empty() {
        printer.data(format!(
            "mismatch  {}: installed from another file than the lock's hash names",
            status.mismatched.join(", ")
        ));
    }
    printer.data(format!("packages  {}", status.packages.len()));
    for service in &status.services {
        let line = match (&service.state, &service.error) {
            (None, None) if service.cache.is_some() => {
                let c = service.cache.as_ref().expect("checked");
                let state = match (c.running, c.accepting_connections) {
                    (false, _) => "stopped: `pyenvx cache up`",
                    (true, true) => "running",
                    (true, false) => "running, not answering",
                };
                format!("Redis ({}) on 127.0.0.1:{}, {state}", c.backend, c.port)
            }
            (Some(db), _) => {
                let state = match (db.initialized, db.running, db.accepting_connections) {
                    (false, false, _) => "not created yet: `pyenvx db up`",
                    (true, false, _) => "stopped: `pyenvx db up`",
                    (_, true, true) => "running",
                    (_, true, false) => "running, not accepting connections",
                };
                format!(
                    "PostgreSQL {} ({}) on 127.0.0.1:{}, {state}",
                    db.version, db.backend, db.port
                )
            }
            (None, Some(e)) => format!("unknown: {e}"),
            (None, None) => "declared".to_string(),
        };
        printer.data(format!("{:<9} {line}", service.name));
    }
    Ok(exit::OK)
}
