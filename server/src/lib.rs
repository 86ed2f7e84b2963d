//! An Arrow Flight SQL service over a [`datafusion_export::Engine`]: SQL and KQL
//! queries stream Arrow results, management commands run exactly once, callers
//! authenticate (users file, bearer tokens, API tokens) and act under Kusto-style
//! roles, and operators scrape Prometheus metrics.
//!
//! ```no_run
//! # async fn demo() -> datafusion_export_server::Result<()> {
//! use std::sync::Arc;
//! use datafusion_export_server::{FlightServer, Metrics, MetricsEndpoint, ServerConfig};
//!
//! let engine = Arc::new(datafusion_export::Engine::open("./mydb").await.unwrap());
//! let metrics = Metrics::new()?;
//! let config = ServerConfig::new("127.0.0.1:50051".parse().unwrap());
//! let server = FlightServer::bind(Arc::clone(&engine), config, metrics.clone()).await?;
//! let endpoint =
//!     MetricsEndpoint::bind("127.0.0.1:9464".parse().unwrap(), engine, metrics).await?;
//! let stop = futures::FutureExt::shared(async {
//!     tokio::signal::ctrl_c().await.ok();
//! });
//! tokio::try_join!(server.serve(stop.clone()), endpoint.serve(stop))?;
//! # Ok(()) }
//! ```
//!
//! Files, one concept each: [`config`] (settings), [`auth`] (users file, argon2,
//! tokens), [`roles`] (who may run what), `statements` (text → query or command,
//! role checks), `tickets` (one-time results), `metadata` (catalogs, schemas, tables
//! for `GetObjects`), `service` (the Flight SQL service),
//! [`metrics`] and [`http`] (`/metrics`, `/healthz`, `/readyz`), [`users_file`] (what
//! the `dfexport-users` binary edits), [`error`].

pub mod auth;
pub mod command_line;
pub mod config;
pub mod error;
pub mod http;
mod metadata;
pub mod metrics;
pub mod roles;
mod service;
mod statements;
mod tickets;
pub mod users_file;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use arrow_flight::flight_service_server::FlightServiceServer;
use datafusion_export::Engine;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

pub use auth::{api_token_sha256, hash_password, new_api_token, Principal, Users};
pub use config::{ServerConfig, TlsConfig};
pub use error::{Result, ServerError};
pub use http::MetricsEndpoint;
pub use metrics::Metrics;
pub use roles::Role;

use crate::auth::Authenticator;
use crate::service::{FlightSqlServiceImpl, ServiceParts};
use crate::tickets::{PreparedStore, TicketStore};

/// A Flight SQL service bound to its address; [`FlightServer::serve`] answers until
/// shutdown.
pub struct FlightServer {
    listener: TcpListener,
    service: FlightSqlServiceImpl,
    tls: Option<ServerTlsConfig>,
    max_concurrent_statements: usize,
}

impl std::fmt::Debug for FlightServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlightServer")
            .field("local_addr", &self.listener.local_addr().ok())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl FlightServer {
    /// Checks `config` (users file, TLS files, a non-loopback address only with
    /// users) and binds its address.
    pub async fn bind(engine: Arc<Engine>, config: ServerConfig, metrics: Metrics) -> Result<Self> {
        let users = config.users_file.as_deref().map(Users::load).transpose()?;
        if users.is_none() && !config.listen.ip().is_loopback() {
            return Err(ServerError::Config(format!(
                "refusing to listen on {} without a users file: every caller would be an \
                 admin. Give a users file (--users FILE), or listen on a loopback address \
                 such as 127.0.0.1",
                config.listen
            )));
        }
        let tls = match &config.tls {
            None => None,
            Some(tls) => {
                // Both of rustls's crypto providers are linked in (object stores use
                // aws-lc-rs), so it cannot choose on its own and would panic on the
                // first connection. The ring provider is tonic's; an application that
                // installed another first keeps it.
                let _ = rustls::crypto::ring::default_provider().install_default();
                let read = |path: &std::path::Path, what: &str| {
                    std::fs::read(path).map_err(|e| {
                        ServerError::Config(format!(
                            "cannot read TLS {what} {}: {e}",
                            path.display()
                        ))
                    })
                };
                let identity =
                    Identity::from_pem(read(&tls.cert, "certificate")?, read(&tls.key, "key")?);
                Some(ServerTlsConfig::new().identity(identity))
            }
        };
        let clock = Arc::clone(&engine.database().options().clock);
        let auth = Arc::new(Authenticator::new(
            users,
            config.token_ttl,
            config.max_sessions,
            Arc::clone(&clock),
        )?);
        let service = FlightSqlServiceImpl::new(
            engine,
            ServiceParts {
                auth,
                tickets: TicketStore::new(
                    config.result_ttl,
                    config.max_pending_results,
                    Arc::clone(&clock),
                ),
                prepared: PreparedStore::new(
                    config.max_prepared_statements,
                    config.prepared_idle_ttl,
                    clock,
                ),
                max_concurrent_statements: config.max_concurrent_statements,
                queue_timeout: config.queue_timeout,
                max_statement_bytes: config.max_statement_bytes,
                metrics,
            },
        )?;
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            ServerError::Transport(format!("cannot listen on {}: {e}", config.listen))
        })?;
        Ok(Self {
            listener,
            service,
            tls,
            max_concurrent_statements: config.max_concurrent_statements,
        })
    }

    /// The address it listens on (the port chosen for `:0`).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(|e| ServerError::Transport(e.to_string()))
    }

    /// Answers until `shutdown` completes: then it stops accepting, lets requests in
    /// flight finish (streams included) and returns.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
        let mut builder = Server::builder();
        if let Some(tls) = self.tls {
            builder = builder
                .tls_config(tls)
                .map_err(|e| ServerError::Config(format!("TLS: {e}")))?;
        }
        builder
            // One connection may not take every statement slot by itself with
            // pipelined requests; the service's own slots bound the whole server.
            .concurrency_limit_per_connection(self.max_concurrent_statements.max(1))
            .add_service(FlightServiceServer::new(self.service))
            // Without TCP_NODELAY a small result waits for the client's delayed ACK
            // (about 40 ms on Linux) before its last segment leaves.
            .serve_with_incoming_shutdown(
                TcpIncoming::from(self.listener)
                    .with_nodelay(Some(true))
                    .with_keepalive(Some(std::time::Duration::from_secs(60))),
                shutdown,
            )
            .await
            .map_err(|e| ServerError::Transport(format!("Flight SQL service: {e}")))
    }
}

/// Binds and serves the Flight SQL service until `shutdown`: [`FlightServer::bind`]
/// then [`FlightServer::serve`].
pub async fn serve(
    engine: Arc<Engine>,
    config: ServerConfig,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    FlightServer::bind(engine, config, metrics)
        .await?
        .serve(shutdown)
        .await
}
