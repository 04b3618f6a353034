//! Names. A project's name as an identifier: the Django module and the database's user and
//! name both start from the same mapping, then add their own rules (a module may not start
//! with a digit; SQL names avoid `pg_` and empty results). And a package's name as PEP 503
//! compares it, which the installer, the store and `pyenvx.toml` all use.

/// `name` in lowercase ASCII letters, digits and `_`, one character for one: anything else
/// becomes `_`, so `My-Site` and `my site` both give `my_site`.
pub fn ascii_identifier(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// PEP 503: runs of `-`, `_`, `.` become one `-`, lower-cased.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
        } else {
            if separator && !out.is_empty() {
                out.push('-');
            }
            separator = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn maps_each_character() {
        assert_eq!(super::ascii_identifier("My-Site 2"), "my_site_2");
        assert_eq!(super::ascii_identifier("café"), "caf_");
        assert_eq!(super::ascii_identifier(""), "");
    }
}
