//! PEP 508 requirements from user input, parsed without tripping pep508_rs's assertions.
//!
//! pep508_rs 0.9 (the newest release) accepts a name or an extra ending in `-`, `_` or `.` when
//! another character follows (`django-ñ`, `a_ ==1`, `x[b-]`), then panics on its own assertion
//! that its parser and its name validation agree. Those shapes are refused here first, with the
//! message its name validation would have given.

use std::str::FromStr;

pub type Requirement = pep508_rs::Requirement<pep508_rs::VerbatimUrl>;

/// Parse one requirement; the error is one line, without the input repeated.
pub fn parse(req: &str) -> Result<Requirement, String> {
    check_names(req)?;
    Requirement::from_str(req).map_err(|e| e.message.to_string())
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
