//! `dfexport`: run management commands and SQL against a datafusion-export database.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use clap::Parser;
use datafusion_export::command::split_statements;
use datafusion_export::output::{write_batches, OutputFormat};
use datafusion_export::Engine;

/// Run Kusto-style management commands (`.create table`, `.append`, `.ingest`,
/// `.show table T extents`, …) and DataFusion SQL against a database.
///
/// Statements in a script are separated by `;` or by blank lines. Without a script
/// or `-c`, statements are read from standard input.
#[derive(Debug, Parser)]
#[command(name = "dfexport", version, about, long_about = None)]
struct Args {
    /// Database root: a local folder (created if missing) or an object store URL
    /// (s3://, az://, gs://, memory://).
    #[arg(long, env = "DFEXPORT_DB", default_value = "./dfexport-db")]
    db: String,

    /// A command or SQL statement to run; may be repeated, runs before SCRIPT.
    #[arg(short = 'c', long = "command", value_name = "TEXT")]
    commands: Vec<String>,

    /// How to print results.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,

    /// A script file of statements.
    script: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
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
            eprintln!("dfexport: reading statements from standard input (end with Ctrl-D); see --help");
        }
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        statements.extend(split_statements(&text).map_err(|e| e.to_string())?);
    }

    let stdout = std::io::stdout();
    for statement in statements {
        let batches = engine
            .execute_collect(&statement)
            .await
            .map_err(|e| e.to_string())?;
        let mut out = stdout.lock();
        write_batches(&mut out, &batches, args.format).map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
    Ok(())
}
