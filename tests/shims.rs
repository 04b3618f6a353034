//! Shims: `pyenvx shims install` hard-links the real `pyenvx-shim` launcher, and commands are
//! run by name through PATH (as a shell would, argv[0] = `python`) in real project directories,
//! with managed builds from the local PBS mirror and real wheels from the local package index.

mod common;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A context whose PATH starts with the shims directory, after `pyenvx shims install`.
struct Shimmed {
    ctx: TestContext,
    _pythons: Option<(TestServer, Mirror)>,
    index: Option<ServedIndex>,
}

impl Shimmed {
    /// Shims over Pythons to download (`minors`), the wheelhouse index and the shared uv.
    fn new(minors: &[&str]) -> Self {
        let mut ctx = TestContext::new();
        let pythons = ctx.serve_pythons(minors);
        let index = ctx.with_index();
        ctx.with_shared_uv();
        Self::install(ctx, Some(pythons), Some(index))
    }

    /// Shims alone: for resolution that needs no project to be synced.
    fn bare() -> Self {
        Self::install(TestContext::new(), None, None)
    }

    fn install(
        mut ctx: TestContext,
        pythons: Option<(TestServer, Mirror)>,
        index: Option<ServedIndex>,
    ) -> Self {
        assert_success(&ctx.run(&["shims", "install"]));
        let shims = shims_dir(&ctx);
        ctx.with_path(path_with(&[&shims], DEFAULT_PATH));
        Self {
            ctx,
            _pythons: pythons,
            index,
        }
    }

    fn shims(&self) -> PathBuf {
        shims_dir(&self.ctx)
    }

    fn dir(&self, rel: &str) -> PathBuf {
        let dir = self.ctx.work().join(rel);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// pyenvx run in `rel` (under `work/`).
    fn pyenvx(&self, rel: &str, args: &[&str]) -> Output {
        self.ctx
            .cmd()
            .current_dir(self.dir(rel))
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, rel: &str, args: &[&str]) -> String {
        let out = self.pyenvx(rel, args);
        assert_success(&out);
        format!("{}{}", stdout(&out), stderr(&out))
    }

    /// `name` looked up on the context's PATH, as a shell runs it, in `rel`.
    fn shim(&self, rel: &str, name: &str, args: &[&str]) -> Output {
        self.ctx
            .command(name)
            .current_dir(self.dir(rel))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("spawn {name} in {rel}: {e}"))
    }

    /// What `python -c CODE` prints through the shim in `rel`.
    fn python(&self, rel: &str, name: &str, code: &str) -> String {
        assert_success(&self.shim(rel, name, &["-c", code]))
            .trim()
            .to_string()
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.shims())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    }

    fn init(&self, rel: &str, python: &str, extra: &[&str]) {
        let mut args = vec![
            "init",
            "--python",
            python,
            "--django",
            "5.2",
            "--no-startproject",
        ];
        args.extend_from_slice(extra);
        self.ok(rel, &args);
    }
}

/// `$PYENVX_HOME/shims` of the commands `ctx` runs.
fn shims_dir(ctx: &TestContext) -> PathBuf {
    let home = ctx
        .env_value("PYENVX_HOME")
        .map_or_else(|| ctx.pyenvx_home(), PathBuf::from);
    home.join("shims")
}

/// `dirs` joined in front of `rest` (a PATH string).
fn path_with(dirs: &[&Path], rest: &str) -> OsString {
    let mut all: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    all.extend(std::env::split_paths(rest));
    std::env::join_paths(all).unwrap()
}

/// The first `name` on [`DEFAULT_PATH`]: what the machine runs without pyenvx.
fn system(name: &str) -> PathBuf {
    std::env::split_paths(DEFAULT_PATH)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("this machine has no {name} on {DEFAULT_PATH}"))
}

const WHERE: &str = "import sys; print(sys.prefix); print('%d.%d' % sys.version_info[:2])";

/// Whether an ELF executable asks for a dynamic loader (has a PT_INTERP program header).
fn elf_wants_loader(path: &Path) -> bool {
    let elf = fs::read(path).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF", "{} is not ELF", path.display());
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 3
    })
}

/// Whether this machine's C library can be linked statically (what build.rs checks before
/// building the static launcher).
fn static_libc() -> bool {
    Command::new("cc")
        .arg("-print-file-name=libc.a")
        .output()
        .is_ok_and(|o| Path::new(String::from_utf8_lossy(&o.stdout).trim()).is_absolute())
}

#[test]
fn the_launcher_is_built_beside_pyenvx() {
    // `pyenvx shims install` installs the static launcher pyenvx carries, or, where none could
    // be built, the one beside its own executable.
    let pyenvx = Path::new(env!("CARGO_BIN_EXE_pyenvx"));
    let shim = Path::new(env!("CARGO_BIN_EXE_pyenvx-shim"));
    assert_eq!(pyenvx.parent(), shim.parent());
    let sb = Shimmed::bare();
    assert_eq!(
        sb.names(),
        ["django-admin", "pip", "pip3", "python", "python3"]
    );
    // Every shim is one inode: the launcher's copy.
    use std::os::unix::fs::MetadataExt;
    let master = fs::metadata(sb.shims().join(".pyenvx-shim")).unwrap();
    for name in sb.names() {
        assert_eq!(
            fs::metadata(sb.shims().join(&name)).unwrap().ino(),
            master.ino()
        );
    }
    let master_path = sb.shims().join(".pyenvx-shim");
    if cfg!(all(target_os = "linux", target_env = "gnu")) && static_libc() {
        assert!(
            !elf_wants_loader(&master_path),
            "the installed launcher is statically linked"
        );
        assert!(elf_wants_loader(shim), "cargo's own build is dynamic");
        // A rehash leaves the copy alone while the launcher is the same.
        let before = fs::metadata(&master_path).unwrap().modified().unwrap();
        assert_success(&sb.ctx.run(&["shims", "rehash"]));
        let after = fs::metadata(&master_path).unwrap().modified().unwrap();
        assert_eq!(before, after);
        let out = Command::new(&master_path).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    } else {
        eprintln!("no static C library here: the launcher beside pyenvx is the one installed");
        assert_eq!(master.len(), fs::metadata(shim).unwrap().len());
    }
    // Run directly, it says what it is instead of guessing a command.
    let out = Command::new(shim).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("pyenvx shims install"),
        "{}",
        describe(&out)
    );
}

#[test]
fn nested_projects_each_get_their_own_python() {
    let sb = Shimmed::new(&["3.12", "3.13"]);
    sb.init("outer", "3.12", &[]);
    sb.init("outer/inner", "3.13", &[]);
    let outer = sb.dir("outer");
    let inner = sb.dir("outer/inner");
    let expect = |rel: &str, root: &Path, minor: &str| {
        let out = sb.python(rel, "python", WHERE);
        assert_eq!(
            out,
            format!("{}\n{minor}", root.join(".venv").display()),
            "in {rel}"
        );
    };
    expect("outer", &outer, "3.12");
    expect("outer/sub/deeper", &outer, "3.12");
    expect("outer/inner", &inner, "3.13");
    expect("outer/inner/pkg", &inner, "3.13");
    assert_eq!(
        sb.python("outer/inner", "python3", WHERE),
        format!("{}\n3.13", inner.join(".venv").display())
    );
    // Each sandbox's own console scripts.
    let admin = sb.shim("outer/inner", "django-admin", &["--version"]);
    assert_eq!(assert_success(&admin).trim(), "5.2.19");
    // `python3.13` in the 3.12 project asks for 3.13 by name: the managed one.
    let named = sb.python("outer", "python3.13", WHERE);
    assert!(
        named.ends_with("\n3.13") && named.contains("pyenvx-home/python/cpython-3.13"),
        "{named}"
    );
    // Both managed minors got their shims when the projects installed them.
    let names = sb.names();
    for name in ["python3.12", "python3.13", "sqlformat"] {
        assert!(
            names.contains(&name.to_string()),
            "{name} missing: {names:?}"
        );
    }
    // `which` names the program and the reason.
    let out = sb.pyenvx("outer/inner/pkg", &["which", "python"]);
    assert_eq!(
        assert_success(&out).trim(),
        inner.join(".venv/bin/python").display().to_string()
    );
    assert!(
        stderr(&out).contains(&format!("project {} (pyenvx.toml)", inner.display())),
        "{}",
        describe(&out)
    );
    // PYENVX_PYTHON comes first, even inside a project.
    let pyenv_313 = format!(
        "{}/{}",
        pyenv_versions_dir().display(),
        full_version("3.13")
    );
    let forced = sb
        .ctx
        .command("python")
        .current_dir(&outer)
        .env("PYENVX_PYTHON", format!("{pyenv_313}/bin/python3.13"))
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    assert_eq!(
        assert_success(&forced).trim(),
        format!("{pyenv_313}/bin/python3.13")
    );
}

#[test]
fn pyenv_style_python_version_files_and_the_global_pin() {
    let mut sb = Shimmed::new(&["3.12"]);
    sb.ctx.with_pyenv_root(pyenv_root());
    let v311 = full_version("3.11");
    // An exact pyenv version: taken straight from $PYENV_ROOT/versions, no search.
    fs::write(
        sb.dir("legacy").join(".python-version"),
        format!("{v311}\n"),
    )
    .unwrap();
    assert_eq!(
        sb.python("legacy/app", "python", "import sys; print(sys.executable)"),
        format!("{}/{v311}/bin/python3.11", pyenv_versions_dir().display())
    );
    let out = sb.pyenvx("legacy/app", &["which", "pip"]);
    assert_eq!(
        assert_success(&out).trim(),
        format!("{}/{v311}/bin/pip", pyenv_versions_dir().display())
    );
    assert!(
        stderr(&out).contains(&format!(
            ".python-version in {} (`{v311}`)",
            sb.dir("legacy").display()
        )),
        "{}",
        describe(&out)
    );
    // A minor pyenvx did not install: the slow path finds pyenv's build.
    fs::write(sb.dir("older").join(".python-version"), "3.10\n").unwrap();
    let version = sb.python(
        "older",
        "python",
        "import platform; print(platform.python_version())",
    );
    assert_eq!(version, full_version("3.10"));
    // Nothing on the machine matches: one clear error, no fall-through to another Python.
    fs::write(sb.dir("ancient").join(".python-version"), "3.4\n").unwrap();
    let out = sb.shim("ancient", "python", &["-c", "pass"]);
    let err = assert_failure(&out);
    assert!(
        err.contains("no Python on this machine matches `3.4`")
            && err.contains("pyenvx python install 3.4"),
        "{err}"
    );
    // A managed minor: the minor link, no search.
    sb.ok("", &["python", "install", "3.12"]);
    fs::write(sb.dir("managed").join(".python-version"), "3.12\n").unwrap();
    let exe = sb.python("managed", "python", "import sys; print(sys.executable)");
    assert!(
        exe.contains("pyenvx-home/python/cpython-3.12-") && exe.ends_with("/bin/python3.12"),
        "{exe}"
    );
    // Outside every project and .python-version: the global pin.
    assert_eq!(
        sb.python("nowhere", "python3", "import sys; print(sys.executable)"),
        system("python3").display().to_string()
    );
    sb.ok("", &["python", "pin", "--global", "3.12"]);
    let exe = sb.python("nowhere", "python3", "import sys; print(sys.executable)");
    assert!(exe.contains("pyenvx-home/python/cpython-3.12"), "{exe}");
    let out = sb.pyenvx("nowhere", &["which", "python3"]);
    assert!(
        stderr(&out).contains("global pin `3.12`"),
        "{}",
        describe(&out)
    );
}

#[test]
fn outside_any_project_falls_through_to_the_system_python3() {
    let sb = Shimmed::bare();
    let system_python3 = system("python3");
    assert_eq!(
        sb.python("", "python3", "import sys; print(sys.executable)"),
        system_python3.display().to_string()
    );
    let out = sb.pyenvx("", &["which", "python3"]);
    assert_eq!(
        assert_success(&out).trim(),
        system_python3.display().to_string()
    );
    assert!(stderr(&out).contains("PATH ("), "{}", describe(&out));
    // Exit codes and stdin pass straight through the exec.
    let mut child = sb
        .ctx
        .command("python3")
        .args(["-c", "import sys; sys.exit(len(sys.stdin.read()))"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hello").unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(5));
    // A name nothing provides says so, in one line, with the shell's exit code.
    let out = sb.shim("", "django-admin", &["--version"]);
    assert_eq!(out.status.code(), Some(127), "{}", describe(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", describe(&out));
}

#[test]
fn a_project_without_its_venv_says_run_sync() {
    let sb = Shimmed::bare();
    let root = sb.dir("fresh");
    fs::write(
        root.join("pyenvx.toml"),
        "[project]\nname = \"fresh\"\npython = \"3.12\"\ndjango = \"5.2\"\n",
    )
    .unwrap();
    for name in ["python", "pip", "django-admin"] {
        let out = sb.shim("fresh/app", name, &["--version"]);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        assert_eq!(
            stderr(&out),
            format!(
                "pyenvx: no .venv in {}; run `pyenvx sync`\n",
                root.display()
            )
        );
    }
    let err = assert_failure(&sb.pyenvx("fresh", &["which", "python"]));
    assert!(
        err.contains("no .venv in") && err.contains("hint: run `pyenvx sync`"),
        "{err}"
    );
}

#[test]
fn pip_install_through_the_shim_lands_in_the_venv() {
    let sb = Shimmed::new(&["3.12"]);
    sb.init("seeded", "3.12", &["--seed"]);
    let root = sb.dir("seeded");
    let index = sb.index.as_ref().unwrap().simple_url();
    let out = sb.shim(
        "seeded/app",
        "pip",
        &[
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--index-url",
            &index,
            "dj-database-url",
        ],
    );
    assert_success(&out);
    let site = root.join(".venv/lib/python3.12/site-packages");
    assert!(site.join("dj_database_url").is_dir(), "{}", describe(&out));
    // …and nowhere else: not in the interpreter the sandbox is made from.
    let base = sb.python(
        "",
        "python3.12",
        "import sysconfig; print(sysconfig.get_paths()['purelib'])",
    );
    assert!(!Path::new(&base).join("dj_database_url").exists(), "{base}");
    let version = assert_success(&sb.shim("seeded", "pip3", &["--version"]));
    assert!(
        version.contains(&format!("{}/", site.display())),
        "{version}"
    );

    // A sandbox made without pip never hands `pip` to another environment.
    sb.init("plain", "3.12", &[]);
    let out = sb.shim("plain", "pip", &["install", "dj-database-url"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("seed = true") && stderr(&out).contains("plain/.venv"),
        "{}",
        describe(&out)
    );
}

#[test]
fn console_scripts_follow_add_and_remove() {
    let mut ctx = TestContext::new();
    let pythons = ctx.serve_pythons(&["3.12"]);
    let index = ctx.with_index();
    ctx.with_shared_uv();
    // A project synced before shims exist is remembered: installing them picks up its scripts.
    let out = ctx
        .cmd()
        .current_dir({
            let d = ctx.work().join("early");
            fs::create_dir_all(&d).unwrap();
            d
        })
        .args([
            "init",
            "--python",
            "3.12",
            "--django",
            "5.2",
            "--no-startproject",
        ])
        .output()
        .unwrap();
    assert_success(&out);
    let sb = Shimmed::install(ctx, Some(pythons), Some(index));
    assert!(
        sb.names().contains(&"sqlformat".to_string()),
        "{:?}",
        sb.names()
    );
    assert!(!sb.names().contains(&"uv".to_string()));

    // `pyenvx add` rehashes: the new console scripts are shims at once.
    sb.ok("early", &["add", "uv"]);
    let names = sb.names();
    assert!(
        names.contains(&"uv".to_string()) && names.contains(&"uvx".to_string()),
        "{names:?}"
    );
    let out = sb.shim("early/src", "uv", &["--version"]);
    assert!(
        assert_success(&out).starts_with("uv "),
        "{}",
        describe(&out)
    );
    assert!(
        stderr(&sb.pyenvx("early/src", &["which", "uv"])).contains("project"),
        "which explains"
    );
    // Outside the project, the name falls through to PATH (which has no uv here).
    let out = sb.shim("", "uv", &["--version"]);
    assert_eq!(out.status.code(), Some(127), "{}", describe(&out));

    // A shim deleted by hand comes back with `rehash`; `remove` takes the scripts away again.
    fs::remove_file(sb.shims().join("uvx")).unwrap();
    let out = sb.ok("", &["shims", "rehash"]);
    assert!(out.contains("+ uvx"), "{out}");
    sb.ok("early", &["remove", "uv"]);
    let names = sb.names();
    assert!(!names.contains(&"uv".to_string()), "{names:?}");
    let listed = sb.ok("", &["shims", "list"]);
    assert!(
        listed.contains("sqlformat") && listed.contains(&sb.dir("early").display().to_string()),
        "{listed}"
    );
    // A project that is gone is forgotten on the next rehash.
    fs::remove_dir_all(sb.dir("early")).unwrap();
    sb.ok("", &["shims", "rehash"]);
    assert!(!sb.names().contains(&"sqlformat".to_string()));
}

#[test]
fn paths_with_spaces_and_non_ascii_characters() {
    let mut ctx = TestContext::new();
    let home = ctx.root().join("pyenvx hömé ✓");
    ctx.env("PYENVX_HOME", &home);
    let pythons = ctx.serve_pythons(&["3.12"]);
    let index = ctx.with_index();
    ctx.with_shared_uv();
    let sb = Shimmed::install(ctx, Some(pythons), Some(index));
    assert!(sb.shims().starts_with(&home));
    let rel = "my prøject/ünï cödé";
    sb.init(rel, "3.12", &[]);
    let root = sb.dir(rel);
    assert_eq!(
        sb.python(rel, "python", WHERE),
        format!("{}\n3.12", root.join(".venv").display())
    );
    let admin = sb.shim(&format!("{rel}/sub dir"), "django-admin", &["--version"]);
    assert_eq!(assert_success(&admin).trim(), "5.2.19");
    // A managed interpreter under the spaced home, through a .python-version.
    fs::write(sb.dir("plain dïr").join(".python-version"), "3.12\n").unwrap();
    let exe = sb.python("plain dïr", "python", "import sys; print(sys.executable)");
    assert!(exe.starts_with(&home.display().to_string()), "{exe}");
    // The shell setup quotes the directory: bash finds the shim by name.
    let out = sb
        .ctx
        .command("bash")
        .current_dir(&root)
        .env("PATH", DEFAULT_PATH)
        .args([
            "-c",
            "eval \"$(\"$0\" shell-init bash)\" && command -v python && python -c 'import sys; print(sys.prefix)'",
            env!("CARGO_BIN_EXE_pyenvx"),
        ])
        .output()
        .unwrap();
    let text = assert_success(&out);
    assert_eq!(
        text,
        format!(
            "{}\n{}\n",
            sb.shims().join("python").display(),
            root.join(".venv").display()
        )
    );
}

#[test]
fn a_shims_dir_listed_twice_on_path_does_not_loop() {
    let mut sb = Shimmed::bare();
    let shims = sb.shims();
    let alias = sb.ctx.root().join("shims-alias");
    std::os::unix::fs::symlink(&shims, &alias).unwrap();
    let dotted = shims.join(".");
    sb.ctx.with_path(path_with(
        &[&shims, &shims, &alias, &dotted, &shims],
        DEFAULT_PATH,
    ));
    let started = Instant::now();
    assert_eq!(
        sb.python("", "python3", "import sys; print(sys.executable)"),
        system("python3").display().to_string()
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // Copies of the launcher in two other directories would hand `python3` back and forth
    // forever; the hop marker stops them with a message instead.
    let (a, b) = (sb.ctx.root().join("copy-a"), sb.ctx.root().join("copy-b"));
    for dir in [&a, &b] {
        fs::create_dir_all(dir).unwrap();
        // Copied by `cp`, not by this process: a test thread forking while this process still
        // had the new file open for writing would make exec fail with "Text file busy".
        let cp = Command::new("cp")
            .arg(env!("CARGO_BIN_EXE_pyenvx-shim"))
            .arg(dir.join("python3"))
            .status()
            .unwrap();
        assert!(cp.success());
    }
    sb.ctx.with_path(path_with(&[&shims, &a, &b], DEFAULT_PATH));
    let mut child = sb
        .ctx
        .command("python3")
        .args(["-c", "pass"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the shims looped");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("resolved to a pyenvx shim"),
        "{}",
        describe(&out)
    );
}

#[test]
fn installs_and_uninstalls_rehash_the_python_minors() {
    let sb = Shimmed::new(&["3.12", "3.13"]);
    sb.ok("", &["python", "install", "3.13"]);
    assert!(sb.names().contains(&"python3.13".to_string()));
    assert_eq!(
        sb.python(
            "",
            "python3.13",
            "import sys; print('%d.%d' % sys.version_info[:2])"
        ),
        "3.13"
    );
    sb.ok("", &["python", "uninstall", "3.13"]);
    assert!(!sb.names().contains(&"python3.13".to_string()));
    // Removing the shims leaves nothing behind, and says so when there is nothing to remove.
    sb.ok("", &["shims", "remove"]);
    assert!(!sb.shims().exists());
    assert!(sb.ok("", &["shims", "remove"]).contains("No shims"));
    let err = assert_failure(&sb.pyenvx("", &["shims", "list"]));
    assert!(err.contains("pyenvx shims install"), "{err}");
    // With no shims directory the hooks stay silent.
    let out = sb.ok("", &["python", "install", "3.13"]);
    assert!(!out.contains("shims"), "{out}");
}

#[test]
fn shell_init_puts_the_shims_first_exactly_once() {
    let sb = Shimmed::bare();
    let pyenvx = env!("CARGO_BIN_EXE_pyenvx");
    let script = r#"
        eval "$("$0" shell-init bash)"
        PATH="/opt/elsewhere:$PATH"
        eval "$("$0" shell-init bash)"
        printf '%s\n' "$PATH"
        complete -p pyenvx
    "#;
    let out = sb
        .ctx
        .command("bash")
        .env("PATH", DEFAULT_PATH)
        .args(["-c", script, pyenvx])
        .output()
        .unwrap();
    let text = assert_success(&out);
    let mut lines = text.lines();
    let path = lines.next().unwrap();
    let shims = sb.shims().display().to_string();
    assert_eq!(
        path,
        format!("{shims}:/opt/elsewhere:{DEFAULT_PATH}"),
        "{text}"
    );
    assert!(lines.next().unwrap().contains("_pyenvx"), "{text}");
    for shell in ["zsh", "fish"] {
        let script = sb.ok("", &["shell-init", shell]);
        assert!(script.contains(&format!("'{shims}'")), "{shell}: {script}");
        assert!(script.contains("pyenvx"), "{shell}");
    }
}

#[test]
fn a_reader_that_goes_away_ends_pyenvx_quietly() {
    // `pyenvx shell-init bash | head -1`: the reader is gone before pyenvx writes.
    let sb = Sandbox::new(&["3.12"]);
    let mut child = sb
        .ctx
        .cmd()
        .args(["shell-init", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked") && err.is_empty(), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

/// pyenv's CVE-2022-35861: a `.python-version` naming a path (a repository's own script) must
/// not become `python`. It is ignored with a warning, by the launcher and by `pyenvx which`.
#[test]
fn a_path_in_python_version_is_ignored_with_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Shimmed::bare();
    let system_python3 = system("python3");
    let repo = sb.dir("repo");
    fs::create_dir_all(repo.join("tools")).unwrap();
    let script = repo.join("tools/py");
    fs::write(&script, "#!/bin/sh\necho PWNED\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    sb.dir("repo/sub");
    for request in ["tools/py", "../../repo/tools/py", "./tools/py"] {
        fs::write(repo.join(".python-version"), format!("{request}\n")).unwrap();
        for rel in ["repo", "repo/sub"] {
            let out = sb.shim(rel, "python3", &["-c", "import sys; print(sys.executable)"]);
            assert_eq!(
                assert_success(&out).trim(),
                system_python3.display().to_string(),
                "{request} in {rel}"
            );
            let err = stderr(&out);
            assert!(
                err.contains("warning") && err.contains("ignoring") && err.contains(request),
                "{request} in {rel}: {err}"
            );
            let out = sb.pyenvx(rel, &["which", "python3"]);
            assert_eq!(
                assert_success(&out).trim(),
                system_python3.display().to_string()
            );
            assert!(stderr(&out).contains("ignoring"), "{}", describe(&out));
        }
    }
}
