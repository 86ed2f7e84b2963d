//! The operators' HTTP endpoint: `GET /metrics` (Prometheus text), `GET /healthz`
//! (the process answers) and `GET /readyz` (the database can be read).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use datafusion_export::Engine;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::error::{Result, ServerError};
use crate::metrics::Metrics;

/// How long `/readyz` waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// A bound `/metrics`, `/healthz`, `/readyz` endpoint; [`MetricsEndpoint::serve`]
/// answers until shutdown.
pub struct MetricsEndpoint {
    listener: TcpListener,
    engine: Arc<Engine>,
    metrics: Metrics,
}

impl std::fmt::Debug for MetricsEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsEndpoint")
            .field("local_addr", &self.listener.local_addr().ok())
            .finish()
    }
}

impl MetricsEndpoint {
    /// Binds `addr` (`127.0.0.1:0` picks a free port).
    pub async fn bind(addr: SocketAddr, engine: Arc<Engine>, metrics: Metrics) -> Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| ServerError::Transport(format!("cannot listen on {addr}: {e}")))?;
        Ok(Self {
            listener,
            engine,
            metrics,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(|e| ServerError::Transport(e.to_string()))
    }

    /// Answers requests until `shutdown` completes; requests in flight then finish.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let state = Arc::new((self.engine, self.metrics));
        tokio::pin!(shutdown);
        loop {
            let (stream, _) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    // A failed accept (out of file descriptors, a reset) concerns that
                    // connection only.
                    Err(e) => {
                        tracing::warn!("metrics endpoint: accept failed: {e}");
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let state = Arc::clone(&state);
            let connection = hyper::server::conn::http1::Builder::new().serve_connection(
                TokioIo::new(stream),
                service_fn(move |request| {
                    let state = Arc::clone(&state);
                    async move { Ok::<_, Infallible>(answer(request, &state.0, &state.1).await) }
                }),
            );
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!("metrics endpoint: connection ended: {e}");
                }
            });
        }
        graceful.shutdown().await;
        Ok(())
    }
}

async fn answer(
    request: Request<Incoming>,
    engine: &Engine,
    metrics: &Metrics,
) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n".into());
    }
    match request.uri().path() {
        "/metrics" => match metrics.render(engine).await {
            Ok(body) => {
                let mut response = text(StatusCode::OK, body);
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static(
                        "text/plain; version=0.0.4; charset=utf-8",
                    ),
                );
                response
            }
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
        },
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => match tokio::time::timeout(READY_TIMEOUT, engine.database().refresh()).await {
            Ok(Ok(_)) => text(StatusCode::OK, "ready\n".into()),
            Ok(Err(e)) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the database cannot be read: {}\n",
                    datafusion_export::tables::scrub_secrets(&e.to_string())
                ),
            ),
            Err(_) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database did not answer in time\n".into(),
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /metrics, /healthz or /readyz\n".into(),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}
