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
#[command(name = "dfexport", version, about, long_about = None)]
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
