//! The `dfexport` command line, as a library so tests drive it in-process.

use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};

use clap::Parser;

use crate::command::split_statements;
use crate::output::{write_batches, OutputFormat};
use crate::Engine;

/// Run Kusto-style management commands (`.create table`, `.append`, `.ingest`,
/// `.show table T extents`, …) and DataFusion SQL against a database.
///
/// Statements in a script are separated by `;` or by blank lines. Without a script
/// or `-c`, statements are read from standard input.
#[derive(Debug, Parser)]
#[command(name = "dfexport", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Args {
    /// Database root: a local folder (created if missing) or an object store URL
    /// (s3://, az://, gs://, memory://).
    #[arg(long, env = "DFEXPORT_DB", default_value = "./dfexport-db")]
    pub db: String,

    /// A command or SQL statement to run; may be repeated, runs before SCRIPT.
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
    },
}

fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    crate::command::parse_timespan(text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("'{text}' is not a timespan such as 1s, 500ms or 1m"))
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

async fn serve(
    db: &str,
    poll: std::time::Duration,
    max_concurrent_exports: usize,
    out: &mut dyn Write,
) -> Result<(), String> {
    let database = datafusion_export_tables::Database::open(db)
        .await
        .map_err(|e| e.to_string())?;
    let settings = crate::continuous::ContinuousSettings {
        max_concurrent_exports,
        ..Default::default()
    };
    let engine = Engine::with_settings(database, settings);
    let scheduler = crate::continuous::scheduler::Scheduler::new(engine);
    let _ = writeln!(
        out,
        "dfexport: scheduler running on {db}; stop with Ctrl-C or SIGTERM"
    );
    scheduler
        .run_until(poll, shutdown_signal(), |name, outcome| match outcome {
            Ok(o) if o.run.is_some() => {
                let records: u64 = o.artifacts.iter().map(|a| a.num_records).sum();
                eprintln!(
                    "continuous-export {name}: run {} exported cursors ({}, {}]: {records} records in {} artifacts",
                    o.run.unwrap_or_default(),
                    o.from_cursor,
                    o.to_cursor,
                    o.artifacts.len()
                );
            }
            Ok(_) => {}
            Err(e) => eprintln!("continuous-export {name}: run failed: {e}"),
        })
        .await
        .map_err(|e| e.to_string())?;
    let _ = writeln!(out, "dfexport: scheduler stopped");
    Ok(())
}

/// Parses `argv` and runs it, printing results to `out`. Errors come back as the
/// message to show the user.
pub async fn run_from<I, T>(argv: I, out: &mut dyn Write) -> Result<(), String>
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
    run(args, out).await
}

/// Runs parsed arguments, printing results to `out`.
pub async fn run(args: Args, out: &mut dyn Write) -> Result<(), String> {
    if let Some(Service::Serve {
        poll_interval,
        max_concurrent_exports,
    }) = args.service
    {
        return serve(&args.db, poll_interval, max_concurrent_exports, out).await;
    }
    let engine = Engine::open(&args.db).await.map_err(|e| e.to_string())?;
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
            eprintln!(
                "dfexport: reading statements from standard input (end with Ctrl-D); see --help"
            );
        }
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        statements.extend(split_statements(&text).map_err(|e| e.to_string())?);
    }

    for statement in statements {
        let batches = engine
            .execute_collect(&statement)
            .await
            .map_err(|e| e.to_string())?;
        write_batches(out, &batches, args.format).map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
    Ok(())
}
