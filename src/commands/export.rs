//! `pyenvx export requirements | docker`.

use anyhow::Result;

use crate::cli::{ExportDockerArgs, ExportRequirementsArgs};
use crate::error::exit;
use crate::export::{self, docker};
use crate::printer::Printer;
use crate::project::Project;
use crate::settings::Settings;

pub fn requirements(
    args: ExportRequirementsArgs,
    _settings: &Settings,
    printer: &Printer,
) -> Result<i32> {
    let project = Project::from_cwd()?;
    let lock = export::current_lock(&project)?;
    let text = export::requirements(&lock)?;
    match &args.output {
        // Like `pip-compile -o`: the file is derived from the lock, so replacing it is the point.
        Some(path) => {
            export::write_shared(path, &text)?;
            printer.success(format!(
                "Wrote {} ({} distributions, each with its sha256)",
                path.display(),
                lock.packages.len()
            ));
        }
        None => printer.data(text.trim_end()),
    }
    Ok(exit::OK)
}

pub fn docker(args: ExportDockerArgs, _settings: &Settings, printer: &Printer) -> Result<i32> {
    let project = Project::from_cwd()?;
    let exported = docker::export(
        &project,
        &docker::Options {
            out: args.out,
            force: args.force,
            base_image: args.base_image,
        },
    )?;
    let cwd = std::env::current_dir().ok();
    let show = |p: &std::path::Path| -> String {
        cwd.as_deref()
            .and_then(|c| p.strip_prefix(c).ok())
            .filter(|r| !r.as_os_str().is_empty())
            .map_or_else(|| p.display().to_string(), |r| r.display().to_string())
    };
    for (path, outcome) in &exported.files {
        let (mark, note) = match outcome {
            docker::Outcome::Created => ("+", String::new()),
            docker::Outcome::Replaced => ("~", " (replaced)".to_string()),
            docker::Outcome::Unchanged => ("=", " (unchanged)".to_string()),
            docker::Outcome::Kept => (
                "=",
                " (kept: the database's volume keeps these secrets)".to_string(),
            ),
            docker::Outcome::Yours => (
                "=",
                " (yours, kept: it already leaves out secrets, .pyenvx and .venv)".to_string(),
            ),
            docker::Outcome::Amended(lines) => (
                "~",
                format!(
                    " (yours, with {} added at its end so secrets, .pyenvx and .venv stay out of the image)",
                    lines.join(", ")
                ),
            ),
        };
        let secret = if path.ends_with(docker::ENV_FILE) && *outcome == docker::Outcome::Created {
            " (secrets; mode 0600, kept out of git and the image)"
        } else {
            ""
        };
        printer.info(format!(
            " {} {}{note}{secret}",
            printer.code(mark),
            show(path)
        ));
    }
    for (k, why) in &exported.skipped {
        printer.warn(format!(
            "{k} is not in {}: {why}; set it there if the code needs it",
            docker::ENV_FILE
        ));
    }
    let spec = &exported.spec;
    let serves = if spec.gunicorn {
        "gunicorn"
    } else {
        "manage.py runserver"
    };
    let db = spec
        .db
        .as_ref()
        .map(|d| match d.engine {
            crate::services::DbEngine::Postgres => {
                format!(", PostgreSQL {} ({})", d.major, d.image)
            }
            crate::services::DbEngine::Mariadb => format!(", MariaDB ({})", d.image),
        })
        .unwrap_or_default();
    printer.success(format!(
        "Wrote container files for {}: {} (the sandbox runs Python {}){db}, served by {serves}",
        spec.name, spec.base_image, spec.python
    ));
    if !spec.has_manage_py && !spec.gunicorn {
        printer.warn(format!(
            "{} has no manage.py, which the image's command runs; create the Django project \
             (`pyenvx run django-admin startproject {} .`) before building",
            project.root.display(),
            spec.module
        ));
    }
    let cd = match &cwd {
        Some(c) if *c == exported.out => String::new(),
        _ => format!("cd {} && ", show(&exported.out)),
    };
    printer.info(format!(
        "  next: {}",
        printer.code(format!("{cd}docker compose up --wait"))
    ));
    Ok(exit::OK)
}
