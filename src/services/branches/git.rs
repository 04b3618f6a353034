//! Following git: the branch `.git/HEAD` names, the known branch a new one was made from
//! (by merge-base), and switching the database to git's branch, made first when it is new.

use super::*;

/// The branch git has checked out for `root` (the nearest `.git` at or above it): one read of
/// `HEAD` (a worktree's `.git` file is followed to its own). `None` outside git or with a
/// detached HEAD.
pub fn git_head(root: &Path) -> Option<String> {
    let mut at = Some(root);
    while let Some(dir) = at {
        let dot_git = dir.join(".git");
        match std::fs::read_to_string(dot_git.join("HEAD")) {
            Ok(head) => return branch_of(&head),
            // A worktree or a submodule: `.git` is a file naming the git directory.
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                let text = std::fs::read_to_string(&dot_git).ok()?;
                let git_dir = dir.join(text.strip_prefix("gitdir:")?.trim());
                return branch_of(&std::fs::read_to_string(git_dir.join("HEAD")).ok()?);
            }
            Err(_) => at = dir.parent(),
        }
    }
    None
}

pub(super) fn branch_of(head: &str) -> Option<String> {
    head.trim()
        .strip_prefix("ref: refs/heads/")
        .map(str::to_string)
}

/// The known branch `head` was made from, by git: the one whose merge-base with `head` has the
/// fewest commits since (the branch in use wins a tie), else the original branch.
pub fn base_branch(root: &Path, record: &Record, head: &str) -> String {
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let head_ref = format!("refs/heads/{head}");
    let mut best: Option<(u64, bool, String)> = None;
    for name in record.branches.keys() {
        let Some(base) = git(&["merge-base", &head_ref, &format!("refs/heads/{name}")]) else {
            continue;
        };
        let Some(ahead) = git(&["rev-list", "--count", &format!("{base}..{head_ref}")])
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let key = (ahead, *name != record.current, name.clone());
        if best.as_ref().is_none_or(|b| key < *b) {
            best = Some(key);
        }
    }
    best.map_or_else(|| record.original(), |(_, _, name)| name)
}

/// What following git did.
#[derive(Debug, Clone, Serialize)]
pub struct FollowReport {
    /// Made for the checked-out branch first: from which branch (`None`: it was known).
    pub created_from: Option<String>,
    pub switch: SwitchReport,
}

/// The checked-out git branch when the database is on another one: one read of `.git/HEAD`
/// and of the record. Without a record, `None`: the caller records the branch the database
/// holds first ([`record_initial`]), before git moves.
pub fn wanted(project: &Project) -> Result<Option<String>> {
    let Some(head) = git_head(&project.root) else {
        return Ok(None);
    };
    let Some(record) = load(project)? else {
        return Ok(None);
    };
    Ok((record.current != head).then_some(head))
}

/// Write the record of the branch there is before any command (git's checked-out branch, else
/// `main`) unless there is one; the caller holds the database lock.
pub fn record_initial(project: &Project) -> Result<()> {
    if load(project)?.is_none() {
        save(project, &load_or_initial(project)?)?;
    }
    Ok(())
}

/// Switch to `head` (git's branch), making its database first when it is new (the caller holds
/// the lock and checked [`wanted`]).
pub fn follow(
    project: &Project,
    identity: &Identity,
    major: u32,
    head: &str,
) -> Result<FollowReport> {
    let mut admin = session(identity)?;
    repair(project, &mut admin)?;
    drop(admin);
    let record = load_or_initial(project)?;
    let mut created_from = None;
    if !record.branches.contains_key(head) {
        let base = base_branch(&project.root, &record, head);
        new(
            project,
            identity,
            major,
            head,
            &Source::Branch(base.clone()),
        )?;
        created_from = Some(base);
    }
    let switch = switch(project, identity, head)?;
    Ok(FollowReport {
        created_from,
        switch,
    })
}
