//! A loopback HTTP/1.1 file server with per-path fault injection and request counting.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A misbehaviour the server applies to requests for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer 404 even though the file exists.
    NotFound,
    /// Send the full `Content-Length`, then only this many body bytes, then close.
    Truncate(usize),
    /// Send the full body with some bytes in the middle flipped.
    Corrupt,
    /// Send the body at this rate (for killing a client mid-download).
    Throttle {
        /// Body bytes per second.
        bytes_per_sec: u64,
    },
    /// Send the head, then one body byte per interval: never idle for long, never done.
    Trickle(Duration),
    /// Answer with this status and a short text body.
    Status(u16),
    /// Read the request, then say nothing until the server stops.
    Stall,
    /// Send the head and this many body bytes, then say nothing until the server stops.
    StallAfter(usize),
}

/// Keep a connection open and silent until the server stops (or a minute passed).
fn stall(shared: &Shared) {
    for _ in 0..600 {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

#[derive(Default)]
struct State {
    /// Decoded path -> (fault, remaining requests it applies to; None = forever).
    faults: HashMap<String, (Fault, Option<usize>)>,
    hits: HashMap<String, usize>,
    log: Vec<String>,
}

struct Shared {
    root: PathBuf,
    state: Mutex<State>,
    stop: AtomicBool,
}

/// An HTTP server on `127.0.0.1:<random port>` serving `root`; stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts serving the files under `root` (each connection on its own thread).
    pub fn start(root: impl Into<PathBuf>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback test server");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            root: root.into(),
            state: Mutex::default(),
            stop: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name("test-server-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let conn_shared = Arc::clone(&accept_shared);
                    let _ = thread::Builder::new()
                        .name("test-server-conn".into())
                        .spawn(move || handle(stream, &conn_shared));
                }
            })
            .unwrap();
        TestServer {
            addr,
            shared,
            accept_thread: Some(accept_thread),
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address, for raw-TCP tests.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Applies `fault` to every later request for `path` (encoded or decoded, e.g. `%2B` or `+`).
    pub fn fault(&self, path: &str, fault: Fault) {
        self.lock()
            .faults
            .insert(percent_decode(path), (fault, None));
    }

    /// Applies `fault` to the next `times` requests for `path`, then serves normally (retry tests).
    pub fn fault_times(&self, path: &str, fault: Fault, times: usize) {
        self.lock()
            .faults
            .insert(percent_decode(path), (fault, Some(times)));
    }

    /// Removes any fault on `path`.
    pub fn clear_fault(&self, path: &str) {
        self.lock().faults.remove(&percent_decode(path));
    }

    /// How many requests (any method, any outcome) arrived for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.lock()
            .hits
            .get(&percent_decode(path))
            .copied()
            .unwrap_or(0)
    }

    /// How many requests arrived in total.
    pub fn total_hits(&self) -> usize {
        self.lock().hits.values().sum()
    }

    /// Every request line so far (`GET /path HTTP/1.1`), in arrival order.
    pub fn requests(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so the thread sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
    }
}

/// Decodes `%XX` escapes (invalid escapes are kept literally).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn handle(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(60)));
    let Some(head) = read_head(&mut stream) else {
        return;
    };
    let request_line = head.lines().next().unwrap_or("").to_string();
    let mut words = request_line.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let target = words.next().unwrap_or("/");
    let path = percent_decode(target.split(['?', '#']).next().unwrap_or("/"));

    let fault = {
        let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.log.push(request_line.clone());
        *state.hits.entry(path.clone()).or_default() += 1;
        let fault = state.faults.get_mut(&path).map(|(fault, remaining)| {
            if let Some(n) = remaining {
                *n -= 1;
            }
            (fault.clone(), *remaining == Some(0))
        });
        match fault {
            Some((fault, exhausted)) => {
                if exhausted {
                    state.faults.remove(&path);
                }
                Some(fault)
            }
            None => None,
        }
    };

    if method != "GET" && method != "HEAD" {
        return respond_status(&mut stream, 405);
    }
    match fault {
        Some(Fault::NotFound) => return respond_status(&mut stream, 404),
        Some(Fault::Status(code)) => return respond_status(&mut stream, code),
        Some(Fault::Stall) => return stall(shared),
        _ => {}
    }
    let Some(file) = resolve(&shared.root, &path) else {
        return respond_status(&mut stream, 404);
    };
    let Ok(mut body) = fs::read(&file) else {
        return respond_status(&mut stream, 404);
    };

    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: {}\r\nConnection: close\r\n\r\n",
        body.len(),
        content_type(&file)
    );
    if stream.write_all(head.as_bytes()).is_err() || method == "HEAD" {
        return finish(stream);
    }
    match fault {
        Some(Fault::Truncate(n)) => body.truncate(n),
        Some(Fault::StallAfter(n)) => {
            let _ = stream.write_all(&body[..n.min(body.len())]);
            let _ = stream.flush();
            return stall(shared);
        }
        Some(Fault::Corrupt) => {
            let start = body.len() / 2;
            let end = (start + 64).min(body.len());
            body[start..end].iter_mut().for_each(|b| *b ^= 0xff);
        }
        Some(Fault::Trickle(every)) => {
            for byte in body.chunks(1) {
                if shared.stop.load(Ordering::SeqCst) || stream.write_all(byte).is_err() {
                    return;
                }
                let _ = stream.flush();
                thread::sleep(every);
            }
            return finish(stream);
        }
        Some(Fault::Throttle { bytes_per_sec }) => {
            // Ten chunks a second; give up as soon as the server stops or the client leaves.
            let chunk = (bytes_per_sec / 10).max(1) as usize;
            for piece in body.chunks(chunk) {
                if shared.stop.load(Ordering::SeqCst) || stream.write_all(piece).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(100));
            }
            return finish(stream);
        }
        _ => {}
    }
    let _ = stream.write_all(&body);
    finish(stream);
}

/// Flushes and half-closes so the client sees a clean EOF rather than a reset.
fn finish(mut stream: TcpStream) {
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    // Drain whatever the client still sends so closing doesn't turn into a RST.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 1024];
    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
}

/// Reads up to the blank line ending the request head.
fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 || head.len() > 64 * 1024 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// Maps a decoded URL path onto a regular file under `root`, refusing `..`.
fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let full = root.join(rel);
    if full.is_dir() {
        // Directory URLs (PEP 503 `/simple/<name>/`) serve their `index.html`.
        let index = full.join("index.html");
        return index.is_file().then_some(index);
    }
    full.is_file().then_some(full)
}

fn content_type(path: &Path) -> &'static str {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.ends_with(".html") {
        "text/html; charset=utf-8"
    } else if name.ends_with(".json") {
        "application/json"
    } else if name.ends_with(".gz") || name.ends_with(".tgz") {
        "application/gzip"
    } else if name.ends_with(".zst") {
        "application/zstd"
    } else if name == "SHA256SUMS" || name.ends_with(".txt") || name.ends_with(".sha256") {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

fn respond_status(stream: &mut TcpStream, code: u16) {
    let reason = match code {
        200 => "OK",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Test Fault",
    };
    let body = format!("{code} {reason}\n");
    let response = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Length: {}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
}

/// A raw `GET` to `server` (no client library between the test and the bytes); returns
/// (status, headers with lowercased names, body).
pub fn http_get(server: &TestServer, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}
