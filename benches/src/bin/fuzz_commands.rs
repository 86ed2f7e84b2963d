//! A long fuzz run of every text surface (command lexer and parser, script splitter,
//! property values, timespans, path formats, cursor strings): the harness of the
//! integration tests' CI run (`tests/src/fuzz.rs`), with as many cases as asked.
//!
//! ```sh
//! cargo run --release -p datafusion-export-benches --bin fuzz_commands -- [CASES] [SEED]
//! ```
//!
//! CASES defaults to 200,000, SEED to a fixed value (runs are deterministic: pass a
//! new seed, e.g. `$RANDOM`, to explore). Exits non-zero when an input panics, is
//! refused with an empty message, or is accepted out of range; each failure is
//! printed with the smallest input found.

use std::process::ExitCode;
use std::time::Instant;

use datafusion_export_integration_tests::fuzz::run;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if matches!(first.as_deref(), Some("-h" | "--help")) {
        println!("usage: fuzz_commands [CASES (default 200000)] [SEED]");
        return ExitCode::SUCCESS;
    }
    let parse = |s: Option<String>, default: u64, what: &str| -> Result<u64, String> {
        match s {
            None => Ok(default),
            Some(s) => s
                .replace('_', "")
                .parse()
                .map_err(|_| format!("{what} must be a number, got '{s}'")),
        }
    };
    let (cases, seed) = match (
        parse(first, 200_000, "CASES"),
        parse(args.next(), 0x5EED_F022, "SEED"),
    ) {
        (Ok(c), Ok(s)) => (c, s),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Panics are caught and reported as failures; keep their default message short.
    std::panic::set_hook(Box::new(|_| {}));
    let started = Instant::now();
    // In chunks, so that progress shows and one failing chunk does not hide the rest.
    const CHUNK: u64 = 20_000;
    let mut done = 0u64;
    let mut failures = Vec::new();
    let mut chunk_index = 0u64;
    while done < cases {
        let n = (cases - done).min(CHUNK);
        let report = run(n as u32, seed.wrapping_add(chunk_index));
        done += report.cases.max(n);
        failures.extend(report.failures);
        chunk_index += 1;
        eprintln!(
            "{done} cases, {:.1?}, {} failures",
            started.elapsed(),
            failures.len()
        );
    }
    let elapsed = started.elapsed();
    println!(
        "fuzz_commands: {done} cases in {elapsed:.2?} ({:.0} cases/s), seed {seed:#x}, {} failures",
        done as f64 / elapsed.as_secs_f64().max(1e-9),
        failures.len()
    );
    for f in &failures {
        println!("FAIL {f}");
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
