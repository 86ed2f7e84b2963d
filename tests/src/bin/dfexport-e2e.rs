//! The `dfexport` command line, built in this package so that end-to-end tests can run
//! it as a process (and kill it) through `CARGO_BIN_EXE_dfexport-e2e`: the same
//! `datafusion_export::cli::main` as the shipped binary, without its allocator feature.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    datafusion_export::cli::main().await
}
