//! A loopback HTTPS front for a [`TestServer`]: TLS with a certificate signed by a throwaway CA
//! that exists only in a temporary PEM file (what `SSL_CERT_FILE` names in the certificate tests).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA (its PEM written to a file) and a server configuration for `127.0.0.1` / `localhost`
/// signed by it.
pub struct TestCa {
    pub pem_file: PathBuf,
    config: Arc<rustls::ServerConfig>,
}

impl TestCa {
    /// A fresh CA whose certificate is written to `dir/ca.pem`.
    pub fn new(dir: &Path) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "pyenvx test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();

        let mut leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();

        std::fs::create_dir_all(dir).unwrap();
        let pem_file = dir.join("ca.pem");
        std::fs::write(&pem_file, ca.pem()).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(leaf.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )
            .unwrap();
        TestCa {
            pem_file,
            config: Arc::new(config),
        }
    }
}

/// `https://127.0.0.1:PORT` in front of a plain HTTP backend; stops when dropped. Each
/// connection carries one request (the backend answers `Connection: close`).
pub struct TlsFront {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
}

impl TlsFront {
    pub fn start(ca: &TestCa, backend: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback TLS front");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let config = Arc::clone(&ca.config);
        let accept_stop = Arc::clone(&stop);
        let accept_thread = thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let config = Arc::clone(&config);
                thread::spawn(move || relay(stream, config, backend));
            }
        });
        TlsFront {
            addr,
            stop,
            accept_thread: Some(accept_thread),
        }
    }

    /// `https://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
    }
}

/// Decrypt one request, pass it to the backend, encrypt its whole answer back.
fn relay(tcp: TcpStream, config: Arc<rustls::ServerConfig>, backend: SocketAddr) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        // A client that rejects the certificate ends the handshake here.
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let Ok(mut upstream) = TcpStream::connect(backend) else {
        return;
    };
    if upstream.write_all(&head).is_err() {
        return;
    }
    let _ = upstream.shutdown(Shutdown::Write);
    let _ = std::io::copy(&mut upstream, &mut tls);
    tls.conn.send_close_notify();
    let _ = tls.flush();
}
