//! Wheel choice by tag: a release with many wheels (charset-normalizer, cryptography) installs
//! the one file pip would pick for the interpreter and machine, the lock keeps every file's
//! hash, an sdist is built when no wheel fits, and nothing fitting is one clear error.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// This machine's glibc `(major, minor)`, from `getconf` (independent of pyenvx's own reading).
fn glibc() -> (u32, u32) {
    let out = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .expect("getconf runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("getconf printed {text:?}; these tests need a glibc machine"));
    let mut parts = version.split('.');
    (
        parts.next().unwrap().parse().unwrap(),
        parts.next().unwrap().parse().unwrap(),
    )
}

/// The file `pip download --only-binary :all: --no-deps` picks from the wheelhouse on this
/// x86-64 glibc machine, from the facts of the wheelhouse: charset-normalizer and cffi publish
/// `cpXY-cpXY` manylinux_2_17 wheels for 3.10–3.13; cryptography publishes abi3 wheels for
/// manylinux_2_17 and manylinux_2_28, and the higher level wins where the glibc allows it.
fn expected(package: &str, minor: &str) -> String {
    let cp = format!("cp{}", minor.replace('.', ""));
    match package {
        "charset-normalizer" => format!(
            "charset_normalizer-3.4.0-{cp}-{cp}-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
        ),
        "cffi" => format!("cffi-1.17.1-{cp}-{cp}-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
        "cryptography" if glibc() >= (2, 28) => {
            "cryptography-43.0.3-cp39-abi3-manylinux_2_28_x86_64.whl".to_string()
        }
        "cryptography" => {
            "cryptography-43.0.3-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
                .to_string()
        }
        "requests" => "requests-2.32.3-py3-none-any.whl".to_string(),
        other => panic!("no expectation for {other}"),
    }
}

/// `name` → the file its store entry was made from, for every entry in the sandbox's store.
fn stored_files(sb: &Sandbox) -> Vec<(String, String)> {
    let store = sb.ctx.pyenvx_home().join("store/v1");
    let mut out = Vec::new();
    for entry in fs::read_dir(&store).unwrap() {
        let meta = entry.unwrap().path().join("meta.json");
        let Ok(text) = fs::read_to_string(&meta) else {
            continue;
        };
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        out.push((
            json["name"].as_str().unwrap().to_string(),
            json["file"].as_str().unwrap().to_string(),
        ));
    }
    out.sort();
    out
}

fn sha256_of(file: &str) -> String {
    wheelhouse_wheels()
        .into_iter()
        .find(|w| w.file_name == file)
        .unwrap_or_else(|| panic!("{file} is not in the wheelhouse"))
        .sha256
}

/// The lock's text for one package (from its `[[package]]` to the next).
fn lock_entry(lock: &str, name: &str) -> String {
    let start = lock
        .find(&format!("[[package]]\nname = \"{name}\""))
        .unwrap_or_else(|| panic!("{name} is not in the lock:\n{lock}"));
    let rest = &lock[start + 1..];
    let end = rest
        .find("[[package]]")
        .map_or(lock.len(), |e| start + 1 + e);
    lock[start..end].to_string()
}

fn add_requests_and_cryptography(minor: &str) {
    let sb = Sandbox::new(&[minor]);
    // The wheelhouse's Django 5.2 needs an asgiref that requires 3.11.
    sb.init_bare("p", minor, if minor == "3.10" { "4.2" } else { "5.2" });
    sb.ok("p", &["add", "requests", "cryptography"]);

    // The installed files are pip's choices.
    let stored = stored_files(&sb);
    for package in ["charset-normalizer", "cffi", "cryptography", "requests"] {
        let files: Vec<&str> = stored
            .iter()
            .filter(|(n, _)| n == package)
            .map(|(_, f)| f.as_str())
            .collect();
        assert_eq!(files, [expected(package, minor)], "{package} on {minor}");
    }
    let out = sb.ok(
        "p",
        &[
            "run",
            "--",
            "python",
            "-c",
            "import requests, charset_normalizer, cryptography.hazmat.bindings._rust, cffi; \
             print(charset_normalizer.md.__file__)",
        ],
    );
    // The compiled module, not the pure-Python fallback.
    assert!(out.contains(".so"), "{out}");

    // The lock keeps every file uv listed for this interpreter (uv leaves out the wheels of
    // other platforms): for charset-normalizer this minor's manylinux wheel and the pure one,
    // for cryptography both manylinux levels, each with its hash.
    let lock = read(sb.dir("p/pyenvx.lock"));
    let charset = lock_entry(&lock, "charset-normalizer");
    for file in [
        expected("charset-normalizer", minor),
        "charset_normalizer-3.4.0-py3-none-any.whl".to_string(),
    ] {
        assert!(charset.contains(&file), "{file} missing:\n{charset}");
        assert!(
            charset.contains(&sha256_of(&file)),
            "{file}'s hash:\n{charset}"
        );
    }
    let crypto = lock_entry(&lock, "cryptography");
    for level in [
        "manylinux_2_17_x86_64.manylinux2014_x86_64",
        "manylinux_2_28_x86_64",
    ] {
        let file = format!("cryptography-43.0.3-cp39-abi3-{level}.whl");
        assert!(
            crypto.contains(&sha256_of(&file)),
            "{file}'s hash:\n{crypto}"
        );
    }

    // The export names every hash, so pip elsewhere picks its own wheel.
    let exported = assert_success(&sb.run_in("p", &["export", "requirements"]));
    let mut block = exported
        .lines()
        .skip_while(|l| !l.starts_with("charset-normalizer==3.4.0 "));
    let first = block
        .next()
        .unwrap_or_else(|| panic!("no charset-normalizer in:\n{exported}"));
    let charset_req: String = std::iter::once(first)
        .chain(block.take_while(|l| l.starts_with(' ')))
        .collect::<Vec<_>>()
        .join("\n");
    for file in [
        expected("charset-normalizer", minor),
        "charset_normalizer-3.4.0-py3-none-any.whl".to_string(),
    ] {
        assert!(
            charset_req.contains(&format!("--hash=sha256:{}", sha256_of(&file))),
            "{file}:\n{exported}"
        );
    }

    // Reproducible: deleting .venv and the store, a locked sync installs the same files.
    fs::remove_dir_all(sb.dir("p/.venv")).unwrap();
    fs::remove_dir_all(sb.ctx.pyenvx_home().join("store")).unwrap();
    sb.ok("p", &["sync", "--locked"]);
    assert_eq!(stored_files(&sb), stored);
    assert!(sb.ok("p", &["status"]).contains("in sync"));
}

#[test]
fn requests_and_cryptography_on_3_10() {
    add_requests_and_cryptography("3.10");
}

#[test]
fn requests_and_cryptography_on_3_11() {
    add_requests_and_cryptography("3.11");
}

#[test]
fn requests_and_cryptography_on_3_12() {
    add_requests_and_cryptography("3.12");
}

#[test]
fn requests_and_cryptography_on_3_13() {
    add_requests_and_cryptography("3.13");
}

/// A find-links folder holding synthetic releases:
/// - `macsdist 1.0`: a wheel for macOS only, and an sdist with an in-tree build backend (so the
///   build needs nothing from the index);
/// - `maconly 1.0`: a wheel for macOS only.
fn synthetic_wheels(dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let script = r#"
import base64, hashlib, io, os, sys, tarfile, zipfile
out = sys.argv[1]

def wheel(name, version, tag, module_text):
    dist = f"{name}-{version}"
    files = {
        f"{name}.py": module_text,
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL": f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n",
    }
    record = []
    path = os.path.join(out, f"{dist}-{tag}.whl")
    with zipfile.ZipFile(path, "w") as z:
        for arc, text in files.items():
            data = text.encode()
            z.writestr(arc, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{arc},sha256={digest},{len(data)}")
        record.append(f"{dist}.dist-info/RECORD,,")
        z.writestr(f"{dist}.dist-info/RECORD", "\n".join(record) + "\n")

wheel("macsdist", "1.0", "cp312-cp312-macosx_11_0_arm64", "WHERE = 'mac wheel'\n")
wheel("maconly", "1.0", "cp312-cp312-macosx_11_0_arm64", "WHERE = 'mac wheel'\n")

# An sdist whose in-tree backend writes the wheel itself: `requires = []`, no index needed.
backend = r'''
import base64, hashlib, os, zipfile
NAME, VERSION = "macsdist", "1.0"
DIST = f"{NAME}-{VERSION}"
def _meta():
    return f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n"
def get_requires_for_build_wheel(config_settings=None):
    return []
def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    d = os.path.join(metadata_directory, f"{DIST}.dist-info")
    os.makedirs(d)
    open(os.path.join(d, "METADATA"), "w").write(_meta())
    return f"{DIST}.dist-info"
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = f"{DIST}-py3-none-any.whl"
    files = {
        "macsdist.py": "WHERE = 'built from the sdist'\n",
        f"{DIST}.dist-info/METADATA": _meta(),
        f"{DIST}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        for arc, text in files.items():
            data = text.encode()
            z.writestr(arc, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{arc},sha256={digest},{len(data)}")
        record.append(f"{DIST}.dist-info/RECORD,,")
        z.writestr(f"{DIST}.dist-info/RECORD", "\n".join(record) + "\n")
    return name
'''
pyproject = '''[build-system]
requires = []
build-backend = "backend"
backend-path = ["."]

[project]
name = "macsdist"
version = "1.0"
'''
pkg_info = "Metadata-Version: 2.1\nName: macsdist\nVersion: 1.0\n"
with tarfile.open(os.path.join(out, "macsdist-1.0.tar.gz"), "w:gz") as t:
    for arc, text in {"backend.py": backend, "pyproject.toml": pyproject, "PKG-INFO": pkg_info}.items():
        data = text.encode()
        info = tarfile.TarInfo(f"macsdist-1.0/{arc}")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
"#;
    let python = pyenv_versions_dir()
        .join(full_version("3.12"))
        .join("bin/python3");
    let out = Command::new(python)
        .args(["-c", script])
        .arg(dir)
        .output()
        .unwrap();
    assert_success(&out);
    dir.to_path_buf()
}

#[test]
fn an_sdist_is_built_when_no_wheel_fits_and_nothing_fitting_is_an_error() {
    let mut sb = Sandbox::new(&["3.12"]);
    let links = synthetic_wheels(&sb.ctx.root().join("links"));
    // The wheelhouse index stays the index; the synthetic releases come from find-links.
    sb.ctx.env("PYENVX_FIND_LINKS", &links);
    sb.init_bare("p", "3.12", "5.2");

    sb.ok("p", &["add", "macsdist"]);
    // uv lists only the sdist for this machine; a lock made where the macOS wheel fits lists
    // both, and here the sdist is still what installs.
    let path = sb.dir("p/pyenvx.lock");
    let lock = read(&path);
    let entry = lock_entry(&lock, "macsdist");
    assert!(entry.contains("macsdist-1.0.tar.gz"), "{entry}");
    let mac = "macsdist-1.0-cp312-cp312-macosx_11_0_arm64.whl";
    let with_mac = entry.replacen(
        "[[package.files]]",
        &format!(
            "[[package.files]]\nfile = \"{mac}\"\nurl = \"file:///nowhere/{mac}\"\nsha256 = \"{}\"\n\n[[package.files]]",
            "ab".repeat(32)
        ),
        1,
    );
    fs::write(&path, lock.replace(&entry, &with_mac)).unwrap();
    fs::remove_dir_all(sb.dir("p/.venv")).unwrap();
    fs::remove_dir_all(sb.ctx.pyenvx_home().join("store")).unwrap();
    sb.ok("p", &["sync", "--frozen"]);
    let stored = stored_files(&sb);
    assert!(
        stored.contains(&("macsdist".to_string(), "macsdist-1.0.tar.gz".to_string())),
        "{stored:?}"
    );
    let out = sb.ok(
        "p",
        &[
            "run",
            "--",
            "python",
            "-c",
            "import macsdist; print(macsdist.WHERE)",
        ],
    );
    assert!(out.contains("built from the sdist"), "{out}");

    // Only a macOS wheel: uv may refuse to resolve it, or the install refuses it; either way
    // one clear error, and the project is left as it was.
    let before = read(sb.dir("p/pyenvx.toml"));
    let err = sb.fails("p", &["add", "maconly"]);
    assert!(err.contains("maconly"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(read(sb.dir("p/pyenvx.toml")), before);
}

#[test]
fn a_locked_release_with_no_fitting_file_names_the_accepted_tags() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("p", "3.12", "5.2");
    sb.ok("p", &["add", "requests"]);
    // Keep only charset-normalizer's musllinux wheel in the lock, as a lock made on musl would
    // hold if the resolver listed nothing else: this glibc machine can install none of it.
    let path = sb.dir("p/pyenvx.lock");
    let lock = read(&path);
    let entry = lock_entry(&lock, "charset-normalizer");
    let musl = "charset_normalizer-3.4.0-cp312-cp312-musllinux_1_2_x86_64.whl";
    let hash = sha256_of(musl);
    let only_musl = format!(
        "[[package]]\nname = \"charset-normalizer\"\nversion = \"3.4.0\"\n\n[[package.files]]\n\
         file = \"{musl}\"\nurl = \"file:///nowhere/{musl}\"\nsha256 = \"{hash}\"\n\n"
    );
    fs::write(&path, lock.replace(&entry, &only_musl)).unwrap();
    fs::remove_dir_all(sb.dir("p/.venv")).unwrap();
    let err = sb.fails("p", &["sync", "--frozen"]);
    assert!(err.contains("no file of charset-normalizer 3.4.0"), "{err}");
    assert!(err.contains(musl), "{err}");
    let (_, glibc_minor) = glibc();
    assert!(
        err.contains(&format!("cp312-cp312-manylinux_2_{glibc_minor}_x86_64")),
        "{err}"
    );
}

#[test]
fn wheels_and_sdists_by_url_lock_install_sync_and_export() {
    let mut sb = Sandbox::new(&["3.12"]);
    let files = synthetic_wheels(&sb.ctx.root().join("files"));
    fs::copy(
        wheelhouse_dir().join("idna-3.10-py3-none-any.whl"),
        files.join("idna-3.10-py3-none-any.whl"),
    )
    .unwrap();
    let server = TestServer::start(&files);
    // Nothing from find-links: the URL is the only place macsdist exists.
    sb.ctx.env_remove("PYENVX_FIND_LINKS");
    sb.init_bare("p", "3.12", "5.2");

    let sdist_url = format!("{}/macsdist-1.0.tar.gz", server.url());
    let wheel_url = format!(
        "file://{}",
        files.join("idna-3.10-py3-none-any.whl").display()
    );
    let sdist_req = format!("macsdist @ {sdist_url}");
    let wheel_req = format!("idna @ {wheel_url}");
    sb.ok("p", &["add", &sdist_req, &wheel_req]);
    let out = sb.ok(
        "p",
        &[
            "run",
            "--",
            "python",
            "-c",
            "import macsdist, idna; print(macsdist.WHERE, idna.__file__)",
        ],
    );
    assert!(out.contains("built from the sdist"), "{out}");

    let lock = read(sb.dir("p/pyenvx.lock"));
    for (name, url, file) in [
        ("macsdist", &sdist_url, "macsdist-1.0.tar.gz"),
        ("idna", &wheel_url, "idna-3.10-py3-none-any.whl"),
    ] {
        let entry = lock_entry(&lock, name);
        assert!(entry.contains("direct = true"), "{entry}");
        assert!(entry.contains(&format!("url = \"{url}\"")), "{entry}");
        let hash = sha256_file(&files.join(file));
        assert!(entry.contains(&hash), "{entry}");
    }

    // The export pins them by URL, hash-checked, in pip's syntax.
    let exported = assert_success(&sb.run_in("p", &["export", "requirements"]));
    assert!(
        exported.contains(&format!(
            "macsdist @ {sdist_url} \\\n    --hash=sha256:{}",
            sha256_file(&files.join("macsdist-1.0.tar.gz"))
        )),
        "{exported}"
    );
    assert!(
        exported.contains(&format!("idna @ {wheel_url} \\")),
        "{exported}"
    );
    // A container build cannot reach this machine's files: said before anything is written.
    let err = sb.fails("p", &["export", "docker"]);
    assert!(err.contains(&wheel_url), "{err}");
    assert!(!sb.dir("p/Dockerfile").exists());

    // From the lock alone, with nothing stored.
    fs::remove_dir_all(sb.dir("p/.venv")).unwrap();
    fs::remove_dir_all(sb.ctx.pyenvx_home().join("store")).unwrap();
    sb.ok("p", &["sync", "--locked"]);
    assert!(sb.ok("p", &["status"]).contains("in sync"));
    let out = sb.ok(
        "p",
        &[
            "run",
            "--",
            "python",
            "-c",
            "import macsdist; print(macsdist.WHERE)",
        ],
    );
    assert!(out.contains("built from the sdist"), "{out}");
    drop(server);
}

#[test]
fn a_lock_with_an_injected_line_is_not_valid() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("p", "3.12", "5.2");
    let path = sb.dir("p/pyenvx.lock");
    let lock = read(&path);
    let line = lock
        .lines()
        .position(|l| l == "name = \"sqlparse\"")
        .expect("sqlparse in the lock")
        + 1;
    fs::write(
        &path,
        lock.replace(
            "name = \"sqlparse\"",
            "name = \"sqlparse\\n--index-url http://127.0.0.1:9/simple\"",
        ),
    )
    .unwrap();
    let expected = format!("pyenvx.lock:{line}: not a valid lock");
    for args in [
        &["sync", "--frozen"][..],
        &["status"],
        &["export", "requirements"],
    ] {
        let err = sb.fails("p", args);
        assert!(err.contains(&expected), "{args:?}: {err}");
        assert!(
            err.contains("not a normalized package name"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn an_edited_hash_in_the_lock_is_a_mismatch_naming_the_package() {
    let sb = Sandbox::new(&["3.12"]);
    sb.init_bare("p", "3.12", "5.2");
    assert!(sb.ok("p", &["status"]).contains("in sync"));
    let path = sb.dir("p/pyenvx.lock");
    let lock = read(&path);
    let real = sha256_of("sqlparse-0.6.1-py3-none-any.whl");
    assert!(lock.contains(&real), "{lock}");
    let edited = "0".repeat(64);
    fs::write(&path, lock.replace(&real, &edited)).unwrap();

    let status = sb.ok("p", &["status"]);
    assert!(status.contains("mismatch  sqlparse 0.6.1"), "{status}");
    assert!(!status.contains("in sync"), "{status}");
    // The locked file cannot be had: the sync fails, naming the package and the hash.
    let err = sb.fails("p", &["sync", "--locked"]);
    assert!(err.contains("sqlparse"), "{err}");
    assert!(err.contains(&edited), "{err}");
    // Restoring the lock restores the sandbox.
    fs::write(&path, &lock).unwrap();
    sb.ok("p", &["sync", "--locked"]);
    assert!(sb.ok("p", &["status"]).contains("in sync"));
    let out = sb.ok("p", &["run", "--", "python", "-c", "import sqlparse"]);
    assert!(!out.contains("Error"), "{out}");
}

/// A git repository holding package `gitpkg` 0.3 whose module says `WHERE = <text>`, built by an
/// in-tree backend (no index needed); returns the new commit's id.
fn commit_gitpkg(repo: &Path, text: &str) -> String {
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.email=t@example.invalid", "-c", "user.name=t"])
            .args(args)
            .current_dir(repo)
            .output()
            .unwrap();
        assert_success(&out)
    };
    if !repo.join(".git").exists() {
        fs::create_dir_all(repo).unwrap();
        git(&["init", "-q", "-b", "main"]);
        fs::write(
            repo.join("pyproject.toml"),
            "[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\".\"]\n\n\
             [project]\nname = \"gitpkg\"\nversion = \"0.3\"\n",
        )
        .unwrap();
        fs::write(
            repo.join("backend.py"),
            r#"import base64, hashlib, os, zipfile
DIST = "gitpkg-0.3"
META = "Metadata-Version: 2.1\nName: gitpkg\nVersion: 0.3\n"
def get_requires_for_build_wheel(config_settings=None):
    return []
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = f"{DIST}-py3-none-any.whl"
    here = os.path.dirname(os.path.abspath(__file__))
    files = {
        "gitpkg.py": open(os.path.join(here, "source.txt")).read(),
        f"{DIST}.dist-info/METADATA": META,
        f"{DIST}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        for arc, text in files.items():
            data = text.encode()
            z.writestr(arc, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{arc},sha256={digest},{len(data)}")
        record.append(f"{DIST}.dist-info/RECORD,,")
        z.writestr(f"{DIST}.dist-info/RECORD", "\n".join(record) + "\n")
    return name
"#,
        )
        .unwrap();
    }
    fs::write(repo.join("source.txt"), format!("WHERE = {text:?}\n")).unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", text]);
    git(&["rev-parse", "HEAD"]).trim().to_string()
}

#[test]
fn a_git_requirement_is_locked_at_its_commit() {
    let sb = Sandbox::new(&["3.12"]);
    let repo = sb.ctx.root().join("repo");
    let first = commit_gitpkg(&repo, "first");
    sb.init_bare("p", "3.12", "5.2");
    let req = format!("gitpkg @ git+file://{}@main", repo.display());
    sb.ok("p", &["add", &req]);
    let lock = read(sb.dir("p/pyenvx.lock"));
    let entry = lock_entry(&lock, "gitpkg");
    assert!(entry.contains(&format!("commit = \"{first}\"")), "{entry}");
    let import = [
        "run",
        "--",
        "python",
        "-c",
        "import gitpkg; print(gitpkg.WHERE)",
    ];
    assert!(sb.ok("p", &import).contains("first"));

    // A new commit on the branch changes nothing until the project is locked again.
    commit_gitpkg(&repo, "second");
    fs::remove_dir_all(sb.dir("p/.venv")).unwrap();
    fs::remove_dir_all(sb.ctx.pyenvx_home().join("store")).unwrap();
    sb.ok("p", &["sync", "--locked"]);
    assert!(sb.ok("p", &["status"]).contains("in sync"));
    let out = sb.ok("p", &import);
    assert!(out.contains("first") && !out.contains("second"), "{out}");

    // pip cannot hash-pin a checkout: the export says so, naming it at its commit.
    let err = sb.fails("p", &["export", "requirements"]);
    assert!(
        err.contains(&format!("gitpkg @ git+file://{}@{first}", repo.display())),
        "{err}"
    );
    assert!(err.contains("cannot hash-pin"), "{err}");
}
