//! Fetching bytes from `http(s)://`, `file://` or a plain path, as a stream.
//!
//! Callers get a reader plus the announced length so they can hash and unpack while the bytes
//! arrive. HTTP failures become user errors naming the URL.

use std::io::{self, BufRead, Read};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::OnceLock;
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::user_error;

/// An open download.
pub struct Body {
    pub reader: Box<dyn Read + Send>,
    /// The length the server (or file system) announced, to detect truncated bodies.
    pub len: Option<u64>,
}

/// The variable that sets the timeout, named in errors.
pub const TIMEOUT_VAR: &str = crate::settings::HTTP_TIMEOUT_VAR;

/// `Settings`' `PYENVX_HTTP_TIMEOUT`, handed over once at start ([`configure`]): the HTTP
/// client is one per process (its connection pool shared by every download), so its timeout is
/// too.
static CONFIGURED: std::sync::Mutex<Option<Duration>> = std::sync::Mutex::new(None);

/// Take the timeout from `settings`; before the first download, as `main` does.
pub fn configure(settings: &crate::settings::Settings) {
    if let Ok(mut slot) = CONFIGURED.lock() {
        *slot = settings.network.http_timeout;
    }
}

fn configured() -> Option<Duration> {
    CONFIGURED.lock().ok().and_then(|slot| *slot)
}

/// The connect and idle timeout: `PYENVX_HTTP_TIMEOUT`, else 30 s.
pub fn http_timeout() -> Duration {
    configured().unwrap_or(crate::settings::DEFAULT_HTTP_TIMEOUT)
}

/// `PYENVX_HTTP_TIMEOUT` for uv's own requests (`UV_HTTP_TIMEOUT`, whole seconds), when set;
/// otherwise uv keeps its own setting.
pub fn uv_http_timeout() -> Option<String> {
    let secs = configured()?.as_secs_f64().ceil() as u64;
    Some(secs.max(1).to_string())
}

fn client() -> Result<(&'static reqwest::blocking::Client, Duration)> {
    static CLIENT: OnceLock<(reqwest::blocking::Client, Duration)> = OnceLock::new();
    if let Some((c, t)) = CLIENT.get() {
        return Ok((c, *t));
    }
    let timeout = http_timeout();
    let client = reqwest::blocking::Client::builder()
        .user_agent(concat!("pyenvx/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeout)
        // The blocking client's timeout bounds the wait for the answer, then each read of the
        // body on its own: an idle timeout, not a deadline for archives of tens of megabytes.
        // (The async client's `read_timeout` needs a runtime on the reading thread.)
        .timeout(timeout)
        .build()
        .context("cannot initialise the HTTP client")?;
    let (c, t) = CLIENT.get_or_init(|| (client, timeout));
    Ok((c, *t))
}

fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if e.downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout)
        {
            return true;
        }
        // An `io::Error`'s `source` skips the error it wraps: look at that one too.
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::TimedOut || io.get_ref().is_some_and(|i| is_timeout(i)) {
                return true;
            }
        }
        cur = e.source();
    }
    false
}

fn stalled_message(location: &str, timeout: Duration) -> String {
    format!(
        "{location} sent nothing for {} s ({TIMEOUT_VAR})",
        timeout.as_secs_f64()
    )
}

/// The least a body must bring in each `PYENVX_HTTP_TIMEOUT`-long window: the idle timeout
/// alone never fires for a server that trickles a byte now and then.
pub const LOW_SPEED_BYTES: u64 = 1024;

/// How many `PYENVX_HTTP_TIMEOUT`s a whole request may take, body included (an hour by
/// default): a server just above the low-speed limit must still end some time.
pub const DEADLINE_TIMEOUTS: u32 = 120;

/// How many `PYENVX_HTTP_TIMEOUT`s a uv run may take (half an hour by default): uv's own
/// timeout is per read, and it downloads many files in one run.
pub const SUBPROCESS_DEADLINE_TIMEOUTS: u32 = 60;

/// The deadline for a subprocess doing network work (uv).
pub fn subprocess_deadline() -> Duration {
    http_timeout() * SUBPROCESS_DEADLINE_TIMEOUTS
}

/// The idle timeout's companions on a body: the overall deadline and the low-speed limit.
struct Pace {
    started: Instant,
    timeout: Duration,
    window_start: Instant,
    window_bytes: u64,
}

impl Pace {
    fn new(started: Instant, timeout: Duration) -> Self {
        Self {
            started,
            timeout,
            window_start: Instant::now(),
            window_bytes: 0,
        }
    }

    fn deadline(&self) -> Duration {
        self.timeout * DEADLINE_TIMEOUTS
    }

    /// Account for `n` bytes just read; what is wrong with the pace, if anything.
    fn check(&mut self, n: usize, now: Instant) -> Option<String> {
        self.window_bytes += n as u64;
        if now.duration_since(self.started) > self.deadline() {
            return Some(format!(
                "took longer than {} s in all ({DEADLINE_TIMEOUTS} × {TIMEOUT_VAR})",
                self.deadline().as_secs_f64()
            ));
        }
        let window = now.duration_since(self.window_start);
        if window >= self.timeout {
            if self.window_bytes < LOW_SPEED_BYTES {
                return Some(format!(
                    "sent {} bytes in {:.0} s, less than {LOW_SPEED_BYTES} bytes per {} s ({TIMEOUT_VAR})",
                    self.window_bytes,
                    window.as_secs_f64(),
                    self.timeout.as_secs_f64()
                ));
            }
            self.window_start = now;
            self.window_bytes = 0;
        }
        None
    }
}

/// A response body whose read errors name the URL: a stalled or trickling server reads as one.
struct NamedBody {
    inner: reqwest::blocking::Response,
    location: String,
    timeout: Duration,
    pace: Pace,
}

impl Read for NamedBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if crate::interrupt::interrupted() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        let n = self.inner.read(buf).map_err(|e| {
            let message = if is_timeout(&e) {
                stalled_message(&self.location, self.timeout)
            } else {
                format!("error reading {}: {}", self.location, root_cause(&e))
            };
            io::Error::new(e.kind(), message)
        })?;
        if n > 0 {
            if let Some(why) = self.pace.check(n, Instant::now()) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{} {why}", self.location),
                ));
            }
        }
        Ok(n)
    }
}

/// Is `location` something we fetch over the network (as opposed to a local file)?
pub fn is_remote(location: &str) -> bool {
    location.starts_with("http://") || location.starts_with("https://")
}

/// `file:///x` and plain paths name local files.
pub fn local_path(location: &str) -> Option<PathBuf> {
    if let Some(rest) = location.strip_prefix("file://") {
        let decoded = percent_encoding::percent_decode_str(rest)
            .decode_utf8_lossy()
            .into_owned();
        return Some(PathBuf::from(decoded));
    }
    (!is_remote(location)).then(|| PathBuf::from(location))
}

/// Open `location` for streaming; `headers` are sent with HTTP requests only.
pub fn open(location: &str, headers: &[(&str, String)]) -> Result<Body> {
    if let Some(path) = local_path(location) {
        let file = std::fs::File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                user_error!(
                    hint = "check the mirror or catalog setting that produced this path",
                    "download failed: {} does not exist",
                    path.display()
                )
            } else {
                anyhow::Error::new(e).context(format!("cannot read {}", path.display()))
            }
        })?;
        let len = file.metadata().ok().map(|m| m.len());
        return Ok(Body {
            reader: Box::new(file),
            len,
        });
    }
    let (client, timeout) = client()?;
    let started = Instant::now();
    let mut request = client.get(location);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().map_err(|e| {
        let cause = root_cause(&e);
        if let Some(err) = crate::certs::classify(&cause) {
            return err;
        }
        let what = if is_timeout(&e) {
            stalled_message(location, timeout)
        } else {
            format!("cannot reach {location}: {cause}")
        };
        user_error!(
            hint = "check your network connection or proxy settings; PYENVX_HTTP_TIMEOUT sets the timeout; `--offline` uses only what is cached",
            "download failed: {what}"
        )
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(user_error!(
            hint = "the catalog may be stale or the mirror incomplete; check PYENVX_PYTHON_MIRROR and PYENVX_PYTHON_DOWNLOADS_JSON",
            "download failed: {location} returned HTTP {status}"
        ));
    }
    let len = response.content_length();
    Ok(Body {
        reader: Box::new(NamedBody {
            inner: response,
            location: location.to_string(),
            timeout,
            pace: Pace::new(started, timeout),
        }),
        len,
    })
}

/// Fetch a small document (a catalog) into memory.
pub fn fetch_text(location: &str, headers: &[(&str, String)]) -> Result<String> {
    let mut body = open(location, headers)?;
    let mut text = String::new();
    body.reader
        .read_to_string(&mut text)
        .map_err(|e| user_error!("download failed: {e}"))?;
    Ok(text)
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Passes bytes through while hashing and counting them, and reports progress.
pub struct HashingReader<R, F: FnMut(u64)> {
    inner: R,
    hasher: Sha256,
    count: u64,
    on_bytes: F,
}

impl<R: Read, F: FnMut(u64)> HashingReader<R, F> {
    pub fn new(inner: R, on_bytes: F) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
            on_bytes,
        }
    }

    /// Read what the consumer left unread (archive padding, gzip trailer) so the hash covers
    /// the whole body, then return (sha256 hex, byte count).
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((hex::encode(self.hasher.finalize()), self.count))
    }
}

impl<R: Read, F: FnMut(u64)> Read for HashingReader<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        (self.on_bytes)(n as u64);
        Ok(n)
    }
}

/// Copies every byte read into a second writer (the download cache).
pub struct TeeReader<R, W> {
    inner: R,
    sink: W,
}

impl<R: Read, W: io::Write> TeeReader<R, W> {
    pub fn new(inner: R, sink: W) -> Self {
        Self { inner, sink }
    }
}

impl<R: Read, W: io::Write> Read for TeeReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sink.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// SHA-256 of a whole file, for re-verifying cached archives.
pub fn sha256_file(path: &std::path::Path) -> Result<String> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// What travels through a [`ChunkReader`]'s channel.
enum Chunk {
    Data(Vec<u8>),
    /// The producer's reader failed; the consumer sees this error, never a silent end.
    Failed(io::Error),
    /// The producer's reader reached its end.
    End,
}

/// How a [`read_ahead`] thread stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PumpEnd {
    /// Its reader reached its end and everything was handed over.
    Eof,
    /// Its reader (or the chunk callback) failed; the error went to the consumer.
    Failed,
    /// The consumer dropped its [`ChunkReader`] (it failed or stopped early).
    Closed,
}

/// The reading end of a [`read_ahead`] pipe: the bytes another thread read, in order.
///
/// An error on the producing side arrives here as that error; a producer that vanished without
/// saying it was done (a panic) is an error too, so a failure never looks like a clean end.
/// Dropping it tells the producer to stop.
pub struct ChunkReader {
    rx: Receiver<Chunk>,
    recycle: Sender<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
    state: ReaderState,
}

enum ReaderState {
    Open,
    Ended,
    Failed(io::ErrorKind),
}

impl BufRead for ChunkReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.buf.len() {
            match self.state {
                ReaderState::Open => {}
                ReaderState::Ended => return Ok(&[]),
                ReaderState::Failed(kind) => {
                    return Err(io::Error::new(kind, "the stream failed earlier"))
                }
            }
            match self.rx.recv() {
                Ok(Chunk::Data(data)) => {
                    let old = std::mem::replace(&mut self.buf, data);
                    self.pos = 0;
                    if old.capacity() > 0 {
                        // The producer reuses it; it may be gone already, which is fine.
                        let _ = self.recycle.send(old);
                    }
                }
                Ok(Chunk::End) => self.state = ReaderState::Ended,
                Ok(Chunk::Failed(e)) => {
                    self.state = ReaderState::Failed(e.kind());
                    return Err(e);
                }
                Err(mpsc::RecvError) => {
                    let e =
                        io::Error::other("the thread producing this stream stopped unexpectedly");
                    self.state = ReaderState::Failed(e.kind());
                    return Err(e);
                }
            }
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.buf.len());
    }
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// The thread of a [`read_ahead`]; joining it gives back the reader, the callback and how it
/// stopped.
pub type ReadAhead<'scope, R, F> = ScopedJoinHandle<'scope, (R, F, PumpEnd)>;

/// Read `reader` on a new thread of `scope` named `name`, in chunks of `chunk_size` bytes with at
/// most `depth` chunks waiting, and return the pipe's reading end. `on_chunk` sees every chunk,
/// on that thread, before it is handed over (to hash it, say); an error from it fails the stream
/// like a read error.
///
/// The thread stops at the reader's end, at its first error (which the [`ChunkReader`] then
/// returns), or as soon as the [`ChunkReader`] is dropped. Joining it gives back the reader, the
/// callback and how it stopped. Drop (or drain) the [`ChunkReader`] before joining, or the join
/// can wait for room in the pipe forever.
pub fn read_ahead<'scope, R, F>(
    scope: &'scope Scope<'scope, '_>,
    name: &str,
    reader: R,
    chunk_size: usize,
    depth: usize,
    on_chunk: F,
) -> io::Result<(ChunkReader, ReadAhead<'scope, R, F>)>
where
    R: Read + Send + 'scope,
    F: FnMut(&[u8]) -> io::Result<()> + Send + 'scope,
{
    let (tx, rx) = mpsc::sync_channel(depth);
    let (recycle_tx, recycle_rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name(name.to_string())
        .spawn_scoped(scope, move || {
            let mut reader = reader;
            let mut on_chunk = on_chunk;
            let end = pump(&mut reader, &mut on_chunk, chunk_size, &tx, &recycle_rx);
            (reader, on_chunk, end)
        })?;
    let pipe = ChunkReader {
        rx,
        recycle: recycle_tx,
        buf: Vec::new(),
        pos: 0,
        state: ReaderState::Open,
    };
    Ok((pipe, handle))
}

fn pump<R: Read, F: FnMut(&[u8]) -> io::Result<()>>(
    reader: &mut R,
    on_chunk: &mut F,
    chunk_size: usize,
    tx: &SyncSender<Chunk>,
    recycled: &Receiver<Vec<u8>>,
) -> PumpEnd {
    loop {
        let mut buf = recycled.try_recv().unwrap_or_default();
        // Recycled buffers are full-length already; only a fresh one (or the short last) grows.
        buf.resize(chunk_size, 0);
        let mut filled = 0;
        let mut failure = None;
        let mut at_end = false;
        while filled < chunk_size {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => {
                    at_end = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        buf.truncate(filled);
        if filled > 0 {
            if let Err(e) = on_chunk(&buf) {
                failure = Some(e);
            } else if tx.send(Chunk::Data(buf)).is_err() {
                return PumpEnd::Closed;
            }
        }
        if let Some(e) = failure {
            return match tx.send(Chunk::Failed(e)) {
                Ok(()) => PumpEnd::Failed,
                Err(_) => PumpEnd::Closed,
            };
        }
        if at_end {
            return match tx.send(Chunk::End) {
                Ok(()) => PumpEnd::Eof,
                Err(_) => PumpEnd::Closed,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_trickle_fails_the_low_speed_limit_and_every_body_has_a_deadline() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let mut pace = Pace::new(t0, 3 * second);
        // One byte every 2 s: within the idle timeout, under the low-speed limit.
        assert_eq!(pace.check(1, t0 + 2 * second), None);
        let why = pace.check(1, t0 + 4 * second).unwrap();
        assert!(why.starts_with("sent 2 bytes in 4 s"), "{why}");
        // A kilobyte per window passes, until the deadline.
        let mut pace = Pace::new(t0, 3 * second);
        let mut at = t0;
        for _ in 0..119 {
            at += 3 * second;
            assert_eq!(pace.check(2048, at), None);
        }
        let why = pace.check(2048, at + 4 * second).unwrap();
        assert!(why.contains("longer than 360 s"), "{why}");
    }

    use super::*;

    /// Yields `data`, then fails instead of ending when `fail` is set.
    struct Source {
        data: Vec<u8>,
        pos: usize,
        fail: bool,
    }

    impl Read for Source {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pos == self.data.len() {
                return if self.fail {
                    Err(io::Error::new(io::ErrorKind::ConnectionReset, "cut off"))
                } else {
                    Ok(0)
                };
            }
            // Odd-sized reads, to cross chunk boundaries.
            let n = buf.len().min(self.data.len() - self.pos).min(777);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn data() -> Vec<u8> {
        (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn read_ahead_passes_every_byte_in_order() {
        let mut seen = 0u64;
        std::thread::scope(|s| {
            let source = Source {
                data: data(),
                pos: 0,
                fail: false,
            };
            let (mut pipe, handle) = read_ahead(s, "test", source, 4096, 2, |c: &[u8]| {
                seen += c.len() as u64;
                Ok(())
            })
            .unwrap();
            let mut out = Vec::new();
            pipe.read_to_end(&mut out).unwrap();
            assert_eq!(out, data());
            drop(pipe);
            let (_, _, end) = handle.join().unwrap();
            assert_eq!(end, PumpEnd::Eof);
        });
        assert_eq!(seen, data().len() as u64);
    }

    #[test]
    fn read_ahead_forwards_errors_and_stops_when_dropped() {
        std::thread::scope(|s| {
            let source = Source {
                data: data(),
                pos: 0,
                fail: true,
            };
            let (mut pipe, handle) =
                read_ahead(s, "test", source, 4096, 2, |_: &[u8]| Ok(())).unwrap();
            let mut out = Vec::new();
            let err = pipe.read_to_end(&mut out).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
            assert_eq!(out, data());
            assert!(
                pipe.read(&mut [0; 8]).is_err(),
                "still failed, not at an end"
            );
            drop(pipe);
            assert_eq!(handle.join().unwrap().2, PumpEnd::Failed);

            // A consumer that gives up early releases a producer blocked on a full pipe.
            let source = Source {
                data: data(),
                pos: 0,
                fail: false,
            };
            let (mut pipe, handle) =
                read_ahead(s, "test", source, 1024, 1, |_: &[u8]| Ok(())).unwrap();
            let mut first = [0u8; 10];
            pipe.read_exact(&mut first).unwrap();
            drop(pipe);
            assert_eq!(handle.join().unwrap().2, PumpEnd::Closed);
        });
    }

    #[test]
    fn a_vanished_producer_is_an_error() {
        std::thread::scope(|s| {
            let source = Source {
                data: data(),
                pos: 0,
                fail: false,
            };
            let (mut pipe, handle) =
                read_ahead(s, "test", source, 1024, 1, |_: &[u8]| -> io::Result<()> {
                    panic!("callback bug")
                })
                .unwrap();
            let err = pipe.read_to_end(&mut Vec::new()).unwrap_err();
            assert!(err.to_string().contains("stopped unexpectedly"), "{err}");
            assert!(handle.join().is_err());
        });
    }
}
