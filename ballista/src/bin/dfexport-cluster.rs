//! `dfexport-cluster`: the `dfexport` command line (commands, SQL, KQL, `serve` with
//! Flight SQL and metrics) with `--cluster df://HOST:PORT`, which runs exports'
//! queries and writers on a Ballista cluster of `dfexport-scheduler` and
//! `dfexport-executor` processes. See `dfexport-cluster --help`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let service = match datafusion_export_server::command_line::CommandLineService::new() {
        Ok(service) => service,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let connector = datafusion_export_ballista::processes::BallistaConnector;
    datafusion_export::cli::main_with_hooks(datafusion_export::cli::Hooks {
        network: Some(&service),
        cluster: Some(&connector),
    })
    .await
}
