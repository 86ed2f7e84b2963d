//! Runs the two benchmark comparisons side by side in one process and prints the
//! figures the team quotes: median seconds, rows/s and the ratios
//!
//! * ingest throughput / raw Parquet throughput (target ≥ 0.80), and
//! * scoped scan time / full scan time (target ≤ 3%).
//!
//! Each variant runs `--reps N` times (default 5), alternating with its baseline,
//! without warm-up runs. With `--breakdown`, it then times the parts of each
//! contender (encoding, object-store writes and commit of an ingestion; parsing,
//! planning and execution of a query, against plain DataFusion over the same files)
//! to show where the time goes. Usage:
//!
//! ```text
//! cargo run --release -p datafusion-export-benches --bin bench_report [-- --reps 5] [--breakdown]
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::physical_plan::{collect, displayable};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use datafusion_export::Engine;
use datafusion_export_benches::{
    check_scans, database_ingest, default_ingest_batches, fresh_ingest_database, ingest_batches,
    ingest_schema, median, run_scan, runtime, scan_result, write_raw_parquet, Result, ScanFixture,
    FULL_SCAN_SQL, INGEST_BATCH_ROWS, INGEST_ROWS, INGEST_SEED, INGEST_TABLE, SCAN_INGESTIONS,
    SCAN_ROWS_PER_INGESTION, SCAN_TABLE,
};
use datafusion_export_tables::{extent_writer_properties, ExtentWriter};

/// As `dfexport`: the allocator the product's binary ships with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const INGEST_TARGET: f64 = 0.80;
const SCOPED_TARGET_PCT: f64 = 3.0;

struct Row {
    comparison: &'static str,
    variant: &'static str,
    samples: Vec<Duration>,
    rows: u64,
}

impl Row {
    fn median(&self) -> Duration {
        median(&self.samples)
    }

    fn rows_per_sec(&self) -> f64 {
        self.rows as f64 / self.median().as_secs_f64()
    }
}

fn main() -> ExitCode {
    let (reps, breakdown) = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("bench_report: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = runtime();
    match rt.block_on(run(reps, breakdown)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_report: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args() -> Result<(usize, bool)> {
    let mut reps = 5;
    let mut breakdown = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--reps" => {
                let value = args.next().ok_or("--reps needs a number")?;
                reps = value.parse::<usize>()?.max(1);
            }
            "--breakdown" => breakdown = true,
            other => {
                return Err(
                    format!("unknown argument {other:?} (usage: [--reps N] [--breakdown])").into(),
                )
            }
        }
    }
    Ok((reps, breakdown))
}

async fn run(reps: usize, breakdown: bool) -> Result<()> {
    println!(
        "datafusion-export bench report: {reps} alternating repetitions per variant, no warm-up, release build"
    );

    // Ingest: raw Parquet vs. database ingestion, alternating.
    let batches = default_ingest_batches();
    let mut raw = Row {
        comparison: "ingest",
        variant: "raw_parquet",
        samples: Vec::new(),
        rows: INGEST_ROWS as u64,
    };
    let mut ingest = Row {
        comparison: "ingest",
        variant: "database_ingest",
        samples: Vec::new(),
        rows: INGEST_ROWS as u64,
    };
    let mut raw_bytes = 0;
    for _ in 0..reps {
        let dir = tempfile::tempdir()?;
        let started = Instant::now();
        raw_bytes = write_raw_parquet(dir.path(), &batches)?;
        raw.samples.push(started.elapsed());
        drop(dir);

        let (dir, db) = fresh_ingest_database().await?;
        let input = batches.clone();
        let started = Instant::now();
        database_ingest(&db, input).await?;
        ingest.samples.push(started.elapsed());
        drop(db);
        drop(dir);
    }

    // Scoped scan: full vs. newest 1%, alternating, in one session.
    let fixture = ScanFixture::build().await?;
    let engine = fixture.engine();
    let scoped_sql = fixture.scoped_sql();
    let (full_result, scoped_result) = check_scans(&fixture, &engine).await?;
    let mut full = Row {
        comparison: "scoped_scan",
        variant: "full_scan",
        samples: Vec::new(),
        rows: full_result.count,
    };
    let mut scoped = Row {
        comparison: "scoped_scan",
        variant: "scoped_newest_1pct",
        samples: Vec::new(),
        rows: scoped_result.count,
    };
    for _ in 0..reps {
        let started = Instant::now();
        std::hint::black_box(run_scan(&engine, FULL_SCAN_SQL).await?);
        full.samples.push(started.elapsed());

        let started = Instant::now();
        std::hint::black_box(run_scan(&engine, &scoped_sql).await?);
        scoped.samples.push(started.elapsed());
    }

    println!();
    println!(
        "ingest data: {INGEST_ROWS} rows in batches of {INGEST_BATCH_ROWS} (raw Parquet file: {:.1} MiB)",
        raw_bytes as f64 / (1024.0 * 1024.0)
    );
    println!(
        "scan data: {SCAN_INGESTIONS} extents x {SCAN_ROWS_PER_INGESTION} rows (built in {:.1?}); scoped query: {scoped_sql}",
        fixture.build_time
    );
    println!();
    println!(
        "{:<12} {:<20} {:>11} {:>14}  samples (s)",
        "comparison", "variant", "median (s)", "rows/s"
    );
    println!("{}", "-".repeat(100));
    for row in [&raw, &ingest, &full, &scoped] {
        let samples: Vec<String> = row
            .samples
            .iter()
            .map(|d| format!("{:.4}", d.as_secs_f64()))
            .collect();
        println!(
            "{:<12} {:<20} {:>11.4} {:>14.0}  {}",
            row.comparison,
            row.variant,
            row.median().as_secs_f64(),
            row.rows_per_sec(),
            samples.join(" ")
        );
    }
    println!("{}", "-".repeat(100));

    let ingest_ratio = ingest.rows_per_sec() / raw.rows_per_sec();
    let scoped_pct = 100.0 * scoped.median().as_secs_f64() / full.median().as_secs_f64();
    println!(
        "ingest throughput / raw parquet throughput: {ingest_ratio:.3}  (target >= {INGEST_TARGET:.2}: {})",
        verdict(ingest_ratio >= INGEST_TARGET)
    );
    println!(
        "scoped time / full time:                    {scoped_pct:.2}%  (target <= {SCOPED_TARGET_PCT:.0}%: {})",
        verdict(scoped_pct <= SCOPED_TARGET_PCT)
    );

    if breakdown {
        ingest_breakdown(reps, &batches).await?;
        scan_breakdown(reps, &fixture, &engine).await?;
    }
    Ok(())
}

/// Runs `f` `reps` times; returns the median of each part it times.
async fn time_parts<F, Fut>(reps: usize, mut f: F) -> Result<Vec<Duration>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Duration>>>,
{
    let mut runs: Vec<Vec<Duration>> = Vec::new();
    for _ in 0..reps {
        runs.push(f().await?);
    }
    let parts = runs.first().map_or(0, Vec::len);
    Ok((0..parts)
        .map(|i| median(&runs.iter().map(|r| r[i]).collect::<Vec<_>>()))
        .collect())
}

fn print_part(label: &str, d: Duration) {
    println!("  {label:<66} {:>9.2} ms", d.as_secs_f64() * 1e3);
}

/// Where an ingestion's time goes: Parquet encoding alone, the extent writer into
/// the database's object store (encoding + object-store writes, no commit), the
/// whole ingestion, and the fixed cost of a one-row ingestion (commit included).
async fn ingest_breakdown(reps: usize, batches: &[RecordBatch]) -> Result<()> {
    println!();
    println!("ingest breakdown (medians of {reps}):");
    let parts = time_parts(reps, || async {
        // 1. Sync ArrowWriter into a file (the baseline).
        let dir = tempfile::tempdir()?;
        let started = Instant::now();
        write_raw_parquet(dir.path(), batches)?;
        let raw = started.elapsed();
        drop(dir);

        // 2. AsyncArrowWriter into memory: encoding only.
        let started = Instant::now();
        let mut buffer = Vec::new();
        let mut writer = AsyncArrowWriter::try_new(
            &mut buffer,
            ingest_schema(),
            Some(extent_writer_properties()),
        )?;
        for batch in batches {
            writer.write(batch).await?;
        }
        writer.close().await?;
        let in_memory = started.elapsed();
        drop(buffer);

        // 3. The database's ExtentWriter into its local object store, no commit.
        let (dir, db) = fresh_ingest_database().await?;
        let input = batches.to_vec();
        let started = Instant::now();
        let mut writer = ExtentWriter::new(
            db.object_store(),
            INGEST_TABLE,
            db.table_schema(INGEST_TABLE).await?,
            db.options().max_rows_per_extent,
        );
        for batch in &input {
            writer.write(batch).await?;
        }
        writer.finish().await?;
        let extent_writer = started.elapsed();
        drop(input);
        drop(db);
        drop(dir);

        // 4. The whole ingestion.
        let (dir, db) = fresh_ingest_database().await?;
        let input = batches.to_vec();
        let started = Instant::now();
        database_ingest(&db, input).await?;
        let ingest = started.elapsed();

        // 5. A one-row ingestion into the same database: the fixed cost.
        let one = ingest_batches(1, 1, INGEST_SEED);
        let started = Instant::now();
        database_ingest(&db, one).await?;
        let one_row = started.elapsed();
        drop(db);
        drop(dir);
        Ok(vec![raw, in_memory, extent_writer, ingest, one_row])
    })
    .await?;
    print_part("raw_parquet: sync ArrowWriter -> local file", parts[0]);
    print_part("AsyncArrowWriter -> Vec<u8> (encoding only)", parts[1]);
    print_part(
        "ExtentWriter -> database object store (no commit)",
        parts[2],
    );
    print_part("database_ingest (whole)", parts[3]);
    print_part(
        "database_ingest of 1 row (per-ingestion fixed cost)",
        parts[4],
    );
    Ok(())
}

/// Where a query's time goes: parsing, planning (analysis, optimisation and the
/// provider's scan with extent pruning) and execution, for the full and the scoped
/// query, plus the same aggregate through plain DataFusion over the same Parquet
/// files, and a scope with no extents at all (pure fixed cost).
async fn scan_breakdown(reps: usize, fixture: &ScanFixture, engine: &Engine) -> Result<()> {
    println!();
    println!("scoped_scan breakdown (medians of {reps}):");
    let scoped_sql = fixture.scoped_sql();
    let empty_sql = datafusion_export_benches::scoped_scan_sql(fixture.db.current_cursor());
    for (label, sql) in [
        ("full", FULL_SCAN_SQL.to_string()),
        ("scoped", scoped_sql.clone()),
        ("empty scope", empty_sql),
    ] {
        let parts = time_parts(reps, || {
            let sql = sql.clone();
            async move { phases(engine, &sql).await.map(|(p, _)| p) }
        })
        .await?;
        let total: Duration = parts.iter().sum();
        print_part(
            &format!("{label}: parse (Engine::execute -> DataFrame)"),
            parts[0],
        );
        print_part(
            &format!("{label}: analyse + optimise + physical plan (incl. scan())"),
            parts[1],
        );
        print_part(&format!("{label}: execute (collect)"), parts[2]);
        print_part(&format!("{label}: total"), total);
    }
    let (_, plan) = phases(engine, &scoped_sql).await?;
    println!("  scoped plan:");
    for line in plan.lines() {
        println!("    {line}");
    }

    // Plain DataFusion over the same files: the floor of reading them.
    let extents = fixture.db.extents(SCAN_TABLE).await?;
    let root = fixture.dir.path();
    let path_of =
        |e: &datafusion_export_tables::Extent| root.join(&e.file.path).display().to_string();
    let all: Vec<String> = extents.iter().map(path_of).collect();
    let newest: Vec<String> = extents
        .iter()
        .filter(|e| e.cursor > fixture.scope_after.sequence())
        .map(path_of)
        .collect();
    for (label, files) in [
        ("plain DataFusion, all 1000 files", all),
        ("plain DataFusion, the 10 newest files", newest),
    ] {
        let parts = time_parts(reps, || {
            let files = files.clone();
            async move {
                let ctx = SessionContext::new();
                let started = Instant::now();
                let df = ctx
                    .read_parquet(files, ParquetReadOptions::default())
                    .await?
                    .aggregate(
                        vec![],
                        vec![
                            datafusion::functions_aggregate::count::count_all(),
                            datafusion::functions_aggregate::sum::sum(datafusion::prelude::col(
                                "v",
                            )),
                            datafusion::functions_aggregate::min_max::max(
                                datafusion::prelude::col("s"),
                            ),
                        ],
                    )?;
                let batches = df.collect().await?;
                let elapsed = started.elapsed();
                let count = scan_result(&batches)?.count;
                if count == 0 {
                    return Err("plain DataFusion read nothing".into());
                }
                Ok(vec![elapsed])
            }
        })
        .await?;
        print_part(&format!("{label}: total"), parts[0]);
    }
    Ok(())
}

/// Times the phases of `sql` through `engine`; returns them and the physical plan.
async fn phases(engine: &Engine, sql: &str) -> Result<(Vec<Duration>, String)> {
    let started = Instant::now();
    let df = engine.execute(sql).await?;
    let parse = started.elapsed();
    let started = Instant::now();
    let plan = df.create_physical_plan().await?;
    let planning = started.elapsed();
    let started = Instant::now();
    let batches = collect(std::sync::Arc::clone(&plan), engine.context().task_ctx()).await?;
    let execution = started.elapsed();
    scan_result(&batches)?;
    let shown = displayable(plan.as_ref()).indent(false).to_string();
    Ok((vec![parse, planning, execution], shown))
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}
