//! PEP 508 requirements from user input, parsed without tripping pep508_rs's assertions.
//!
//! pep508_rs 0.9 (the newest release) panics on two kinds of input, which are refused here
//! first:
//! - a name or an extra ending in `-`, `_` or `.` when another character follows (`django-ñ`,
//!   `a_ ==1`, `x[b-]`): its parser accepts them, then its own assertion that parser and name
//!   validation agree fails;
//! - a non-ASCII character in a word after a marker (`a ; python_version > "3" ñ`): it counts
//!   characters where it slices bytes.
//!
//! Outside quoted strings, a requirement is ASCII anyway (names, versions, operators, marker
//! names; URLs are percent-encoded).

use std::str::FromStr;

pub type Requirement = pep508_rs::Requirement<pep508_rs::VerbatimUrl>;

/// Parse one requirement; the error is one line, without the input repeated.
pub fn parse(req: &str) -> Result<Requirement, String> {
    check_ascii(req)?;
    check_names(req)?;
    Requirement::from_str(req).map_err(|e| e.message.to_string())
}

/// No character outside ASCII except inside a quoted string (a marker's value).
fn check_ascii(req: &str) -> Result<(), String> {
    let mut quote = None;
    for c in req.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if !c.is_ascii() => {
                // The name's own message first, when it is the name that is wrong.
                let (name, rest) = leading_name(req.trim_start());
                check_name("package name", name, rest)?;
                return Err(format!(
                    "`{}` is not allowed: outside quoted marker values a requirement is ASCII",
                    c.escape_debug()
                ));
            }
            None => {}
        }
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

/// The leading run of name characters of `text`, and what follows it.
fn leading_name(text: &str) -> (&str, &str) {
    let end = text.find(|c| !is_name_char(c)).unwrap_or(text.len());
    text.split_at(end)
}

fn check_name(what: &str, name: &str, rest: &str) -> Result<(), String> {
    if name.ends_with(['.', '-', '_']) {
        return Err(format!(
            "{what} `{name}` must end with a letter or digit{}",
            match rest.chars().next() {
                Some(c) if !c.is_ascii() => format!(
                    " (`{c}` is not allowed: names are ASCII letters, digits, `-`, `_` and `.`)"
                ),
                _ => String::new(),
            }
        ));
    }
    Ok(())
}

/// The package name and the extras, where pep508_rs would otherwise panic.
fn check_names(req: &str) -> Result<(), String> {
    let (name, rest) = leading_name(req.trim_start());
    check_name("package name", name, rest)?;
    if let Some(extras) = rest.trim_start().strip_prefix('[') {
        let extras = extras.split(']').next().unwrap_or_default();
        for extra in extras.split(',') {
            let (name, rest) = leading_name(extra.trim_start());
            check_name("extra", name, rest)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_pep508_rs_would_panic_on_are_errors() {
        for bad in [
            "django-ñ",
            "x-日本",
            "a_ñ",
            "a. ==1",
            "a[b-]",
            "a[b_ ,c]",
            "a [x, y.]",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(
                err.contains("must end with a letter or digit"),
                "{bad}: {err}"
            );
        }
        assert!(parse("django-ñ")
            .unwrap_err()
            .contains("`ñ` is not allowed"));
        // pep508_rs slices bytes by a count of characters after a marker.
        for bad in [
            "psycopg[binary]>=3.1 ; python_version >= \"3.10\"  #\u{202e} db",
            "a ; python_version > '3' ñ",
            "djangoñ",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("is not allowed"), "{bad}: {err}");
        }
        // Inside quotes anything goes.
        parse("a ; platform_release == 'ñ'").unwrap();
    }

    #[test]
    fn valid_requirements_still_parse() {
        for good in [
            "django>=4.2",
            "psycopg[binary,pool]>=3.1 ; python_version >= \"3.10\"",
            "zope.interface",
            "a_b-c.d==1.0",
            "x[y]",
        ] {
            parse(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        // Ordinary errors still come from pep508_rs.
        assert!(parse("dj ango").is_err());
        assert!(parse("").is_err());
    }
}
