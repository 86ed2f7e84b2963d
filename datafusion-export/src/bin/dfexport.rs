//! `dfexport`: run management commands and SQL against a datafusion-export database.
//! See `dfexport --help`.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    datafusion_export::cli::main().await
}
