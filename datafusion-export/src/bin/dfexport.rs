//! `dfexport`: run management commands and SQL against a datafusion-export database.
//! See `dfexport --help`.

use std::process::ExitCode;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match datafusion_export::cli::run_from(std::env::args_os(), &mut out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let message = message.trim_end();
            if message.starts_with("error:") {
                eprintln!("{message}");
            } else {
                eprintln!("error: {message}");
            }
            ExitCode::FAILURE
        }
    }
}
