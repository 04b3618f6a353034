//! README.md and the guides' shell blocks, run line by line, so what they tell a reader to type
//! keeps working (docs/tutorial.md has its own walk, tests/tutorial.rs).
//!
//! The Markdown is the script, read when the test runs: every line of every ```` ```sh ````
//! block is a command, run by `bash -c` with the binary under test on `PATH` as `pyenvx`.
//! Each block is a new terminal, started in the home directory: a `cd` (alone or in a `&&`
//! chain) moves the lines after it, and what a line exports or defines (`eval "$(pyenvx
//! shell-init bash)"`) the next lines of its block see. Lines that are only a comment are prose;
//! a trailing comment is the reader's explanation, and when it says `(needs WHAT)` the line needs
//! what a hermetic run cannot have (Docker Compose): the plain test stops before the first such
//! line, naming it, and the `#[ignore]`d test of that tier runs it (.ci/run runs it where the
//! tool exists). A failing line fails the test with its file and line number.
//!
//! What the reader has and the sandbox gives instead, and nothing else:
//! * Pythons come from a local mirror of this machine's pyenv builds, packages from the shared
//!   wheelhouse served on 127.0.0.1 (the plain tests need no network), plus stand-in wheels
//!   for the few releases the lines need that the wheelhouse lacks ([`STAND_INS`]).
//! * The reader's own files a line names (a `requirements.txt`, `./libs/pkg`, a cloned
//!   project, another project) are made just before the line that names them ([`FIXTURES`]);
//!   a fixture whose line is gone fails the test, so the list cannot outlive the documents.
//! * `cargo install --locked --path .`, the README's install command, built the binary under test: the
//!   rest of its line runs with that binary. tests/real_index.rs runs the same line after the
//!   install ways a Python developer uses (the wheel with pip and `uv tool install`).
//! * `script/test` is the whole suite, this test included: .ci/run runs it as written, which
//!   the test checks.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

use common::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run");

/// The README's install command, which built the binary this test runs.
const INSTALL: &str = "cargo install --locked --path . && ";

/// Lines run elsewhere, as written, and the file that runs them.
const RUN_ELSEWHERE: &[(&str, &str)] = &[("script/test", CI)];

/// Releases the lines need that the wheelhouse does not have: (name, version, module,
/// requirements, what the module defines for its importers). The wheelhouse's Django REST
/// Framework (3.18) needs Django 5.2, so the tour's `pin django 4.2` needs the older release a
/// reader's index has.
const STAND_INS: &[(&str, &str, &str, &[&str], &str)] = &[
    ("gunicorn", "23.0.0", "gunicorn", &[], ""),
    (
        "django-debug-toolbar",
        "5.2.0",
        "debug_toolbar",
        &["django>=4.2"],
        "",
    ),
    ("pytest-django", "4.11.1", "pytest_django", &[], ""),
    (
        "djangorestframework",
        "3.16.1",
        "rest_framework",
        &["django>=4.2"],
        "",
    ),
    // Built from source on a reader's machine; installed here, never imported.
    ("mysqlclient", "2.2.7", "MySQLdb", &[], ""),
    // redis's dependency below Python 3.11.3 (Debian's python3 is 3.11.2), which redis imports
    // `timeout` from.
    (
        "async-timeout",
        "4.0.3",
        "async_timeout",
        &[],
        ASYNC_TIMEOUT,
    ),
];

const ASYNC_TIMEOUT: &str = "class timeout:\n    def __init__(self, delay=None):\n        \
    self.delay = delay\n    async def __aenter__(self):\n        return self\n    \
    async def __aexit__(self, *exc):\n        return False\n";

#[derive(Debug, Clone, PartialEq)]
struct Line {
    /// 1-based, in its document.
    number: usize,
    /// Which `sh` block (each starts a new terminal in the home directory).
    block: usize,
    command: String,
    /// What the line's comment says it needs: `(needs Docker Compose)`.
    needs: Option<String>,
}

/// Every command of every `sh` block, in order.
fn parse(markdown: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut in_sh = false;
    let mut block = 0;
    let mut pending: Option<Line> = None;
    for (n, raw) in markdown.lines().enumerate() {
        if let Some(info) = raw.strip_prefix("```") {
            in_sh = !in_sh && info.split_whitespace().next() == Some("sh");
            block += usize::from(in_sh);
            continue;
        }
        if !in_sh {
            continue;
        }
        let text = raw.trim();
        if pending.is_none() && (text.is_empty() || text.starts_with('#')) {
            continue;
        }
        let (command, comment) = split_comment(text);
        let needs = comment.and_then(|c| {
            let start = c.find("(needs ")? + "(needs ".len();
            let end = c[start..].find(')')? + start;
            Some(c[start..end].to_string())
        });
        let line = pending.get_or_insert(Line {
            number: n + 1,
            block,
            command: String::new(),
            needs: None,
        });
        line.needs = line.needs.take().or(needs);
        match command.strip_suffix('\\') {
            Some(part) => line.command.push_str(part),
            None => {
                line.command.push_str(command);
                lines.push(pending.take().unwrap());
            }
        }
    }
    lines
}

/// A shell line's command and its trailing comment: a `#` after a blank, outside quotes.
fn split_comment(line: &str) -> (&str, Option<&str>) {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev.is_whitespace() => {
                return (line[..i].trim_end(), Some(line[i + 1..].trim()));
            }
            _ => {}
        }
        prev = c;
    }
    (line.trim_end(), None)
}

/// A reader's own thing that a line of `doc` names, made just before the first line that
/// contains `names`.
struct Fixture {
    doc: &'static str,
    names: &'static str,
    make: fn(&TestContext, &Path),
}

const FIXTURES: &[Fixture] = &[
    Fixture {
        doc: "README.md",
        names: "add -r requirements.txt",
        make: |_, cwd| fs::write(cwd.join("requirements.txt"), "requests>=2.30\n").unwrap(),
    },
    Fixture {
        doc: "README.md",
        names: "add -e ./libs/pkg",
        make: |_, cwd| write_package(&cwd.join("libs/pkg"), "pkg", "the library's own"),
    },
    Fixture {
        doc: "README.md",
        names: "-C ~/src/other",
        make: |ctx, _| {
            let dir = ctx.home().join("src/other");
            fs::create_dir_all(&dir).unwrap();
            let out = ctx
                .cmd()
                .current_dir(&dir)
                .args(["init", "--python", "3.12", "--no-startproject"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", describe(&out));
        },
    },
    Fixture {
        doc: "README.md",
        names: "cd ~/src/cloned-project",
        make: |ctx, _| {
            let dir = ctx.home().join("src/cloned-project");
            fs::create_dir_all(&dir).unwrap();
            let requirements = "Django>=5.2,<5.3\npsycopg[binary]>=3.2\n";
            let compose = "services:\n  db:\n    image: postgres:15\n    environment:\n      \
                POSTGRES_PASSWORD: postgres\n  web:\n    build: .\n    environment:\n      \
                - SQL_ENGINE=django.db.backends.postgresql\n      - SQL_HOST=db\n      \
                - SQL_DATABASE=postgres\n      - SQL_USER=postgres\n      \
                - SQL_PASSWORD=postgres\n    depends_on:\n      - db\n";
            let settings = sql_env_settings();
            clone_project(
                ctx,
                &dir,
                &[
                    ("requirements.txt", requirements),
                    ("docker-compose.yml", compose),
                    ("mysite/settings.py", &settings),
                    ("notes/__init__.py", ""),
                    ("notes/models.py", NOTES_MODELS),
                    ("notes/migrations/__init__.py", ""),
                    ("notes/migrations/0001_initial.py", NOTES_MIGRATION),
                ],
            );
        },
    },
    Fixture {
        doc: "docs/shims.md",
        names: "cd ~/src/library",
        make: |ctx, _| {
            let dir = ctx.home().join("src/library");
            fs::create_dir_all(&dir).unwrap();
            let out = ctx
                .cmd()
                .current_dir(&dir)
                .args(["init", "--python", "3.12", "--django", "5.2"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", describe(&out));
        },
    },
];

const NOTES_MODELS: &str = "from django.db import models\n\n\nclass Note(models.Model):\n    \
    text = models.TextField()\n";
const NOTES_MIGRATION: &str = "from django.db import migrations, models\n\n\n\
class Migration(migrations.Migration):\n    initial = True\n    dependencies = []\n    \
operations = [\n        migrations.CreateModel(\n            name=\"Note\",\n            \
fields=[\n                (\"id\", models.AutoField(primary_key=True, serialize=False)),\n                \
(\"text\", models.TextField()),\n            ],\n        ),\n    ]\n";

/// What the walk started, stopped and removed even when it fails: the Compose project, every
/// project's services, the stand-in images.
struct Cleanup<'a> {
    ctx: &'a TestContext,
    projects: Vec<PathBuf>,
    compose_dir: Option<PathBuf>,
    compose_images: Vec<String>,
    base_image: Option<PythonImage>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some(dir) = &self.compose_dir {
            let _ = self
                .ctx
                .command("docker")
                .args(["compose", "down", "--volumes", "--rmi", "local"])
                .arg("--remove-orphans")
                .current_dir(dir)
                .output();
        }
        for dir in &self.projects {
            let _ = self.ctx.cmd().current_dir(dir).arg("down").output();
            let _ = self
                .ctx
                .cmd()
                .current_dir(dir)
                .args(["db", "down"])
                .output();
        }
        for image in &self.compose_images {
            remove_pg_image(image);
        }
        drop(self.base_image.take());
    }
}

/// The project a directory is in, if any.
fn project_of(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join("pyenvx.toml").is_file())
        .map(Path::to_path_buf)
}

/// Every line the sandbox can run, on any machine: the lines that need more are the ignored
/// tier's, so what this one checks never depends on what the machine has.
#[test]
fn the_readme_works_as_written() {
    walk("README.md", None);
}

/// The whole README, its Docker Compose lines included.
#[test]
#[ignore = "needs Docker Compose v2; .ci/run runs it where `docker compose` works"]
fn the_readme_works_to_the_end_with_docker_compose() {
    require_docker();
    require(
        "docker",
        &["compose", "version"],
        "Docker Compose v2 (`docker compose`)",
    );
    walk("README.md", Some("Docker Compose"));
}

#[test]
fn the_services_guide_works_as_written() {
    walk("docs/services.md", None);
}

#[test]
fn the_shims_guide_works_as_written() {
    walk("docs/shims.md", None);
}

/// Every guide with shell blocks has its walk here (or, for the tutorial, in tests/tutorial.rs).
#[test]
fn every_guide_with_shell_blocks_is_walked() {
    let walked = [
        "README.md",
        "docs/services.md",
        "docs/shims.md",
        "docs/tutorial.md",
    ];
    let mut docs = vec!["README.md".to_string()];
    for dir in ["docs", "docs/reference"] {
        for entry in fs::read_dir(Path::new(ROOT).join(dir)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".md") {
                docs.push(format!("{dir}/{name}"));
            }
        }
    }
    for doc in docs {
        let text = fs::read_to_string(Path::new(ROOT).join(&doc)).unwrap();
        assert!(
            parse(&text).is_empty() || walked.contains(&doc.as_str()),
            "{doc} has ```sh blocks that no test runs: add a walk for it to tests/readme.rs"
        );
    }
}

/// Runs the lines of `doc` in order; with `tier`, the lines that need it too.
fn walk(doc: &str, tier: Option<&str>) {
    let started = Instant::now();
    let markdown = fs::read_to_string(Path::new(ROOT).join(doc)).unwrap();
    let lines = parse(&markdown);
    assert!(lines.len() >= 4, "{doc} has {} commands?", lines.len());
    let fixtures: Vec<&Fixture> = FIXTURES.iter().filter(|f| f.doc == doc).collect();
    for fixture in &fixtures {
        assert!(
            lines.iter().any(|l| l.command.contains(fixture.names)),
            "no line of {doc} contains `{}` any more: take its fixture out of tests/readme.rs",
            fixture.names
        );
    }
    if doc == "README.md" {
        assert!(
            lines[0].command.starts_with(INSTALL),
            "README.md's first line no longer starts with `{INSTALL}`: {}",
            lines[0].command
        );
        for (line, runner) in RUN_ELSEWHERE {
            assert!(
                lines.iter().any(|l| l.command == *line),
                "README.md no longer has `{line}`: take it out of RUN_ELSEWHERE"
            );
            let text = fs::read_to_string(runner).unwrap();
            assert!(
                text.lines().any(|l| l.trim() == *line),
                "{runner} does not run `{line}` as README.md writes it"
            );
        }
    }

    let mut ctx = TestContext::new();
    let _pythons = ctx.serve_pythons(&["3.12", "3.13"]);
    let index = ctx.with_index();
    ctx.with_shared_uv();
    ctx.env("PYENVX_DB_PORTS", port_range());
    open_for_postgres(&ctx);
    let mut links = None;
    for (name, version, module, requires, code) in STAND_INS {
        links = Some(stand_in_wheel_requiring(
            ctx.root(),
            name,
            version,
            module,
            "py3-none-any",
            requires,
            code,
        ));
    }
    ctx.env("PYENVX_FIND_LINKS", links.unwrap());
    let bin = ctx.root().join("bin");
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_pyenvx"), bin.join("pyenvx")).unwrap();
    ctx.with_path(format!("{}:{DEFAULT_PATH}", bin.display()));
    // The exported compose file publishes web on WEB_PORT (default 8000): a free one here.
    let web = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ctx.env("WEB_PORT", web.local_addr().unwrap().port().to_string());
    drop(web);
    ctx.env(
        "COMPOSE_PROJECT_NAME",
        format!("pyenvx-docs-{}", std::process::id()),
    );
    if let Some(host) = std::env::var_os("DOCKER_HOST") {
        ctx.env("DOCKER_HOST", host);
    }

    let mut cleanup = Cleanup {
        ctx: &ctx,
        projects: Vec::new(),
        compose_dir: None,
        compose_images: Vec::new(),
        base_image: None,
    };
    let mut made = vec![false; fixtures.len()];
    let mut cwd = ctx.home();
    let mut block = 0;
    let marker = ctx.root().join("cwd-after");
    // What a line exported or defined, for the next lines of its block.
    let shell_state = ctx.root().join("shell-state");
    let mut ran = 0;
    for line in &lines {
        let number = line.number;
        if line.block != block {
            block = line.block;
            cwd = ctx.home();
            let _ = fs::remove_file(&shell_state);
        }
        if RUN_ELSEWHERE.iter().any(|(l, _)| *l == line.command) {
            continue;
        }
        if let Some(needs) = &line.needs {
            if tier != Some(needs.as_str()) {
                eprintln!(
                    "walk: stopping before `{}` ({doc}:{number}): it needs {needs}, \
                     which the ignored tier has",
                    line.command
                );
                break;
            }
        }
        for (i, fixture) in fixtures.iter().enumerate() {
            if !made[i] && line.command.contains(fixture.names) {
                (fixture.make)(&ctx, &cwd);
                made[i] = true;
            }
        }
        let mut command = line
            .command
            .strip_prefix(INSTALL)
            .unwrap_or(&line.command)
            .to_string();
        if tier.is_some() && command.starts_with("pyenvx export docker") {
            let minor = fs::read_to_string(cwd.join(".python-version")).unwrap();
            let image = python_image(minor.trim());
            command.push_str(&format!(" --base-image {}", image.tag));
            cleanup.base_image = Some(image);
        }
        if tier.is_some() && command.starts_with("docker compose") && cleanup.compose_dir.is_none()
        {
            // No registry here: the stand-in PostgreSQL image, and the build reaches the
            // local index.
            let (pg, images) = compose_pg_image();
            cleanup.compose_images = images;
            cleanup.compose_dir = Some(cwd.clone());
            fs::write(
                cwd.join("docker-compose.override.yml"),
                format!(
                    "services:\n  web:\n    build:\n      network: host\n      args:\n        \
                     PIP_INDEX_URL: \"{}\"\n  db:\n    image: \"{pg}\"\n",
                    index.simple_url()
                ),
            )
            .unwrap();
        }
        let t = Instant::now();
        let script = format!(
            "[ -f '{state}' ] && . '{state}'\n{command}\n__status=$?\n\
             {{ export -p; declare -f; }} > '{state}'\npwd > '{}'\nexit $__status",
            marker.display(),
            state = shell_state.display(),
        );
        let out: Output = ctx
            .command("bash")
            .args(["-c", &script])
            .current_dir(&cwd)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{doc}:{number}: `{}` failed in {}\n{}",
            line.command,
            cwd.display(),
            describe(&out)
        );
        eprintln!("{doc}: {}  ({:.1?})", line.command, t.elapsed());
        ran += 1;
        cwd = PathBuf::from(fs::read_to_string(&marker).unwrap().trim_end());
        if let Some(project) = project_of(&cwd) {
            if !cleanup.projects.contains(&project) {
                cleanup.projects.push(project);
            }
        }
    }
    assert!(ran >= lines.len() / 2, "only {ran} lines of {doc} ran");
    drop(cleanup);
    eprintln!("{doc}: {ran} lines in {:.1?}", started.elapsed());
}

#[test]
fn the_parser_reads_the_conventions() {
    let lines = parse(
        "x\n```sh\n# prose\nfoo --a 'b # c'   # why\n  # more prose\n\nlong \\\n  command\n\
         docker compose up   # healthy first (needs Docker Compose)\n```\n```text\nnot run\n```\n",
    );
    let commands: Vec<_> = lines.iter().map(|l| l.command.as_str()).collect();
    assert_eq!(
        commands,
        ["foo --a 'b # c'", "long command", "docker compose up"]
    );
    assert_eq!(lines[0].number, 4);
    assert_eq!(lines[0].needs, None);
    assert_eq!(lines[2].needs.as_deref(), Some("Docker Compose"));
}

/// The words of a shell command: blanks split, quotes group (no expansions).
fn words(command: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    if quote.is_some() {
        return None;
    }
    words.extend(word);
    Some(words)
}

/// Every `pyenvx …` the documents show inline (tables, prose) is a command pyenvx's parser
/// takes: the verbs, subcommands and flags a reader copies exist. Prose may name a command
/// without its arguments (`pyenvx db branch`, `db up --port`): what is missing is not checked,
/// what is there is. Spans with a placeholder (`FILE`, `[--yes]`, `a|b`, `…`) or a shell
/// construct (`$(…)`, `&&`, a pipe) are shapes, not commands, and are left out.
#[test]
fn every_inline_command_in_the_documents_parses() {
    use clap::Parser;
    let mut docs = vec!["README.md".to_string()];
    for dir in ["docs", "docs/reference"] {
        for entry in fs::read_dir(Path::new(ROOT).join(dir)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".md") {
                docs.push(format!("{dir}/{name}"));
            }
        }
    }
    let mut checked = 0;
    let mut failures = Vec::new();
    for doc in &docs {
        let text = fs::read_to_string(Path::new(ROOT).join(doc)).unwrap();
        for (n, line) in text.lines().enumerate() {
            for (i, span) in line.split('`').enumerate() {
                let Some(rest) = span.strip_prefix("pyenvx ") else {
                    continue;
                };
                if i % 2 == 0
                    || ["[", "|", "…", "...", "$", "&&", ";", "<", ">"]
                        .iter()
                        .any(|s| rest.contains(s))
                {
                    continue;
                }
                let Some(args) = words(rest) else { continue };
                let placeholder = |w: &String| {
                    !w.is_empty()
                        && w.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                        && !w.starts_with('-')
                };
                if args.iter().any(placeholder) {
                    continue;
                }
                checked += 1;
                let Err(e) = pyenvx::cli::Cli::try_parse_from(
                    std::iter::once("pyenvx".to_string()).chain(args),
                ) else {
                    continue;
                };
                let text = e.to_string();
                let named_only = matches!(
                    e.kind(),
                    clap::error::ErrorKind::MissingRequiredArgument
                        | clap::error::ErrorKind::MissingSubcommand
                        | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                ) || text.contains("but none was supplied");
                if !named_only {
                    let first = text.lines().next().unwrap_or_default().to_string();
                    failures.push(format!("{doc}:{}: `pyenvx {rest}`: {first}", n + 1));
                }
            }
        }
    }
    assert!(checked >= 100, "only {checked} inline commands found");
    assert!(
        failures.is_empty(),
        "{} inline commands pyenvx does not take:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
