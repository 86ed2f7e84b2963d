//! `dfexport serve --listen/--users/--metrics/--tls-*`: the service as the command line
//! starts it, beside the continuous-export scheduler (see
//! [`datafusion_export::cli::NetworkService`]), and the runs it counts in metrics.

use std::sync::Arc;
use std::time::Duration;

use datafusion_export::cli::{NetworkArgs, NetworkService, Shutdown, StartedService};
use datafusion_export::continuous::run::RunOutcome;
use datafusion_export::Engine;
use futures::future::BoxFuture;
use futures::FutureExt;

use crate::{FlightServer, Metrics, MetricsEndpoint, ServerConfig, TlsConfig};

/// The network service of the `dfexport` binary.
pub struct CommandLineService {
    metrics: Metrics,
}

impl CommandLineService {
    /// A service with its own metrics registry.
    pub fn new() -> crate::Result<Self> {
        Ok(Self {
            metrics: Metrics::new()?,
        })
    }
}

impl NetworkService for CommandLineService {
    fn start(
        &self,
        engine: Engine,
        args: NetworkArgs,
        shutdown: Shutdown,
    ) -> BoxFuture<'static, Result<StartedService, String>> {
        let metrics = self.metrics.clone();
        async move {
            let engine = Arc::new(engine);
            let mut listening = Vec::new();
            let mut serving: Vec<BoxFuture<'static, crate::Result<()>>> = Vec::new();
            if let Some(listen) = args.listen {
                let mut config = ServerConfig::new(listen);
                config.users_file = args.users;
                config.tls = match (args.tls_cert, args.tls_key) {
                    (Some(cert), Some(key)) => Some(TlsConfig { cert, key }),
                    _ => None,
                };
                let scheme = if config.tls.is_some() {
                    "grpc+tls"
                } else {
                    "grpc"
                };
                let server = FlightServer::bind(Arc::clone(&engine), config, metrics.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                let addr = server.local_addr().map_err(|e| e.to_string())?;
                listening.push(format!("Flight SQL on {scheme}://{addr}"));
                serving.push(server.serve(shutdown.clone()).boxed());
            }
            if let Some(addr) = args.metrics {
                let endpoint = MetricsEndpoint::bind(addr, Arc::clone(&engine), metrics.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                let addr = endpoint.local_addr().map_err(|e| e.to_string())?;
                listening.push(format!("metrics on http://{addr}/metrics"));
                serving.push(endpoint.serve(shutdown.clone()).boxed());
            }
            Ok(StartedService {
                listening,
                serving: async move {
                    futures::future::try_join_all(serving)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
                .boxed(),
            })
        }
        .boxed()
    }

    fn observe_run(
        &self,
        name: &str,
        outcome: &datafusion_export::Result<RunOutcome>,
        took: Duration,
    ) {
        self.metrics.observe_run(name, outcome, took);
    }
}
