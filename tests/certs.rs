//! Certificates: with the index and the build mirror served over HTTPS by a CA that exists only
//! in a temporary file, everything works once `SSL_CERT_FILE` names that file (pyenvx's own
//! downloads, the uv bootstrap, and the uv pyenvx drives), and without it one error names the
//! certificate problem and the variable to set.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Output;

use common::*;

struct Https {
    ctx: TestContext,
    ca: TestCa,
    mirror: Mirror,
    python_server: TestServer,
    _python_front: TlsFront,
    _index: ServedIndex,
    _index_front: TlsFront,
}

impl Https {
    fn new() -> Self {
        let mut ctx = TestContext::new();
        let ca = TestCa::new(&ctx.root().join("ca"));
        let mirror = Mirror::with_pythons(ctx.root().join("mirror"), &["3.12"]);
        let python_server = TestServer::start(mirror.root());
        let python_front = TlsFront::start(&ca, python_server.addr());
        ctx.with_catalog(mirror.write_catalog(&python_front.url()));
        let index = serve_index();
        let index_front = TlsFront::start(&ca, index.server.addr());
        ctx.env("PYENVX_INDEX_URL", format!("{}/simple/", index_front.url()));
        ctx.env("PYENVX_DB_PORTS", port_range());
        Https {
            ctx,
            ca,
            mirror,
            python_server,
            _python_front: python_front,
            _index: index,
            _index_front: index_front,
        }
    }

    fn project(&self) -> PathBuf {
        let dir = self.ctx.work().join("p");
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn in_project(&self, args: &[&str]) -> Output {
        self.ctx
            .cmd()
            .current_dir(self.project())
            .args(args)
            .output()
            .unwrap()
    }
}

const INIT: &[&str] = &[
    "init",
    "--python",
    "3.12",
    "--django",
    "5.2",
    "--no-startproject",
];

/// The error is one `error:` line (plus its hint), about the certificate, naming the variable.
fn assert_certificate_error(output: &Output) {
    let err = assert_failure(output);
    let errors = err.lines().filter(|l| l.starts_with("error")).count();
    assert_eq!(errors, 1, "{err}");
    assert!(err.contains("certificate"), "{err}");
    assert!(err.contains("SSL_CERT_FILE"), "{err}");
}

#[test]
fn a_ca_named_by_ssl_cert_file_is_trusted_by_every_client() {
    let mut https = Https::new();
    let pem = https.ca.pem_file.clone();
    https.ctx.env("SSL_CERT_FILE", &pem);

    assert_success(&https.ctx.run(&["python", "install", "3.12"]));
    // No PYENVX_UV: uv itself comes from the HTTPS index.
    assert_success(&https.in_project(INIT));
    assert!(https.ctx.pyenvx_home().join("tools/uv/bin/uv").is_file());
    assert_success(&https.in_project(&["add", "dj-database-url"]));

    // A sync with nothing cached or stored fetches every file again over HTTPS.
    for gone in [
        https.project().join(".venv"),
        https.ctx.pyenvx_home().join("store"),
        https.ctx.cache_dir().join("uv"),
    ] {
        fs::remove_dir_all(&gone).unwrap_or_else(|e| panic!("{}: {e}", gone.display()));
    }
    assert_success(&https.in_project(&["sync"]));
    let import = https.in_project(&["run", "--", "python", "-c", "import dj_database_url"]);
    assert_success(&import);
}

#[test]
fn without_the_ca_one_error_names_the_certificate_and_the_variable() {
    let mut https = Https::new();

    // pyenvx's own client.
    assert_certificate_error(&https.ctx.run(&["python", "install", "3.12"]));

    // The uv bootstrap (through pyenvx's client), with the interpreter from a plain mirror.
    let plain_catalog = https.mirror.write_catalog(&https.python_server.url());
    https.ctx.with_catalog(&plain_catalog);
    assert_success(&https.ctx.run(&["python", "install", "3.12"]));
    assert_certificate_error(&https.in_project(INIT));

    // The uv pyenvx drives.
    https.ctx.with_shared_uv();
    assert_certificate_error(&https.in_project(INIT));
}
