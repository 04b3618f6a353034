//! The container cache backend under this machine's Docker, with a stand-in for `redis:7`
//! imported from this machine's own redis-server (no registry here): `sh`, `redis-server` and
//! the libraries they link, which is all the backend asks of the image.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const LABEL: &str = "pyenvx-test=redisimage";

/// Files for the image: the programs, their links' targets and every library `ldd` names, each
/// with its directories resolved (the image gets the host's merged-/usr links instead).
fn rootfs_files() -> Vec<PathBuf> {
    fn add(files: &mut BTreeSet<PathBuf>, p: &Path) {
        let Some(parent) = p.parent().and_then(|d| fs::canonicalize(d).ok()) else {
            return;
        };
        let p = parent.join(p.file_name().unwrap());
        let Ok(meta) = fs::symlink_metadata(&p) else {
            return;
        };
        if files.insert(p.clone()) && meta.file_type().is_symlink() {
            if let Ok(target) = fs::canonicalize(&p) {
                add(files, &target);
            }
        }
    }
    let mut files = BTreeSet::new();
    for program in ["/usr/bin/redis-server", "/bin/sh"] {
        add(&mut files, Path::new(program));
        let out = Command::new("ldd").arg(program).output().unwrap();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let path = line
                .split("=>")
                .last()
                .and_then(|rest| rest.split_whitespace().next())
                .filter(|p| p.starts_with('/'));
            if let Some(path) = path {
                add(&mut files, Path::new(path));
            }
        }
    }
    files.into_iter().collect()
}

/// The stand-in image, imported once per test process; its tag carries the process id.
fn redis_image(dir: &Path) -> String {
    let tar_path = dir.join("redis-rootfs.tar");
    let mut tar = tar::Builder::new(fs::File::create(&tar_path).unwrap());
    tar.follow_symlinks(false);
    let mut done: BTreeSet<PathBuf> = BTreeSet::new();
    let add_dir = |tar: &mut tar::Builder<fs::File>, path: &Path, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        h.set_mtime(0);
        tar.append_data(&mut h, path.strip_prefix("/").unwrap(), std::io::empty())
            .unwrap();
    };
    for link in ["/bin", "/sbin", "/lib", "/lib64"] {
        if let Ok(target) = fs::read_link(link) {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_mode(0o777);
            h.set_size(0);
            h.set_mtime(0);
            tar.append_link(&mut h, &link[1..], &target).unwrap();
            done.insert(PathBuf::from(link));
        }
    }
    for f in rootfs_files() {
        for parent in f.ancestors().skip(1).collect::<Vec<_>>().into_iter().rev() {
            if parent != Path::new("/") && done.insert(parent.to_path_buf()) {
                add_dir(&mut tar, parent, 0o755);
            }
        }
        tar.append_path_with_name(&f, f.strip_prefix("/").unwrap())
            .unwrap();
    }
    for (path, mode) in [("/tmp", 0o1777), ("/data", 0o755), ("/etc", 0o755)] {
        if done.insert(PathBuf::from(path)) {
            add_dir(&mut tar, Path::new(path), mode);
        }
    }
    tar.into_inner().unwrap().sync_all().unwrap();
    let tag = format!("pyenvx-test-redis:7-{}", std::process::id());
    must(
        Command::new("docker")
            .arg("import")
            .args(["--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin"])
            .args(["--change", &format!("LABEL {LABEL}")])
            .arg(&tar_path)
            .arg(&tag),
    );
    tag
}

struct Setup {
    projects: DbProjects,
    image: String,
    names: std::cell::RefCell<Vec<String>>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        for dir in self.projects.projects() {
            let _ = self.projects.out(&dir, &["redis", "down"]);
        }
        for name in self.names.borrow().iter() {
            let _ = Command::new("docker").args(["rm", "-f", name]).output();
            let _ = Command::new("docker")
                .args(["volume", "rm", "-f", name])
                .output();
        }
        let _ = Command::new("docker")
            .args(["rmi", "-f", &self.image])
            .output();
    }
}

fn status(p: &DbProjects, dir: &Path) -> serde_json::Value {
    serde_json::from_str(&p.ok(dir, &["redis", "status", "--json"])).unwrap()
}

#[test]
fn a_project_cache_in_a_container() {
    require_docker();
    let projects = DbProjects::new(|_| {});
    let image = redis_image(projects.ctx.root());
    let setup = Setup {
        projects,
        image: image.clone(),
        names: Default::default(),
    };
    let p = &setup.projects;
    let dir = p.bare(
        "shop",
        &format!("[services.cache]\nbackend = \"container\"\nimage = \"{image}\"\n"),
    );
    let up = p.ok(&dir, &["redis", "up"]);
    assert!(
        up.contains("Redis 7") && up.contains("up on 127.0.0.1:"),
        "{up}"
    );
    let st = status(p, &dir);
    let name = st["container"].as_str().unwrap().to_string();
    assert!(name.ends_with("-cache"), "{st}");
    setup.names.borrow_mut().push(name.clone());
    assert_eq!(st["backend"], "container");
    assert_eq!(st["accepting_connections"], true);
    let url = st["url"].as_str().unwrap().to_string();
    let port = port_of(&url);
    let password = fs::read_to_string(dir.join(".pyenvx/services/cache/password")).unwrap();

    // Published on 127.0.0.1 only; the password on no command line, in the container or here.
    let ports = must(Command::new("docker").args(["port", &name]));
    assert_eq!(
        String::from_utf8_lossy(&ports.stdout).trim(),
        format!("6379/tcp -> 127.0.0.1:{port}")
    );
    let top = must(Command::new("docker").args(["top", &name, "-eo", "pid,args"]));
    let top = String::from_utf8_lossy(&top.stdout);
    assert!(top.contains("redis-server"), "{top}");
    assert!(!top.contains(password.trim()), "{top}");

    // A write through the published port survives down / up and a kill -9 of the server.
    let cli = |args: &[&str]| -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .env("REDISCLI_AUTH", password.trim())
            .output()
            .unwrap();
        assert_success(&out).trim().to_string()
    };
    assert_eq!(cli(&["set", "k", "v"]), "OK");
    let down = p.ok(&dir, &["redis", "down"]);
    assert!(down.contains("Stopped"), "{down}");
    assert_eq!(status(p, &dir)["running"], false);
    let up = p.ok(&dir, &["redis", "up"]);
    assert!(!up.contains("already"), "{up}");
    assert_eq!(cli(&["get", "k"]), "v");
    assert_eq!(cli(&["set", "after", "kill"]), "OK");
    must(Command::new("docker").args(["kill", "--signal", "KILL", &name]));
    p.ok(&dir, &["redis", "up"]);
    assert_eq!(cli(&["mget", "k", "after"]), "v\nkill");
    let again = p.ok(&dir, &["redis", "up"]);
    assert!(again.contains("already running"), "{again}");
    p.ok(&dir, &["down"]);
    assert_eq!(status(p, &dir)["running"], false);

    // An image the engine does not have (and cannot pull here) is an error naming it.
    let missing = p.bare(
        "missing",
        "[services.cache]\nbackend = \"container\"\nimage = \"pyenvx-test-no-such-redis:0\"\n",
    );
    let err = p.fails(&missing, &["redis", "up"]);
    assert!(
        err.contains("pyenvx-test-no-such-redis:0") && err.contains("backend = \"native\""),
        "{err}"
    );
}
