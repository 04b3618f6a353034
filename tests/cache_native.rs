//! The native cache backend against this machine's real `redis-server` (Debian's package;
//! `.ci/run` installs it), driven through the real `redis` client from the wheelhouse.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::*;

/// Cache projects; every project made gets `pyenvx down` when it is dropped.
struct Cache(DbProjects);

impl Cache {
    fn new() -> Self {
        let found = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
            .iter()
            .any(|p| Path::new(p).is_file())
            || std::process::Command::new("redis-server")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "these tests need redis-server on this machine (`apt-get install redis-server`; .ci/run installs it)"
        );
        Self(DbProjects::new(|_| {}))
    }

    /// A Django-free project with the `redis` client and `[services.cache]`.
    fn project(&self, name: &str) -> PathBuf {
        let dir = self.bare(
            name,
            "[services.cache]\nengine = \"redis\"\nbackend = \"native\"\n",
        );
        let toml = fs::read_to_string(dir.join("pyenvx.toml")).unwrap();
        fs::write(
            dir.join("pyenvx.toml"),
            toml.replacen(
                "python = \"3.12\"\n",
                "python = \"3.12\"\ndependencies = [\"redis\"]\n",
                1,
            ),
        )
        .unwrap();
        dir
    }

    /// Python in the sandbox, with what `pyenvx run` sets; returns its stdout, trimmed.
    fn python(&self, dir: &Path, code: &str) -> String {
        let out = self.out(dir, &["run", "--", "python", "-c", code]);
        stdout_of(&out)
    }

    fn status(&self, dir: &Path) -> serde_json::Value {
        serde_json::from_str(&self.ok(dir, &["redis", "status", "--json"])).unwrap()
    }
}

fn stdout_of(out: &std::process::Output) -> String {
    assert_success(out);
    stdout(out).trim().to_string()
}

impl std::ops::Deref for Cache {
    type Target = DbProjects;
    fn deref(&self) -> &DbProjects {
        &self.0
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        self.0.down_all(&["down"]);
    }
}

const SET: &str = "import os, redis; r = redis.from_url(os.environ['REDIS_URL']); r.set('k', 'v'); r.rpush('l', 1, 2, 3); print('ok')";
const GET: &str = "import os, redis; r = redis.from_url(os.environ['REDIS_URL']); print(r.get('k').decode(), r.llen('l'))";

#[test]
fn a_project_cache_on_native_redis() {
    let cache = Cache::new();
    let dir = cache.project("shop");
    let started = Instant::now();
    let up = cache.ok(&dir, &["redis", "up"]);
    println!("cold cache up: {:?}", started.elapsed());
    assert!(
        up.contains("Redis 7") && up.contains("up on 127.0.0.1:"),
        "{up}"
    );

    // REDIS_URL: the password and port pyenvx keeps, and a real client writes through it.
    let url = cache.ok(&dir, &["redis", "url"]).trim().to_string();
    let password = fs::read_to_string(dir.join(".pyenvx/services/cache/password")).unwrap();
    let port = port_of(&url);
    assert_eq!(
        url,
        format!("redis://:{}@127.0.0.1:{port}/0", password.trim())
    );
    assert_eq!(cache.python(&dir, SET), "ok");
    assert_eq!(
        cache.python(&dir, "import os; print(os.environ['REDIS_URL'])"),
        url
    );

    // Secrets are private, and the password is on no command line.
    for file in ["password", "redis.conf"] {
        let path = dir.join(".pyenvx/services/cache").join(file);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    let status = cache.status(&dir);
    assert_eq!(status["running"], true);
    assert_eq!(status["accepting_connections"], true);
    let pid = status["pid"].as_u64().unwrap();
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains(password.trim()),
        "the password is on redis-server's command line"
    );

    // Loopback only: one listener, on 127.0.0.1.
    assert_eq!(listeners(port), vec!["0100007F".to_string()]);

    // A wrong password is refused: the server really checks it.
    let wrong = url.replacen(password.trim(), "wrong", 1);
    let out = cache.out(
        &dir,
        &[
            "run",
            "--",
            "python",
            "-c",
            &format!("import redis; redis.from_url('{wrong}').ping()"),
        ],
    );
    let err = assert_failure(&out);
    assert!(
        err.contains("AuthenticationError") || err.contains("WRONGPASS"),
        "{err}"
    );

    // down / up keeps the data.
    let down = cache.ok(&dir, &["redis", "down"]);
    assert!(down.contains("Stopped"), "{down}");
    assert_eq!(cache.status(&dir)["running"], false);
    assert_eq!(listeners(port), Vec::<String>::new());
    let started = Instant::now();
    cache.ok(&dir, &["redis", "up"]);
    println!("warm cache up: {:?}", started.elapsed());
    assert_eq!(cache.python(&dir, GET), "v 3");

    // kill -9 right after a write: the next `up` has it.
    cache.python(
        &dir,
        "import os, redis; redis.from_url(os.environ['REDIS_URL']).set('after', 'kill')",
    );
    let pid = cache.status(&dir)["pid"].as_u64().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap()
        .success());
    let status = cache.status(&dir);
    assert_eq!(status["running"], false, "{status}");
    let up = cache.ok(&dir, &["redis", "up"]);
    assert!(!up.contains("already running"), "{up}");
    assert_ne!(cache.status(&dir)["pid"].as_u64().unwrap().to_string(), pid);
    assert_eq!(
        cache.python(
            &dir,
            "import os, redis; r = redis.from_url(os.environ['REDIS_URL']); print(r.get('after').decode(), r.get('k').decode())"
        ),
        "kill v"
    );

    // A second project: its own port and password, and its own data.
    let other = cache.project("blog");
    cache.ok(&other, &["up"]);
    let other_url = cache.ok(&other, &["redis", "url"]).trim().to_string();
    assert_ne!(port_of(&other_url), port);
    assert_ne!(other_url, url);
    assert_eq!(
        cache.python(
            &other,
            "import os, redis; print(redis.from_url(os.environ['REDIS_URL']).get('k'))"
        ),
        "None"
    );

    // `pyenvx status` shows the cache; `pyenvx down` stops it.
    let status = cache.ok(&dir, &["status"]);
    assert!(
        status.contains(&format!("Redis (native) on 127.0.0.1:{port}, running")),
        "{status}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&cache.ok(&dir, &["status", "--json"])).unwrap();
    let service = &json["services"][0];
    assert_eq!(service["name"], "cache");
    assert_eq!(service["state"]["running"], true);
    assert_eq!(service["url"], url.as_str());
    let down = cache.ok(&dir, &["down"]);
    assert!(down.contains("Stopped the cache"), "{down}");
    assert_eq!(cache.status(&dir)["running"], false);
}

#[test]
fn init_cache_redis_and_errors() {
    let cache = Cache::new();
    cache.track(cache.dir("cafe"));
    // init --cache redis: the table, the client, and Django's CACHES on REDIS_URL.
    let out = cache.ok(
        &cache.ctx.work(),
        &[
            "init", "cafe", "--python", "3.12", "--django", "5.2", "--cache", "redis",
        ],
    );
    let dir = cache.dir("cafe");
    assert!(out.contains("pyenvx redis up"), "{out}");
    let toml = fs::read_to_string(dir.join("pyenvx.toml")).unwrap();
    assert!(
        toml.contains("[services.cache]") && toml.contains("engine = \"redis\""),
        "{toml}"
    );
    assert!(toml.contains("\"redis\""), "{toml}");
    let lock = fs::read_to_string(dir.join("pyenvx.lock")).unwrap();
    assert!(lock.contains("name = \"redis\""), "{lock}");
    cache.ok(&dir, &["redis", "up"]);
    let seen = cache.django_shell(
        &dir,
        "from django.core.cache import cache; cache.set('greeting', 'hi'); print('=' + type(cache._cache).__name__, cache.get('greeting'))",
    );
    assert_eq!(seen, "RedisCacheClient hi");
    // Django wrote into the project's Redis: its key is there, under Django's prefix.
    assert_eq!(
        cache.python(
            &dir,
            "import os, redis; print(redis.from_url(os.environ['REDIS_URL']).exists(':1:greeting'))"
        ),
        "1"
    );
    cache.ok(&dir, &["redis", "down"]);

    // export docker: first without `[services.cache]`, then with it. The settings read
    // REDIS_URL, so the image gets a `cache` service either way (issue 20: every service the
    // settings use is exported); `.env.docker` keeps its lines and gains the cache's, and the
    // compose file gets a `cache` service web waits for.
    let table = "\n[services.cache]\nengine = \"redis\"\nbackend = \"native\"\n";
    assert!(toml.contains(table), "{toml}");
    fs::write(dir.join("pyenvx.toml"), toml.replacen(table, "", 1)).unwrap();
    cache.ok(&dir, &["export", "docker"]);
    let compose = fs::read_to_string(dir.join("docker-compose.yml")).unwrap();
    assert!(compose.contains("  cache:\n"), "{compose}");
    fs::write(dir.join("pyenvx.toml"), &toml).unwrap();
    fs::write(dir.join(".env.docker"), "KEEP=me").unwrap();
    cache.ok(&dir, &["export", "docker", "--force"]);
    let compose = fs::read_to_string(dir.join("docker-compose.yml")).unwrap();
    for needle in [
        "  cache:\n",
        "image: \"redis:7\"",
        "      cache:\n        condition: service_healthy\n",
        "redis-cli ping | grep -q PONG",
        "env_file: .env.docker",
    ] {
        assert!(compose.contains(needle), "{needle}: {compose}");
    }
    let env_docker = fs::read_to_string(dir.join(".env.docker")).unwrap();
    assert!(env_docker.starts_with("KEEP=me\n"), "{env_docker}");
    let password = env_docker
        .lines()
        .find_map(|l| l.strip_prefix("REDIS_PASSWORD="))
        .unwrap_or_else(|| panic!("{env_docker}"));
    assert!(
        env_docker.contains(&format!("REDIS_URL=redis://:{password}@cache:6379/0\n")),
        "{env_docker}"
    );
    assert!(!compose.contains(password));
    let mode = fs::metadata(dir.join(".env.docker"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Exported again, the password stays.
    cache.ok(&dir, &["export", "docker", "--force"]);
    assert_eq!(
        fs::read_to_string(dir.join(".env.docker")).unwrap(),
        env_docker
    );

    // A Redis major the machine lacks is refused with the one it has.
    let old = cache.bare("old", "[services.cache]\nversion = \"5\"\n");
    let err = cache.fails(&old, &["redis", "up"]);
    assert!(
        err.contains("Redis 5") && err.contains("version = \"7\""),
        "{err}"
    );
    // `pyenvx up` / `down` without services say so, and succeed.
    let none = cache.bare("plain", "");
    for cmd in ["up", "down"] {
        let out = cache.ok(&none, &[cmd]);
        assert!(out.contains("declares no services"), "{cmd}: {out}");
    }
    let err = cache.fails(&none, &["redis", "up"]);
    assert!(
        err.contains("declares no cache") && err.contains("[services.cache]"),
        "{err}"
    );
    // A bad key names file, line and key.
    let typo = cache.bare("typo", "[services.cache]\nengine = \"memcached\"\n");
    let err = cache.fails(&typo, &["redis", "up"]);
    assert!(
        err.contains("pyenvx.toml:6:") && err.contains("services.cache.engine"),
        "{err}"
    );
}

#[test]
fn up_and_down_drive_every_service() {
    require_pg15();
    let cache = Cache(DbProjects::new(|ctx| open_for_postgres(ctx)));
    let dir = cache.bare(
        "both",
        "[services.db]\nversion = \"15\"\n\n[services.cache]\nengine = \"redis\"\n",
    );
    let up = cache.ok(&dir, &["up"]);
    assert!(
        up.contains("PostgreSQL 15") && up.contains("Redis 7"),
        "{up}"
    );
    let db = cache.url(&dir);
    let redis_url = cache.ok(&dir, &["redis", "url"]).trim().to_string();
    assert_ne!(port_of(&db), port_of(&redis_url));

    // status lists both, running; the shims' variables file carries both URLs.
    let json: serde_json::Value =
        serde_json::from_str(&cache.ok(&dir, &["status", "--json"])).unwrap();
    let services = json["services"].as_array().unwrap();
    let by_name = |name: &str| {
        services
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{json}"))
    };
    assert_eq!(by_name("db")["state"]["accepting_connections"], true);
    assert_eq!(by_name("cache")["state"]["accepting_connections"], true);
    assert_eq!(by_name("cache")["url"], redis_url.as_str());
    let shim_env = fs::read_to_string(dir.join(".pyenvx/services/env")).unwrap();
    assert!(
        shim_env.contains(&format!("DATABASE_URL={db}\n"))
            && shim_env.contains(&format!("REDIS_URL={redis_url}\n")),
        "{shim_env}"
    );

    // Again: each says it already runs.
    let again = cache.ok(&dir, &["up"]);
    assert_eq!(again.matches("already running").count(), 2, "{again}");

    let down = cache.ok(&dir, &["down"]);
    assert!(
        down.contains("Stopped the cache") && down.contains("Stopped the database"),
        "{down}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&cache.ok(&dir, &["status", "--json"])).unwrap();
    for service in json["services"].as_array().unwrap() {
        assert_eq!(service["state"]["running"], false, "{json}");
    }
}
