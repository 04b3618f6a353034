//! `pyenvx init | pin | sync | run | add | remove | status`: arguments in, the workflow in
//! `ops` called, its report printed. What the commands do lives in `ops`; what users read
//! (wording, order, colours) lives here.

use std::ffi::OsString;
use std::time::Instant;

use anyhow::Result;

use crate::cli::{AddArgs, InitArgs, PinArgs, RemoveArgs, RunArgs, StatusArgs, SyncArgs};
use crate::django::DjangoSpec;
use crate::error::exit;
use crate::ops;
use crate::printer::Printer;
use crate::project::sync::{self, LockMode, SyncOptions, SyncReport};
use crate::project::Env;
use crate::project::{find_root, Project};
use crate::python::PythonRequest;
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
        groups: sync::GroupRequest {
            with: args.group,
            without: args.no_group,
            only: args.only_group,
            all: args.all_groups,
        },
        upgrade_packages: args.upgrade_package,
    };
    let report = sync::sync(&project, &opts, &env)?;
    summarize(printer, &report, started);
    super::shims::after_change(settings, printer, Some(&project.root));
    Ok(exit::OK)
}

pub fn init(args: InitArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    let started = Instant::now();
    let reporter = printer.reporter();
    let env = Env::new(settings, &reporter);
    let input = ops::init::InitInput {
        dir: args.dir,
        name: args.name,
        python: args.python,
        django: args.django,
        drf: args.drf,
        db: args.db.map(Into::into),
        cache: args.cache.map(Into::into),
        no_startproject: args.no_startproject,
        seed: args.seed,
        allow_unsupported: args.allow_unsupported,
        wire_settings: args.wire_settings,
        ask_django: args.ask_django,
    };
    let report = ops::init::init(input, &env, &mut |step| match step {
        ops::init::Step::Adopting { dir, rows } => {
            printer.info(format!("Adopting the project in {}:", dir.display()));
            for (file, took) in rows {
                let mut lines = took.lines();
                printer.info(format!(
                    "  {:<24} {}",
                    printer.code(file),
                    lines.next().unwrap_or("")
                ));
                for more in lines {
                    printer.info(format!("  {:<24} {more}", ""));
                }
            }
        }
        ops::init::Step::ChosePython {
            minor: (major, minor),
            with_django,
        } => printer.info(format!(
            "  {:<24} Python {major}.{minor}: the newest on offer that every file{} allows",
            printer.code("→"),
            if with_django {
                " and Django's table"
            } else {
                ""
            }
        )),
        ops::init::Step::LockSeeded {
            file,
            kept,
            total,
            unkept,
            environment,
        } => {
            let rest = if kept + unkept.len() >= total {
                ""
            } else if unkept.is_empty() {
                " (the rest do not resolve for this Python, or nothing needs them)"
            } else {
                " (nothing needs the rest but for those below, which do not resolve)"
            };
            printer.info(format!(
                "  {:<24} {kept} of {total} versions locked as {file} has them{rest}",
                printer.code("→"),
            ));
            // Each pin that was left out, with the resolver's reason: the user may want it back.
            const SHOWN: usize = 8;
            for u in unkept.iter().take(SHOWN) {
                printer.info(format!("  {:<24} not kept: {} ({})", "", u.pin, u.why));
            }
            if unkept.len() > SHOWN {
                let more: Vec<&str> = unkept[SHOWN..].iter().map(|u| u.pin.as_str()).collect();
                printer.info(format!("  {:<24} not kept either: {}", "", more.join(", ")));
            }
            if let Some((version, python)) = environment {
                printer.info(format!(
                    "  {:<24} setuptools {version}, as a Python {python} virtual environment has it ({file} leaves it to the environment)",
                    printer.code("→"),
                ));
            }
        }
        ops::init::Step::IntoNonEmpty {
            dir,
            entries,
            startproject,
        } => {
            let shown: Vec<&str> = entries.iter().take(3).map(String::as_str).collect();
            let more = match entries.len().saturating_sub(3) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            let django = match startproject {
                Some(module) => format!(", and Django's manage.py and {module}/"),
                None => String::new(),
            };
            printer.info(format!(
                "{} holds {}{more} but no project to adopt: pyenvx adds pyenvx.toml, pyenvx.lock, .python-version, .venv{django} beside them and changes none of them",
                dir.display(),
                shown.join(", ")
            ))
        }
        ops::init::Step::ChoseNewPython {
            minor: (major, minor),
            global,
            django,
        } => {
            let why = match (global, django) {
                (Some(pin), Some(d)) => format!(
                    "the global pin `{pin}` (`pyenvx python pin --global`), which Django {d} supports"
                ),
                (Some(pin), None) => {
                    format!("the global pin `{pin}` (`pyenvx python pin --global`)")
                }
                (None, Some(d)) => {
                    format!("the newest here (else to download) that Django {d} supports (Django's table)")
                }
                (None, None) => "the newest on offer".to_string(),
            };
            printer.info(format!(
                "  {:<24} Python {major}.{minor}: {why}",
                printer.code("→")
            ))
        }
    })?;
    if let Some(adoption) = &report.adoption {
        print_adoption(printer, adoption);
        if let Some(check) = &adoption.django {
            print_django_check(printer, check, false);
        }
    }
    if report.again {
        printer.success(format!(
            "{} is a pyenvx project already ({}): nothing else changed",
            report.dir.display(),
            report.name
        ));
        printer.info(format!(
            "  `{}` brings .venv up to date; `{}` edits the settings",
            printer.code("pyenvx sync"),
            printer.code("pyenvx init --wire-settings")
        ));
        return Ok(exit::OK);
    }
    if let Some(aside) = &report.venv_aside {
        printer.info(format!(
            "  {:<24} the project's own environment, moved to {} (delete it once .venv works for you)",
            printer.code(".venv"),
            aside.display()
        ));
    }
    summarize(printer, &report.sync, started);
    printer.success(format!(
        "Initialized {} (Python {}, Django {}) in {}",
        report.name,
        report.python,
        report.django.as_deref().unwrap_or("?"),
        report.dir.display()
    ));
    if let Some(next) = report.next_services {
        printer.info(format!("  next: {}", printer.code(next)));
    }
    if report.next_migrate {
        // `migrate` arrived in Django 1.7; before it, `syncdb` made the tables.
        let before_1_7 = report.django.as_deref().is_some_and(|v| {
            let mut parts = v.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
            (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) < (1, 7)
        });
        let tables = if before_1_7 { "syncdb" } else { "migrate" };
        let cd = report
            .manage_dir
            .as_ref()
            .map(|d| format!("cd {} && ", d.display()))
            .unwrap_or_default();
        printer.info(format!(
            "  next: {}",
            printer.code(format!(
                "{cd}pyenvx run python manage.py {tables} && pyenvx run python manage.py runserver"
            ))
        ));
    }
    super::shims::after_change(settings, printer, Some(&report.dir));
    Ok(exit::OK)
}

/// What adoption did with the project's compose variables and settings.
fn print_adoption(printer: &Printer, adoption: &ops::init::AdoptionReport) {
    if let Some(e) = &adoption.compose_error {
        printer.warn(format!("{e}; its variables are not in .env"));
    }
    for web in adoption.compose.iter().chain(&adoption.sample) {
        let merged = &web.merged;
        let origin = if web.service.is_empty() {
            web.file.clone()
        } else {
            format!("{}'s `{}` service", web.file, web.service)
        };
        for (missing, sample) in &web.samples {
            printer.info(format!(
                "  {:<24} env_file `{missing}` is not there: its values from {sample} (secrets fresh)",
                printer.code(&web.file)
            ));
        }
        if !merged.added.is_empty() {
            let names: Vec<String> = merged
                .added
                .iter()
                .map(|(k, secret)| {
                    if merged.local.contains(k) {
                        format!("{k} (pyenvx's Redis)")
                    } else if *secret {
                        format!("{k} (fresh)")
                    } else {
                        k.clone()
                    }
                })
                .collect();
            printer.info(format!(
                "  {:<24} {} from {origin} (mode 0600; `pyenvx run` reads it)",
                printer.code(".env"),
                names.join(", "),
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
    if let Some(path) = &adoption.wired {
        printer.success(format!(
            "Wired {} to read DATABASE_URL (the dict stays as the fallback)",
            path.display()
        ));
    }
    if let Some((headline, change)) = &adoption.literal_advice {
        print_literal_advice(printer, headline, change);
    }
    if let Some(why) = &adoption.wire_refused {
        printer.warn(format!("--wire-settings changed nothing: {why}"));
    }
    if let Some(via) = &adoption.reads_url_via {
        printer.info(format!(
            "  settings read DATABASE_URL already (through {via}); nothing to wire"
        ));
    }
}

/// When the settings hard-code `DATABASES`, say so and show the one change that makes them read
/// `DATABASE_URL`; whether it did. pyenvx edits the settings only when `init --wire-settings`
/// asks.
pub(super) fn advise_literal_settings(printer: &Printer, project: &Project) -> bool {
    let Some((headline, change)) = crate::django::settings_scan::literal_advice(&project.root)
    else {
        return false;
    };
    print_literal_advice(printer, &headline, &change);
    true
}

fn print_literal_advice(printer: &Printer, headline: &str, change: &str) {
    printer.warn(headline);
    for line in change.lines() {
        printer.info(format!("  {line}"));
    }
    printer.info(format!(
        "  with `{}` in the sandbox; `{}` makes both changes when it adopts a project",
        printer.code("pyenvx add dj-database-url"),
        printer.code("pyenvx init --wire-settings")
    ));
}

/// Apply a pin (`ops::pin::apply_pin`) and say what it did.
fn apply_pin(
    settings: &Settings,
    printer: &Printer,
    key: &str,
    value: &str,
    (upgrade, allow_unsupported): (bool, bool),
) -> Result<i32> {
    let started = Instant::now();
    let reporter = printer.reporter();
    let env = Env::new(settings, &reporter);
    let input = ops::pin::PinInput {
        key: key.to_string(),
        value: value.to_string(),
        upgrade,
        allow_unsupported,
    };
    let report = ops::pin::apply_pin(&env, input)?;
    summarize(printer, &report.sync, started);
    printer.success(format!(
        "Pinned {} to `{}`: Python {}, Django {}",
        report.key, report.value, report.python, report.django
    ));
    super::shims::after_change(settings, printer, Some(&report.root));
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

/// `pyenvx python pin [REQUEST]` without `--global`: the project's pin, as uv's `python pin`
/// writes the project's `.python-version`.
pub fn python_pin_project(
    args: crate::cli::PythonPinArgs,
    settings: &Settings,
    printer: &Printer,
) -> Result<i32> {
    let cwd = std::env::current_dir()?;
    if find_root(&cwd).is_none() {
        return Err(user_error!(
            hint = "`pyenvx python pin --global 3.12` sets the Python used outside projects; `pyenvx init` makes a project here",
            "no pyenvx.toml in {} or above: `pyenvx python pin` pins the project's Python",
            cwd.display()
        ));
    }
    let Some(spec) = args.request else {
        let project = Project::from_cwd()?;
        match &project.config.python {
            Some(pin) => printer.data(pin.to_string()),
            None => {
                return Err(user_error!(
                    hint = "set one with `pyenvx python pin 3.12`",
                    "{} pins no Python",
                    project.config_path().display()
                ))
            }
        }
        return Ok(exit::OK);
    };
    pin_python(
        PinArgs {
            spec,
            upgrade: args.upgrade,
            allow_unsupported: args.allow_unsupported,
        },
        settings,
        printer,
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
    let started = Instant::now();
    let reporter = printer.reporter();
    let env = Env::new(settings, &reporter);
    let input = ops::deps::AddInput {
        packages: args.packages,
        requirements: args.requirements,
        editable: args.editable,
        allow_unsupported: args.allow_unsupported,
        group: group_arg(args.dev, args.group),
    };
    let report = ops::deps::add(input, &env, &mut |note| match note {
        ops::deps::AddNote::Ignored(option) => printer.info(format!(
            "ignored {option} (pyenvx takes index settings from [tool.pyenvx] or PYENVX_INDEX_URL)"
        )),
        ops::deps::AddNote::DjangoPinnedAlready => {
            printer.info("Django is the project's pin already; `pyenvx pin django 5.2` changes it")
        }
        ops::deps::AddNote::DjangoPin(specifier) => printer.info(format!(
            "Django `{specifier}` becomes the project's Django pin"
        )),
    })?;
    after_edit(settings, printer, &report, started)
}

pub fn remove(args: RemoveArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    let started = Instant::now();
    let reporter = printer.reporter();
    let env = Env::new(settings, &reporter);
    let input = ops::deps::RemoveInput {
        packages: args.packages,
        group: group_arg(args.dev, args.group),
    };
    let report = ops::deps::remove(input, &env)?;
    after_edit(settings, printer, &report, started)
}

/// The dependency group `--dev` or `--group NAME` names, if either was given.
fn group_arg(dev: bool, group: Option<String>) -> Option<String> {
    group.or_else(|| dev.then(|| sync::DEFAULT_GROUP.to_string()))
}

/// After `add` or `remove`: the sync's summary, and the shims told.
fn after_edit(
    settings: &Settings,
    printer: &Printer,
    report: &ops::deps::DepsReport,
    started: Instant,
) -> Result<i32> {
    summarize(printer, &report.sync, started);
    super::shims::after_change(settings, printer, Some(&report.root));
    Ok(exit::OK)
}

pub fn run(args: RunArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    if args.command.is_empty() {
        return Err(user_error!(
            hint = "give the command after `--`: `pyenvx run -- python manage.py runserver`",
            "`pyenvx run` needs a command to run in the sandbox"
        ));
    }
    let project = Project::from_cwd()?;
    let reporter = printer.reporter();
    let env = Env::new(settings, &reporter);
    let started = Instant::now();
    if let Some(report) = ops::run::sync_if_stale(&project, &env)? {
        summarize(printer, &report, started);
    }
    // `manage.py` imports the settings anyway: asking Django first runs nothing new, and wires
    // the project's own variables before its first command reaches a database.
    let runs_django = args.command.iter().any(|a| {
        let a = a.to_string_lossy();
        a.ends_with("manage.py") || a == "django-admin"
    });
    if runs_django && !ops::django_check::is_trusted(&env, &project) {
        match ask_django(&env, &project, true) {
            Ok(Some(check)) => print_django_check(printer, &check, false),
            Ok(None) => {}
            Err(e) => printer.warn(format!("could not ask Django where it connects: {e:#}")),
        }
        ops::django_check::trust(&env, &project)?;
    }
    // `[services.db] branches = "git"`: nothing is read without it.
    super::branch::follow_quietly_failing(&env, &project, printer);
    let mut command = std::process::Command::new(&args.command[0]);
    command.args(&args.command[1..]);
    for (k, v) in ops::run::environment(&project, &env)? {
        match v {
            Some(v) => command.env(k, v),
            None => command.env_remove(k),
        };
    }
    exec(command, &args.command[0])
}

/// Django asked where it connects (its settings loaded by the sandbox's python, once or a few
/// times with sentinels: most of a second on a cold start), under a spinner saying so.
fn ask_django(
    env: &Env,
    project: &Project,
    wire: bool,
) -> Result<Option<ops::django_check::DjangoCheck>> {
    crate::reporter::spinning(env.reporter, "asking Django where it connects", || {
        ops::django_check::check(project, env, wire)
    })
}

/// After `up` and `db up`, in a project whose code the user has run through pyenvx: ask Django
/// where it connects, wiring the project's variables to the port the server has now. Whether
/// Django was asked.
pub(super) fn ask_django_after_up(env: &Env, project: &Project, printer: &Printer) -> bool {
    if !ops::django_check::is_trusted(env, project) {
        return false;
    }
    match ask_django(env, project, true) {
        Ok(Some(check)) => {
            print_django_check(printer, &check, true);
            true
        }
        Ok(None) => false,
        Err(e) => {
            printer.warn(format!("could not ask Django where it connects: {e:#}"));
            false
        }
    }
}

/// What Django said about its database: the variables pyenvx set, and when Django does not reach
/// the pyenvx database, one block saying which key has which value, from where, and the fix.
/// `quiet_when_fine` leaves out the line saying all is well.
pub(super) fn print_django_check(
    printer: &Printer,
    check: &ops::django_check::DjangoCheck,
    quiet_when_fine: bool,
) {
    if let Some(file) = &check.wired_file {
        printer.info(format!(
            "  {:<24} {} set for pyenvx's services (the settings read them for DATABASES or CACHES)",
            printer.code(file.display().to_string()),
            check.wired.join(", ")
        ));
    }
    if let Some(role) = &check.served_role {
        printer.info(format!(
            "  {:<24} pyenvx's server now serves {role}, the role and database the settings write in",
            printer.code("DATABASES")
        ));
    }
    let settings = check.settings_module.as_deref().unwrap_or("the settings");
    if let Some(m) = &check.cache_mismatch {
        printer.warn(format!(
            "Django's cache ({settings}) does not use pyenvx's Redis"
        ));
        printer.info(format!(
            "  {:<9}{} ({}); pyenvx's: {}",
            m.key, m.value, m.from, m.want
        ));
        printer.info(
            "  fix: make CACHES['default'] read REDIS_URL, which `pyenvx run` sets              (`\"LOCATION\": os.environ[\"REDIS_URL\"]`)",
        );
    }
    if check.reaches() {
        if !quiet_when_fine && check.db_checked {
            printer.success(format!("Django ({settings}) connects to pyenvx's database"));
        }
        return;
    }
    match &check.error {
        Some(e) => printer.warn(format!("Django's settings ({settings}) do not load: {e}")),
        None => {
            printer.warn(format!(
                "Django ({settings}) does not connect to pyenvx's database: migrate would go elsewhere"
            ));
            for m in &check.mismatches {
                printer.info(format!(
                    "  {:<9}{} ({}); pyenvx's: {}",
                    m.key,
                    if m.value.is_empty() {
                        "(empty)"
                    } else {
                        &m.value
                    },
                    m.from,
                    m.want
                ));
            }
        }
    }
    if let Some(fix) = &check.fix {
        printer.info(format!("  fix: {fix}"));
    }
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

pub fn status(args: StatusArgs, settings: &Settings, printer: &Printer) -> Result<i32> {
    let cwd = std::env::current_dir()?;
    if find_root(&cwd).is_none() {
        Project::discover(&cwd)?;
    }
    let project = Project::from_cwd()?;
    let reporter = printer.reporter();
    let env = Env::new(settings, &reporter);
    let status = ops::status::status(&project, &env)?;
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
                    (false, _) => "stopped: `pyenvx redis up`",
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
                    "{} {} ({}) on 127.0.0.1:{}, {state}",
                    db.engine.title(),
                    db.version,
                    db.backend,
                    db.port
                )
            }
            (None, Some(e)) => format!("unknown: {e}"),
            (None, None) => "declared".to_string(),
        };
        printer.data(format!("{:<9} {line}", service.name));
    }
    // Django is asked only in a project whose code the user has run through pyenvx.
    if ops::django_check::is_trusted(&env, &project) {
        match ask_django(&env, &project, false) {
            Ok(Some(check)) if check.reaches() => printer.data(format!(
                "django    {} connects to pyenvx's database",
                check.settings_module.as_deref().unwrap_or("the settings")
            )),
            Ok(Some(check)) => print_django_check(printer, &check, true),
            Ok(None) => {}
            Err(e) => printer.warn(format!("could not ask Django where it connects: {e:#}")),
        }
    }
    Ok(exit::OK)
}
