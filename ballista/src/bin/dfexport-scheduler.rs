//! `dfexport-scheduler`: the scheduler of a datafusion-export Ballista cluster.

use clap::Parser;
use datafusion_export_ballista::processes::{init_logging, run_scheduler, SchedulerArgs};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = SchedulerArgs::parse();
    init_logging();
    match run_scheduler(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
