//! `dfexport`: run management commands, SQL and KQL against a datafusion-export
//! database, or `serve` it: the continuous-export scheduler and, with `--listen` and
//! `--metrics`, Arrow Flight SQL and Prometheus metrics. See `dfexport --help`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match datafusion_export_server::command_line::CommandLineService::new() {
        Ok(service) => datafusion_export::cli::main_with(Some(&service)).await,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
