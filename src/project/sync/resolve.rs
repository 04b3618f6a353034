//! Resolving a project: Django's support policy over the pins, the resolution cache keyed by
//! every input, and the groups' membership in the lock.

use super::*;

/// Whether `pair` may run: allowed on the command line, or recorded in `pyenvx.toml`.
pub(super) fn opts_allow(project: &Project, allow_unsupported: bool, pair: Pair) -> bool {
    allow_unsupported || project.config.allow_unsupported.contains(&pair)
}

/// The locked Django on the locked Python, checked against Django's support table.
pub(super) fn check_locked_pair(
    project: &Project,
    lock: &Lock,
    interp: &Interpreter,
    opts: &SyncOptions,
    env: &Env,
) -> Result<Option<Pair>> {
    let Some(django) = lock.package("django") else {
        return Ok(None);
    };
    let allow = |pair: Pair| opts_allow(project, opts.allow_unsupported, pair);
    let available = available_minors_fn(env);
    let suggest = |key: &str, value: &str| format!("`pyenvx pin {key} {value}`");
    let policy = Policy {
        allow: &allow,
        suggest: &suggest,
        available: &available,
    };
    let (warnings, allowed) = support::check_resolved(&django.version, interp.version(), &policy)?;
    for w in warnings {
        env.reporter.warn(&w);
    }
    Ok(allowed)
}

/// Add an unsupported pair the user let through to `pyenvx.toml`, so later commands accept it.
pub fn record_allowed(project: &Project, pair: Pair) -> Result<()> {
    if project.config.allow_unsupported.contains(&pair) {
        return Ok(());
    }
    let mut edit = ConfigEdit::open(&project.config_path())?;
    edit.allow_unsupported(pair)?;
    edit.save()
}

/// Resolve the project's requirements for `interp` after checking its Django against Django's
/// own support table: an unsupported pair is refused before anything is resolved or written,
/// unless `policy` lets it through; where only later patch releases support the pair, their
/// floor joins the resolution (Django 3.2 on 3.10 resolves `>=3.2.9`). The main dependencies
/// and every dependency group are resolved together, so one version of each package serves
/// them all; which part needs which package is then found by resolving each part alone under
/// those versions. `seeds` (`name==version`, a project's own lock adopted by `init`) constrain
/// the resolution where they can; those that cannot hold for this Python are left out one by
/// one (`foreign_lock::resolve_keeping`) and returned with the reason.
pub fn resolve_supported(
    env: &Env,
    get_uv: &dyn Fn() -> Result<Uv>,
    interp: &Interpreter,
    config: &Config,
    index: &IndexSettings,
    (upgrade, seeds): (bool, &[String]),
    policy: &Policy,
) -> Result<Supported> {
    let checked = support::check_pin(
        &config.requirements(),
        config.django.as_ref(),
        interp.version(),
        policy,
    )?;
    for w in &checked.warnings {
        env.reporter.warn(w);
    }
    // uv runs in a scratch directory: project-relative paths are made absolute for it, and
    // written back as the project gave them.
    let root = config.path.parent().unwrap_or(Path::new("."));
    let for_uv = |reqs: &[String]| -> Result<Vec<String>> {
        reqs.iter().map(|r| local::for_resolver(r, root)).collect()
    };
    let main = for_uv(&checked.requirements)?;
    let mut all = main.clone();
    let mut every_requirement = checked.requirements.clone();
    for reqs in config.groups.values() {
        for (r, u) in reqs.iter().zip(for_uv(reqs)?) {
            if !all.contains(&u) {
                all.push(u);
                every_requirement.push(r.clone());
            }
        }
    }
    let blame = |e: anyhow::Error| blame_groups(e, config, &checked.requirements);
    let (mut packages, unkept) = match seeds {
        [] => resolve_constrained(env, get_uv, interp, &all, &[], index, upgrade)
            .map(|p| (p, Vec::new())),
        seeds => crate::project::foreign_lock::resolve_keeping(seeds, |kept| {
            resolve_constrained(env, get_uv, interp, &all, kept, index, upgrade)
        }),
    }
    .map_err(blame)?;
    for u in &unkept {
        env.reporter.detail(&format!(
            "{} left out for Python {}: {}",
            u.pin,
            interp.version(),
            u.why
        ));
    }
    local::for_lock(&mut packages, &every_requirement, &config.editable);
    let membership = if config.groups.is_empty() {
        None
    } else {
        Some(membership(
            env, get_uv, interp, config, &main, &packages, index, &for_uv,
        )?)
    };
    let mut allowed = checked.allowed;
    // A range pin, or Django pulled in by a dependency: the release chosen is what runs.
    let named_series = config.django.as_ref().and_then(|d| d.series()).is_some();
    if !named_series {
        if let Some(django) = packages.iter().find(|p| p.name == "django") {
            let (warnings, let_through) =
                support::check_resolved(&django.version, interp.version(), policy)?;
            for w in warnings {
                env.reporter.warn(&w);
            }
            allowed = allowed.or(let_through);
        }
    }
    Ok(Supported {
        resolution: Resolution {
            packages,
            membership,
        },
        allowed,
        unkept,
    })
}

/// A resolution under Django's support policy.
#[derive(Debug)]
pub struct Supported {
    pub resolution: Resolution,
    /// The unsupported Django × Python pair that was let through.
    pub allowed: Option<Pair>,
    /// The seeds (an adopted project's own lock) that could not be kept, and why.
    pub unkept: Vec<crate::project::foreign_lock::Unkept>,
}

/// A failed resolution whose first line names a package only a dependency group requires: the
/// group is named first, since the main dependencies are not what failed.
pub(super) fn blame_groups(err: anyhow::Error, config: &Config, main: &[String]) -> anyhow::Error {
    let first = err.to_string();
    let first = first.lines().next().unwrap_or("");
    let words: Vec<String> = first
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .map(config::normalize_name)
        .collect();
    let main: Vec<String> = main
        .iter()
        .filter_map(|r| config::requirement_name(r).ok())
        .collect();
    let mut blamed: Vec<String> = Vec::new();
    for (group, reqs) in &config.groups {
        for name in reqs.iter().filter_map(|r| config::requirement_name(r).ok()) {
            if !main.contains(&name) && words.contains(&name) {
                blamed.push(format!("`{group}` ({name})"));
            }
        }
    }
    if blamed.is_empty() {
        return err;
    }
    let line = format!(
        "dependency group {}: {}",
        blamed.join(", "),
        first.trim_end_matches(':')
    );
    let line = match line.char_indices().nth(199) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    };
    err.context(line)
}

/// Which packages of `packages` the main dependencies and each group need: each part resolved
/// alone with every version held to the whole resolution's, so the answer is a subset of it.
/// Pythons uv cannot serve resolve through pip, which is not asked again: there every group is
/// taken to need everything.
#[allow(clippy::too_many_arguments)]
pub(super) fn membership(
    env: &Env,
    get_uv: &dyn Fn() -> Result<Uv>,
    interp: &Interpreter,
    config: &Config,
    main: &[String],
    packages: &[Resolved],
    index: &IndexSettings,
    for_uv: &dyn Fn(&[String]) -> Result<Vec<String>>,
) -> Result<Membership> {
    let everything: Vec<String> = packages.iter().map(|p| p.name.clone()).collect();
    if installer::legacy::needs_pip(interp.version()) {
        return Ok(Membership {
            main: everything.clone(),
            groups: config
                .groups
                .keys()
                .map(|g| (g.clone(), everything.clone()))
                .collect(),
        });
    }
    // Packages by URL, git or directory are requirements themselves; the rest are held.
    let pins: Vec<String> = packages
        .iter()
        .filter(|p| !p.direct && p.vcs.is_none() && p.directory.is_none())
        .map(|p| format!("{}=={}", p.name, p.version))
        .collect();
    let names = |reqs: &[String]| -> Result<Vec<String>> {
        let part = resolve_constrained(env, get_uv, interp, reqs, &pins, index, false)?;
        Ok(part.into_iter().map(|p| p.name).collect())
    };
    let mut groups = std::collections::BTreeMap::new();
    for (name, reqs) in &config.groups {
        groups.insert(name.clone(), names(&for_uv(reqs)?)?);
    }
    Ok(Membership {
        main: names(main)?,
        groups,
    })
}

/// Python minors on this machine or downloadable, listed once on first need (only a refusal
/// needs them, to suggest a Python that can be had).
pub fn available_minors_fn<'a>(env: &'a Env<'a>) -> impl Fn(Minor) -> bool + 'a {
    let cell = std::cell::OnceCell::new();
    move |minor: Minor| cell.get_or_init(|| available_minors(env)).contains(&minor)
}

/// Every stable Python minor managed, found, or in the download catalog.
pub fn available_minors(env: &Env) -> Vec<Minor> {
    let mut minors: Vec<Minor> = available_versions(env)
        .iter()
        .map(support::minor_of)
        .collect();
    minors.dedup();
    minors
}

/// Every stable Python version managed, found, or in the download catalog, oldest first.
pub fn available_versions(env: &Env) -> Vec<pep440_rs::Version> {
    let mut versions: Vec<pep440_rs::Version> = Vec::new();
    if let Ok(installs) = python::managed::list(&env.settings.dirs, &env.platform) {
        versions.extend(installs.iter().map(|i| i.version().clone()));
    }
    if let Ok(found) = python::discovery::find_all(&env.settings.dirs, &env.settings.shim_dirs()) {
        versions.extend(found.into_iter().map(|f| f.version));
    }
    if let Ok(downloads) = python::catalog::load(
        &env.settings.dirs,
        &env.settings.catalog,
        &env.platform,
        true,
        env.reporter,
    ) {
        versions.extend(downloads.into_iter().map(|d| d.version));
    }
    versions.retain(|v| !v.any_prerelease());
    versions.sort();
    versions.dedup();
    versions
}

/// Resolve `requirements` for `interp`, reusing an earlier answer for the very same inputs and
/// starting uv only on a miss (or with `upgrade`).
pub fn resolve_with(
    env: &Env,
    get_uv: &dyn Fn() -> Result<Uv>,
    interp: &Interpreter,
    requirements: &[String],
    index: &IndexSettings,
    upgrade: bool,
) -> Result<Vec<Resolved>> {
    resolve_constrained(env, get_uv, interp, requirements, &[], index, upgrade)
}

/// [`resolve_with`] under `constraints` (`name==version`: versions a package must have if it
/// is installed at all, as pip's `-c`).
pub fn resolve_constrained(
    env: &Env,
    get_uv: &dyn Fn() -> Result<Uv>,
    interp: &Interpreter,
    requirements: &[String],
    constraints: &[String],
    index: &IndexSettings,
    upgrade: bool,
) -> Result<Vec<Resolved>> {
    // `sync --upgrade-package` holds every other locked version through the env's constraints.
    let mut constraints = constraints.to_vec();
    constraints.extend(env.constraints());
    let cache = resolution_cache_path(env, interp, requirements, &constraints, index);
    if !upgrade {
        if let Some(hit) = std::fs::read_to_string(&cache)
            .ok()
            .and_then(|t| serde_json::from_str::<Vec<Resolved>>(&t).ok())
            // A cache entry is only a file on disk: what reaches the lock and uv is checked.
            .filter(|hit| crate::project::lock::validate_packages(hit).is_ok())
        {
            env.reporter.detail(&format!(
                "resolution of {} reused from {}",
                requirements.join(", "),
                cache.display()
            ));
            return Ok(hit);
        }
    }
    if requirements.is_empty() {
        return Ok(Vec::new());
    }
    // uv refuses Pythons before 3.6: pip 20.3.4, run by the interpreter itself, resolves for them.
    let legacy = installer::legacy::needs_pip(interp.version());
    let (resolver, pip_dir, uv) = if legacy {
        let pip = installer::legacy::pip_dir(
            &env.settings.dirs,
            &interp.executable(),
            index,
            env.settings.offline,
            env.reporter,
        )?;
        (pip.clone(), Some(pip), None)
    } else {
        let uv = get_uv()?;
        (uv.exe.clone(), None, Some(uv))
    };
    env.reporter.detail(&format!(
        "resolving {} for Python {} with {}",
        requirements.join(", "),
        interp.version(),
        resolver.display()
    ));
    // A resolution over the network can take seconds: a spinner says something is happening.
    let spinner = env.reporter.download_start(
        &format!("resolving {} requirements", requirements.len()),
        None,
    );
    let resolved = match (&uv, &pip_dir) {
        (Some(uv), _) => installer::resolve_constrained(
            uv,
            &interp.executable(),
            requirements,
            &constraints,
            index,
            env.settings.offline,
            &env.uv_cache(),
        ),
        (None, Some(pip)) => installer::legacy::resolve(
            pip,
            &interp.executable(),
            requirements,
            &constraints,
            index,
            env.settings.offline,
        ),
        (None, None) => unreachable!("one resolver was chosen above"),
    };
    env.reporter.download_done(spinner);
    let resolved = resolved?;
    // A local directory's name, version and dependencies are its files', which can change
    // under the same requirement: never reused.
    if resolved.iter().all(|p| p.directory.is_none()) {
        crate::fs::write_atomic(&cache, serde_json::to_string(&resolved)?.as_bytes())?;
    }
    Ok(resolved)
}

/// Where the resolution of exactly these inputs is cached: interpreter version and variant,
/// index settings, and the requirements in any order.
pub(super) fn resolution_cache_path(
    env: &Env,
    interp: &Interpreter,
    requirements: &[String],
    constraints: &[String],
    index: &IndexSettings,
) -> PathBuf {
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "v2\n{}\n{}\n{}\n",
        interp.version(),
        interp.freethreaded(),
        index.cache_key()
    ));
    let mut sorted = requirements.to_vec();
    sorted.sort();
    for r in &sorted {
        hasher.update(r.as_bytes());
        hasher.update(b"\n");
    }
    // Unconstrained keys stay as they were, so earlier resolutions are still found.
    for c in constraints {
        hasher.update(b"-c ");
        hasher.update(c.as_bytes());
        hasher.update(b"\n");
    }
    let key = hex::encode(&hasher.finalize()[..16]);
    env.settings
        .dirs
        .cache()
        .join("resolutions")
        .join(format!("{key}.json"))
}
