//! Certificates: every client pyenvx starts trusts what pyenvx's own downloads trust.
//!
//! pyenvx's HTTP client trusts the system store (replaced by `SSL_CERT_FILE` / `SSL_CERT_DIR`
//! when set, as OpenSSL does) plus the bundled web roots. uv, left alone, trusts only its bundled
//! roots and `SSL_CERT_FILE`, so behind TLS inspection (a company CA in the system store) it fails
//! where pyenvx succeeds: it is told to load the system store too. pip (22.x and older) trusts its
//! bundled roots unless given `--cert`; newer pip uses the system store through `truststore`,
//! which honours `SSL_CERT_FILE` like OpenSSL.

use std::process::Command;

use crate::user_error;

/// The variable a user sets when a private CA signs the index's certificate.
pub(crate) const CERT_HINT: &str = "if a company proxy or a private index uses its own \
     certificate authority, add it to the system store or set SSL_CERT_FILE to a PEM file \
     holding it (SSL_CERT_DIR for a folder of them)";

/// The first uv release with `UV_SYSTEM_CERTS`; older ones call it `UV_NATIVE_TLS` (deprecated,
/// with a warning, since).
const SYSTEM_CERTS_SINCE: (u64, u64, u64) = (0, 11, 0);

/// Have uv load the system store (uv still reads `SSL_CERT_FILE` itself), unless the user chose.
pub(crate) fn for_uv(cmd: &mut Command, version: Option<(u64, u64, u64)>) {
    if let Some(name) = uv_variable(version, |v| std::env::var_os(v).is_some()) {
        cmd.env(name, "1");
    }
}

/// The variable that makes this uv load the system store, unless `is_set` says the user set one.
fn uv_variable(
    version: Option<(u64, u64, u64)>,
    is_set: impl Fn(&str) -> bool,
) -> Option<&'static str> {
    if ["UV_SYSTEM_CERTS", "UV_NATIVE_TLS"]
        .iter()
        .any(|v| is_set(v))
    {
        return None;
    }
    Some(if version.is_some_and(|v| v >= SYSTEM_CERTS_SINCE) {
        "UV_SYSTEM_CERTS"
    } else {
        "UV_NATIVE_TLS"
    })
}

/// Point pip at `SSL_CERT_FILE` when set (and the user set no `PIP_CERT`): pip before truststore
/// would otherwise ignore it.
pub(crate) fn for_pip(cmd: &mut Command) {
    if std::env::var_os("PIP_CERT").is_some() {
        return;
    }
    if let Some(file) = std::env::var_os("SSL_CERT_FILE").filter(|f| !f.is_empty()) {
        cmd.env("PIP_CERT", file);
    }
}

/// Whether `text` (a client's stderr, or an error chain) reports a certificate that could not be
/// verified, and if so the one error to show.
pub(crate) fn classify(text: &str) -> Option<anyhow::Error> {
    const MARKERS: [&str; 6] = [
        "invalid peer certificate",
        "UnknownIssuer",
        "CERTIFICATE_VERIFY_FAILED",
        "certificate verify failed",
        "unable to get local issuer certificate",
        "self-signed certificate",
    ];
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| MARKERS.iter().any(|m| l.contains(m)))?;
    let detail = line
        .trim_start_matches("error:")
        .trim_start_matches("cause:")
        .trim_start_matches("Caused by:")
        .trim();
    Some(user_error!(
        hint = CERT_HINT,
        "cannot verify the package index's TLS certificate ({detail})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_failures_name_the_variable() {
        let uv = "error: Request failed after 3 retries\n  Caused by: Failed to fetch: \
                  `https://127.0.0.1:1/simple/django/`\n  Caused by: error sending request\n  \
                  Caused by: client error (Connect)\n  Caused by: invalid peer certificate: \
                  UnknownIssuer";
        let err = classify(uv).unwrap();
        assert!(err.to_string().contains("UnknownIssuer"), "{err:#}");
        assert_eq!(crate::error::find_hint(&err), Some(CERT_HINT));
        assert!(CERT_HINT.contains("SSL_CERT_FILE"));
        let pip = "WARNING: Retrying … SSLError(SSLCertVerificationError(1, '[SSL: \
                   CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local \
                   issuer certificate (_ssl.c:1006)'))";
        assert!(classify(pip).is_some());
        assert!(classify("error: No solution found").is_none());
    }

    #[test]
    fn uv_is_told_to_load_the_system_store() {
        let unset = |_: &str| false;
        assert_eq!(
            uv_variable(Some((0, 13, 9)), unset),
            Some("UV_SYSTEM_CERTS")
        );
        assert_eq!(uv_variable(Some((0, 8, 0)), unset), Some("UV_NATIVE_TLS"));
        assert_eq!(uv_variable(None, unset), Some("UV_NATIVE_TLS"));
        // The user's own choice, either way, stands.
        assert_eq!(
            uv_variable(Some((0, 13, 9)), |v| v == "UV_NATIVE_TLS"),
            None
        );
        assert_eq!(
            uv_variable(Some((0, 8, 0)), |v| v == "UV_SYSTEM_CERTS"),
            None
        );
    }
}
