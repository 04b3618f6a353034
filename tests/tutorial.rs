//! docs/tutorial.md, followed command by command, so the tutorial cannot rot.
//!
//! The Markdown is the script. Fenced blocks are read by their info string:
//!
//! * ```` ```sh ````: each line is a command, run by `sh -c` in the current directory (`cd DIR`
//!   moves it); every one must succeed. The last command's stdout is kept for the next check.
//! * ```` ```sh server ````: a long-running command, started in the background and stopped
//!   (SIGINT, like Ctrl-C) once the next `sh` block has run. Its port must accept connections
//!   before the tutorial goes on.
//! * ```` ```LANG file=PATH ```` / ```` ```LANG append=PATH ````: write / append the block's
//!   text to PATH.
//! * ```` ```json ```` (no file): the previous command's output must be this JSON (compared
//!   parsed, so layout does not matter).
//! * ```` ```toml ```` starting with `[project]`: the project's `pyenvx.toml` must read exactly
//!   so, except the PostgreSQL major, which is the machine's.
//! * Anything else is prose for people.
//!
//! The liberties the test takes, because this machine is not a reader's: pythons and packages
//! come from the local mirror and index; port 8000 becomes a free port; and since no registry
//! can be reached, `pyenvx export docker` gets `--base-image` with a stand-in of
//! `python:3.12-slim`, and a `docker-compose.override.yml` (which compose reads by itself)
//! points `db` at a stand-in PostgreSQL 15 image and lets the build reach the local index.
//! Without Docker Compose, the walkthrough stops, saying so, at the first `docker` command.

mod common;

use std::fs;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const TUTORIAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/tutorial.md");

#[derive(Debug)]
enum Step {
    Commands {
        line: usize,
        commands: Vec<String>,
        server: bool,
    },
    Write {
        path: String,
        body: String,
        append: bool,
    },
    ExpectJson {
        line: usize,
        body: String,
    },
    ExpectToml {
        body: String,
    },
}

/// The steps of the tutorial, in order.
fn parse(markdown: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let mut words = info.split_whitespace();
        let lang = words.next().unwrap_or_default().to_string();
        let attrs: Vec<&str> = words.collect();
        let mut body = String::new();
        for (_, l) in lines.by_ref() {
            if l.starts_with("```") {
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        let attr = |key: &str| {
            attrs
                .iter()
                .find_map(|a| a.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_string)
        };
        if let Some(path) = attr("file") {
            steps.push(Step::Write {
                path,
                body,
                append: false,
            });
        } else if let Some(path) = attr("append") {
            steps.push(Step::Write {
                path,
                body,
                append: true,
            });
        } else if lang == "sh" {
            // Continuation lines join their command; comments and blank lines are prose.
            let mut commands = Vec::new();
            let mut current = String::new();
            for l in body.lines() {
                let l = l.trim();
                if current.is_empty() && (l.is_empty() || l.starts_with('#')) {
                    continue;
                }
                match l.strip_suffix('\\') {
                    Some(part) => current.push_str(part),
                    None => {
                        current.push_str(l);
                        commands.push(std::mem::take(&mut current));
                    }
                }
            }
            steps.push(Step::Commands {
                line: n + 1,
                commands,
                server: attrs.contains(&"server"),
            });
        } else if lang == "json" {
            steps.push(Step::ExpectJson { line: n + 1, body });
        } else if lang == "toml" && body.starts_with("[project]") {
            steps.push(Step::ExpectToml { body });
        }
    }
    steps
}

/// `version = "NN"` lines say the machine's PostgreSQL major; compare everything else.
fn without_major(toml: &str) -> String {
    toml.lines()
        .map(|l| {
            if l.starts_with("version = \"") {
                "version = <major>"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `sh -c COMMAND` in a directory, with the test's environment.
type Shell = Box<dyn Fn(&Path, &str) -> std::process::Output>;

/// Whatever the walkthrough started, stopped even when it fails.
struct Cleanup {
    ctx_cmd: Shell,
    project: Option<PathBuf>,
    compose_used: bool,
    server: Option<Child>,
    images: Vec<String>,
    python_image: Option<PythonImage>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            stop(server);
        }
        if let Some(dir) = &self.project {
            if self.compose_used {
                let _ = (self.ctx_cmd)(
                    dir,
                    "docker compose down --volumes --rmi local --remove-orphans",
                );
            }
            let _ = (self.ctx_cmd)(dir, "pyenvx db down");
        }
        for image in &self.images {
            remove_pg_image(image);
        }
        drop(self.python_image.take());
    }
}

/// Ctrl-C for the server's whole process group (Django's autoreloader runs a child), then
/// SIGKILL if it lingers.
fn stop(mut server: Child) {
    let group = format!("-{}", server.id());
    let signal = |sig: &str| {
        let _ = Command::new("kill")
            .args(["-s", sig, "--", &group])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    };
    signal("INT");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = server.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    signal("KILL");
    let _ = server.kill();
    let _ = server.wait();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every step up to the first `docker` command, on any machine: the Docker steps are the
/// other test's, so what this one checks never depends on what the machine has.
#[test]
fn the_tutorial_works_as_written() {
    run_tutorial(false);
}

/// The whole tutorial, Docker steps included.
#[test]
#[ignore = "needs Docker Compose v2; .ci/run runs it where `docker compose` works"]
fn the_tutorial_works_to_the_end_with_docker() {
    require_docker();
    require(
        "docker",
        &["compose", "version"],
        "Docker Compose v2 (`docker compose`)",
    );
    run_tutorial(true);
}

fn run_tutorial(compose: bool) {
    let started = Instant::now();
    let markdown = fs::read_to_string(TUTORIAL).unwrap();
    let steps = parse(&markdown);
    let commands: usize = steps
        .iter()
        .map(|s| match s {
            Step::Commands { commands, .. } => commands.len(),
            _ => 0,
        })
        .sum();
    assert!(
        commands >= 12,
        "the tutorial has {commands} commands? {steps:#?}"
    );

    let mut ctx = TestContext::new();
    let _pythons = ctx.serve_pythons(&["3.12"]);
    let index = ctx.with_index();
    ctx.with_shared_uv();
    ctx.env("PYENVX_DB_PORTS", port_range());
    open_for_postgres(&ctx);
    // `pyenvx` on PATH, as for a reader.
    let bin = ctx.root().join("bin");
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_pyenvx"), bin.join("pyenvx")).unwrap();
    ctx.with_path(format!("{}:{DEFAULT_PATH}", bin.display()));
    let port = free_port();
    ctx.env("WEB_PORT", port.to_string());
    ctx.env(
        "COMPOSE_PROJECT_NAME",
        format!("pyenvx-tutorial-{}", std::process::id()),
    );
    if let Some(host) = std::env::var_os("DOCKER_HOST") {
        ctx.env("DOCKER_HOST", host);
    }
    let ctx = std::rc::Rc::new(ctx);

    let sh = {
        let ctx = ctx.clone();
        move |dir: &Path, command: &str| {
            ctx.command("sh")
                .args(["-c", command])
                .current_dir(dir)
                .output()
                .unwrap()
        }
    };
    let mut cleanup = Cleanup {
        ctx_cmd: Box::new(sh.clone()),
        project: None,
        compose_used: false,
        server: None,
        images: Vec::new(),
        python_image: None,
    };
    let mut cwd = ctx.work();
    let mut last_stdout = String::new();
    let mut server_block: Option<usize> = None;
    let mut ran = 0;

    'steps: for step in &steps {
        match step {
            Step::Commands {
                line,
                commands,
                server,
            } => {
                for command in commands {
                    if let Some(dir) = command.strip_prefix("cd ") {
                        cwd = cwd.join(dir.trim());
                        if cwd.join("pyenvx.toml").is_file() {
                            cleanup.project = Some(cwd.clone());
                        }
                        continue;
                    }
                    let mut command =
                        command.replace("127.0.0.1:8000", &format!("127.0.0.1:{port}"));
                    if command.ends_with("manage.py runserver") {
                        command.push_str(&format!(" 127.0.0.1:{port}"));
                    }
                    if command.starts_with("pyenvx export docker") && compose {
                        let minor = fs::read_to_string(cwd.join(".python-version")).unwrap();
                        let image = python_image(minor.trim());
                        command.push_str(&format!(" --base-image {}", image.tag));
                        cleanup.python_image = Some(image);
                    }
                    if command.starts_with("docker") {
                        if !compose {
                            eprintln!(
                                "tutorial: stopping before `{command}` (docs/tutorial.md:{line}): \
                                 the Docker steps are the_tutorial_works_to_the_end_with_docker's"
                            );
                            break 'steps;
                        }
                        if !cleanup.compose_used {
                            let (pg, images) = compose_pg_image();
                            cleanup.images = images;
                            fs::write(
                                cwd.join("docker-compose.override.yml"),
                                format!(
                                    "services:\n  web:\n    build:\n      network: host\n      args:\n        PIP_INDEX_URL: \"{}\"\n  db:\n    image: \"{pg}\"\n",
                                    index.simple_url()
                                ),
                            )
                            .unwrap();
                            cleanup.compose_used = true;
                        }
                    }
                    let t = Instant::now();
                    if *server {
                        let child = ctx
                            .command("sh")
                            .args(["-c", &format!("exec {command}")])
                            .current_dir(&cwd)
                            .stdout(Stdio::null())
                            .stderr(Stdio::null())
                            .process_group(0)
                            .spawn()
                            .unwrap();
                        cleanup.server = Some(child);
                        let deadline = Instant::now() + Duration::from_secs(90);
                        while TcpStream::connect(("127.0.0.1", port)).is_err() {
                            assert!(
                                Instant::now() < deadline,
                                "docs/tutorial.md:{line}: `{command}` never listened on {port}"
                            );
                            let exited = cleanup.server.as_mut().unwrap().try_wait().unwrap();
                            assert!(
                                exited.is_none(),
                                "docs/tutorial.md:{line}: `{command}` exited: {exited:?}"
                            );
                            std::thread::sleep(Duration::from_millis(100));
                        }
                        server_block = Some(*line);
                    } else {
                        let out = sh(&cwd, &command);
                        assert!(
                            out.status.success(),
                            "docs/tutorial.md:{line}: `{command}` failed in {}\n{}",
                            cwd.display(),
                            describe(&out)
                        );
                        last_stdout = stdout(&out);
                    }
                    eprintln!("tutorial: {command}  ({:.1?})", t.elapsed());
                    ran += 1;
                    if cwd.join("pyenvx.toml").is_file() && cleanup.project.is_none() {
                        cleanup.project = Some(cwd.clone());
                    }
                }
                // The server lives through the block after its own.
                if !*server && server_block.is_some_and(|l| l < *line) {
                    if let Some(s) = cleanup.server.take() {
                        stop(s);
                    }
                    server_block = None;
                }
            }
            Step::Write { path, body, append } => {
                let target = cwd.join(path);
                fs::create_dir_all(target.parent().unwrap()).unwrap();
                let text = if *append {
                    let old = fs::read_to_string(&target)
                        .unwrap_or_else(|e| panic!("append to {}: {e}", target.display()));
                    format!("{old}\n{body}")
                } else {
                    body.clone()
                };
                fs::write(&target, text).unwrap();
            }
            Step::ExpectJson { line, body } => {
                let want: serde_json::Value = serde_json::from_str(body)
                    .unwrap_or_else(|e| panic!("docs/tutorial.md:{line}: not JSON: {e}"));
                let got: serde_json::Value = serde_json::from_str(&last_stdout).unwrap_or_else(
                    |e| panic!("docs/tutorial.md:{line}: the command printed no JSON ({e}):\n{last_stdout}"),
                );
                assert_eq!(got, want, "docs/tutorial.md:{line}");
            }
            Step::ExpectToml { body } => {
                let actual = fs::read_to_string(cwd.join("pyenvx.toml")).unwrap();
                assert_eq!(
                    without_major(actual.trim_end()),
                    without_major(body.trim_end()),
                    "docs/tutorial.md shows another pyenvx.toml than `pyenvx init` writes"
                );
            }
        }
    }
    assert!(ran >= 10, "only {ran} commands ran");
    drop(cleanup);
    eprintln!("tutorial: {ran} commands in {:.1?}", started.elapsed());
}

#[test]
fn the_parser_reads_the_conventions() {
    let steps = parse(
        "x\n```sh\n# a comment\ncd a\nlong \\\n  command\n```\n```python file=b/c.py\nprint()\n```\n```sh server\nserve\n```\n```json\n[]\n```\n```text\nignored\n```\n",
    );
    assert!(
        matches!(&steps[0], Step::Commands { commands, server: false, .. } if commands == &["cd a", "long command"])
    );
    assert!(matches!(&steps[1], Step::Write { path, append: false, .. } if path == "b/c.py"));
    assert!(matches!(&steps[2], Step::Commands { server: true, .. }));
    assert!(matches!(&steps[3], Step::ExpectJson { .. }));
    assert_eq!(steps.len(), 4);
}
