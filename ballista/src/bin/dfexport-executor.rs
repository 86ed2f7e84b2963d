//! `dfexport-executor`: an executor of a datafusion-export Ballista cluster.

use clap::Parser;
use datafusion_export_ballista::processes::{init_logging, run_executor, ExecutorArgs};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = ExecutorArgs::parse();
    init_logging();
    match run_executor(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
