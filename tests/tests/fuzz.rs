//! Fuzzed input (issue 9, item 9): random and mutated text, seeded from the README's
//! and DESIGN's command examples, through the command lexer and parser, the script
//! splitter, property values, timespans, path formats and cursor strings. Bounded
//! and deterministic (a fixed seed); `cargo run --release -p
//! datafusion-export-benches --bin fuzz_commands -- CASES [SEED]` runs longer.

use datafusion_export_integration_tests::fuzz::{check, run, CORPUS};

/// Cases of CI's run: a few thousand, a few seconds.
const CASES: u32 = 3_000;
const SEED: u64 = 0x5EED_F022;

#[test]
fn the_corpus_parses() {
    for text in CORPUS {
        datafusion_export::command::split_statements(text)
            .unwrap_or_else(|e| panic!("{text:?}: {e}"));
        if !text.contains('\n') {
            datafusion_export::command::parse_command(text)
                .unwrap_or_else(|e| panic!("{text:?}: {e}"));
        }
        check(text).unwrap();
    }
}

#[test]
fn fuzzed_input_never_panics_and_every_rejection_says_why() {
    let started = std::time::Instant::now();
    let report = run(CASES, SEED);
    println!(
        "fuzz: {} cases in {:.2?}; by generator {:?}; by surface (accepted, rejected) {:?}",
        report.cases,
        started.elapsed(),
        report.by_generator,
        report.outcome.by_surface
    );
    assert!(report.cases >= u64::from(CASES) - 10, "{report:?}");
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    // Every surface saw inputs it took and inputs it refused.
    for surface in [
        "command",
        "script",
        "timespan",
        "cursor",
        "datetime_pattern",
        "continuous properties",
        "export properties",
        "partitioner",
    ] {
        let (accepted, rejected) = report
            .outcome
            .by_surface
            .get(surface)
            .copied()
            .unwrap_or_default();
        // Valid partition definitions always split the batch.
        let refuses = surface != "partitioner";
        assert!(
            accepted > 0 && (rejected > 0 || !refuses),
            "{surface}: {accepted} accepted, {rejected} rejected"
        );
    }
}

/// Inputs that once panicked or slipped through, kept as regressions.
#[test]
fn known_bad_inputs() {
    for text in [
        "100000000d",
        "99999999999999999999s",
        "-1.00:00:00",
        "NaN",
        "10675199.02:48:05.4775808",
        "99999999999999999999999999999.00:00:00",
        "fffffffffff",
        "'unterminated",
        "\"",
        "%",
        "",
    ] {
        check(text).unwrap();
    }
}
