//! Reading SQL scripts a restore is given, before anything of them runs: PostgreSQL's split
//! into the statements and `COPY … FROM stdin` blocks pyenvx sends itself, and MariaDB's
//! checked for what would leave the scratch database.
//!
//! Decisions and why:
//! * A PostgreSQL script is not run by `psql`: psql obeys `\connect` (the live database) and
//!   `\!` (a shell, as root when pyenvx runs as root), and finding every meta-command exactly
//!   as psql's lexer would is fragile (`standard_conforming_strings` can change mid-script).
//!   pyenvx sends the statements over one connection to the scratch database, which no
//!   statement can leave. The lexer here only has to split where psql would; where it splits
//!   wrongly the server sees broken SQL and the load fails, nothing worse. Meta-commands are
//!   still looked for first, so that a script using one is refused with its line before a
//!   single statement runs. pg_dump's own `\restrict`/`\unrestrict` (which guard psql) are
//!   dropped.
//! * A MariaDB script goes through the `mariadb` client in `--binary-mode` (no client command
//!   but `DELIMITER`). `--one-database` would not do: it skips statements while the client
//!   believes another database is current, and the server itself obeys `USE` sent as SQL. So a
//!   `USE` of another database, `CREATE`/`DROP`/`ALTER DATABASE` of another, and client commands are
//!   refused up front. `mariadb-dump --databases` of the project's own database writes
//!   `CREATE DATABASE`, `USE` (and `DROP DATABASE` with `--add-drop-database`) naming it: those
//!   are blanked, so such a dump loads into the scratch database. Strings are scanned both
//!   with and without backslash escapes (`NO_BACKSLASH_ESCAPES` can be set by the script), and
//!   what either reading finds is refused.

use std::ops::Range;

/// What a restore refuses in a script, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub line: usize,
    pub what: String,
}

/// One step of a PostgreSQL script, as pyenvx sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// One statement (the `;` included), with the line it starts on.
    Sql { text: Range<usize>, line: usize },
    /// `COPY … FROM stdin`, and its data up to (not including) the `\.` line.
    Copy {
        stmt: Range<usize>,
        data: Range<usize>,
        line: usize,
    },
}

fn ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn ident_cont(b: u8) -> bool {
    ident_start(b) || b.is_ascii_digit() || b == b'$'
}

/// The `$tag$` starting at `i`, if one does.
fn dollar_tag(s: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if j < s.len() && ident_start(s[j]) {
        j += 1;
        while j < s.len() && (ident_start(s[j]) || s[j].is_ascii_digit()) {
            j += 1;
        }
    }
    (j < s.len() && s[j] == b'$').then_some(j + 1)
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn lines_in(s: &[u8]) -> usize {
    s.iter().filter(|&&b| b == b'\n').count()
}

/// What a statement's words say about how psql would end it and what follows it.
#[derive(Default)]
struct Words {
    /// Lower-cased unquoted words at parenthesis depth 0, the first few.
    top: Vec<String>,
    /// psql's heuristic: inside `CREATE [OR REPLACE] FUNCTION|PROCEDURE … BEGIN ATOMIC … END`
    /// a `;` does not end the statement.
    begin_depth: usize,
}

impl Words {
    fn word(&mut self, w: &str, paren: usize) {
        let w = w.to_ascii_lowercase();
        let routine = match self.top.as_slice() {
            [c, r, ..] if c == "create" && (r == "function" || r == "procedure") => true,
            [c, o, r, f, ..] if c == "create" && o == "or" && r == "replace" => {
                f == "function" || f == "procedure"
            }
            _ => false,
        };
        if routine && paren == 0 {
            match w.as_str() {
                "begin" => self.begin_depth += 1,
                "case" if self.begin_depth > 0 => self.begin_depth += 1,
                "end" if self.begin_depth > 0 => self.begin_depth -= 1,
                _ => {}
            }
        }
        if paren == 0 && self.top.len() < 64 {
            self.top.push(w);
        }
    }

    /// Statements that act beyond the database they run in (the project's role is a
    /// superuser): other databases, the server's configuration, programs on the server.
    fn beyond(&self) -> bool {
        let w: Vec<&str> = self.top.iter().map(String::as_str).collect();
        matches!(
            w.as_slice(),
            ["create" | "drop" | "alter", "database", ..] | ["alter", "system", ..]
        ) || (w.first() == Some(&"copy") && w.contains(&"program"))
    }

    /// `COPY name [(columns)] FROM STDIN …`: the first of FROM / TO at depth 0 is FROM, and
    /// STDIN follows it.
    fn copies_in(&self) -> bool {
        if self.top.first().map(String::as_str) != Some("copy") {
            return false;
        }
        let at = self.top.iter().position(|w| w == "from" || w == "to");
        matches!(at, Some(i) if self.top[i] == "from"
            && self.top.get(i + 1).map(String::as_str) == Some("stdin"))
    }
}

/// Split a PostgreSQL script into the statements and COPY blocks pyenvx sends, or the first
/// psql meta-command in it (outside strings, comments and COPY data).
pub fn pg_split(s: &[u8]) -> Result<Vec<Piece>, Refused> {
    let mut pieces = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let mut start = 0;
    let mut start_line = 1;
    let mut paren = 0usize;
    let mut words = Words::default();
    // COPY statements ended on the current line, whose data starts on the next.
    let mut pending: Vec<(Range<usize>, usize)> = Vec::new();
    // Nothing but whitespace since `start`.
    let mut empty = true;
    while i < s.len() {
        let b = s[i];
        let comment = s[i..].starts_with(b"--") || s[i..].starts_with(b"/*");
        if empty && !b.is_ascii_whitespace() && !comment && b != b'\\' {
            empty = false;
            start_line = line;
        }
        match b {
            b'\n' => {
                line += 1;
                i += 1;
                for (stmt, at) in pending.drain(..) {
                    let data_start = i;
                    let data_end;
                    (data_end, i) = copy_data(s, i, &mut line);
                    pieces.push(Piece::Copy {
                        stmt,
                        data: data_start..data_end,
                        line: at,
                    });
                }
                if empty {
                    start = i;
                }
            }
            b'\'' => i = skip_string(s, i, &mut line),
            b'"' => {
                let end = find(s, b"\"", i + 1).map_or(s.len(), |e| e + 1);
                line += lines_in(&s[i..end]);
                i = end;
            }
            b'-' if s.get(i + 1) == Some(&b'-') => {
                i = find(s, b"\n", i).unwrap_or(s.len());
            }
            b'/' if s.get(i + 1) == Some(&b'*') => i = skip_block_comment(s, i, &mut line),
            b'$' => i = skip_dollar(s, i, &mut line),
            b'\\' => {
                // Only pg_dump's guard for psql passes, alone on its line between statements.
                i = psql_guard(s, i, line, empty)?;
                start = i;
                empty = true;
            }
            b'(' => {
                paren += 1;
                i += 1;
            }
            b')' => {
                paren = paren.saturating_sub(1);
                i += 1;
            }
            b';' if paren == 0 && words.begin_depth == 0 => {
                i += 1;
                let stmt = start..i;
                if words.beyond() {
                    let text = String::from_utf8_lossy(&s[stmt]);
                    return Err(Refused {
                        line: start_line,
                        what: text.trim().lines().next().unwrap_or("").to_string(),
                    });
                }
                if words.copies_in() {
                    pending.push((stmt, start_line));
                } else {
                    pieces.push(Piece::Sql {
                        text: stmt,
                        line: start_line,
                    });
                }
                words = Words::default();
                start = i;
                empty = true;
            }
            b if ident_start(b) => {
                let from = i;
                while i < s.len() && ident_cont(s[i]) {
                    i += 1;
                }
                words.word(&String::from_utf8_lossy(&s[from..i]), paren);
            }
            b if b.is_ascii_digit() => {
                while i < s.len() && (ident_cont(s[i]) || s[i] == b'.') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    let rest = start.min(s.len())..s.len();
    if !empty && !only_comments(&s[rest.clone()]) {
        pieces.push(Piece::Sql {
            text: rest,
            line: start_line,
        });
    }
    for (stmt, at) in pending {
        pieces.push(Piece::Copy {
            stmt,
            data: s.len()..s.len(),
            line: at,
        });
    }
    Ok(pieces)
}

/// After a COPY statement's line, its data: lines up to one that is exactly `\.`, or the end of
/// the file. Returns where the data ends and where the script goes on.
fn copy_data(s: &[u8], mut i: usize, line: &mut usize) -> (usize, usize) {
    let (data_end, next) = loop {
        if i >= s.len() {
            break (s.len(), s.len());
        }
        let eol = find(s, b"\n", i).map_or(s.len(), |e| e + 1);
        let l = &s[i..eol];
        if l == b"\\.\n" || l == b"\\.\r\n" || l == b"\\." {
            break (i, eol);
        }
        *line += 1;
        i = eol;
    };
    if next > data_end {
        *line += 1;
    }
    (data_end, next)
}

/// Past the string literal opening at `i`: `E'…'` escapes with backslashes; `'…'`
/// (standard_conforming_strings on) does not.
fn skip_string(s: &[u8], mut i: usize, line: &mut usize) -> usize {
    let escapes = i > 0 && matches!(s[i - 1], b'e' | b'E') && {
        let mut k = i - 1;
        while k > 0 && ident_cont(s[k - 1]) {
            k -= 1;
        }
        k == i - 1
    };
    i += 1;
    while i < s.len() {
        match s[i] {
            b'\\' if escapes => {
                if s.get(i + 1) == Some(&b'\n') {
                    *line += 1;
                }
                i += 1;
            }
            b'\'' if s.get(i + 1) == Some(&b'\'') => i += 1,
            b'\'' => break,
            b'\n' => *line += 1,
            _ => {}
        }
        i += 1;
    }
    i + 1
}

/// Past the `$tag$…$tag$` string at `i`, or a parameter (`$1`) and whatever sticks to it.
fn skip_dollar(s: &[u8], mut i: usize, line: &mut usize) -> usize {
    if let Some(after) = dollar_tag(s, i) {
        let tag = &s[i..after];
        let end = find(s, tag, after).map_or(s.len(), |e| e + tag.len());
        *line += lines_in(&s[i..end]);
        return end;
    }
    i += 1;
    while i < s.len() && ident_cont(s[i]) {
        i += 1;
    }
    i
}

/// Past the `/* … */` comment opening at `i`, nested ones included.
fn skip_block_comment(s: &[u8], mut i: usize, line: &mut usize) -> usize {
    let mut depth = 0;
    while i < s.len() {
        if s[i..].starts_with(b"/*") {
            depth += 1;
            i += 2;
        } else if s[i..].starts_with(b"*/") {
            depth -= 1;
            i += 2;
            if depth == 0 {
                break;
            }
        } else {
            if s[i] == b'\n' {
                *line += 1;
            }
            i += 1;
        }
    }
    i
}

/// The psql command at `i`: past its line when it is pg_dump's guard (`\restrict`,
/// `\unrestrict`) alone on its line between statements; refused otherwise.
fn psql_guard(s: &[u8], i: usize, line: usize, between: bool) -> Result<usize, Refused> {
    let eol = find(s, b"\n", i).unwrap_or(s.len());
    let command = String::from_utf8_lossy(&s[i..eol]).trim_end().to_string();
    let name = command[1..].split_whitespace().next().unwrap_or("");
    let line_start = s[..i]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |p| p + 1);
    let alone = s[line_start..i].iter().all(u8::is_ascii_whitespace);
    if between && alone && matches!(name, "restrict" | "unrestrict") {
        return Ok(eol);
    }
    Err(Refused {
        line,
        what: command,
    })
}

/// Whether `s` holds nothing but whitespace and `--` comments.
fn only_comments(s: &[u8]) -> bool {
    String::from_utf8_lossy(s)
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with("--"))
}

/// Client commands of the `mariadb` program (long forms, at a statement's start).
const MARIA_CLIENT: &[&str] = &[
    "?",
    "charset",
    "clear",
    "connect",
    "edit",
    "ego",
    "exit",
    "go",
    "nopager",
    "notee",
    "nowarning",
    "pager",
    "print",
    "prompt",
    "quit",
    "rehash",
    "resetconnection",
    "sandbox",
    "source",
    "status",
    "system",
    "tee",
    "warnings",
];

/// Check a MariaDB script for `db restore` into `scratch` instead of `db`: the script with the
/// statements that name the project's own database (`CREATE`/`DROP`/`ALTER DATABASE`, `USE`)
/// blanked, or the first thing that would reach beyond the scratch database.
pub fn maria_rewrite(s: &[u8], db: &str) -> Result<Vec<u8>, Refused> {
    let with = maria_scan(s, db, true)?;
    let without = maria_scan(s, db, false)?;
    if with != without {
        let line = 1 + lines_in(
            &s[..with
                .iter()
                .chain(&without)
                .map(|r| r.start)
                .min()
                .unwrap_or(0)],
        );
        return Err(Refused {
            line,
            what:
                "a statement that backslashes in strings make look different (NO_BACKSLASH_ESCAPES)"
                    .into(),
        });
    }
    let mut out = s.to_vec();
    for r in with {
        for b in &mut out[r] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    }
    Ok(out)
}

/// The statements [`maria_rewrite`] blanks, reading strings with backslash escapes or not.
fn maria_scan(s: &[u8], db: &str, escapes: bool) -> Result<Vec<Range<usize>>, Refused> {
    let mut blanks = Vec::new();
    let mut delimiter: Vec<u8> = b";".to_vec();
    let mut i = 0;
    let mut line = 1;
    // The statement so far: where it starts, its first words (lower-cased; names unquoted).
    let mut start: Option<usize> = None;
    let mut words: Vec<String> = Vec::new();
    let mut start_line = 1;
    while i < s.len() {
        let b = s[i];
        if start.is_none() {
            if b.is_ascii_whitespace() {
                if b == b'\n' {
                    line += 1;
                }
                i += 1;
                continue;
            }
            // mariadb-dump's first line turns on the client's sandbox: pyenvx's client runs in
            // binary mode, where it is not a command.
            let sandbox = b"/*M!999999\\- enable the sandbox mode */";
            if s[i..].starts_with(sandbox) {
                blanks.push(i..i + sandbox.len());
                i += sandbox.len();
                continue;
            }
            // Client commands are whole lines at a statement's start.
            let eol = find(s, b"\n", i).unwrap_or(s.len());
            let text = String::from_utf8_lossy(&s[i..eol]);
            let first = text
                .split(|c: char| c.is_whitespace() || c == ';')
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if first == "delimiter" {
                if let Some(d) = text.split_whitespace().nth(1) {
                    delimiter = d.as_bytes().to_vec();
                }
                i = eol;
                continue;
            }
            if MARIA_CLIENT.contains(&first.as_str()) {
                return refuse(line, text.trim_end());
            }
            start = Some(i);
            start_line = line;
        }
        if s[i..].starts_with(&delimiter) {
            let at = start.take().unwrap_or(i);
            let end = i + delimiter.len();
            statement(&mut blanks, s, at..end, start_line, &words, db)?;
            words.clear();
            i = end;
            continue;
        }
        match b {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'\'' | b'"' | b'`' => {
                let from = i + 1;
                let end = maria_quoted_end(s, from, b, escapes);
                i = end;
                line += lines_in(&s[from - 1..end]);
                if b == b'`' && words.len() < 8 {
                    words.push(String::from_utf8_lossy(&s[from..end]).replace("``", "`"));
                } else if words.len() < 8 {
                    words.push(String::new());
                }
                i += 1;
            }
            b'#' => i = find(s, b"\n", i).unwrap_or(s.len()),
            b'-' if s[i..].starts_with(b"--")
                && s.get(i + 2)
                    .is_none_or(|c| c.is_ascii_whitespace() || c.is_ascii_control()) =>
            {
                i = find(s, b"\n", i).unwrap_or(s.len())
            }
            // Executable comments: their text is SQL.
            b'/' if s[i..].starts_with(b"/*!") || s[i..].starts_with(b"/*M!") => {
                i = executable_comment_text(s, i)
            }
            b'/' if s[i..].starts_with(b"/*") => {
                let end = find(s, b"*/", i + 2).map_or(s.len(), |e| e + 2);
                line += lines_in(&s[i..end]);
                i = end;
            }
            b'*' if s[i..].starts_with(b"*/") => i += 2,
            b'\\' => {
                let eol = find(s, b"\n", i).unwrap_or(s.len());
                return refuse(line, String::from_utf8_lossy(&s[i..eol]).trim_end());
            }
            b if ident_start(b) || b.is_ascii_digit() => {
                let from = i;
                while i < s.len() && (ident_start(s[i]) || s[i].is_ascii_digit() || s[i] == b'$') {
                    i += 1;
                }
                if words.len() < 8 {
                    words.push(String::from_utf8_lossy(&s[from..i]).to_ascii_lowercase());
                }
            }
            b'=' => {
                if words.len() < 8 {
                    words.push("=".into());
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    // The client sends what follows the last delimiter too.
    if let Some(at) = start {
        statement(&mut blanks, s, at..s.len(), start_line, &words, db)?;
    }
    Ok(blanks)
}

/// Where the quoted text starting at `from` (after its opening `quote`) ends: at its closing
/// quote, a doubled one being part of it, and backslash escapes in strings when `escapes`.
fn maria_quoted_end(s: &[u8], mut i: usize, quote: u8, escapes: bool) -> usize {
    while i < s.len() {
        match s[i] {
            b'\\' if escapes && quote != b'`' => i += 1,
            q if q == quote && s.get(i + 1) == Some(&quote) => i += 1,
            q if q == quote => break,
            _ => {}
        }
        i += 1;
    }
    i.min(s.len())
}

/// Where the SQL of the executable comment (`/*!40101 …`, `/*M!100100 …`) at `i` starts.
fn executable_comment_text(s: &[u8], mut i: usize) -> usize {
    i += if s[i + 2] == b'M' { 4 } else { 3 };
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    i
}

fn refuse<T>(line: usize, what: &str) -> Result<T, Refused> {
    Err(Refused {
        line,
        what: what.to_string(),
    })
}

/// One whole statement (`range`, its first `words`): blanked when it names the project's
/// database `db`, refused when it names another.
fn statement(
    blanks: &mut Vec<Range<usize>>,
    s: &[u8],
    range: Range<usize>,
    line: usize,
    words: &[String],
    db: &str,
) -> Result<(), Refused> {
    let stmt = String::from_utf8_lossy(&s[range.clone()])
        .trim_end()
        .to_string();
    let own = |name: Option<&str>| name == Some(db);
    match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["use", name, ..] if own(Some(name)) => blanks.push(range),
        ["use", ..] => return refuse(line, &stmt),
        [verb @ ("create" | "drop" | "alter"), "database" | "schema", rest @ ..] => {
            let name = rest
                .iter()
                .find(|w| !matches!(**w, "if" | "not" | "exists"))
                .copied();
            let named = name.is_some_and(|n| {
                !matches!(
                    n,
                    "character" | "charset" | "collate" | "default" | "comment" | "="
                )
            });
            if own(name) {
                blanks.push(range);
            } else if named || *verb != "alter" {
                return refuse(line, &stmt);
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(script: &str) -> Vec<String> {
        pg_split(script.as_bytes())
            .unwrap()
            .into_iter()
            .map(|p| match p {
                Piece::Sql { text, line } => format!("{line}:{}", &script[text]),
                Piece::Copy { stmt, data, line } => {
                    format!("{line}:{}|{}", &script[stmt], &script[data])
                }
            })
            .collect()
    }

    fn refused(script: &str) -> Refused {
        pg_split(script.as_bytes()).unwrap_err()
    }

    #[test]
    fn meta_commands_are_found_outside_strings_only() {
        assert_eq!(
            refused("SELECT 1;\n\\connect live\nDROP TABLE t;\n"),
            Refused {
                line: 2,
                what: "\\connect live".into()
            }
        );
        assert_eq!(refused("select 1; \\! id\n").what, "\\! id");
        assert_eq!(refused("select (1\n, \\i /etc/x\n").line, 2);
        for ok in [
            "select 'a\\b';",
            "select E'it\\'s \\\\';",
            "select $$ \\! id $$;",
            "select $f$ $$ \\c x $$ $f$;",
            "select \"a\\b\";",
            "-- \\connect x\nselect 1;",
            "/* /* \\c */ \\o */ select 1;",
        ] {
            assert!(pg_split(ok.as_bytes()).is_ok(), "{ok}");
        }
        // `x$a$` is an identifier, not a dollar quote hiding what follows.
        assert!(pg_split(b"select x$a$ \\! id $a$;").is_err());
        // A backslash escape only in E'' strings: here the string ends before the command.
        assert!(pg_split(b"select 'a\\'; \\! id --';").is_err());
    }

    #[test]
    fn copy_data_is_data_up_to_its_end_marker() {
        let script =
            "SET x = 1;\nCOPY public.t (a, b) FROM stdin;\n1\t\\N\n\\\\connect\n\\.\n\nSELECT 2;\n";
        assert_eq!(
            texts(script),
            vec![
                "1:SET x = 1;",
                "2:COPY public.t (a, b) FROM stdin;|1\t\\N\n\\\\connect\n",
                "7:SELECT 2;"
            ]
        );
        // After the data, commands are found again.
        assert_eq!(refused(&format!("{script}\\c live\n")).line, 8);
        // COPY of a query reading a table named stdin is no COPY FROM stdin.
        assert!(pg_split(b"COPY (SELECT * FROM stdin) TO STDOUT;\n\\! id\n\\.\n").is_err());
        // Nor is one inside parentheses psql has not closed.
        assert!(pg_split(b"SELECT (1;\nCOPY t FROM stdin;\n\\! id\n\\.\n").is_err());
    }

    #[test]
    fn routine_bodies_and_pg_dump_guards() {
        let script = "\\restrict abc\nCREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n SELECT 1;\n SELECT CASE WHEN true THEN 1 END;\nEND;\n\\unrestrict abc\n";
        let t = texts(script);
        assert_eq!(t.len(), 1, "{t:?}");
        assert!(
            t[0].starts_with("2:CREATE FUNCTION") && t[0].ends_with("END;"),
            "{t:?}"
        );
        // Not between statements: refused.
        assert!(pg_split(b"select 1 \\restrict x\n;").is_err());
        for beyond in [
            "DROP DATABASE live;",
            "select 1;\n/* x */ ALTER DATABASE live RENAME TO x;",
            "CREATE DATABASE x;",
            "alter system set port = 1;",
            "COPY t TO PROGRAM 'id';",
        ] {
            assert!(pg_split(beyond.as_bytes()).is_err(), "{beyond}");
        }
        assert_eq!(texts("select 1;\n-- the end\n"), vec!["1:select 1;"]);
        assert_eq!(
            texts("--\n-- dump\n\n\\restrict k\n/* x */ select 1;\n"),
            vec!["5:/* x */ select 1;"]
        );
        assert_eq!(texts("select 1"), vec!["1:select 1"]);
    }
}

#[cfg(test)]
mod maria_tests {
    use super::*;

    fn rewrite(script: &str) -> Result<String, Refused> {
        maria_rewrite(script.as_bytes(), "lib").map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn a_dump_of_the_project_itself_loads_into_the_scratch_database() {
        let dump = "/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump\n\
            /*!40000 DROP DATABASE IF EXISTS `lib`*/;\n\
            CREATE DATABASE /*!32312 IF NOT EXISTS*/ `lib` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;\n\
            USE `lib`;\nINSERT INTO t VALUES ('USE other;','it\\'s');\n\
            DELIMITER ;;\nCREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW BEGIN SET @a = 1; END ;;\nDELIMITER ;\n";
        let out = rewrite(dump).unwrap();
        assert_eq!(out.len(), dump.len());
        assert!(
            !out.contains("USE `lib`") && !out.contains("CREATE DATABASE"),
            "{out}"
        );
        assert!(
            !out.contains("DROP DATABASE") && !out.contains("sandbox"),
            "{out}"
        );
        assert!(
            out.contains("INSERT INTO t VALUES ('USE other;','it\\'s');"),
            "{out}"
        );
        assert!(out.contains("DELIMITER ;;"), "{out}");
    }

    #[test]
    fn other_databases_and_client_commands_are_refused() {
        for (script, line) in [
            ("SELECT 1;\nUSE `live`;\nDROP TABLE t;\n", 2),
            ("use mysql\n;", 1),
            ("DROP DATABASE live;", 1),
            ("/*!40000 DROP SCHEMA IF EXISTS live*/;", 1),
            ("CREATE DATABASE other;", 1),
            ("select 1;\n\\! id\n", 2),
            ("select 1;\nsystem id\n", 2),
            ("source /etc/passwd\n", 1),
            ("connect live\n", 1),
            // Without backslash escapes the string ends early and `USE live` runs.
            (
                "SET sql_mode = 'NO_BACKSLASH_ESCAPES';\nSELECT 'a\\'; USE live; SELECT '';\n",
                2,
            ),
        ] {
            let err = rewrite(script).unwrap_err();
            assert_eq!(err.line, line, "{script}: {err:?}");
        }
        assert!(rewrite("ALTER DATABASE CHARACTER SET utf8mb4;").is_ok());
        assert!(rewrite("ALTER DATABASE `lib` CHARACTER SET utf8mb4;").is_ok());
        assert!(rewrite("SELECT `use`, 'a\\\\' FROM t; -- USE live;\n# \\! x\n").is_ok());
    }
}
