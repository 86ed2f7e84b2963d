//! The `dfexport` command line, as a library so tests drive it in-process.

use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};

use clap::Parser;

use crate::command::split_statements;
use crate::export::runner::ExportRunner;
use crate::output::{write_batches, OutputFormat};
use crate::Engine;

/// Run Kusto-style management commands (`.create table`, `.append`, `.ingest`,
/// `.show table T extents`, …) and DataFusion SQL against a database.
///
/// Statements in a script are separated by `;` or by blank lines. Without a script
/// or `-c`, statements are read from standard input.
#[derive(Debug, Parser)]
#[command(name = "dfexport", version, about, long_about = None, subcommand_precedence_over_arg = true)]
pub struct Args {
    /// Database root: a local folder (created if missing) or an object store URL
    /// (s3://, az://, gs://, memory://).
    #[arg(
        long,
        env = "DFEXPORT_DB",
        default_value = "./dfexport-db",
        global = true
    )]
    pub db: String,

    /// An object-store option for the database root, export URLs, external tables and
    /// Delta targets, as KEY=VALUE with object_store's key names (e.g.
    /// aws_endpoint=http://127.0.0.1:9000, azure_storage_account_name=acct). May be
    /// repeated. Credentials are better left in the environment (AWS_*, AZURE_*,
    /// GOOGLE_*), which is read as well.
    #[arg(long = "storage-option", value_name = "KEY=VALUE", value_parser = parse_storage_option, global = true)]
    pub storage_options: Vec<StorageOption>,

    /// Run exports' queries and writers on this Ballista cluster's executors
    /// (df://HOST:PORT or http://HOST:PORT of its scheduler); commits stay here. Needs
    /// the dfexport-cluster binary (package datafusion-export-ballista).
    #[arg(long, env = "DFEXPORT_CLUSTER", value_name = "URL", global = true)]
    pub cluster: Option<String>,

    /// A file holding the key that encrypts secrets (account keys, SAS tokens) inside
    /// stored definitions: 32 bytes as base64 or hex, e.g. from `openssl rand -base64
    /// 32`; keep it outside the database root. Several keys, one a line, for rotation:
    /// the first encrypts, all decrypt. Without it, DFEXPORT_SECRET_KEY is read.
    #[arg(long = "secret-key-file", value_name = "PATH", global = true)]
    pub secret_key_file: Option<std::path::PathBuf>,

    /// A command or SQL statement to run; may be repeated, runs before SCRIPT.
    /// Without SCRIPT or -c, statements come from standard input, or an interactive
    /// prompt when it is a terminal.
    #[arg(short = 'c', long = "command", value_name = "TEXT")]
    pub commands: Vec<String>,

    /// How to print results.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,

    /// A script file of statements.
    pub script: Option<std::path::PathBuf>,

    /// Instead of running statements, run a service.
    #[command(subcommand)]
    pub service: Option<Service>,
}

/// Long-running services.
#[derive(Debug, clap::Subcommand)]
pub enum Service {
    /// Run the continuous-export scheduler until SIGINT or SIGTERM: every enabled
    /// export runs about every intervalBetweenRuns. A run in flight when the signal
    /// comes finishes (it commits, or fails and reports nothing).
    Serve {
        /// How often to look for due exports (e.g. 1s, 500ms, 1m).
        #[arg(long, default_value = "1s", value_parser = parse_interval)]
        poll_interval: std::time::Duration,
        /// Exports running at once, at most.
        #[arg(long, default_value_t = 4)]
        max_concurrent_exports: usize,
        /// How often to run `.clean database` (at start, then at this interval), or
        /// `off`.
        #[arg(long, default_value = "1d", value_parser = parse_clean_interval)]
        clean_interval: CleanInterval,
        /// Merge small extents in the background, as each table's merge policy says
        /// (`AllowMerge`, `LoopPeriod`, …); `--merge off` never merges.
        #[arg(long, default_value = "on", value_parser = ["on", "off"])]
        merge: String,
        /// The clean's window: only what is older goes (at least 1h).
        #[arg(long, default_value = "7d", value_parser = parse_clean_window)]
        clean_older_than: std::time::Duration,
        /// The network service beside the scheduler.
        #[command(flatten)]
        network: NetworkArgs,
    },
}

/// `serve`'s network service: Arrow Flight SQL and Prometheus metrics. A binary that
/// has the service installs it with [`main_with`]; see [`NetworkService`].
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NetworkArgs {
    /// Also serve Arrow Flight SQL here (e.g. 127.0.0.1:50051; port 0 picks a free one).
    /// Without --users only a loopback address is allowed.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// The users file (users with argon2 password hashes and roles, API tokens).
    #[arg(long, value_name = "FILE", requires = "listen")]
    pub users: Option<std::path::PathBuf>,
    /// Serve Prometheus metrics, /healthz and /readyz here (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// TLS certificate (PEM) of the Flight SQL service.
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "listen"])]
    pub tls_cert: Option<std::path::PathBuf>,
    /// TLS private key (PEM) of the Flight SQL service.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

impl NetworkArgs {
    /// Whether any network service is asked for.
    pub fn wanted(&self) -> bool {
        self.listen.is_some() || self.metrics.is_some()
    }
}

/// Resolves once `serve` should stop (the first SIGINT or SIGTERM); every part of
/// `serve` holds a clone.
pub type Shutdown = futures::future::Shared<futures::future::BoxFuture<'static, ()>>;

/// A network service started beside `serve`'s scheduler: where it listens, and the
/// future that serves until the shutdown future resolves (draining what is in flight).
pub struct StartedService {
    /// What to print, e.g. `Flight SQL on 127.0.0.1:50051`.
    pub listening: Vec<String>,
    /// Serves until shutdown.
    pub serving: futures::future::BoxFuture<'static, Result<(), String>>,
}

/// The network service of `serve --listen/--metrics`. It lives in another crate
/// (`datafusion-export-server`, which depends on this one), so the `dfexport` binary
/// that has it passes it to [`main_with`].
pub trait NetworkService: Send + Sync {
    /// Binds what `args` asks for over `engine`, or says why it cannot.
    fn start(
        &self,
        engine: Engine,
        args: NetworkArgs,
        shutdown: Shutdown,
    ) -> futures::future::BoxFuture<'static, Result<StartedService, String>>;

    /// Called after each run the scheduler makes (e.g. to count it in metrics).
    fn observe_run(
        &self,
        name: &str,
        outcome: &crate::error::Result<crate::continuous::run::RunOutcome>,
        took: std::time::Duration,
    );
}

/// Connects `--cluster URL` to the runner of a cluster. It lives in another crate
/// (`datafusion-export-ballista`, which depends on this one), so the binary that
/// has it passes it in [`Hooks`].
pub trait ClusterConnector: Send + Sync {
    /// A runner for the cluster at `url`, reached with the database's `options`, or
    /// why it cannot be reached.
    fn connect<'a>(
        &'a self,
        url: &'a str,
        options: &'a datafusion_export_tables::DatabaseOptions,
    ) -> futures::future::BoxFuture<'a, Result<std::sync::Arc<dyn ExportRunner>, String>>;
}

/// What a binary adds to the command line: `serve`'s network service and the
/// `--cluster` client. `Hooks::default()` has neither.
#[derive(Clone, Copy, Default)]
pub struct Hooks<'a> {
    /// `serve --listen/--metrics`.
    pub network: Option<&'a dyn NetworkService>,
    /// `--cluster`.
    pub cluster: Option<&'a dyn ClusterConnector>,
}

impl Hooks<'_> {
    /// `engine` with its exports on `--cluster`'s runner, when asked for.
    async fn on_cluster(
        &self,
        engine: Engine,
        cluster: Option<&str>,
        options: &datafusion_export_tables::DatabaseOptions,
    ) -> Result<Engine, String> {
        let Some(url) = cluster else {
            return Ok(engine);
        };
        let Some(connector) = self.cluster else {
            return Err(
                "this dfexport has no cluster client: --cluster needs the dfexport-cluster \
                 binary of the datafusion-export-ballista package (cargo run -p \
                 datafusion-export-ballista --bin dfexport-cluster)"
                    .into(),
            );
        };
        let runner = connector.connect(url, options).await?;
        Ok(engine.with_export_runner(runner))
    }
}

/// `serve --clean-interval`: a timespan, or `off` (`None`).
#[derive(Debug, Clone, Copy)]
pub struct CleanInterval(pub Option<std::time::Duration>);

fn parse_clean_interval(text: &str) -> Result<CleanInterval, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(CleanInterval(None));
    }
    match crate::command::try_parse_timespan(text) {
        Ok(d) if d >= std::time::Duration::from_secs(60) => Ok(CleanInterval(Some(d))),
        Ok(_) => Err(format!("{text} is too short: clean at most once a minute")),
        Err(_) => Err(format!(
            "'{text}' is not a timespan such as 1d or 12h, or 'off'"
        )),
    }
}

fn parse_clean_window(text: &str) -> Result<std::time::Duration, String> {
    match crate::command::try_parse_timespan(text) {
        Ok(d) if d >= datafusion_export_tables::MIN_VACUUM_WINDOW => Ok(d),
        Ok(_) => Err(format!(
            "{text} is too short: the window is at least 1h, or files of work still running \
             could be deleted"
        )),
        Err(_) => Err(format!("'{text}' is not a timespan such as 7d or 12h")),
    }
}

/// One `--storage-option KEY=VALUE`; its value is never shown.
#[derive(Clone)]
pub struct StorageOption(pub String, pub String);

impl std::fmt::Debug for StorageOption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}=*****", self.0)
    }
}

/// Parses `--storage-option KEY=VALUE` (the key lowercased).
pub fn parse_storage_option(text: &str) -> Result<StorageOption, String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok(StorageOption(
            key.trim().to_ascii_lowercase(),
            value.to_string(),
        )),
        _ => Err("expected KEY=VALUE, e.g. aws_endpoint=http://127.0.0.1:9000".into()),
    }
}

impl Args {
    /// How to open the database these arguments name.
    pub fn database_options(&self) -> Result<datafusion_export_tables::DatabaseOptions, String> {
        let secret_keys = match &self.secret_key_file {
            Some(path) => Some(datafusion_export_tables::SecretKeys::from_file(path)),
            None => datafusion_export_tables::SecretKeys::from_env().transpose(),
        }
        .transpose()
        .map_err(|e| e.to_string())?;
        Ok(datafusion_export_tables::DatabaseOptions {
            storage_options: self
                .storage_options
                .iter()
                .map(|o| (o.0.clone(), o.1.clone()))
                .collect(),
            secret_keys,
            ..Default::default()
        })
    }
}

/// `serve`'s log writer: every event (ours and the libraries', e.g. an HTTP client's
/// trace of a request URL with a SAS token) passes through [`crate::command::scrub_secrets`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ScrubbingStderr;

impl Write for ScrubbingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(crate::command::scrub_secrets(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Shortest `serve --poll-interval`.
pub const MIN_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);
/// Longest `serve --poll-interval` (1 day).
pub const MAX_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(86_400);

fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    use crate::command::{format_timespan, try_parse_timespan, TimespanError};
    match try_parse_timespan(text) {
        Ok(d) if (MIN_POLL_INTERVAL..=MAX_POLL_INTERVAL).contains(&d) => Ok(d),
        Ok(_) | Err(TimespanError::OutOfRange) => Err(format!(
            "{text} is out of range: the poll interval is a timespan from {} to {}",
            format_timespan(MIN_POLL_INTERVAL),
            format_timespan(MAX_POLL_INTERVAL)
        )),
        Err(TimespanError::Invalid) => Err(format!(
            "'{text}' is not a timespan such as 1s, 500ms or 1m"
        )),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// How `serve` cleans the database.
#[derive(Debug, Clone, Copy)]
struct CleanSchedule {
    interval: Option<std::time::Duration>,
    older_than: std::time::Duration,
}

/// Runs `.clean database` now and then every `interval`, logging what it deleted,
/// until aborted (a clean cut short is safe: the next one finishes it).
fn spawn_cleaner(engine: Engine, schedule: CleanSchedule) -> Option<tokio::task::JoinHandle<()>> {
    let interval = schedule.interval?;
    Some(tokio::spawn(async move {
        loop {
            match engine.clean_database(schedule.older_than).await {
                Ok(report) => tracing::info!(
                    objects = report.deleted.len(),
                    bytes = report.bytes(),
                    "database cleaned: {}",
                    crate::engine::commands::maintenance::summary(&report)
                ),
                Err(e) => tracing::warn!(
                    error = %crate::command::scrub_secrets(&e.to_string()),
                    "database clean failed; trying again at the next interval"
                ),
            }
            tokio::time::sleep(interval).await;
        }
    }))
}

/// Merges every table whose merge policy allows it, once per its `LoopPeriod`, one
/// table at a time (merges stream their sources: memory stays bounded), until aborted
/// (a merge cut short commits nothing; its file is left to the vacuum).
fn spawn_merger(database: datafusion_export_tables::Database) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last: std::collections::HashMap<uuid::Uuid, tokio::time::Instant> =
            std::collections::HashMap::new();
        loop {
            let tables = match database.tables().await {
                Ok(tables) => tables,
                Err(e) => {
                    tracing::warn!(error = %crate::command::scrub_secrets(&e.to_string()), "merge: cannot list tables");
                    Vec::new()
                }
            };
            for table in tables {
                let Ok(id) = database.state().table(&table.name).map(|t| t.id) else {
                    continue;
                };
                let policy = match database.merge_policy(Some(&table.name)).await {
                    Ok(policy) if policy.allow_merge => policy,
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::warn!(table = table.name, error = %e, "merge: unreadable policy");
                        continue;
                    }
                };
                let period = crate::command::try_parse_timespan(&policy.loop_period)
                    .unwrap_or(std::time::Duration::from_secs(3600));
                if last.get(&id).is_some_and(|t| t.elapsed() < period) {
                    continue;
                }
                last.insert(id, tokio::time::Instant::now());
                match database.merge_table(&table.name, &policy).await {
                    Ok(receipts) if !receipts.is_empty() => tracing::info!(
                        table = table.name,
                        merges = receipts.len(),
                        extents = receipts.iter().map(|r| r.sources.len()).sum::<usize>(),
                        "extents merged"
                    ),
                    Ok(_) => {}
                    // A race with another merger or a drop: the next loop plans afresh.
                    Err(e) => {
                        tracing::warn!(table = table.name, error = %crate::command::scrub_secrets(&e.to_string()), "merge failed; retrying at the next loop")
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    })
}

/// What `serve` runs beside the scheduler, and how often.
struct ServeSettings {
    poll: std::time::Duration,
    max_concurrent_exports: usize,
    clean: CleanSchedule,
    merge: bool,
}

async fn serve(
    db: &str,
    options: datafusion_export_tables::DatabaseOptions,
    settings: ServeSettings,
    network: NetworkArgs,
    hooks: Hooks<'_>,
    cluster: Option<&str>,
    out: &mut dyn Write,
) -> Result<(), String> {
    let ServeSettings {
        poll,
        max_concurrent_exports,
        clean,
        merge,
    } = settings;
    let (network_args, service) = (network, hooks.network);
    if network_args.wanted() && service.is_none() {
        return Err(
            "this dfexport has no network service: --listen and --metrics need the dfexport \
             binary of the datafusion-export-server package (cargo run -p \
             datafusion-export-server --bin dfexport)"
                .into(),
        );
    }
    let database = datafusion_export_tables::Database::open_with(db, options.clone())
        .await
        .map_err(|e| e.to_string())?;
    let settings = crate::continuous::ContinuousSettings {
        max_concurrent_exports,
        ..Default::default()
    };
    let engine = hooks
        .on_cluster(
            Engine::with_settings(database.clone(), settings),
            cluster,
            &options,
        )
        .await?;
    let cleaner_engine = engine.clone();
    let scheduler = crate::continuous::scheduler::Scheduler::new(engine);
    let _ = tracing_subscriber::fmt()
        .with_writer(|| ScrubbingStderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let _ = writeln!(
        out,
        "dfexport: scheduler running on {db}; stop with Ctrl-C or SIGTERM"
    );
    let _ = out.flush();
    tracing::info!(
        db,
        poll_ms = poll.as_millis() as u64,
        max_concurrent_exports,
        clean_interval_s = clean.interval.map(|d| d.as_secs()),
        "scheduler started"
    );
    let shutdown: Shutdown = futures::FutureExt::shared(futures::FutureExt::boxed(async {
        shutdown_signal().await;
        // A second signal stops at once, without waiting for what is in flight.
        tokio::spawn(async {
            shutdown_signal().await;
            std::process::exit(130);
        });
    }));
    let mut served = None;
    if let (true, Some(service)) = (network_args.wanted(), service) {
        let started = service
            .start(cleaner_engine.clone(), network_args, shutdown.clone())
            .await?;
        for line in &started.listening {
            let _ = writeln!(out, "dfexport: {line}");
        }
        let _ = out.flush();
        served = Some(tokio::spawn(started.serving));
    }
    let cleaner = spawn_cleaner(cleaner_engine, clean);
    let merger = merge.then(|| spawn_merger(database.clone()));
    let ran = scheduler
        .run_until(poll, shutdown.clone(), |name, outcome, elapsed| {
            if let Some(service) = service {
                service.observe_run(name, outcome, elapsed);
            }
            match outcome {
            Ok(o) => match o.run {
                Some(run) => tracing::info!(
                    job = name,
                    run,
                    from_cursor = o.from_cursor,
                    to_cursor = o.to_cursor,
                    rows = o.artifacts.iter().map(|a| a.num_records).sum::<u64>(),
                    artifacts = o.artifacts.len(),
                    duration_ms = elapsed.as_millis() as u64,
                    "run committed"
                ),
                None => tracing::debug!(job = name, cursor = o.from_cursor, "no new data"),
            },
            Err(e) => tracing::warn!(job = name, duration_ms = elapsed.as_millis() as u64, error = %e, "run failed"),
        }}, |e, retry_in| {
            tracing::error!(error = %crate::command::scrub_secrets(&e.to_string()), retry_in_ms = retry_in.as_millis() as u64, "scheduler tick failed; retrying")
        })
        .await
        .map_err(|e| e.to_string());
    for task in [cleaner, merger].into_iter().flatten() {
        task.abort();
    }
    // The service drains its in-flight requests once the shutdown future resolves.
    let served = match served {
        Some(task) => task
            .await
            .unwrap_or_else(|e| Err(format!("the network service stopped: {e}"))),
        None => Ok(()),
    };
    database.flush().await;
    ran?;
    served?;
    tracing::info!("scheduler stopped");
    let _ = writeln!(out, "dfexport: scheduler stopped");
    Ok(())
}

/// `dfexport` as a process: the process's arguments, results on standard output,
/// errors on standard error, and the exit code.
pub async fn main() -> std::process::ExitCode {
    main_with(None).await
}

/// [`main`] with `serve`'s network service (see [`NetworkService`]).
pub async fn main_with(service: Option<&dyn NetworkService>) -> std::process::ExitCode {
    main_with_hooks(Hooks {
        network: service,
        cluster: None,
    })
    .await
}

/// [`main`] with what a binary adds (see [`Hooks`]).
pub async fn main_with_hooks(hooks: Hooks<'_>) -> std::process::ExitCode {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match run_from_with_hooks(std::env::args_os(), hooks, &mut out).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            let message = message.trim_end();
            if message.starts_with("error:") {
                eprintln!("{message}");
            } else {
                eprintln!("error: {message}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// Parses `argv` and runs it, printing results to `out`. Errors come back as the
/// message to show the user.
pub async fn run_from<I, T>(argv: I, out: &mut dyn Write) -> Result<(), String>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_from_with(argv, None, out).await
}

/// [`run_from`] with `serve`'s network service (see [`NetworkService`]).
pub async fn run_from_with<I, T>(
    argv: I,
    service: Option<&dyn NetworkService>,
    out: &mut dyn Write,
) -> Result<(), String>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let hooks = Hooks {
        network: service,
        cluster: None,
    };
    run_from_with_hooks(argv, hooks, out).await
}

/// [`run_from`] with what a binary adds (see [`Hooks`]).
pub async fn run_from_with_hooks<I, T>(
    argv: I,
    hooks: Hooks<'_>,
    out: &mut dyn Write,
) -> Result<(), String>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match Args::try_parse_from(argv) {
        Ok(args) => args,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            return write!(out, "{}", e.render()).map_err(|e| e.to_string());
        }
        Err(e) => return Err(e.render().to_string()),
    };
    run_with_hooks(args, hooks, out).await
}

/// Runs parsed arguments, printing results to `out`.
pub async fn run(args: Args, out: &mut dyn Write) -> Result<(), String> {
    run_with(args, None, out).await
}

/// [`run`] with `serve`'s network service (see [`NetworkService`]).
pub async fn run_with(
    args: Args,
    service: Option<&dyn NetworkService>,
    out: &mut dyn Write,
) -> Result<(), String> {
    let hooks = Hooks {
        network: service,
        cluster: None,
    };
    run_with_hooks(args, hooks, out).await
}

/// [`run`] with what a binary adds (see [`Hooks`]).
pub async fn run_with_hooks(
    args: Args,
    hooks: Hooks<'_>,
    out: &mut dyn Write,
) -> Result<(), String> {
    if let Some(Service::Serve {
        poll_interval,
        max_concurrent_exports,
        clean_interval,
        clean_older_than,
        ref merge,
        ref network,
    }) = args.service
    {
        let merge = merge == "on";
        let options = args.database_options()?;
        let clean = CleanSchedule {
            interval: clean_interval.0,
            older_than: clean_older_than,
        };
        let settings = ServeSettings {
            poll: poll_interval,
            max_concurrent_exports,
            clean,
            merge,
        };
        return serve(
            &args.db,
            options,
            settings,
            network.clone(),
            hooks,
            args.cluster.as_deref(),
            out,
        )
        .await;
    }
    let options = args.database_options()?;
    let engine = Engine::open_with(&args.db, options.clone())
        .await
        .map_err(|e| e.to_string())?;
    let engine = hooks
        .on_cluster(engine, args.cluster.as_deref(), &options)
        .await?;
    let mut statements: Vec<String> = Vec::new();
    for command in &args.commands {
        statements.extend(split_statements(command).map_err(|e| e.to_string())?);
    }
    if let Some(path) = &args.script {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read script {}: {e}", path.display()))?;
        statements.extend(split_statements(&text).map_err(|e| format!("{}: {e}", path.display()))?);
    } else if args.commands.is_empty() {
        if std::io::stdin().is_terminal() {
            let ran = interactive(&engine, args.format, out).await;
            engine.database().flush().await;
            return ran;
        }
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        statements.extend(split_statements(&text).map_err(|e| e.to_string())?);
    }

    let mut ran = Ok(());
    for statement in statements {
        if let Err(e) = run_statement(&engine, &statement, args.format, out).await {
            ran = Err(e);
            break;
        }
    }
    // `.export async` printed its operation id; the process stays until the
    // operation ends, or its task would be cancelled half-way.
    let waited = wait_for_operations(&engine).await;
    // A checkpoint started by the last commits is written before the process goes.
    engine.database().flush().await;
    ran.and(waited)
}

/// Waits for the async operations `engine` started; an error names each that failed.
async fn wait_for_operations(engine: &Engine) -> Result<(), String> {
    let ended = engine.operations().wait_all().await;
    let failed: Vec<String> = ended
        .iter()
        .filter(|op| op.state == crate::export::operations::OperationState::Failed)
        .map(|op| {
            format!(
                "operation {} failed: {}",
                op.id,
                op.status.as_deref().unwrap_or("no details")
            )
        })
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\n"))
    }
}

/// Runs one statement and prints its result; long exports show a progress bar on a
/// terminal.
async fn run_statement(
    engine: &Engine,
    statement: &str,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), String> {
    let progress = ProgressBarTask::start(engine);
    let result = engine.execute(statement).await;
    let result = match result {
        Ok(frame) => {
            let schema = frame.schema().as_arrow().clone();
            frame
                .collect()
                .await
                .map(|batches| (schema, batches))
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    progress.stop().await;
    let (schema, mut batches) = result?;
    if batches.is_empty() && !schema.fields().is_empty() {
        batches.push(datafusion::arrow::array::RecordBatch::new_empty(
            std::sync::Arc::new(schema),
        ));
    }
    write_batches(out, &batches, format).map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())
}

/// A progress bar on standard error for exports that run longer than a second:
/// rows and bytes written, artifacts, rate. Nothing when stderr is not a terminal.
struct ProgressBarTask {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ProgressBarTask {
    fn start(engine: &Engine) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self {
                stop: None,
                task: None,
            };
        }
        let counters = engine.progress();
        let start = counters.snapshot();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let began = std::time::Instant::now();
            tokio::select! {
                _ = &mut stopped => return,
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            loop {
                let now = counters.snapshot().since(&start);
                let secs = began.elapsed().as_secs_f64().max(0.001);
                bar.set_message(format!(
                    "{} rows, {} written, {} artifacts, {:.0} rows/s",
                    now.rows,
                    indicatif::HumanBytes(now.bytes),
                    now.artifacts,
                    now.rows as f64 / secs
                ));
                bar.tick();
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
                }
            }
            bar.finish_and_clear();
        });
        Self {
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// The interactive prompt: a line starting with `.` runs at once; SQL runs when a
/// line ends with `;`. History is kept in `~/.dfexport_history`.
async fn interactive(
    engine: &Engine,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), String> {
    let mut editor = rustyline::DefaultEditor::new().map_err(|e| e.to_string())?;
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".dfexport_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    let _ = writeln!(
        out,
        "dfexport on {} — commands start with '.', SQL ends with ';', 'quit' or Ctrl-D leaves",
        engine.database().root()
    );
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() {
            "dfexport> "
        } else {
            "      ... "
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(rustyline::error::ReadlineError::Interrupted) => {
                pending.clear();
                continue;
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(e.to_string()),
        };
        let trimmed = line.trim();
        if pending.is_empty() && matches!(trimmed, "quit" | "exit" | "\\q") {
            break;
        }
        if !pending.is_empty() {
            pending.push('\n');
        }
        pending.push_str(&line);
        let complete = trimmed.ends_with(';')
            || (pending.trim_start().starts_with('.') && !trimmed.ends_with("<|"));
        if !complete || pending.trim().is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(pending.trim());
        match split_statements(&pending) {
            Ok(statements) => {
                for statement in statements {
                    if let Err(e) = run_statement(engine, &statement, format, out).await {
                        let _ = writeln!(out, "error: {e}");
                    }
                }
            }
            Err(e) => {
                let _ = writeln!(out, "error: {e}");
            }
        }
        pending.clear();
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    wait_for_operations(engine).await
}
