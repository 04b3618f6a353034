//! `pyenvx env`: the variables `pyenvx run` gives its command, for tools that start programs
//! themselves (direnv, IDE run configurations, CI steps): dotenv lines, or shell exports.
//!
//! The same layers as `run` (the services' variables under `.env`, then `VIRTUAL_ENV`, no
//! `PYTHONHOME`, `.venv/bin` first on `PATH`), except that a value already in pyenvx's own
//! environment is printed rather than left out: `eval "$(pyenvx env --shell)"` run twice, or
//! after a port move, must give the current values, not keep the old ones.

use anyhow::Result;

use super::run::{dotenv_vars, layer, EnvChange};
use crate::project::environment::dotenv_quote;
use crate::project::{Env, Project};

pub fn variables(project: &Project, env: &Env) -> Result<Vec<EnvChange>> {
    let dotenv = dotenv_vars(project)?;
    let services = crate::services::env_vars(env.settings, project)?;
    layer(&project.venv_dir(), services, dotenv, &|k| {
        (k == "PATH").then(|| std::env::var_os(k)).flatten()
    })
}

/// `KEY=value` lines a dotenv loader reads; a variable to remove has no dotenv form.
pub fn dotenv_lines(vars: &[EnvChange]) -> Vec<String> {
    vars.iter()
        .filter_map(|(k, v)| {
            let v = v.as_ref()?;
            Some(format!(
                "{}={}",
                k.to_string_lossy(),
                dotenv_quote(&v.to_string_lossy())
            ))
        })
        .collect()
}

/// `export KEY='value'` and `unset KEY` lines for a POSIX shell's `eval`.
pub fn shell_lines(vars: &[EnvChange]) -> Vec<String> {
    vars.iter()
        .map(|(k, v)| match v {
            Some(v) => format!(
                "export {}={}",
                k.to_string_lossy(),
                shell_quote(&v.to_string_lossy())
            ),
            None => format!("unset {}", k.to_string_lossy()),
        })
        .collect()
}

/// Single quotes keep everything literal; a single quote itself closes, escapes and reopens.
fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_and_shell_forms() {
        let vars: Vec<EnvChange> = vec![
            (
                "REDIS_URL".into(),
                Some("redis://:pw@127.0.0.1:6400/0".into()),
            ),
            ("NOTE".into(), Some("it's $HOME".into())),
            ("PYTHONHOME".into(), None),
        ];
        assert_eq!(
            dotenv_lines(&vars),
            [
                "REDIS_URL=redis://:pw@127.0.0.1:6400/0",
                "NOTE=\"it's $HOME\""
            ]
        );
        assert_eq!(
            shell_lines(&vars),
            [
                "export REDIS_URL='redis://:pw@127.0.0.1:6400/0'",
                r"export NOTE='it'\''s $HOME'",
                "unset PYTHONHOME"
            ]
        );
    }
}
