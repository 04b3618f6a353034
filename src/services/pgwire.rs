//! Logging in to a PostgreSQL server and running simple statements, through the `postgres`
//! crate.
//!
//! Why a client library rather than `psql`: readiness must be "a real connection succeeded",
//! polled every few milliseconds, and the container backend has to work on hosts with no
//! PostgreSQL client installed. A process per poll would dominate a warm `db up`. No TLS: the
//! servers pyenvx talks to listen on 127.0.0.1 only.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
pub use postgres::error::SqlState;

/// Why a connection attempt failed, classified for readiness polling.
#[derive(Debug)]
pub enum ConnectError {
    /// Nothing accepted the connection, or the peer closed it before the handshake finished
    /// (a container's port proxy does that while the server inside is still starting).
    Unreachable(io::Error),
    /// The server is there but not accepting connections yet (SQLSTATE 57P03: starting up,
    /// shutting down, recovering).
    NotReady(String),
    /// The server answered and refused us: wrong password, unknown role or database.
    Rejected { code: SqlState, message: String },
    /// The peer does not speak the PostgreSQL protocol as we expect.
    Protocol(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable(e) => write!(f, "cannot connect: {e}"),
            Self::NotReady(m) => write!(f, "the server is not ready: {m}"),
            Self::Rejected { code, message } => {
                write!(f, "{message} (SQLSTATE {})", code.code())
            }
            Self::Protocol(m) => write!(f, "not a PostgreSQL server: {m}"),
        }
    }
}

impl std::error::Error for ConnectError {}

impl ConnectError {
    /// Whether waiting and trying again can help.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable(_) | Self::NotReady(_))
    }

    fn classify(err: postgres::Error) -> Self {
        if let Some(db) = err.as_db_error() {
            return if *db.code() == SqlState::CANNOT_CONNECT_NOW {
                Self::NotReady(db.message().to_string())
            } else {
                Self::Rejected {
                    code: db.code().clone(),
                    message: db.message().to_string(),
                }
            };
        }
        // Refused, reset, closed mid-handshake or timed out: the server is not there (yet).
        let mut source: Option<&(dyn std::error::Error + 'static)> =
            std::error::Error::source(&err);
        while let Some(e) = source {
            if let Some(io) = e.downcast_ref::<io::Error>() {
                return Self::Unreachable(io::Error::new(io.kind(), io.to_string()));
            }
            source = e.source();
        }
        if err.is_closed() || err.to_string().contains("timed out") {
            return Self::Unreachable(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                err.to_string(),
            ));
        }
        Self::Protocol(err.to_string())
    }
}

/// A statement the server refused: its message, and its SQLSTATE for the code that branches on
/// it (shown as the server's five characters).
#[derive(Debug)]
pub struct DbError {
    pub code: SqlState,
    pub message: String,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (SQLSTATE {})", self.message, self.code.code())
    }
}

impl std::error::Error for DbError {}

/// The SQLSTATE of the server's refusal anywhere in `err`'s chain.
pub fn sqlstate(err: &anyhow::Error) -> Option<&SqlState> {
    err.chain()
        .find_map(|e| e.downcast_ref::<DbError>())
        .map(|d| &d.code)
}

/// Run `op` again while the server answers that a database is being accessed by other users
/// (55006: a session not gone yet, or a client that connected again), for at most `timeout`;
/// then its last answer.
pub fn while_in_use<T>(
    timeout: Duration,
    delay: Duration,
    mut op: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut last = None;
    let done =
        crate::process::wait_until(timeout, crate::process::Pace::every(delay), || match op() {
            Ok(v) => Ok(Some(v)),
            Err(e) if sqlstate(&e) == Some(&SqlState::OBJECT_IN_USE) => {
                last = Some(e);
                Ok(None)
            }
            Err(e) => Err(e),
        })?;
    match (done, last) {
        (Some(v), _) => Ok(v),
        (None, Some(e)) => Err(e),
        (None, None) => Err(anyhow::anyhow!("the database stayed in use")),
    }
}

/// A logged-in session.
pub struct Connection {
    client: postgres::Client,
}

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub addr: SocketAddr,
    pub user: &'a str,
    pub password: &'a str,
    pub database: &'a str,
}

impl Connection {
    /// Connect and log in; `timeout` bounds the connection attempt.
    pub fn connect(target: &Target, timeout: Duration) -> Result<Connection, ConnectError> {
        probe(target.addr, timeout)?;
        let client = postgres::Config::new()
            .host(&target.addr.ip().to_string())
            .port(target.addr.port())
            .user(target.user)
            .password(target.password)
            .dbname(target.database)
            .connect_timeout(timeout)
            .connect(postgres::NoTls)
            .map_err(ConnectError::classify)?;
        Ok(Connection { client })
    }

    /// `server_version` as the server reports it (e.g. `15.18 (Debian 15.18-0+deb12u1)`).
    pub fn server_version(&mut self) -> Option<String> {
        let rows = self.query("SHOW server_version").ok()?;
        rows.into_iter().next()?.into_iter().next()?
    }

    /// Run one statement (or several separated by `;`) with the simple query protocol; returns
    /// the rows of the last result, every value as text (NULL as `None`).
    pub fn query(&mut self, sql: &str) -> anyhow::Result<Vec<Vec<Option<String>>>> {
        let messages = self
            .client
            .simple_query(sql)
            .map_err(|e| match e.as_db_error() {
                Some(db) => anyhow::Error::new(DbError {
                    code: db.code().clone(),
                    message: db.message().to_string(),
                }),
                None => anyhow::Error::new(e),
            })?;
        let mut rows = Vec::new();
        for message in messages {
            match message {
                postgres::SimpleQueryMessage::RowDescription(_) => rows.clear(),
                postgres::SimpleQueryMessage::Row(row) => {
                    rows.push(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_string))
                            .collect(),
                    );
                }
                _ => {}
            }
        }
        Ok(rows)
    }
}

impl Connection {
    /// Run statements with the simple query protocol, their results ignored; a failure is
    /// the server's message and, where it says, the 1-based character position in `sql`.
    pub fn execute_batch(&mut self, sql: &str) -> Result<(), (String, Option<u32>)> {
        self.client.batch_execute(sql).map_err(describe)
    }

    /// `COPY … FROM STDIN` with `data` (the rows, in the statement's format).
    pub fn copy_in(&mut self, stmt: &str, data: &[u8]) -> Result<(), (String, Option<u32>)> {
        use std::io::Write;
        let mut writer = self.client.copy_in(stmt).map_err(describe)?;
        writer.write_all(data).map_err(|e| (e.to_string(), None))?;
        writer.finish().map(drop).map_err(describe)
    }
}

fn describe(e: postgres::Error) -> (String, Option<u32>) {
    match e.as_db_error() {
        Some(db) => (
            format!("{} (SQLSTATE {})", db.message(), db.code().code()),
            match db.position() {
                Some(postgres::error::ErrorPosition::Original(p)) => Some(*p),
                _ => None,
            },
        ),
        None => (e.to_string(), None),
    }
}

/// Make sure a server listens at `addr` before logging in: see [`super::ports::connect`] for
/// the connection that meets itself, which would leave the login waiting forever.
fn probe(addr: SocketAddr, timeout: Duration) -> Result<(), ConnectError> {
    super::ports::connect(addr, timeout)
        .map(drop)
        .map_err(ConnectError::Unreachable)
}

/// Decode RECORD-style hashes: URL-safe base64 without padding.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_listener_passes_the_probe() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe(listener.local_addr().unwrap(), Duration::from_secs(2)).unwrap();
    }
}
