//! Adopting a cloned project's dependencies as its authors meant them (issue 20, items 4, 5 and
//! 11): production requirements as the main dependencies, development and test ones as PEP 735
//! groups that `sync` installs by name, the project's own lock file seeding pyenvx's, Django's
//! exact pin and extras kept, and a resolver failure that names what failed.

mod common;

use common::*;

/// A small Django project with `extra` files, committed to git as a clone would be.
fn clone_project(sb: &Sandbox, name: &str, extra: &[(&str, &str)]) {
    common::clone_project(&sb.ctx, &sb.dir(name), extra);
}

/// The version of `package` installed in the project's sandbox, or `-` when it is not there.
fn installed(sb: &Sandbox, name: &str, package: &str) -> String {
    let code = format!(
        "import importlib.metadata as m\ntry:\n    print(m.version({package:?}))\n\
         except m.PackageNotFoundError:\n    print('-')\n"
    );
    sb.ok(name, &["run", "--", "python", "-c", &code])
        .trim()
        .to_string()
}

/// `pyenvx init` adopts the project, and `manage.py check` passes in it.
fn adopt(sb: &Sandbox, name: &str) -> String {
    let out = sb.ok(name, &["init"]);
    assert!(out.contains("Adopting the project"), "{out}");
    let check = sb.ok(name, &["run", "--", "python", "manage.py", "check"]);
    assert!(check.contains("no issues"), "{name}: {check}");
    out
}

#[test]
fn requirements_files_take_their_roles_and_sync_installs_groups_by_name() {
    let sb = Sandbox::new(&["3.12"]);
    clone_project(
        &sb,
        "roles",
        &[
            ("requirements/base.txt", "Django==4.2.30\nsqlparse\n"),
            ("requirements/prod.txt", "-r base.txt\nrequests\n"),
            ("requirements/dev.txt", "-r base.txt\ndj-database-url\n"),
            ("requirements/tests.txt", "-r dev.txt\npytz\n"),
            (
                "Dockerfile",
                "FROM python:3.12-slim\nCOPY requirements /req\nRUN pip install -r /req/prod.txt\n",
            ),
        ],
    );
    let out = adopt(&sb, "roles");
    assert!(
        out.contains("group `dev`") && out.contains("group `test`"),
        "{out}"
    );
    let toml = read(sb.dir("roles").join("pyenvx.toml"));
    assert!(
        toml.contains("dependencies = [\"sqlparse\", \"requests\"]"),
        "{toml}"
    );
    assert!(
        toml.contains("[dependency-groups]\ndev = [\"dj-database-url\"]\ntest = [\"dj-database-url\", \"pytz\"]"),
        "{toml}"
    );
    // main + dev, as uv: the test group waits to be asked for.
    assert_eq!(installed(&sb, "roles", "requests"), "2.32.3");
    assert_eq!(installed(&sb, "roles", "dj-database-url"), "3.1.2");
    assert_eq!(installed(&sb, "roles", "pytz"), "-");

    sb.ok("roles", &["sync", "--group", "test"]);
    assert_eq!(installed(&sb, "roles", "pytz"), "2024.2");
    sb.ok("roles", &["sync", "--no-group", "dev"]);
    assert_eq!(installed(&sb, "roles", "dj-database-url"), "-");
    assert_eq!(installed(&sb, "roles", "pytz"), "-");
    // Only the group: its packages and what they need (Django), not production's requests.
    sb.ok("roles", &["sync", "--only-group", "test"]);
    assert_eq!(installed(&sb, "roles", "pytz"), "2024.2");
    assert_eq!(installed(&sb, "roles", "django"), "4.2.30");
    assert_eq!(installed(&sb, "roles", "requests"), "-");
    let err = sb.fails("roles", &["sync", "--group", "docs"]);
    assert!(
        err.contains("no dependency group `docs`") && err.contains("dev, test"),
        "{err}"
    );
    sb.ok("roles", &["sync"]);
    assert_eq!(installed(&sb, "roles", "requests"), "2.32.3");

    // Production runs the main dependencies only.
    let exported = sb.ok("roles", &["export", "requirements"]);
    assert!(
        exported.contains("requests==2.32.3") && exported.contains("django==4.2.30"),
        "{exported}"
    );
    assert!(
        !exported.contains("pytz") && !exported.contains("dj-database-url"),
        "{exported}"
    );
}

#[test]
fn add_and_remove_dev_and_named_groups() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("groups", "3.12", "4.2.30");
    sb.ok("groups", &["add", "--dev", "pytz"]);
    let toml = read(sb.dir("groups").join("pyenvx.toml"));
    assert!(
        toml.contains("[dependency-groups]\ndev = [\"pytz\"]"),
        "{toml}"
    );
    assert!(toml.contains("dependencies = []"), "{toml}");
    assert_eq!(installed(&sb, "groups", "pytz"), "2024.2");

    sb.ok("groups", &["add", "--group", "lint", "requests"]);
    // A named group is locked, not installed until asked for.
    assert_eq!(installed(&sb, "groups", "requests"), "-");
    sb.ok("groups", &["sync", "--all-groups"]);
    assert_eq!(installed(&sb, "groups", "requests"), "2.32.3");

    let err = sb.fails("groups", &["remove", "--dev", "requests"]);
    assert!(
        err.contains("not in the dependency group `dev`: requests"),
        "{err}"
    );
    sb.ok("groups", &["remove", "--dev", "pytz"]);
    assert_eq!(installed(&sb, "groups", "pytz"), "-");
    let toml = read(sb.dir("groups").join("pyenvx.toml"));
    assert!(
        toml.contains("dev = []") && toml.contains("lint = [\"requests\"]"),
        "{toml}"
    );
    let exported = sb.ok("groups", &["export", "requirements"]);
    assert!(!exported.contains("requests"), "{exported}");
}

/// The lock `file` of another tool pins older releases than a fresh resolution picks: the
/// adopted sandbox runs those, and the table says where they came from.
fn seeded_by(sb: &Sandbox, name: &str, file: &str) {
    let out = adopt(sb, name);
    assert!(
        out.contains(file) && out.contains("locked versions, kept where they resolve"),
        "{out}"
    );
    assert!(
        out.contains(&format!("versions locked as {file} has them")),
        "{out}"
    );
    for (package, version) in OLDER_PINS {
        assert_eq!(installed(sb, name, package), version, "{name}: {package}");
    }
    let lock = read(sb.dir(name).join("pyenvx.lock"));
    assert!(
        lock.contains("name = \"sqlparse\"\nversion = \"0.4.4\""),
        "{lock}"
    );
}

#[test]
fn uv_lock_seeds_the_lock() {
    let sb = Sandbox::new(&["3.12"]);
    let pins = [("django", "4.2.30"), OLDER_PINS[0], OLDER_PINS[1]];
    clone_project(
        &sb,
        "uvlock",
        &[
            (
                "pyproject.toml",
                "[project]\nname = \"site\"\nversion = \"0.1.0\"\nrequires-python = \">=3.10\"\n\
                 dependencies = [\"django>=4.2,<5\"]\n\n[dependency-groups]\ndev = [\"pytz\"]\n",
            ),
            ("uv.lock", &uv_lock(&pins)),
        ],
    );
    seeded_by(&sb, "uvlock", "uv.lock");
    assert_eq!(installed(&sb, "uvlock", "django"), "4.2.30");
    assert_eq!(installed(&sb, "uvlock", "pytz"), "2024.2");
}

#[test]
fn pipfile_lock_and_dev_packages() {
    let sb = Sandbox::new(&["3.12"]);
    clone_project(
        &sb,
        "pipenv",
        &[
            (
                "Pipfile",
                "[packages]\ndjango = \"==4.2.30\"\nsqlparse = \"*\"\n\n[dev-packages]\npytz = \"*\"\n\n\
                 [requires]\npython_version = \"3.12\"\n",
            ),
            ("Pipfile.lock", &pipfile_lock(&OLDER_PINS)),
        ],
    );
    seeded_by(&sb, "pipenv", "Pipfile.lock");
    let toml = read(sb.dir("pipenv").join("pyenvx.toml"));
    assert!(toml.contains("dev = [\"pytz\"]"), "{toml}");
    assert_eq!(installed(&sb, "pipenv", "pytz"), "2024.2");
}

#[test]
fn poetry_project_and_its_lock() {
    let sb = Sandbox::new(&["3.12"]);
    clone_project(
        &sb,
        "poetry",
        &[
            (
                "pyproject.toml",
                "[tool.poetry]\nname = \"site\"\nversion = \"0.1.0\"\n\n\
                 [tool.poetry.dependencies]\npython = \"^3.10\"\nDjango = \"4.2.30\"\n\
                 sqlparse = \"^0.4\"\n\n[tool.poetry.group.test.dependencies]\npytz = \"*\"\n",
            ),
            ("poetry.lock", &poetry_lock(&OLDER_PINS)),
        ],
    );
    seeded_by(&sb, "poetry", "poetry.lock");
    let toml = read(sb.dir("poetry").join("pyenvx.toml"));
    assert!(
        toml.contains("django = \"4.2.30\"") && toml.contains("\"sqlparse>=0.4,<0.5\""),
        "{toml}"
    );
    assert!(toml.contains("test = [\"pytz\"]"), "{toml}");
}

#[test]
fn pip_tools_hashes_seed_the_lock() {
    let sb = Sandbox::new(&["3.12"]);
    clone_project(
        &sb,
        "piptools",
        &[
            ("requirements.in", "Django==4.2.30\nsqlparse\n"),
            (
                "requirements.txt",
                &hashed_requirements(&[("django", "4.2.30"), OLDER_PINS[0], OLDER_PINS[1]]),
            ),
        ],
    );
    seeded_by(&sb, "piptools", "requirements.txt");
    let toml = read(sb.dir("piptools").join("pyenvx.toml"));
    // The `.in` file holds what the project asks for; the `.txt` only what it resolved to.
    assert!(toml.contains("dependencies = [\"sqlparse\"]"), "{toml}");
}

/// pip-compile's output without hashes (`requirements.txt` beside the loose
/// `requirements.in`, as djangogirls has it): its versions seed the lock all the same, so a
/// loose name in `.in` does not float to a release the project never ran.
#[test]
fn pip_compile_output_without_hashes_seeds_the_lock() {
    let sb = Sandbox::new(&["3.12"]);
    let compiled: String = [("django", "4.2.30"), OLDER_PINS[0], OLDER_PINS[1]]
        .iter()
        .map(|(n, v)| format!("{n}=={v}\n    # via -r requirements.in\n"))
        .collect();
    clone_project(
        &sb,
        "pipcompile",
        &[
            ("requirements.in", "Django>=4.2,<5\nsqlparse\n"),
            (
                "requirements.txt",
                &format!("#\n# This file is autogenerated by pip-compile with Python 3.12\n#\n{compiled}"),
            ),
        ],
    );
    seeded_by(&sb, "pipcompile", "requirements.txt");
}

/// A stale compiled lock (djangogirls': `requirements.in` pins django-formtools at a version
/// its `requirements.txt` has moved past) loses only the pin that conflicts: every other locked
/// version is kept, and the table says which one was not and why.
#[test]
fn a_conflicting_locked_version_costs_only_itself() {
    let sb = Sandbox::new(&["3.12"]);
    let compiled: String = [("django", "4.2.30"), OLDER_PINS[0], OLDER_PINS[1]]
        .iter()
        .map(|(n, v)| format!("{n}=={v}\n    # via -r requirements.in\n"))
        .collect();
    clone_project(
        &sb,
        "stale",
        &[
            ("requirements.in", "Django>=4.2,<5\nsqlparse==0.6.1\nasgiref\n"),
            (
                "requirements.txt",
                &format!("#\n# This file is autogenerated by pip-compile with Python 3.12\n#\n{compiled}"),
            ),
        ],
    );
    let out = adopt(&sb, "stale");
    assert!(
        out.contains("2 of 3 versions locked as requirements.txt has them"),
        "{out}"
    );
    assert!(
        out.contains("not kept: sqlparse==0.4.4 (you require sqlparse==0.4.4 and sqlparse==0.6.1)")
            || out.contains(
                "not kept: sqlparse==0.4.4 (you require sqlparse==0.6.1 and sqlparse==0.4.4)"
            ),
        "{out}"
    );
    assert_eq!(installed(&sb, "stale", "sqlparse"), "0.6.1");
    // The loose `asgiref` keeps its locked release, not the newest the index has.
    assert_eq!(installed(&sb, "stale", "asgiref"), "3.7.2");
    assert_eq!(installed(&sb, "stale", "django"), "4.2.30");
}

/// Python 3.7's wheels carry pymalloc's ABI flag (`cp37-cp37m`), as psycopg2 2.7's do: they
/// install. LondonAppDeveloper's recipe-app-api got the sdist instead, built by a setuptools
/// that no longer runs 2to3, and `import psycopg2` failed on `basestring`.
#[test]
fn a_cp37m_wheel_installs_on_python_3_7() {
    let mut sb = Sandbox::new(&["3.7"]);
    let links = stand_in_wheel_tagged(
        sb.ctx.root(),
        "fastpg",
        "2.7.7",
        "fastpg",
        "cp37-cp37m-manylinux1_x86_64",
    );
    sb.ctx.env("PYENVX_FIND_LINKS", &links);
    clone_project(
        &sb,
        "py37",
        &[
            (
                "requirements.txt",
                "Django>=2.1.3,<2.2.0\nfastpg>=2.7.5,<2.8.0\n",
            ),
            ("Dockerfile", "FROM python:3.7-alpine\n"),
        ],
    );
    let out = sb.ok("py37", &["init"]);
    assert!(out.contains("Python 3.7"), "{out}");
    let seen = sb.ok(
        "py37",
        &[
            "run",
            "--",
            "python",
            "-c",
            "import fastpg; print('FASTPG', fastpg.VERSION)",
        ],
    );
    assert!(seen.contains("FASTPG 2.7.7"), "{seen}");
}

/// pip-compile leaves setuptools out ("considered to be unsafe in a requirements file"): the
/// project ran with its environment's, which for a Python before 3.12 is the one `ensurepip`
/// bundles. That version is locked, not the newest, whose missing `pkg_resources` broke
/// djangogirls' django-formtools 2.3.
#[test]
fn setuptools_left_to_the_environment_is_the_environments() {
    let mut sb = Sandbox::new(&["3.10"]);
    sb.ok("pysetup", &["python", "install", "3.10"]);
    let python = sb.ok("pysetup", &["python", "find", "3.10"]);
    let out = std::process::Command::new(python.trim())
        .args([
            "-c",
            "import ensurepip; print(ensurepip._SETUPTOOLS_VERSION)",
        ])
        .output()
        .unwrap();
    let bundled = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!bundled.is_empty(), "{out:?}");
    let links = stand_in_wheel(sb.ctx.root(), "setuptools", &bundled, "pkg_resources");
    stand_in_wheel(sb.ctx.root(), "setuptools", "99.0.0", "setuptools_new");
    sb.ctx.env("PYENVX_FIND_LINKS", &links);
    clone_project(
        &sb,
        "unsafe",
        &[
            ("requirements.in", "Django>=4.2,<5\nsetuptools\n"),
            ("Dockerfile", "FROM python:3.10-slim\n"),
            (
                "requirements.txt",
                "#\n# This file is autogenerated by pip-compile with Python 3.10\n#\n\
                 django==4.2.30\n    # via -r requirements.in\n\n\
                 # The following packages are considered to be unsafe in a requirements file:\n\
                 # setuptools\n",
            ),
        ],
    );
    let out = adopt(&sb, "unsafe");
    assert!(
        out.contains(&format!("setuptools {bundled}, as a Python 3.10."))
            && out.contains(
                "virtual environment has it (requirements.txt leaves it to the environment)"
            ),
        "{out}"
    );
    assert_eq!(installed(&sb, "unsafe", "setuptools"), bundled);
}

#[test]
fn djangos_exact_pin_and_extras_are_kept() {
    let mut sb = Sandbox::new(&["3.12"]);
    let links = stand_in_wheel(sb.ctx.root(), "argon2-cffi", "23.1.0", "argon2");
    sb.ctx.env("PYENVX_FIND_LINKS", &links);
    clone_project(
        &sb,
        "extras",
        &[("requirements.txt", "Django[argon2]==4.2.30\n")],
    );
    adopt(&sb, "extras");
    let toml = read(sb.dir("extras").join("pyenvx.toml"));
    assert!(
        toml.contains("django = \"4.2.30\"") && toml.contains("\"django[argon2]\""),
        "{toml}"
    );
    assert_eq!(installed(&sb, "extras", "argon2-cffi"), "23.1.0");

    // `==6.1` is Django 6.1 itself, which this index lacks: refused, not widened to 6.1.3.
    clone_project(&sb, "exact", &[("requirements.txt", "Django==6.1\n")]);
    let err = sb.fails("exact", &["init"]);
    assert!(err.contains("==6.1"), "{err}");
    assert!(!sb.dir("exact").join("pyenvx.toml").exists());
}

#[test]
fn an_unreachable_git_requirement_is_named_in_one_short_line() {
    let sb = Sandbox::new(&["3.12"]);
    let many: String = (0..40).map(|i| format!("# filler {i}\n")).collect();
    clone_project(
        &sb,
        "gitdep",
        &[(
            "requirements.txt",
            &format!(
                "{many}Django==4.2.30\nsqlparse\nrequests\npytz\n\
                 private-lib @ git+https://git.example.invalid/team/private-lib.git@v1\n"
            ),
        )],
    );
    let err = sb.fails("gitdep", &["init"]);
    let first = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    assert!(first.chars().count() < 200, "{err}");
    assert!(
        first.contains("private-lib @ git+https://git.example.invalid/team/private-lib.git@v1")
            && first.contains("Could not resolve host: git.example.invalid"),
        "{err}"
    );
    // The checkout is as it was cloned.
    let status = git(
        &sb.ctx,
        &sb.dir("gitdep"),
        &["status", "--porcelain", "--ignored"],
    );
    assert_eq!(status, "", "init left files behind:\n{status}");
}

#[test]
fn export_takes_what_the_adopted_project_runs() {
    let sb = Sandbox::new(&["3.12"]);
    let settings = format!(
        "{SETTINGS}import os\nWSGI_APPLICATION = \"mysite.wsgi.application\"\n\
         CACHES = {{\"default\": {{\"BACKEND\": \"django.core.cache.backends.redis.RedisCache\", \
         \"LOCATION\": os.environ.get(\"REDIS_URL\", \"redis://127.0.0.1:6379/0\")}}}}\n"
    );
    clone_project(
        &sb,
        "runs",
        &[
            ("mysite/settings.py", &settings),
            ("requirements.txt", "Django==4.2.30\nredis\n"),
            ("requirements-dev.txt", "-r requirements.txt\npytz\n"),
            (
                "docker-compose.yml",
                "services:\n  db:\n    image: postgres:17\n  redis:\n    image: redis:7\n  web:\n    build: .\n",
            ),
        ],
    );
    sb.ok("runs", &["init"]);
    assert_eq!(installed(&sb, "runs", "pytz"), "2024.2");
    let out = sb.ok("runs", &["export", "docker", "--out", "deploy"]);
    assert!(out.contains("docker compose up --wait"), "{out}");
    let dir = sb.dir("runs").join("deploy");
    let compose = read(dir.join("docker-compose.yml"));
    // The project's own major, which containers can run whatever this machine runs natively.
    assert!(compose.contains("image: \"postgres:17\""), "{compose}");
    // The settings use Redis, though pyenvx.toml declares no cache.
    assert!(
        compose.contains("  cache:\n") && compose.contains("image: \"redis:7\""),
        "{compose}"
    );
    assert!(read(dir.join(".env.docker")).contains("REDIS_PASSWORD="));
    // The image runs production's packages, not the dev group's.
    let requirements = read(dir.join("requirements.txt"));
    assert!(
        requirements.contains("redis==5.2.1") && !requirements.contains("pytz"),
        "{requirements}"
    );
}
