//! `pyenvx python uninstall`: which managed builds a list of requests names. Removing one is
//! `python::managed::uninstall`'s (lock, rename, minor link), so the command can say what it
//! removed one build at a time.

use anyhow::Result;

use crate::python::discovery::{Found, Origin};
use crate::python::managed::Installed;
use crate::python::PythonRequest;
use crate::user_error;

/// The installs `versions` (requests such as `3.12`, `3.13.1`, `3.13t`) name, each once, in the
/// order asked; a request that matches nothing is a user error before anything is removed.
/// `found` (the interpreters pyenv or PATH provide) only explains a request that names one of
/// them: pyenvx never removes what it did not install.
pub fn uninstall_targets(
    installed: &[Installed],
    found: &[Found],
    versions: &[String],
) -> Result<Vec<Installed>> {
    let mut targets = Vec::new();
    for raw in versions {
        let request = PythonRequest::parse(raw)?;
        let matching: Vec<_> = installed
            .iter()
            .filter(|i| request.matches(i.version(), i.freethreaded()))
            .collect();
        if matching.is_empty() {
            // pyenv's first: a request for a version is more likely about an install than
            // about the system's python3.
            let mut candidates: Vec<&Found> = found
                .iter()
                .filter(|f| request.matches(&f.version, f.freethreaded))
                .collect();
            candidates.sort_by_key(|f| f.origin != Origin::Pyenv);
            if let Some(other) = candidates.first() {
                let (whose, hint) = match other.origin {
                    Origin::Pyenv => (
                        "pyenv's",
                        format!("`pyenv uninstall {}` removes it", other.version),
                    ),
                    Origin::Path => (
                        "on PATH, not installed by pyenvx",
                        "remove it with the tool that installed it (the system's package manager)"
                            .to_string(),
                    ),
                };
                return Err(user_error!(
                    hint = hint,
                    "Python {} ({}) is {whose}: pyenvx uninstalls only the builds it installed",
                    other.version,
                    other.path.display()
                ));
            }
            return Err(user_error!(
                hint = "`pyenvx python list --installed` shows what is installed",
                "no managed Python matches `{raw}`"
            ));
        }
        for m in matching {
            if !targets.iter().any(|t: &Installed| t.dir == m.dir) {
                targets.push(m.clone());
            }
        }
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::managed::Receipt;

    fn build(version: &str, variant: Option<&str>) -> Installed {
        let key = format!(
            "cpython-{version}{}-linux-x86_64-gnu",
            variant.map_or(String::new(), |v| format!("+{v}"))
        );
        Installed {
            receipt: Receipt {
                key: key.clone(),
                version: version.parse().unwrap(),
                variant: variant.map(str::to_string),
                build: "20250101".into(),
                url: String::new(),
                sha256: String::new(),
                platform: "linux-x86_64-gnu".into(),
            },
            dir: std::path::PathBuf::from("/pythons").join(key),
        }
    }

    fn keys(targets: &[Installed]) -> Vec<&str> {
        targets.iter().map(|t| t.receipt.key.as_str()).collect()
    }

    #[test]
    fn each_build_once_in_the_order_asked() {
        let installed = [
            build("3.13.1", None),
            build("3.13.1", Some("freethreaded")),
            build("3.12.8", None),
            build("3.12.1", None),
        ];
        let asked = ["3.12.1".to_string(), "3.12".to_string()];
        assert_eq!(
            keys(&uninstall_targets(&installed, &[], &asked).unwrap()),
            [
                "cpython-3.12.1-linux-x86_64-gnu",
                "cpython-3.12.8-linux-x86_64-gnu"
            ]
        );
        let asked = ["3.13t".to_string()];
        assert_eq!(
            keys(&uninstall_targets(&installed, &[], &asked).unwrap()),
            ["cpython-3.13.1+freethreaded-linux-x86_64-gnu"]
        );
    }

    #[test]
    fn a_request_that_matches_nothing_removes_nothing() {
        let installed = [build("3.12.8", None)];
        let asked = ["3.12".to_string(), "3.11".to_string()];
        let err = uninstall_targets(&installed, &[], &asked).unwrap_err();
        assert_eq!(format!("{err}"), "no managed Python matches `3.11`");
        assert!(uninstall_targets(&installed, &[], &["3.x".to_string()]).is_err());
    }

    #[test]
    fn a_python_pyenv_installed_is_named_as_pyenvs() {
        let pyenv = Found {
            path: "/home/u/.pyenv/versions/3.11.7/bin/python3.11".into(),
            version: "3.11.7".parse().unwrap(),
            freethreaded: false,
            prefix: "/home/u/.pyenv/versions/3.11.7".into(),
            origin: Origin::Pyenv,
        };
        let err = uninstall_targets(&[build("3.12.8", None)], &[pyenv], &["3.11".to_string()])
            .unwrap_err();
        assert_eq!(
            format!("{err}"),
            "Python 3.11.7 (/home/u/.pyenv/versions/3.11.7/bin/python3.11) is pyenv's: pyenvx uninstalls only the builds it installed"
        );
        assert_eq!(
            crate::error::find_hint(&err),
            Some("`pyenv uninstall 3.11.7` removes it")
        );
    }
}
