//! What the server needs to start: where to listen, who may call, TLS, and limits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Settings of the Flight SQL service. [`ServerConfig::new`] gives production
/// defaults for everything but the address.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the Flight SQL service listens (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// The users file ([`crate::auth::Users`]). Without one every caller is an
    /// admin, so the service then refuses to listen on anything but loopback.
    pub users_file: Option<PathBuf>,
    /// TLS certificate and key (PEM); `None` serves plain gRPC.
    pub tls: Option<TlsConfig>,
    /// How long a bearer token from the handshake stays valid.
    pub token_ttl: Duration,
    /// How long the result of a command run in `GetFlightInfo` (or a planned query)
    /// waits for its `DoGet` before it is dropped.
    pub result_ttl: Duration,
    /// Longest statement text, in bytes.
    pub max_statement_bytes: usize,
    /// Statements planned, run or streaming at once; more wait for a slot up to
    /// `queue_timeout`.
    pub max_concurrent_statements: usize,
    /// How long a statement waits for a slot before it is refused as busy.
    pub queue_timeout: Duration,
    /// Results (and planned queries) waiting for their `DoGet`, at most.
    pub max_pending_results: usize,
    /// Open prepared statements, at most.
    pub max_prepared_statements: usize,
    /// A prepared statement unused this long is dropped (clients that die do not
    /// close theirs).
    pub prepared_idle_ttl: Duration,
    /// Live bearer tokens, at most (expired ones are dropped first).
    pub max_sessions: usize,
}

/// TLS files for the Flight SQL service.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// The certificate chain, PEM.
    pub cert: PathBuf,
    /// The private key, PEM.
    pub key: PathBuf,
}

impl ServerConfig {
    /// Defaults: tokens live 12 hours, results 5 minutes, unused prepared statements
    /// an hour, statements up to 1 MiB, 64 statements at once.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            users_file: None,
            tls: None,
            token_ttl: Duration::from_secs(12 * 3600),
            result_ttl: Duration::from_secs(300),
            max_statement_bytes: 1 << 20,
            max_concurrent_statements: 64,
            queue_timeout: Duration::from_secs(30),
            max_pending_results: 1024,
            max_prepared_statements: 4096,
            prepared_idle_ttl: Duration::from_secs(3600),
            max_sessions: 100_000,
        }
    }
}
