//! The cluster's processes: a Ballista scheduler and executors with our codec,
//! functions and store bindings installed (the `dfexport-scheduler` and
//! `dfexport-executor` binaries are these with their arguments).

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;

use datafusion_export::cli::{parse_storage_option, StorageOption};

use crate::codec::DfxPhysicalCodec;
use crate::env::{config_producer, function_registry, runtime_producer, session_builder};
use crate::error::{ClusterError, Result};

/// `dfexport-scheduler`: a Ballista scheduler that knows datafusion-export's plans.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "dfexport-scheduler", version)]
pub struct SchedulerArgs {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind_host: String,
    /// Port to bind (gRPC for clients and executors; also /healthz and /readyz).
    #[arg(short = 'p', long, default_value_t = 50050)]
    pub bind_port: u16,
    /// The host executors and clients reach this scheduler at.
    #[arg(long, default_value = "localhost")]
    pub external_host: String,
    /// /readyz answers 200 once this many executors are alive.
    #[arg(long, default_value_t = 1)]
    pub min_ready_executors: usize,
    /// An executor silent for this many seconds is lost, and its tasks run again
    /// elsewhere.
    #[arg(long, default_value_t = 180)]
    pub executor_timeout_seconds: u64,
    /// An object-store option (KEY=VALUE) for targets the scheduler opens when it
    /// reads a plan; may be repeated.
    #[arg(long = "storage-option", value_name = "KEY=VALUE", value_parser = parse_storage_option)]
    pub storage_options: Vec<StorageOption>,
}

/// `dfexport-executor`: a Ballista executor that runs datafusion-export's plans.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "dfexport-executor", version)]
pub struct ExecutorArgs {
    /// The scheduler's host.
    #[arg(long, default_value = "localhost")]
    pub scheduler_host: String,
    /// The scheduler's port.
    #[arg(long, default_value_t = 50050)]
    pub scheduler_port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind_host: String,
    /// The host the scheduler and other executors reach this one at.
    #[arg(long)]
    pub external_host: Option<String>,
    /// Arrow Flight port (shuffle data).
    #[arg(short = 'p', long, default_value_t = 50051)]
    pub bind_port: u16,
    /// gRPC port (tasks from the scheduler).
    #[arg(long, default_value_t = 50052)]
    pub bind_grpc_port: u16,
    /// Folder for shuffle files and spills (a temporary folder by default).
    #[arg(long)]
    pub work_dir: Option<String>,
    /// Tasks run at once (default: the machine's cores).
    #[arg(short = 'c', long, alias = "concurrent-tasks")]
    pub vcores: Option<usize>,
    /// Seconds between heartbeats to the scheduler.
    #[arg(long, default_value_t = 60)]
    pub heartbeat_interval_seconds: u64,
    /// An object-store option (KEY=VALUE) for the stores this executor opens
    /// (databases, targets, external tables); may be repeated. Credentials come
    /// from here or the environment (AWS_*, AZURE_*, GOOGLE_*): they never travel
    /// with plans.
    #[arg(long = "storage-option", value_name = "KEY=VALUE", value_parser = parse_storage_option)]
    pub storage_options: Vec<StorageOption>,
}

fn ballista_error(what: &str, e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Unsupported(format!("{what}: {e}"))
}

fn pairs(options: &[StorageOption]) -> Vec<(String, String)> {
    options.iter().map(|o| (o.0.clone(), o.1.clone())).collect()
}

/// Runs a scheduler until it stops.
pub async fn run_scheduler(args: SchedulerArgs) -> Result<()> {
    let storage_options = pairs(&args.storage_options);
    let address: SocketAddr = format!("{}:{}", args.bind_host, args.bind_port)
        .parse()
        .map_err(|e| ballista_error("--bind-host/--bind-port", e))?;
    let config = SchedulerConfig {
        bind_host: args.bind_host,
        bind_port: args.bind_port,
        external_host: args.external_host,
        min_ready_executors: args.min_ready_executors,
        executor_timeout_seconds: args.executor_timeout_seconds,
        no_executors_grace_period_seconds: args.executor_timeout_seconds,
        override_config_producer: Some(config_producer()),
        override_session_builder: Some(session_builder(storage_options.clone())),
        override_physical_codec: Some(Arc::new(DfxPhysicalCodec::new(storage_options))),
        ..Default::default()
    };
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| ballista_error("scheduler", e))?;
    start_server(cluster, address, Arc::new(config))
        .await
        .map_err(|e| ballista_error("scheduler", e))
}

/// Runs an executor until it stops.
pub async fn run_executor(args: ExecutorArgs) -> Result<()> {
    let storage_options = pairs(&args.storage_options);
    let work_dir = match args.work_dir {
        Some(dir) => dir,
        None => std::env::temp_dir()
            .join(format!(
                "dfexport-executor-{}",
                uuid::Uuid::new_v4().simple()
            ))
            .display()
            .to_string(),
    };
    std::fs::create_dir_all(&work_dir)
        .map_err(|e| ballista_error(&format!("--work-dir {work_dir}"), e))?;
    let mut config = ExecutorProcessConfig {
        bind_host: args.bind_host,
        external_host: args.external_host,
        port: args.bind_port,
        grpc_port: args.bind_grpc_port,
        scheduler_host: args.scheduler_host,
        scheduler_port: args.scheduler_port,
        work_dir: Some(work_dir.clone()),
        executor_heartbeat_interval_seconds: args.heartbeat_interval_seconds,
        override_config_producer: Some(config_producer()),
        override_runtime_producer: Some(runtime_producer(work_dir, storage_options.clone())),
        override_function_registry: Some(function_registry()),
        override_physical_codec: Some(Arc::new(DfxPhysicalCodec::new(storage_options))),
        ..Default::default()
    };
    if let Some(vcores) = args.vcores {
        config.vcores = vcores.max(1);
    }
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| ballista_error("executor", e))
}

/// Logging for the processes: `RUST_LOG`, `info` by default, every line scrubbed
/// of secrets.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_writer(|| datafusion_export::cli::ScrubbingStderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
}

/// `--cluster` for the `dfexport` command line: connects a [`crate::BallistaRunner`].
#[derive(Debug, Default, Clone, Copy)]
pub struct BallistaConnector;

impl datafusion_export::cli::ClusterConnector for BallistaConnector {
    fn connect<'a>(
        &'a self,
        url: &'a str,
        options: &'a datafusion_export_tables::DatabaseOptions,
    ) -> futures::future::BoxFuture<
        'a,
        std::result::Result<Arc<dyn datafusion_export::export::runner::ExportRunner>, String>,
    > {
        Box::pin(async move {
            // The database's options stay here: executors bring their own.
            let _ = options;
            let runner = crate::BallistaRunner::connect(url)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Arc::new(runner) as Arc<dyn datafusion_export::export::runner::ExportRunner>)
        })
    }
}
