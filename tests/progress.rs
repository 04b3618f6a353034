//! Progress on a terminal: a step that takes a second or more draws a spinner saying what it
//! does, and nothing of it shows where no one watches (stderr not a terminal, `--no-progress`).
//! `NO_COLOR` takes the colours away, not the spinner: the spinner is movement, not colour,
//! and `--no-progress` / `PYENVX_NO_PROGRESS` are the switches for it.
//!
//! The binary runs under a pseudo-terminal made by util-linux's `script`, which records what
//! the program wrote to it; the database steps run on this machine's PostgreSQL 15.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// A spinner frame: indicatif's default spinner draws Braille patterns.
fn is_frame(c: char) -> bool {
    ('\u{2801}'..='\u{28ff}').contains(&c)
}

/// What pyenvx wrote to the terminal, whether it succeeded, and how long it took.
struct Screen {
    ok: bool,
    text: String,
    took: Duration,
}

impl Screen {
    /// The different frames drawn before `message` (any message when empty).
    fn frames(&self, message: &str) -> usize {
        let mut seen: Vec<char> = Vec::new();
        let chars = self.text.char_indices();
        for (i, c) in chars {
            let rest = &self.text[i + c.len_utf8()..];
            if is_frame(c) && rest.starts_with(&format!(" {message}")) && !seen.contains(&c) {
                seen.push(c);
            }
        }
        seen.len()
    }

    /// An SGR sequence that sets a colour (`ESC [ … m` with a colour or bold).
    fn has_colour(&self) -> bool {
        self.text.split('\u{1b}').skip(1).any(|seq| {
            seq.strip_prefix('[')
                .and_then(|s| s.split_once('m'))
                .is_some_and(|(params, _)| {
                    !params.is_empty() && params.bytes().all(|b| b.is_ascii_digit() || b == b';')
                })
        })
    }
}

fn quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// `pyenvx ARGS` in `dir` on a terminal, with `NO_COLOR` set or not.
fn on_terminal(ctx: &TestContext, dir: &Path, args: &[&str], no_color: bool) -> Screen {
    require(
        "script",
        &["--version"],
        "util-linux's `script` (a pseudo-terminal)",
    );
    let line = std::iter::once(env!("CARGO_BIN_EXE_pyenvx"))
        .chain(args.iter().copied())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = ctx.command("script");
    cmd.args([
        "--quiet",
        "--return",
        "--flush",
        "--command",
        &line,
        "/dev/null",
    ])
    .current_dir(dir)
    .env_remove("PYENVX_NO_PROGRESS")
    .env("TERM", "xterm-256color");
    if !no_color {
        cmd.env_remove("NO_COLOR");
    }
    let started = Instant::now();
    let out = cmd.output().unwrap();
    Screen {
        ok: out.status.success(),
        text: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        took: started.elapsed(),
    }
}

/// The step drew a spinner with `message`; a `long` one took most of a second at least, so
/// the test shows what a user waiting on it sees.
#[track_caller]
fn assert_spinner(screen: &Screen, message: &str, long: bool) {
    eprintln!("{message}: {:?}", screen.took);
    assert!(screen.ok, "the command failed:\n{}", screen.text);
    assert!(
        !long || screen.took >= Duration::from_millis(900),
        "the step took {:?}: too short to show that a long step spins",
        screen.took
    );
    assert!(
        screen.text.contains(message),
        "no `{message}` on the terminal:\n{:?}",
        screen.text
    );
    assert!(
        screen.frames(message) >= 2,
        "fewer than two spinner frames before the message in {:?}:\n{:?}",
        screen.took,
        screen.text
    );
}

#[test]
fn long_database_steps_spin_on_a_terminal_and_only_there() {
    let db = NativePg::new();
    let dir = db.django("spin");

    // A cold `db up` (initdb, then the first start): 0.6–1.3 s here, so not asserted long.
    let up = on_terminal(&db.ctx, &dir, &["db", "up"], false);
    assert_spinner(&up, "starting the database", false);
    assert!(up.has_colour(), "colours on a terminal:\n{:?}", up.text);

    // Enough rows that a dump and a restore each take over a second here.
    psql(
        &db.ctx,
        &dir,
        "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS a, md5((g * 7)::text) AS b, \
         repeat(md5(g::text), 4) AS c FROM generate_series(1, 600000) g",
    );

    let dump = on_terminal(&db.ctx, &dir, &["db", "dump", "big.sql"], false);
    assert_spinner(&dump, "dumping the database to big.sql", true);
    assert!(dump.text.contains("Wrote big.sql"), "{}", dump.text);

    // NO_COLOR: the same spinner, and no colour anywhere.
    let plain = on_terminal(&db.ctx, &dir, &["db", "dump", "big2.sql", "--force"], true);
    assert_spinner(&plain, "dumping the database to big2.sql", true);
    assert!(
        !plain.has_colour(),
        "colour despite NO_COLOR:\n{:?}",
        plain.text
    );

    let restore = on_terminal(&db.ctx, &dir, &["db", "restore", "big.sql", "--yes"], false);
    assert_spinner(&restore, "restoring big.sql into the database", true);

    // --no-progress on a terminal: the result line alone.
    let quiet = on_terminal(
        &db.ctx,
        &dir,
        &["--no-progress", "db", "dump", "big3.sql"],
        false,
    );
    assert!(quiet.ok, "{}", quiet.text);
    assert!(quiet.text.contains("Wrote big3.sql"), "{}", quiet.text);
    assert_eq!(quiet.frames(""), 0, "{:?}", quiet.text);
    assert!(
        !quiet.text.contains("dumping the database"),
        "{}",
        quiet.text
    );

    // Not a terminal (a log, a pipe), progress not turned off by any setting: the same.
    let out = db
        .ctx
        .cmd()
        .current_dir(&dir)
        .env_remove("PYENVX_NO_PROGRESS")
        .env("TERM", "xterm-256color")
        .args(["db", "dump", "big4.sql"])
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{}", describe(&out));
    assert!(text.contains("Wrote big4.sql"), "{text}");
    assert!(
        !text.chars().any(is_frame) && !text.contains("dumping the database"),
        "{text:?}"
    );
}
