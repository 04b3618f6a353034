//! `pyenvx export requirements | docker`: hashed requirements that pip reproduces, container
//! files that `docker compose config` accepts for every Python 3.10–3.13 with and without a
//! database, and one stack built and run on this machine's Docker engine from stand-in images
//! (no registry here), answering `/api/` with the rows it stored in PostgreSQL.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn pip_freeze(ctx: &TestContext, python: &Path) -> String {
    let out = ctx
        .command(python)
        .args(["-m", "pip", "freeze", "--all"])
        .output()
        .unwrap();
    assert_success(&out)
}

#[test]
fn requirements_reproduce_the_sandbox_with_pip() {
    let sb = Sandbox::new(&["3.12"]);
    sb.ok(
        "lib",
        &[
            "init",
            "--python",
            "3.12",
            "--django",
            "5.2",
            "--drf",
            "--db",
            "postgres",
            "--seed",
            "--no-startproject",
        ],
    );
    // stdout: data only, so it can be redirected.
    let printed = assert_success(&sb.run_in("lib", &["export", "requirements"]));
    let lock = read(sb.dir("lib/pyenvx.lock"));
    let entries: Vec<&str> = printed
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    let names = lock.matches("[[package]]").count();
    assert_eq!(entries.len(), 2 * names, "{printed}");
    for needle in [
        "django==5.2.19 \\",
        "djangorestframework==3.18.3 \\",
        "psycopg-binary==3.3.9 \\",
        "pip==26.3 \\",
        "CPython 3.12.1",
        "manylinux",
    ] {
        assert!(printed.contains(needle), "{needle}:\n{printed}");
    }
    for hash in entries.iter().filter(|l| l.contains("--hash")) {
        let hex = hash.trim().strip_prefix("--hash=sha256:").unwrap();
        assert!(lock.contains(&format!("sha256 = \"{hex}\"")), "{hex}");
    }
    let out = sb.ok("lib", &["export", "requirements", "-o", "requirements.txt"]);
    assert!(out.contains("requirements.txt"), "{out}");
    assert_eq!(
        read(sb.dir("lib/requirements.txt")).trim_end(),
        printed.trim_end()
    );

    // pip in a fresh environment of the same interpreter installs exactly the sandbox.
    let python = sb.python("lib", "3.12");
    let fresh = sb.ctx.root().join("fresh");
    assert_success(
        &sb.ctx
            .command(&python)
            .args(["-m", "venv"])
            .arg(&fresh)
            .output()
            .unwrap(),
    );
    let pip = |requirements: &Path| {
        sb.ctx
            .command(fresh.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-cache-dir",
            ])
            .args(["--index-url", &sb.index_url()])
            .args(["--require-hashes", "-r"])
            .arg(requirements)
            .output()
            .unwrap()
    };
    // A hash that does not match is refused before anything is installed.
    let tampered = sb.ctx.root().join("tampered.txt");
    let first_hash = printed
        .split("--hash=sha256:")
        .nth(1)
        .unwrap()
        .get(..64)
        .unwrap();
    fs::write(&tampered, printed.replacen(first_hash, &"0".repeat(64), 1)).unwrap();
    let refused = pip(&tampered);
    let err = stdout(&refused) + &stderr(&refused);
    assert!(err.contains("DO NOT MATCH THE HASHES"), "{err}");
    assert_success(&pip(&sb.dir("lib/requirements.txt")));
    assert_eq!(
        pip_freeze(&sb.ctx, &fresh.join("bin/python")),
        pip_freeze(&sb.ctx, &sb.dir("lib/.venv/bin/python"))
    );
}

#[test]
fn export_needs_a_current_lock() {
    let sb = Sandbox::new(&["3.12"]);
    let err = sb.fails("nowhere", &["export", "requirements"]);
    assert!(err.contains("no pyenvx.toml"), "{err}");
    fs::create_dir_all(sb.dir("bare")).unwrap();
    fs::write(
        sb.dir("bare/pyenvx.toml"),
        "[project]\nname = \"bare\"\npython = \"3.12\"\ndjango = \"5.2\"\n",
    )
    .unwrap();
    let err = sb.fails("bare", &["export", "docker"]);
    assert!(
        err.contains("no lock yet") && err.contains("pyenvx sync"),
        "{err}"
    );
    sb.ok("bare", &["sync"]);
    let toml = read(sb.dir("bare/pyenvx.toml")).replace("5.2", "4.2");
    fs::write(sb.dir("bare/pyenvx.toml"), toml).unwrap();
    let err = sb.fails("bare", &["export", "requirements"]);
    assert!(
        err.contains("out of date") && err.contains("pyenvx sync"),
        "{err}"
    );
    assert!(!sb.dir("bare/Dockerfile").exists());
}

#[test]
fn docker_files_are_written_once_and_replaced_only_with_force() {
    let sb = Sandbox::new(&["3.12"]);
    sb.ok(
        "shop",
        &[
            "init", "--python", "3.12", "--django", "5.2", "--db", "postgres",
        ],
    );
    let dir = sb.dir("shop");
    let out = sb.ok("shop", &["export", "docker"]);
    for f in [
        "Dockerfile",
        "docker-compose.yml",
        ".dockerignore",
        "requirements.txt",
        ".env.docker",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
        assert!(out.contains(f), "says it wrote {f}: {out}");
    }
    assert!(out.contains("docker compose up --wait"), "{out}");
    let dockerfile = read(dir.join("Dockerfile"));
    assert!(
        dockerfile.contains("FROM python:3.12-slim\n"),
        "{dockerfile}"
    );
    assert!(
        dockerfile.contains("Python 3.12.1, Django 5.2.19"),
        "{dockerfile}"
    );
    // Secrets: in the env file (0600, ignored by git and by the build), never in the compose file.
    let env = read(dir.join(".env.docker"));
    let password = env
        .lines()
        .find_map(|l| l.strip_prefix("POSTGRES_PASSWORD="))
        .unwrap()
        .to_string();
    assert!(password.len() >= 24, "{env}");
    assert!(env.contains(&format!(
        "DATABASE_URL=postgres://shop:{password}@db:5432/shop"
    )));
    assert_eq!(
        fs::metadata(dir.join(".env.docker"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let compose = read(dir.join("docker-compose.yml"));
    assert!(!compose.contains(&password), "{compose}");
    assert!(read(dir.join(".gitignore"))
        .lines()
        .any(|l| l == ".env.docker"));
    // At any depth: `.env.*` alone would let `pyenvx-export/.env.docker` into the image.
    assert!(read(dir.join(".dockerignore"))
        .lines()
        .any(|l| l == "**/.env.*"));

    // The same export again finds every file as it would write it: nothing to replace, so it
    // needs no --force (as after `export requirements -o requirements.txt`).
    let again = sb.ok("shop", &["export", "docker"]);
    assert!(
        again.contains("Dockerfile (unchanged)") && !again.contains("replaced"),
        "{again}"
    );

    // Never overwrites without --force; nothing changes.
    // (A file pyenvx generated, edited since: its header says whose it is.)
    let tweaked = format!("{dockerfile}# tweaked\n");
    fs::write(dir.join("Dockerfile"), &tweaked).unwrap();
    let err = sb.fails("shop", &["export", "docker"]);
    assert!(
        err.contains("Dockerfile") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(read(dir.join("Dockerfile")), tweaked);
    // --force replaces the generated files and keeps the secrets the volume was made with.
    let out = sb.ok(
        "shop",
        &[
            "export",
            "docker",
            "--force",
            "--base-image",
            "example/python:3.12",
        ],
    );
    assert!(out.contains("replaced") && out.contains("kept"), "{out}");
    assert!(read(dir.join("Dockerfile")).contains("FROM example/python:3.12\n"));
    assert_eq!(read(dir.join(".env.docker")), env);

    // --out: the files go there, the build context stays the project.
    let out = sb.ok("shop", &["export", "docker", "--out", "deploy", "--force"]);
    assert!(
        out.contains("cd deploy && docker compose up --wait"),
        "{out}"
    );
    let nested = read(dir.join("deploy/docker-compose.yml"));
    assert!(
        nested.contains("context: \"..\"") && nested.contains("dockerfile: \"deploy/Dockerfile\""),
        "{nested}"
    );
    assert!(read(dir.join("deploy/Dockerfile")).contains("COPY deploy/requirements.txt"));
    // Outside the project, the build context is still the project, which holds the requirements
    // in pyenvx's own directory.
    let out = sb.ok(
        "shop",
        &["export", "docker", "--out", "../elsewhere", "--force"],
    );
    assert!(out.contains("docker compose up --wait"), "{out}");
    let outside = read(sb.dir("elsewhere").join("docker-compose.yml"));
    assert!(
        outside.contains("context: \"../shop\"")
            && outside.contains("dockerfile: \"../elsewhere/Dockerfile\""),
        "{outside}"
    );
    assert!(
        read(sb.dir("elsewhere").join("Dockerfile"))
            .contains("COPY .pyenvx/export/requirements.txt /tmp/requirements.txt"),
        "{outside}"
    );
    assert!(dir.join(".pyenvx/export/requirements.txt").is_file());
    let err = sb.fails(
        "shop",
        &["export", "docker", "--force", "--base-image", "two words"],
    );
    assert!(err.contains("not an image name"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Docker

/// The Docker tests are `#[ignore]`d, for a plain `cargo test` on a machine without Compose v2;
/// `.ci/run` installs it and runs them. Run without it, they fail, saying so.
fn require_compose() {
    require_docker();
    require(
        "docker",
        &["compose", "version"],
        "Docker Compose v2 (`docker compose`)",
    );
}

/// `docker compose ARGS` in `dir`, with extra environment.
fn compose(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new("docker");
    cmd.arg("compose")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Replace the first `from` in `path`'s text by `to`, insisting it is there.
fn edit(path: &Path, from: &str, to: &str) {
    let text = read(path);
    assert!(
        text.contains(from),
        "{from:?} not in {}:\n{text}",
        path.display()
    );
    fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
#[ignore = "needs Docker Compose v2; .ci/run runs it where `docker compose` works"]
fn compose_config_accepts_every_generated_file() {
    require_compose();
    let sb = Sandbox::new(&["3.12"]);
    sb.ok(
        "base",
        &[
            "init",
            "--python",
            "3.12",
            "--django",
            "5.2",
            "--drf",
            "--db",
            "postgres",
            "--no-startproject",
        ],
    );
    // One real lock, re-pinned per variant: only the interpreter and the database change what
    // the templates write. (The wheelhouse's asgiref cannot resolve Django on 3.10 at all.)
    for (minor, db) in [
        ("3.10", Some("15")),
        ("3.10", None),
        ("3.11", Some("16")),
        ("3.11", None),
        ("3.12", Some("15")),
        ("3.12", None),
        ("3.13", Some("18")),
        ("3.13", None),
    ] {
        let name = format!(
            "py{}-{}",
            minor.replace('.', ""),
            db.map_or("nodb".to_string(), |m| format!("pg{m}"))
        );
        let dir = sb.dir(&name);
        fs::create_dir_all(&dir).unwrap();
        let full = full_version(minor);
        let toml = read(sb.dir("base/pyenvx.toml"))
            .replace("name = \"base\"", &format!("name = \"{name}\""))
            .replace("python = \"3.12\"", &format!("python = \"{minor}\""));
        let toml = match db {
            Some(major) => regex_replace_version(&toml, major),
            None => toml[..toml.find("[services.db]").unwrap()].to_string(),
        };
        fs::write(dir.join("pyenvx.toml"), toml).unwrap();
        let lock = read(sb.dir("base/pyenvx.lock"))
            .replace("version = \"3.12.1\"", &format!("version = \"{full}\""))
            .replace("python = \"3.12\"", &format!("python = \"{minor}\""));
        fs::write(dir.join("pyenvx.lock"), lock).unwrap();

        sb.ok(&name, &["export", "docker"]);
        assert!(
            read(dir.join("Dockerfile")).contains(&format!("FROM python:{minor}-slim\n")),
            "{name}"
        );
        let out = compose(&dir, &[], &["config", "--format", "json"]);
        let json = assert_success(&out);
        let config: serde_json::Value =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{name}: {e}\n{json}"));
        assert_eq!(config["name"], name.as_str(), "{json}");
        let web = &config["services"]["web"];
        assert_eq!(web["build"]["dockerfile"], "Dockerfile", "{json}");
        let port = &web["ports"][0];
        assert_eq!(port["host_ip"], "127.0.0.1", "{json}");
        assert_eq!(port["published"], "8000", "{json}");
        assert_eq!(port["target"], 8000, "{json}");
        match db {
            None => {
                assert!(config["services"].get("db").is_none(), "{json}");
                assert!(web["environment"].get("DATABASE_URL").is_none(), "{json}");
            }
            Some(major) => {
                let url = web["environment"]["DATABASE_URL"].as_str().unwrap();
                assert!(
                    url.starts_with("postgres://") && url.contains("@db:5432/"),
                    "{url}"
                );
                assert_eq!(web["depends_on"]["db"]["condition"], "service_healthy");
                let db = &config["services"]["db"];
                assert_eq!(db["image"], format!("postgres:{major}"), "{json}");
                assert!(db.get("ports").is_none(), "{json}");
                let target = if major == "18" {
                    "/var/lib/postgresql"
                } else {
                    "/var/lib/postgresql/data"
                };
                assert_eq!(db["volumes"][0]["target"], target, "{json}");
                assert_eq!(db["volumes"][0]["type"], "volume", "{json}");
                let check = db["healthcheck"]["test"].to_string();
                assert!(check.contains("pg_isready -h 127.0.0.1"), "{check}");
                for var in ["POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"] {
                    assert!(db["environment"].get(var).is_some(), "{var}: {json}");
                }
            }
        }
        // Another host port, still on loopback only.
        let out = compose(
            &dir,
            &[("WEB_PORT", "18080")],
            &["config", "--format", "json"],
        );
        let config: serde_json::Value = serde_json::from_str(&assert_success(&out)).unwrap();
        assert_eq!(config["services"]["web"]["ports"][0]["published"], "18080");
    }
}

/// `version = "15"` of `[services.db]` set to `major`.
fn regex_replace_version(toml: &str, major: &str) -> String {
    let start = toml.find("[services.db]").unwrap();
    let (head, tail) = toml.split_at(start);
    let line_start = tail.find("\nversion = ").unwrap() + 1;
    let line_end = line_start + tail[line_start..].find('\n').unwrap();
    format!(
        "{head}{}version = \"{major}\"{}",
        &tail[..line_start],
        &tail[line_end..]
    )
}

/// Removes what a compose project made (containers, networks, volumes, its built images) and
/// the stand-in images, even when the test fails.
struct Stack {
    dir: PathBuf,
    env: Vec<(String, String)>,
    images: Vec<String>,
}

impl Stack {
    fn env(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn compose(&self, args: &[&str]) -> Output {
        compose(&self.dir, &self.env(), args)
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = self.compose(args);
        if !out.status.success() {
            let logs = self.compose(&["logs", "--no-color", "--tail", "40"]);
            panic!(
                "docker compose {args:?} failed\n{}\n--- logs ---\n{}{}",
                describe(&out),
                stdout(&logs),
                stderr(&logs)
            );
        }
        stdout(&out)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "--volumes", "--rmi", "local", "--remove-orphans"]);
        for image in &self.images {
            remove_pg_image(image);
        }
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on 127.0.0.1:`port`, retried until it answers 200 or `timeout` passes.
fn get(port: u16, path: &str, timeout: Duration) -> String {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < timeout {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\r\n"
            );
            let mut response = String::new();
            if s.write_all(request.as_bytes()).is_ok() && s.read_to_string(&mut response).is_ok() {
                if response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200") {
                    return response
                        .split("\r\n\r\n")
                        .nth(1)
                        .unwrap_or_default()
                        .to_string();
                }
                last = response;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("GET {path} on port {port} did not answer 200 within {timeout:?}; last answer:\n{last}");
}

/// The Django app both tests serve: a Book model and a read-only list of them at `/api/`.
const BOOKS_FILES: &[(&str, &str)] = &[
    ("books/__init__.py", ""),
    (
        "books/models.py",
        "from django.db import models\n\n\nclass Book(models.Model):\n    title = models.CharField(max_length=200)\n    subtitle = models.CharField(max_length=200, blank=True)\n    author = models.CharField(max_length=200)\n    isbn = models.CharField(max_length=13, unique=True)\n",
    ),
    (
        "books/views.py",
        "from rest_framework import generics, serializers\n\nfrom .models import Book\n\n\nclass BookSerializer(serializers.ModelSerializer):\n    class Meta:\n        model = Book\n        fields = [\"id\", \"title\", \"subtitle\", \"author\", \"isbn\"]\n\n\nclass BookList(generics.ListAPIView):\n    queryset = Book.objects.order_by(\"id\")\n    serializer_class = BookSerializer\n",
    ),
];

#[test]
#[ignore = "needs Docker Compose v2; .ci/run runs it where `docker compose` works"]
fn exported_stack_serves_the_api() {
    require_compose();
    let started = Instant::now();
    let sb = Sandbox::new(&["3.12"]);
    sb.ok(
        "shelf",
        &[
            "init", "--python", "3.12", "--django", "5.2", "--drf", "--db", "postgres",
        ],
    );
    let dir = sb.dir("shelf");
    for (path, body) in BOOKS_FILES {
        fs::create_dir_all(dir.join(path).parent().unwrap()).unwrap();
        fs::write(dir.join(path), body).unwrap();
    }
    let settings = dir.join("shelf/settings.py");
    fs::write(
        &settings,
        read(&settings) + "\nINSTALLED_APPS += [\"books\"]\n",
    )
    .unwrap();
    edit(
        &dir.join("shelf/urls.py"),
        "from django.urls import path\n",
        "from django.urls import path\n\nfrom books.views import BookList\n",
    );
    edit(
        &dir.join("shelf/urls.py"),
        "    path('admin/', admin.site.urls),\n",
        "    path('admin/', admin.site.urls),\n    path('api/', BookList.as_view()),\n",
    );
    sb.ok(
        "shelf",
        &[
            "run",
            "--",
            "python",
            "manage.py",
            "makemigrations",
            "books",
        ],
    );

    let python = python_image("3.12");
    let (pg, pg_images) = compose_pg_image();
    let project = format!("pyenvx-e2e-{}", std::process::id());
    let port = free_port();
    let stack = Stack {
        dir: dir.clone(),
        env: vec![
            ("COMPOSE_PROJECT_NAME".into(), project.clone()),
            ("WEB_PORT".into(), port.to_string()),
        ],
        images: pg_images,
    };
    // The database image is chosen in pyenvx.toml, as a user would.
    edit(
        &dir.join("pyenvx.toml"),
        "[services.db]\n",
        &format!("[services.db]\nimage = \"{pg}\"\n"),
    );
    let out = sb.ok("shelf", &["export", "docker", "--base-image", &python.tag]);
    assert!(out.contains(&format!("PostgreSQL 15 ({pg})")), "{out}");
    assert!(read(dir.join("docker-compose.yml")).contains(&format!("image: \"{pg}\"")));
    // What the test machine needs and a user's machine would not: the index is on this host's
    // loopback, so the build uses the host's network. A local override file, as users write.
    fs::write(
        dir.join("docker-compose.override.yml"),
        format!(
            "services:\n  web:\n    build:\n      network: host\n      args:\n        PIP_INDEX_URL: \"{}\"\n",
            sb.index_url()
        ),
    )
    .unwrap();
    let t = Instant::now();
    stack.ok(&["up", "--wait", "--build", "--quiet-pull"]);
    eprintln!("[e2e] build and up --wait: {:.1?}", t.elapsed());
    stack.ok(&[
        "exec",
        "-T",
        "web",
        "python",
        "manage.py",
        "migrate",
        "--noinput",
    ]);
    stack.ok(&[
        "exec",
        "-T",
        "web",
        "python",
        "manage.py",
        "shell",
        "-c",
        "from books.models import Book\n\
         Book.objects.create(title='Dune', subtitle='', author='Frank Herbert', isbn='9780441172719')\n\
         Book.objects.create(title='Snow Crash', subtitle='A Novel', author='Neal Stephenson', isbn='9780553380958')",
    ]);
    let body = get(port, "/api/", Duration::from_secs(60));
    let books: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let titles: Vec<&str> = books
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|b| b["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Dune", "Snow Crash"], "{body}");
    assert_eq!(books[1]["subtitle"], "A Novel");
    assert_eq!(books[0]["isbn"], "9780441172719");
    // The rows are in the PostgreSQL container, and the app runs unprivileged.
    let count = stack.ok(&[
        "exec",
        "-T",
        "db",
        "sh",
        "-c",
        "PGPASSWORD=\"$POSTGRES_PASSWORD\" psql -h 127.0.0.1 -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\" -tAc 'select count(*) from books_book'",
    ]);
    assert_eq!(count.trim(), "2");
    let user = stack.ok(&[
        "exec",
        "-T",
        "web",
        "python",
        "-c",
        "import os; print(os.getuid())",
    ]);
    assert_ne!(user.trim(), "0");
    drop(stack);
    drop(python);
    eprintln!("[e2e] total {:.1?}", started.elapsed());
}

/// `sql` run in the compose project's `db` container by the project's own user (the
/// credentials `.env.docker` gave the container), over TCP as `web` would connect.
fn as_project_user(stack: &Stack, sql: &str) -> Output {
    stack.compose(&[
        "exec",
        "-T",
        "db",
        "sh",
        "-c",
        "MYSQL_PWD=\"$MARIADB_PASSWORD\" exec mariadb --protocol=TCP -h 127.0.0.1 -P 3306 \
         -u \"$MARIADB_USER\" -N -B -e \"$0\"",
        sql,
    ])
}

#[test]
#[ignore = "needs Docker Compose v2; .ci/run runs it where `docker compose` works"]
fn mariadb_export_lets_the_project_user_make_djangos_test_database() {
    require_compose();
    let sb = Sandbox::new(&["3.12"]);
    // A `_` in the database name: a wildcard in a grant, which the export must escape.
    sb.ok(
        "shop-front",
        &[
            "init",
            "--python",
            "3.12",
            "--django",
            "5.2",
            "--db",
            "postgres",
            "--no-startproject",
        ],
    );
    let dir = sb.dir("shop-front");
    let image = maria_image();
    let stack = Stack {
        dir: dir.clone(),
        env: vec![(
            "COMPOSE_PROJECT_NAME".into(),
            format!("pyenvx-maria-{}", std::process::id()),
        )],
        images: vec![image.clone()],
    };
    let toml = read(dir.join("pyenvx.toml"));
    let toml = format!(
        "{}[services.db]\nengine = \"mariadb\"\nimage = \"{image}\"\n",
        &toml[..toml.find("[services.db]").unwrap()]
    );
    fs::write(dir.join("pyenvx.toml"), &toml).unwrap();
    sb.ok("shop-front", &["export", "docker"]);
    let env = read(dir.join(".env.docker"));
    assert!(env.contains("MARIADB_USER=shop_front\n"), "{env}");
    // Renamed since: the kept .env.docker still names the user the container creates, and
    // the grant follows it rather than the new name.
    fs::write(
        dir.join("pyenvx.toml"),
        toml.replace("name = \"shop-front\"", "name = \"renamed\""),
    )
    .unwrap();
    let out = sb.ok("shop-front", &["export", "docker", "--force"]);
    assert!(out.contains("kept"), "{out}");
    assert_eq!(read(dir.join(".env.docker")), env);
    let compose_text = read(dir.join("docker-compose.yml"));
    assert!(
        compose_text
            .contains("GRANT ALL PRIVILEGES ON `test\\_shop\\_front%`.* TO 'shop_front'@'%';"),
        "{compose_text}"
    );
    assert!(!compose_text.contains("'renamed'"), "{compose_text}");

    // Compose accepts the inline config and mounts it where the image's entrypoint looks.
    let json = stack.ok(&["config", "--format", "json"]);
    let config: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}\n{json}"));
    let content = config["configs"]["db-test-databases"]["content"]
        .as_str()
        .unwrap_or_else(|| panic!("{json}"));
    assert!(
        content.contains("GRANT ALL PRIVILEGES ON `test\\_shop\\_front%`.*"),
        "{content}"
    );
    let db = &config["services"]["db"];
    assert_eq!(db["configs"][0]["source"], "db-test-databases", "{json}");
    assert_eq!(
        db["configs"][0]["target"], "/docker-entrypoint-initdb.d/pyenvx-test-databases.sql",
        "{json}"
    );
    assert_eq!(
        db["environment"]["MARIADB_RANDOM_ROOT_PASSWORD"], "1",
        "{json}"
    );

    // End to end on the stand-in image, which runs the official entrypoint's contract for
    // this: the user granted its own database only, then initdb.d's SQL as root.
    let t = Instant::now();
    stack.ok(&["up", "--detach", "db"]);
    let started = Instant::now();
    loop {
        let out = as_project_user(&stack, "SELECT DATABASE() IS NULL");
        if out.status.success() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the db service never let its user in:\n{}",
            describe(&out)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("[maria] up until the user logs in: {:.1?}", t.elapsed());
    // What Django's test runner does: create test_<name> (and, with --parallel, clones of it
    // as test_<name>_1, …), use it, drop it.
    let out = as_project_user(
        &stack,
        "CREATE DATABASE test_shop_front; \
         CREATE TABLE test_shop_front.t (x INT); INSERT INTO test_shop_front.t VALUES (1); \
         CREATE DATABASE test_shop_front_1; DROP DATABASE test_shop_front_1; \
         DROP DATABASE test_shop_front; \
         SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name LIKE 'test%'",
    );
    assert_eq!(assert_success(&out).trim(), "0");
    // And nothing beyond them: no other database, whose name only looks alike.
    for other in ["other", "testxshop_front", "test_shopxfront"] {
        let out = as_project_user(&stack, &format!("CREATE DATABASE {other}"));
        let err = assert_failure(&out);
        assert!(err.contains("Access denied"), "{other}: {err}");
    }
    drop(stack);
}
