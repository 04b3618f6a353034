//! The Django × Python support matrix through the real binary: every Django series in the
//! wheelhouse against every interpreter on this machine (3.6–3.13), with pins refused exactly
//! where Django's own table says the pair is unsupported.

mod common;

use common::*;

/// Django's FAQ, "What Python version can I use with Django?", for the series in the wheelhouse
/// (written out again here, independently of `src/django/support.rs`).
const SUPPORTED: &[(&str, &[&str])] = &[
    ("1.11", &["3.6", "3.7"]),
    ("2.1", &["3.6", "3.7"]),
    ("2.2", &["3.6", "3.7", "3.8", "3.9"]),
    ("3.2", &["3.6", "3.7", "3.8", "3.9", "3.10"]),
    ("4.0", &["3.8", "3.9", "3.10"]),
    ("4.1", &["3.8", "3.9", "3.10", "3.11"]),
    ("4.2", &["3.8", "3.9", "3.10", "3.11", "3.12"]),
    ("5.1", &["3.10", "3.11", "3.12", "3.13"]),
    ("5.2", &["3.10", "3.11", "3.12", "3.13"]),
    ("6.0", &["3.12", "3.13"]),
    ("6.1", &["3.12", "3.13"]),
];

/// The release of each series the wheelhouse serves (the newest).
const RELEASE: &[(&str, &str)] = &[
    ("1.11", "1.11.29"),
    ("2.1", "2.1.15"),
    ("2.2", "2.2.28"),
    ("3.2", "3.2.25"),
    ("4.0", "4.0.10"),
    ("4.1", "4.1.13"),
    ("4.2", "4.2.30"),
    ("5.1", "5.1.15"),
    ("5.2", "5.2.19"),
    ("6.0", "6.0.10"),
    ("6.1", "6.1.3"),
];

/// Supported pairs the wheelhouse cannot install, because a dependency for that Python is not
/// in it: Django 3.2's asgiref 3.4.1 needs typing-extensions on 3.6 (the wheelhouse's need
/// 3.7+); Django 4.x needs `backports.zoneinfo` on 3.8 (absent); Django 5.1/5.2 need asgiref
/// 3.8.1 or newer, and the wheelhouse's only one (3.13.0) needs Python 3.11. pyenvx must not refuse
/// them as unsupported: the installer's own resolution fails instead.
const INDEX_GAPS: &[(&str, &str)] = &[
    ("3.2", "3.6"),
    ("4.0", "3.8"),
    ("4.1", "3.8"),
    ("4.2", "3.8"),
    ("5.1", "3.10"),
    ("5.2", "3.10"),
];

const PYTHONS: &[&str] = &["3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"];

fn supported(django: &str, python: &str) -> bool {
    SUPPORTED
        .iter()
        .find(|(d, _)| *d == django)
        .is_some_and(|(_, pys)| pys.contains(&python))
}

fn gap(django: &str, python: &str) -> bool {
    INDEX_GAPS.contains(&(django, python))
}

const SETUP: &str = "import django\nfrom django.conf import settings\nsettings.configure()\n\
                     django.setup()\nprint(django.get_version())";

/// Every Django series on one Python: a project started on a pair that works, then switched by
/// pins through the whole table. One test per Python, so a parallel runner spreads them.
fn every_django_series_on(python: &str) {
    let sb = Sandbox::new(&[python]);
    let mut refused = Vec::new();
    let mut accepted = Vec::new();
    let name = format!("py{}", python.replace('.', ""));
    let first = RELEASE
        .iter()
        .map(|(d, _)| *d)
        .find(|d| supported(d, python) && !gap(d, python))
        .unwrap_or_else(|| panic!("no installable Django for Python {python}"));
    sb.init_bare(&name, python, first);
    let dir = sb.dir(&name);
    for (series, release) in RELEASE {
        let before = (read(dir.join("pyenvx.toml")), read(dir.join("pyenvx.lock")));
        let out = sb.run_in(&name, &["pin", "django", series]);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        if !supported(series, python) {
            assert!(
                !out.status.success(),
                "Django {series} on Python {python} must be refused: {text}"
            );
            assert!(
                text.contains(&format!("does not support Python {python}")),
                "Django {series} on {python}: {text}"
            );
            assert!(text.contains("hint:"), "{text}");
            assert_eq!(
                (read(dir.join("pyenvx.toml")), read(dir.join("pyenvx.lock"))),
                before,
                "a refused pin changes nothing ({series} on {python})"
            );
            refused.push(*series);
        } else if gap(series, python) {
            assert!(
                !out.status.success(),
                "the wheelhouse cannot serve Django {series} on {python}: {text}"
            );
            assert!(
                !text.contains("does not support Python"),
                "a supported pair is not refused by the table ({series} on {python}): {text}"
            );
        } else {
            assert!(
                out.status.success(),
                "Django {series} on Python {python} is supported: {text}"
            );
            let run = sb.run_in(&name, &["run", "--", "python", "-c", SETUP]);
            assert_eq!(
                assert_success(&run).trim(),
                *release,
                "django.setup() with Django {series} on Python {python}"
            );
            accepted.push(*series);
        }
    }
    eprintln!("[matrix] Python {python}: accepted {accepted:?}, refused {refused:?}");
}

macro_rules! matrix_tests {
    ($($name:ident => $python:literal,)*) => {
        $(
            #[test]
            fn $name() {
                every_django_series_on($python);
            }
        )*
        /// The tests above cover exactly [`PYTHONS`].
        #[test]
        fn the_matrix_covers_every_python() {
            assert_eq!(&[$($python),*], PYTHONS);
        }
    };
}

matrix_tests! {
    every_django_series_on_python_3_6 => "3.6",
    every_django_series_on_python_3_7 => "3.7",
    every_django_series_on_python_3_8 => "3.8",
    every_django_series_on_python_3_9 => "3.9",
    every_django_series_on_python_3_10 => "3.10",
    every_django_series_on_python_3_11 => "3.11",
    every_django_series_on_python_3_12 => "3.12",
    every_django_series_on_python_3_13 => "3.13",
}

#[test]
fn python_pins_add_and_sync_are_checked_too() {
    let sb = Sandbox::new(&["3.10", "3.12"]);
    sb.init_bare("app", "3.10", "4.0");
    let dir = sb.dir("app");
    let before = (read(dir.join("pyenvx.toml")), read(dir.join("pyenvx.lock")));

    // pin python: Django 4.0 stops at 3.10.
    let err = sb.fails("app", &["pin", "python", "3.12"]);
    assert!(
        err.contains("Django 4.0 does not support Python 3.12"),
        "{err}"
    );
    assert!(
        err.contains("Django 4.0 supports Python 3.8, 3.9, 3.10")
            && err.contains("the newest Django for Python 3.12 is 6.1"),
        "names what works both ways: {err}"
    );
    // add -r moving Django to a series that stops before 3.10.
    let reqs = dir.join("requirements.txt");
    std::fs::write(&reqs, "django==2.2.28\n").unwrap();
    let err = sb.fails("app", &["add", "-r", "requirements.txt"]);
    assert!(
        err.contains("Django 2.2.28 does not support Python 3.10"),
        "{err}"
    );
    // A patch release older than the one that added the Python.
    let err = sb.fails("app", &["pin", "django", "3.2.5"]);
    assert!(err.contains("supported from 3.2.9 on"), "{err}");
    assert_eq!(
        (read(dir.join("pyenvx.toml")), read(dir.join("pyenvx.lock"))),
        before
    );

    // sync refuses a pyenvx.toml edited by hand to an unsupported pair.
    let edited = before.0.replace("python = \"3.10\"", "python = \"3.12\"");
    assert_ne!(edited, before.0);
    std::fs::write(dir.join("pyenvx.toml"), &edited).unwrap();
    let err = sb.fails("app", &["sync"]);
    assert!(
        err.contains("Django 4.0 does not support Python 3.12"),
        "{err}"
    );
    assert_eq!(read(dir.join("pyenvx.lock")), before.1);

    // --allow-unsupported proceeds with a warning and records the choice.
    let out = sb.ok("app", &["sync", "--allow-unsupported"]);
    assert!(out.contains("warning"), "{out}");
    let toml = read(dir.join("pyenvx.toml"));
    assert!(
        toml.contains("allow-unsupported = [\"django 4.0 on python 3.12\"]"),
        "{toml}"
    );
    // Recorded, later commands accept it; status flags it.
    sb.ok("app", &["sync"]);
    let status = sb.ok("app", &["status"]);
    assert!(
        status.contains("Django 4.0.10 does not support Python 3.12 (allowed in pyenvx.toml)"),
        "{status}"
    );
    let json = sb.ok("app", &["status", "--json"]);
    assert!(
        json.contains("\"unsupported\": \"Django 4.0.10 does not support Python 3.12"),
        "{json}"
    );
    // The record is for that pair only.
    let err = sb.fails("app", &["pin", "django", "3.2"]);
    assert!(
        err.contains("Django 3.2 does not support Python 3.12"),
        "{err}"
    );
    sb.ok("app", &["pin", "django", "4.2"]);
    let status = sb.ok("app", &["status", "--json"]);
    assert!(status.contains("\"unsupported\": null"), "{status}");

    // pin and add take the flag too, and record their own pair.
    let out = sb.ok("app", &["pin", "django", "4.1", "--allow-unsupported"]);
    assert!(out.contains("does not support Python 3.12"), "{out}");
    std::fs::write(&reqs, "django==3.2.25\n").unwrap();
    sb.ok(
        "app",
        &["add", "-r", "requirements.txt", "--allow-unsupported"],
    );
    let toml = read(dir.join("pyenvx.toml"));
    assert!(
        toml.contains("\"django 4.1 on python 3.12\"")
            && toml.contains("\"django 3.2 on python 3.12\""),
        "{toml}"
    );
    assert_eq!(sb.django_version("app"), "3.2.25");
}

#[test]
fn init_refuses_an_unsupported_pair_and_can_be_told_otherwise() {
    let sb = Sandbox::new(&["3.12"]);
    let out = sb
        .ctx
        .cmd()
        .current_dir(sb.ctx.work())
        .args([
            "init",
            "old",
            "--python",
            "3.12",
            "--django",
            "4.1",
            "--no-startproject",
        ])
        .output()
        .unwrap();
    let err = assert_failure(&out);
    assert!(
        err.contains("Django 4.1 does not support Python 3.12") && err.contains("`--django 6.1`"),
        "{err}"
    );
    assert!(!sb.dir("old").exists());
    let out = sb.ok(
        "old",
        &[
            "init",
            "--python",
            "3.12",
            "--django",
            "4.1",
            "--no-startproject",
            "--allow-unsupported",
        ],
    );
    assert!(out.contains("does not support Python 3.12"), "{out}");
    let toml = read(sb.dir("old").join("pyenvx.toml"));
    assert!(toml.contains("django 4.1 on python 3.12"), "{toml}");
}
