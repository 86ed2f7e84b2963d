//! `export_report`: side-by-side wall times of `.export` and continuous export
//! against DataFusion `COPY`, DuckDB and delta-rs (Python), on the same data, on
//! the same machine, in one process run.
//!
//! ```text
//! cargo run --release -p datafusion-export-benches --bin export_report -- [--rows N] [--reps R]
//! ```
//!
//! * `--rows N` (default 10,000,000): rows of table `T`, ingested as 1,000
//!   ingestions (1,000 extents) with a fixed seed.
//! * `--reps R` (default 3): repetitions of every comparison; the contenders of a
//!   comparison alternate (their order rotates every repetition) and the median
//!   wall time is reported.
//! * `--noop-iters K` (default 50): iterations of the no-op continuous-export run.
//!
//! Self-contained: it uses only the crates of `benches/Cargo.toml` and the Python
//! drivers in `benches/scripts/` (which need `python3` with `pyarrow`, `duckdb`
//! and `deltalake`). Nothing is shared with `lib.rs`.
//!
//! A hidden `--child-peak-memory --db DIR --table NAME --out DIR --limit-mib M`
//! mode exports one table in a fresh process and prints its peak RSS; the parent
//! re-invokes this binary that way for the memory measurement.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, StringBuilder,
    TimestampNanosecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::memory_pool::{MemoryLimit, MemoryPool, PeakRecordingPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::SessionStateBuilder;
use datafusion_export::continuous::scheduler::Scheduler;
use datafusion_export::Engine;
use futures::StreamExt;
use rand::distr::Alphanumeric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// As `dfexport`: the allocator the product's binary ships with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, BoxError>;

/// Seed of the data of `T`; ingestion `i` uses `SEED + i`.
const SEED: u64 = 0xE4_0027_5EED;
/// Ingestions (and so extents) of `T`.
const INGESTIONS: usize = 1_000;
/// Ingestions before the continuous export is created (99%).
const BEFORE_CONTINUOUS: usize = 990;
/// The columns of `T` and of every external table, in Kusto syntax.
const COLUMNS: &str = "id:long, region:string, ts:datetime, v:real, s:string";
/// The 8 distinct values of `region`.
const REGIONS: [&str; 8] = [
    "eastus",
    "westus",
    "northeurope",
    "westeurope",
    "southeastasia",
    "japaneast",
    "brazilsouth",
    "australiaeast",
];
/// 2026-01-01T00:00:00Z in nanoseconds; `ts` spreads over the 30 days after it.
const BASE_TS_NS: i64 = 1_767_225_600_000_000_000;
const SPAN_NS: i64 = 30 * 86_400 * 1_000_000_000;
/// The memory limit of the peak-memory child, MiB.
const CHILD_LIMIT_MIB: usize = 512;
/// Parquet row-group size used by every Parquet writer compared.
const ROW_GROUP: usize = 100_000;

// ---------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Args {
    rows: usize,
    reps: usize,
    noop_iters: usize,
    /// Runs only these tasks (keys of [`Task::key`]), for profiling.
    only: Vec<Task>,
    /// Keeps the database and every output (for inspection).
    keep: bool,
    child: Option<ChildArgs>,
}

#[derive(Debug, Clone)]
struct ChildArgs {
    db: String,
    table: String,
    out: String,
    limit_mib: usize,
}

fn parse_count(flag: &str, value: Option<String>) -> Result<usize> {
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    let digits: String = value.chars().filter(|c| *c != '_' && *c != ',').collect();
    digits
        .parse::<usize>()
        .map_err(|e| format!("{flag} {value}: {e}").into())
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        rows: 10_000_000,
        reps: 3,
        noop_iters: 50,
        only: Vec::new(),
        keep: false,
        child: None,
    };
    let mut child = false;
    let (mut db, mut table, mut out, mut limit_mib) = (None, None, None, CHILD_LIMIT_MIB);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--rows" => args.rows = parse_count("--rows", it.next())?,
            "--reps" => args.reps = parse_count("--reps", it.next())?.max(1),
            "--noop-iters" => args.noop_iters = parse_count("--noop-iters", it.next())?.max(1),
            "--only" => {
                let list = it.next().ok_or("--only needs a value")?;
                for key in list.split(',') {
                    let task = Task::ALL
                        .iter()
                        .copied()
                        .find(|t| t.key() == key)
                        .ok_or_else(|| format!("--only: unknown task {key:?}"))?;
                    args.only.push(task);
                }
            }
            "--keep" => args.keep = true,
            "--child-peak-memory" => child = true,
            "--db" => db = it.next(),
            "--table" => table = it.next(),
            "--out" => out = it.next(),
            "--limit-mib" => limit_mib = parse_count("--limit-mib", it.next())?,
            "--bench" => {} // passed by `cargo bench`-style harnesses; ignored
            "-h" | "--help" => {
                println!(
                    "export_report [--rows N (default 10000000)] [--reps R (default 3)] [--noop-iters K (default 50)] [--only TASK,...] [--keep]"
                );
                let keys: Vec<&str> = Task::ALL.iter().map(|t| t.key()).collect();
                println!("tasks for --only: {}", keys.join(", "));
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    if args.rows < INGESTIONS {
        return Err(format!("--rows must be at least {INGESTIONS}").into());
    }
    if child {
        args.child = Some(ChildArgs {
            db: db.ok_or("--db is required with --child-peak-memory")?,
            table: table.ok_or("--table is required with --child-peak-memory")?,
            out: out.ok_or("--out is required with --child-peak-memory")?,
            limit_mib,
        });
    }
    Ok(args)
}

// ---------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------

/// Rows of ingestion `i` of `total` rows spread over [`INGESTIONS`] ingestions;
/// ingestions past the last one (extra data of the continuous-export runs) hold
/// `total / INGESTIONS` rows each, with ids after `total`.
fn ingestion_rows(total: usize, i: usize) -> Range<usize> {
    if i < INGESTIONS {
        total * i / INGESTIONS..total * (i + 1) / INGESTIONS
    } else {
        let per = total / INGESTIONS;
        let start = total + (i - INGESTIONS) * per;
        start..start + per
    }
}

/// The fixed-seed batch of ingestion `i`.
fn ingestion_batch(schema: &SchemaRef, total: usize, i: usize) -> Result<RecordBatch> {
    let ids = ingestion_rows(total, i);
    let n = ids.len();
    let mut rng = StdRng::seed_from_u64(SEED.wrapping_add(i as u64));
    let id: Int64Array = ids.map(|r| Some(r as i64)).collect();
    let region = StringArray::from_iter_values((0..n).map(|_| REGIONS[rng.random_range(0..8)]));
    let ts = TimestampNanosecondArray::from_iter_values(
        (0..n).map(|_| BASE_TS_NS + rng.random_range(0..SPAN_NS)),
    )
    .with_timezone("UTC");
    let v = Float64Array::from_iter_values((0..n).map(|_| rng.random_range(-1e6..1e6)));
    let mut s = StringBuilder::with_capacity(n, n * 20);
    let mut buf = String::with_capacity(24);
    for _ in 0..n {
        buf.clear();
        let len = rng.random_range(16..=24);
        buf.extend((0..len).map(|_| rng.sample(Alphanumeric) as char));
        s.append_value(&buf);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id),
        Arc::new(region),
        Arc::new(ts),
        Arc::new(v),
        Arc::new(s.finish()),
    ];
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| format!("not UTF-8: {}", path.display()).into())
}

/// `text` as a single-quoted SQL / KQL string literal.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn rate(rows: u64, secs: f64) -> String {
    if secs <= 0.0 || !secs.is_finite() {
        return "-".into();
    }
    let r = rows as f64 / secs;
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

/// The sum of an integer column of the batches (`NumRecords`, `count`).
fn sum_column(batches: &[RecordBatch], name: &str) -> Result<u64> {
    let mut total = 0u64;
    for batch in batches {
        let column = batch
            .column_by_name(name)
            .ok_or_else(|| format!("no column {name} in the result"))?;
        if let Some(a) = column.as_any().downcast_ref::<Int64Array>() {
            total += a.iter().flatten().map(|v| v as u64).sum::<u64>();
        } else if let Some(a) = column.as_any().downcast_ref::<UInt64Array>() {
            total += a.iter().flatten().sum::<u64>();
        } else {
            return Err(format!("column {name} is {}", column.data_type()).into());
        }
    }
    Ok(total)
}

fn string_value(batches: &[RecordBatch], name: &str) -> Option<String> {
    let batch = batches.iter().find(|b| b.num_rows() > 0)?;
    let column = batch.column_by_name(name)?;
    let strings = column.as_any().downcast_ref::<StringArray>()?;
    (!strings.is_null(0)).then(|| strings.value(0).to_string())
}

/// A number field of a flat one-line JSON object (the Python drivers' output).
fn json_number(text: &str, key: &str) -> Option<f64> {
    let pattern = format!("\"{key}\":");
    let start = text.find(&pattern)? + pattern.len();
    let rest = text[start..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// A `key:  value kB` line of `/proc/self/status`, in bytes.
fn proc_status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    })
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// CPU seconds (user + system) of this process and of its waited-for children,
/// from `/proc/self/stat` (clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses: state is field 3,
    // utime, stime, cutime, cstime are fields 14 to 17.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..15)
        .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    ticks as f64 / 100.0
}

/// Files and bytes under `path`.
fn dir_stats(path: &Path) -> (u64, u64) {
    let Ok(entries) = std::fs::read_dir(path) else {
        return (0, 0);
    };
    entries
        .flatten()
        .fold((0, 0), |(files, bytes), e| match e.file_type() {
            Ok(t) if t.is_dir() => {
                let (f, b) = dir_stats(&e.path());
                (files + f, bytes + b)
            }
            _ => (files + 1, bytes + e.metadata().map_or(0, |m| m.len())),
        })
}

/// Flushes dirty pages so that one contender's write-back does not land in the
/// next one's measurement (not timed).
fn settle() {
    let _ = Process::new("sync").status();
}

// ---------------------------------------------------------------------------------
// Contenders
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Parquet,
    Csv,
    Json,
}

impl Format {
    fn kql(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    /// `.export to <format> ('dir') with (…) <| SELECT * FROM T`.
    Export(Format),
    /// DataFusion `COPY (SELECT * FROM T) TO 'dir/' STORED AS <format>`.
    Copy(Format),
    /// `.export to table P <| SELECT * FROM T`, P partitioned by region.
    ExportPartitioned,
    /// DataFusion `COPY … PARTITIONED BY (region)`.
    CopyPartitioned,
    /// The same with `'execution.keep_partition_by_columns' 'true'`: `region`
    /// stays in the files, as `.export to table` keeps it.
    CopyPartitionedKeep,
    /// DuckDB `COPY … (PARTITION_BY (region))` from the Parquet copy of T.
    DuckdbPartitioned,
    /// The same with `WRITE_PARTITION_COLUMNS true`.
    DuckdbPartitionedKeep,
    /// `.export to table D <| SELECT * FROM T`, D a Delta table.
    ExportDelta,
    /// Python `deltalake.write_deltalake` of the Parquet copy of T (in memory).
    PythonDelta,
    /// `.run continuous-export E` after 1% new data.
    ContinuousRun,
    /// `.export to table C <| SELECT * FROM T`: the full export E would replace.
    FullExportC,
    /// `SELECT * FROM T`, drained: the query alone, nothing written.
    ScanOnly,
    /// `.export to parquet` with `distribution='single'`: one writer.
    ExportSingle,
    /// Diagnostic: `.export parquet` with 1,000,000-row row groups.
    ExportRowGroup1M,
    /// Diagnostic: DataFusion COPY parquet without dictionaries for the
    /// high-cardinality columns (`id`, `ts`, `v`, `s`).
    CopyNoDictionary,
    /// Diagnostic: `.export to table P` with one writer (`distribution='single'`).
    ExportPartitionedSingle,
}

impl Task {
    const ALL: [Task; 20] = [
        Task::Export(Format::Parquet),
        Task::Export(Format::Csv),
        Task::Export(Format::Json),
        Task::Copy(Format::Parquet),
        Task::Copy(Format::Csv),
        Task::Copy(Format::Json),
        Task::ExportPartitioned,
        Task::CopyPartitioned,
        Task::CopyPartitionedKeep,
        Task::DuckdbPartitioned,
        Task::DuckdbPartitionedKeep,
        Task::ExportDelta,
        Task::PythonDelta,
        Task::ContinuousRun,
        Task::FullExportC,
        Task::ScanOnly,
        Task::ExportSingle,
        Task::ExportRowGroup1M,
        Task::CopyNoDictionary,
        Task::ExportPartitionedSingle,
    ];

    fn key(self) -> &'static str {
        match self {
            Task::Export(Format::Parquet) => "parquet",
            Task::Export(Format::Csv) => "csv",
            Task::Export(Format::Json) => "json",
            Task::Copy(Format::Parquet) => "copy-parquet",
            Task::Copy(Format::Csv) => "copy-csv",
            Task::Copy(Format::Json) => "copy-json",
            Task::ExportPartitioned => "hive",
            Task::CopyPartitioned => "copy-hive",
            Task::CopyPartitionedKeep => "copy-hive-keep",
            Task::DuckdbPartitioned => "duckdb-hive",
            Task::DuckdbPartitionedKeep => "duckdb-hive-keep",
            Task::ExportDelta => "delta",
            Task::PythonDelta => "py-delta",
            Task::ContinuousRun => "continuous",
            Task::FullExportC => "full-c",
            Task::ScanOnly => "scan",
            Task::ExportSingle => "single",
            Task::ExportRowGroup1M => "parquet-rg1m",
            Task::CopyNoDictionary => "copy-parquet-nodict",
            Task::ExportPartitionedSingle => "hive-single",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Task::Export(Format::Parquet) => ".export parquet",
            Task::Export(Format::Csv) => ".export csv",
            Task::Export(Format::Json) => ".export json",
            Task::Copy(Format::Parquet) => "DataFusion COPY parquet",
            Task::Copy(Format::Csv) => "DataFusion COPY csv",
            Task::Copy(Format::Json) => "DataFusion COPY json",
            Task::ExportPartitioned => ".export to table P (hive)",
            Task::CopyPartitioned => "DataFusion COPY PARTITIONED BY",
            Task::CopyPartitionedKeep => "DF COPY PARTITIONED, keep cols",
            Task::DuckdbPartitioned => "DuckDB COPY PARTITION_BY",
            Task::DuckdbPartitionedKeep => "DuckDB PARTITION_BY, keep cols",
            Task::ExportDelta => ".export to table D (delta)",
            Task::PythonDelta => "deltalake.write_deltalake",
            Task::ContinuousRun => ".run continuous-export E (1%)",
            Task::FullExportC => "full .export to table C",
            Task::ScanOnly => "SELECT * FROM T (drained)",
            Task::ExportSingle => ".export parquet single",
            Task::ExportRowGroup1M => ".export parquet, 1M-row groups",
            Task::CopyNoDictionary => "DF COPY parquet, no dictionary",
            Task::ExportPartitionedSingle => ".export to table P, single",
        }
    }
}

struct Bench {
    engine: Engine,
    rows: usize,
    schema: SchemaRef,
    /// Scratch folder for outputs.
    scratch: PathBuf,
    /// T as one Parquet file (input of the Python baselines).
    t_parquet: PathBuf,
    scripts: PathBuf,
    next_name: usize,
    /// Next ingestion index of T (1,000 and above: extra continuous-export data).
    next_ingestion: usize,
    continuous_runs: usize,
    /// Files and bytes the last task wrote (when it wrote a fresh folder).
    last_output: Option<(u64, u64)>,
    /// Outputs are kept, not removed.
    keep: bool,
}

impl Bench {
    /// Records what a task wrote under `dir`, then removes it (not timed).
    fn done(&mut self, dir: &Path) {
        self.last_output = Some(dir_stats(dir));
        if !self.keep {
            remove(dir);
        }
    }

    fn fresh_dir(&mut self, what: &str) -> PathBuf {
        self.next_name += 1;
        self.scratch.join(format!("{what}-{}", self.next_name))
    }

    async fn export_records(&self, command: &str) -> Result<u64> {
        let batches = self.engine.execute_collect(command).await?;
        sum_column(&batches, "NumRecords")
    }

    /// Creates external table `name` (T's columns, then `definition`), times
    /// `.export to table name{with} <| SELECT * FROM T`, drops the table (not timed).
    async fn time_export_to_table(
        &self,
        name: &str,
        definition: &str,
        with: &str,
    ) -> Result<(f64, u64)> {
        self.engine
            .execute_collect(&format!(
                ".create external table {name} ({COLUMNS}) {definition}"
            ))
            .await?;
        let t = Instant::now();
        let rows = self
            .export_records(&format!(".export to table {name}{with} <| SELECT * FROM T"))
            .await?;
        let secs = t.elapsed().as_secs_f64();
        self.engine
            .execute_collect(&format!(".drop external table {name}"))
            .await?;
        Ok((secs, rows))
    }

    async fn copy_rows(&self, sql: &str) -> Result<u64> {
        let batches = self.engine.context().sql(sql).await?.collect().await?;
        sum_column(&batches, "count")
    }

    async fn ingest_next(&mut self) -> Result<()> {
        let batch = ingestion_batch(&self.schema, self.rows, self.next_ingestion)?;
        self.next_ingestion += 1;
        let receipt = self.engine.database().ingest("T", vec![batch]).await?;
        if receipt.commit.is_none() {
            return Err("an ingestion committed nothing".into());
        }
        Ok(())
    }

    fn python(&self, script: &str, args: &[&str]) -> Result<(f64, u64)> {
        let path = self.scripts.join(script);
        let output =
            tokio::task::block_in_place(|| Process::new("python3").arg(&path).args(args).output())?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "{script} failed ({}): {}{}",
                output.status,
                stdout,
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        let line = stdout.lines().last().unwrap_or_default();
        let secs = json_number(line, "seconds")
            .ok_or_else(|| format!("{script}: no seconds in {line:?}"))?;
        let rows = json_number(line, "rows").unwrap_or(-1.0);
        Ok((secs, rows.max(0.0) as u64))
    }

    /// Runs `task` once; returns the timed wall time and the rows it wrote.
    async fn run(&mut self, task: Task) -> Result<(f64, u64)> {
        self.last_output = None;
        let result = match task {
            Task::Export(format) => {
                let dir = self.fresh_dir(format.kql());
                let props = match format {
                    Format::Parquet => {
                        "compressionType='snappy', parquetRowGroupSize=100000, distribution='per_node'"
                    }
                    Format::Csv | Format::Json => "distribution='per_node'",
                };
                let command = format!(
                    ".export to {} ({}) with ({props}) <| SELECT * FROM T",
                    format.kql(),
                    quoted(path_str(&dir)?)
                );
                let t = Instant::now();
                let rows = self.export_records(&command).await?;
                let secs = t.elapsed().as_secs_f64();
                self.done(&dir);
                (secs, rows)
            }
            Task::ExportSingle | Task::ExportRowGroup1M => {
                let dir = self.fresh_dir("single");
                let props = if task == Task::ExportSingle {
                    "parquetRowGroupSize=100000, distribution='single'"
                } else {
                    "parquetRowGroupSize=1000000, distribution='per_node'"
                };
                let command = format!(
                    ".export to parquet ({}) with (compressionType='snappy', {props}) <| SELECT * FROM T",
                    quoted(path_str(&dir)?)
                );
                let t = Instant::now();
                let rows = self.export_records(&command).await?;
                let secs = t.elapsed().as_secs_f64();
                self.done(&dir);
                (secs, rows)
            }
            Task::Copy(_) | Task::CopyNoDictionary => {
                let format = match task {
                    Task::Copy(format) => format,
                    _ => Format::Parquet,
                };
                let dir = self.fresh_dir(&format!("copy-{}", format.kql()));
                let (stored, options) = match format {
                    Format::Parquet => (
                        "PARQUET",
                        format!(
                            "OPTIONS ('format.compression' 'snappy', 'format.max_row_group_size' '{ROW_GROUP}')"
                        ),
                    ),
                    Format::Csv => ("CSV", "OPTIONS ('format.has_header' 'false')".to_string()),
                    Format::Json => ("JSON", String::new()),
                };
                let options = if task == Task::CopyNoDictionary {
                    let off: String = ["id", "ts", "v", "s"]
                        .iter()
                        .map(|c| format!(", 'format.dictionary_enabled::{c}' 'false'"))
                        .collect();
                    options.replacen(')', &format!("{off})"), 1)
                } else {
                    options
                };
                let sql = format!(
                    "COPY (SELECT * FROM T) TO {} STORED AS {stored} {options}",
                    quoted(&format!("{}/", path_str(&dir)?))
                );
                let t = Instant::now();
                let rows = self.copy_rows(&sql).await?;
                let secs = t.elapsed().as_secs_f64();
                self.done(&dir);
                (secs, rows)
            }
            Task::ExportPartitioned | Task::ExportPartitionedSingle => {
                let dir = self.fresh_dir("hive-ours");
                let with = if task == Task::ExportPartitionedSingle {
                    " with (distribution='single')"
                } else {
                    ""
                };
                let name = format!("P{}", self.next_name);
                let definition = format!(
                    "kind=storage partition by (Region:string = region) dataformat=parquet ({})",
                    quoted(path_str(&dir)?)
                );
                let result = self.time_export_to_table(&name, &definition, with).await?;
                self.done(&dir);
                result
            }
            Task::CopyPartitioned | Task::CopyPartitionedKeep => {
                let dir = self.fresh_dir("hive-copy");
                let keep = if task == Task::CopyPartitionedKeep {
                    ", 'execution.keep_partition_by_columns' 'true'"
                } else {
                    ""
                };
                let sql = format!(
                    "COPY (SELECT * FROM T) TO {} STORED AS PARQUET PARTITIONED BY (region) OPTIONS ('format.compression' 'snappy', 'format.max_row_group_size' '{ROW_GROUP}'{keep})",
                    quoted(&format!("{}/", path_str(&dir)?))
                );
                let t = Instant::now();
                let rows = self.copy_rows(&sql).await?;
                let secs = t.elapsed().as_secs_f64();
                self.done(&dir);
                (secs, rows)
            }
            Task::DuckdbPartitioned | Task::DuckdbPartitionedKeep => {
                let dir = self.fresh_dir("hive-duckdb");
                let mut args = vec![
                    path_str(&self.t_parquet)?.to_string(),
                    path_str(&dir)?.to_string(),
                    ROW_GROUP.to_string(),
                ];
                if task == Task::DuckdbPartitionedKeep {
                    args.push("--keep".into());
                }
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let result = self.python("duckdb_partitioned_copy.py", &args)?;
                self.done(&dir);
                result
            }
            Task::ExportDelta => {
                let dir = self.fresh_dir("delta-ours");
                let name = format!("D{}", self.next_name);
                let definition = format!("kind=delta ({})", quoted(path_str(&dir)?));
                let result = self.time_export_to_table(&name, &definition, "").await?;
                self.done(&dir);
                result
            }
            Task::PythonDelta => {
                let dir = self.fresh_dir("delta-python");
                let result = self.python(
                    "deltalake_write.py",
                    &[path_str(&self.t_parquet)?, path_str(&dir)?],
                )?;
                self.done(&dir);
                result
            }
            Task::ContinuousRun => {
                // The first run exports the last 10 ingestions of T (1%); later runs
                // export 10 new ingestions of the same size each.
                if self.continuous_runs > 0 {
                    for _ in 0..INGESTIONS - BEFORE_CONTINUOUS {
                        self.ingest_next().await?;
                    }
                    settle();
                }
                self.continuous_runs += 1;
                let t = Instant::now();
                let batches = self
                    .engine
                    .execute_collect(".run continuous-export E")
                    .await?;
                let secs = t.elapsed().as_secs_f64();
                let outcome = string_value(&batches, "Result").unwrap_or_default();
                if outcome != "Completed" {
                    return Err(format!("continuous export run: {outcome}").into());
                }
                (secs, sum_column(&batches, "NumRecords")?)
            }
            Task::FullExportC => {
                let t = Instant::now();
                let rows = self
                    .export_records(".export to table C <| SELECT * FROM T")
                    .await?;
                (t.elapsed().as_secs_f64(), rows)
            }
            Task::ScanOnly => {
                let t = Instant::now();
                let mut stream = self
                    .engine
                    .context()
                    .sql("SELECT * FROM T")
                    .await?
                    .execute_stream()
                    .await?;
                let mut rows = 0u64;
                while let Some(batch) = stream.next().await {
                    rows += batch?.num_rows() as u64;
                }
                (t.elapsed().as_secs_f64(), rows)
            }
        };
        settle();
        Ok(result)
    }

    /// Runs `tasks` `reps` times, rotating their order every repetition; returns
    /// each task's median seconds and rows (of its last run).
    async fn alternate(&mut self, tasks: &[Task], reps: usize) -> Result<Vec<(f64, u64)>> {
        let mut secs: Vec<Vec<f64>> = vec![Vec::new(); tasks.len()];
        let mut rows = vec![0u64; tasks.len()];
        for rep in 0..reps {
            for k in 0..tasks.len() {
                let i = (k + rep) % tasks.len();
                let cpu_before = cpu_seconds();
                let (s, r) = self.run(tasks[i]).await?;
                // Includes the untimed set-up and clean-up of the task (small).
                let cpu = cpu_seconds() - cpu_before;
                let wrote = self.last_output.map_or(String::new(), |(files, bytes)| {
                    format!(", wrote {files} files, {:.1} MiB", mib(bytes))
                });
                eprintln!(
                    "  rep {rep}: {:<32} {s:>8.3} s  {r} rows, cpu {cpu:.2} s{wrote}",
                    tasks[i].label()
                );
                secs[i].push(s);
                rows[i] = r;
            }
        }
        Ok(secs.iter().map(|s| median(s)).zip(rows).collect())
    }
}

fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

// ---------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------

/// How a line's ratio reads.
#[derive(Debug, Clone, Copy)]
enum Ratio {
    /// ours rows/s ÷ baseline rows/s, at least this.
    Throughput(f64),
    /// ours time ÷ baseline time, at most this.
    TimeFraction(f64),
    /// ours rows/s ÷ baseline rows/s, information only.
    ThroughputInfo,
    /// Information only: ours time ÷ baseline time.
    Info,
}

struct Line {
    label: String,
    ours: (f64, u64),
    baseline: Option<(String, f64, u64)>,
    ratio: Ratio,
}

impl Line {
    fn ratio_text(&self) -> (String, String, &'static str) {
        let Some((_, base_secs, base_rows)) = &self.baseline else {
            return ("-".into(), "-".into(), "");
        };
        let (ours_secs, ours_rows) = self.ours;
        match self.ratio {
            Ratio::Throughput(target) => {
                let ours_rate = ours_rows as f64 / ours_secs;
                let base_rate = *base_rows as f64 / base_secs;
                let r = ours_rate / base_rate;
                (
                    format!("{r:.2}x"),
                    format!(">= {target:.2}x"),
                    if r >= target { "ok" } else { "MISS" },
                )
            }
            Ratio::TimeFraction(target) => {
                let r = ours_secs / base_secs;
                (
                    format!("{:.1}%", r * 100.0),
                    format!("<= {:.0}%", target * 100.0),
                    if r <= target { "ok" } else { "MISS" },
                )
            }
            Ratio::ThroughputInfo => {
                let r = (ours_rows as f64 / ours_secs) / (*base_rows as f64 / base_secs);
                (format!("{r:.2}x"), "info".into(), "")
            }
            Ratio::Info => {
                let r = ours_secs / base_secs;
                (format!("{:.2}x time", r), "info".into(), "")
            }
        }
    }
}

fn print_table(lines: &[Line]) {
    let header = format!(
        "{:<34} {:>9} {:<31} {:>9} {:>10} {:>10} {:>9} {:>9} {}",
        "comparison (ours)",
        "ours s",
        "baseline",
        "base s",
        "ours r/s",
        "base r/s",
        "ratio",
        "target",
        ""
    );
    println!("{header}");
    println!("{}", "-".repeat(header.len() + 4));
    for line in lines {
        let (ratio, target, verdict) = line.ratio_text();
        let (base_name, base_secs, base_rate) = match &line.baseline {
            Some((name, secs, rows)) => (name.clone(), format!("{secs:.3}"), rate(*rows, *secs)),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:<34} {:>9.3} {:<31} {:>9} {:>10} {:>10} {:>9} {:>9} {}",
            line.label,
            line.ours.0,
            base_name,
            base_secs,
            rate(line.ours.1, line.ours.0),
            base_rate,
            ratio,
            target,
            verdict
        );
    }
}

// ---------------------------------------------------------------------------------
// Peak memory child
// ---------------------------------------------------------------------------------

/// The child: opens the database, limits the session's memory pool, exports one
/// table to Parquet and prints one `CHILD key=value …` line.
async fn child_main(args: ChildArgs) -> Result<()> {
    let engine = Engine::open(&args.db).await?;
    let ctx = engine.context();
    if args.limit_mib > 0 {
        // The public route: a runtime setting of the engine's own session.
        ctx.sql(&format!(
            "SET datafusion.runtime.memory_limit = '{}M'",
            args.limit_mib
        ))
        .await?
        .collect()
        .await?;
    }
    // Record the pool's high-water mark: wrap whatever pool the session has.
    let runtime = ctx.runtime_env();
    let recorder = Arc::new(PeakRecordingPool::new(Arc::clone(&runtime.memory_pool)));
    let pool: Arc<dyn MemoryPool> = Arc::clone(&recorder) as _;
    let recorded = RuntimeEnvBuilder::from_runtime_env(&runtime)
        .with_memory_pool(pool)
        .build_arc()?;
    {
        let state = ctx.state_ref();
        let mut state = state.write();
        *state = SessionStateBuilder::from(state.clone())
            .with_runtime_env(recorded)
            .build();
    }
    let limit = match ctx.runtime_env().memory_pool.memory_limit() {
        MemoryLimit::Finite(bytes) => bytes.to_string(),
        MemoryLimit::Infinite => "infinite".into(),
        MemoryLimit::Unknown => "unknown".into(),
    };
    let rss_before = proc_status_bytes("VmRSS").unwrap_or(0);
    let hwm_before = proc_status_bytes("VmHWM").unwrap_or(0);
    let command = format!(
        ".export to parquet ({}) with (compressionType='snappy', parquetRowGroupSize={ROW_GROUP}, distribution='per_node') <| SELECT * FROM {}",
        quoted(&args.out),
        args.table
    );
    let t = Instant::now();
    let outcome = engine.execute_collect(&command).await;
    let secs = t.elapsed().as_secs_f64();
    let hwm = proc_status_bytes("VmHWM").unwrap_or(0);
    let (rows, error) = match outcome {
        Ok(batches) => (sum_column(&batches, "NumRecords")?, String::new()),
        Err(e) => (0, e.to_string().replace(char::is_whitespace, "_")),
    };
    println!(
        "CHILD rows={rows} secs={secs:.3} vmhwm={hwm} vmhwm_before={hwm_before} vmrss_before={rss_before} pool_peak={} pool_limit={limit} error={error}",
        recorder.peak_reserved()
    );
    Ok(())
}

struct ChildReport {
    rows: u64,
    secs: f64,
    vmhwm: u64,
    vmrss_before: u64,
    pool_peak: u64,
    pool_limit: String,
    error: String,
}

fn run_child(db: &Path, table: &str, out: &Path, limit_mib: usize) -> Result<ChildReport> {
    let exe = std::env::current_exe()?;
    let output = tokio::task::block_in_place(|| {
        Process::new(exe)
            .args([
                "--child-peak-memory",
                "--db",
                path_str(db)?,
                "--table",
                table,
            ])
            .args([
                "--out",
                path_str(out)?,
                "--limit-mib",
                &limit_mib.to_string(),
            ])
            .output()
            .map_err(BoxError::from)
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("CHILD "))
        .ok_or_else(|| {
            format!(
                "peak-memory child failed ({}): {stdout}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    let field = |key: &str| -> String {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or_default()
            .to_string()
    };
    Ok(ChildReport {
        rows: field("rows").parse().unwrap_or(0),
        secs: field("secs").parse().unwrap_or(f64::NAN),
        vmhwm: field("vmhwm").parse().unwrap_or(0),
        vmrss_before: field("vmrss_before").parse().unwrap_or(0),
        pool_peak: field("pool_peak").parse().unwrap_or(0),
        pool_limit: field("pool_limit"),
        error: field("error"),
    })
}

// ---------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------

async fn report(args: Args) -> Result<()> {
    let started = Instant::now();
    let n = args.rows;
    let reps = args.reps;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!(
        "export_report: N={n} rows in {INGESTIONS} ingestions, {reps} reps (alternating), {cores} cores, loadavg {}",
        load_average()
    );
    let temp = tempfile::tempdir()?;
    let (_temp, work) = if args.keep {
        let kept = temp.keep();
        eprintln!("keeping everything under {}", kept.display());
        (None, kept)
    } else {
        let path = temp.path().to_path_buf();
        (Some(temp), path)
    };
    let root = work.join("db");
    let scratch = work.join("out");
    std::fs::create_dir_all(&root)?;
    std::fs::create_dir_all(&scratch)?;
    let engine = Engine::open(path_str(&root)?).await?;
    engine
        .execute_collect(&format!(".create table T ({COLUMNS})"))
        .await?;
    let schema = engine.database().table_schema("T").await?;
    let c_dir = scratch.join("C");
    engine
        .execute_collect(&format!(
            ".create external table C ({COLUMNS}) kind=storage dataformat=parquet ({})",
            quoted(path_str(&c_dir)?)
        ))
        .await?;

    // 1. T: 990 ingestions, the continuous export, then the last 10.
    let mut bench = Bench {
        engine: engine.clone(),
        rows: n,
        schema: Arc::clone(&schema),
        scratch: scratch.clone(),
        t_parquet: work.join("t.parquet"),
        scripts: Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts"),
        next_name: 0,
        next_ingestion: 0,
        continuous_runs: 0,
        last_output: None,
        keep: args.keep,
    };
    let mut memory_size = 0u64;
    let mut generate = Duration::ZERO;
    let mut ingest = Duration::ZERO;
    for i in 0..INGESTIONS {
        if i == BEFORE_CONTINUOUS {
            engine
                .execute_collect(
                    ".create-or-alter continuous-export E over (T) to table C with (intervalBetweenRuns=1s) <| SELECT * FROM T",
                )
                .await?;
        }
        let t = Instant::now();
        let batch = ingestion_batch(&schema, n, i)?;
        memory_size += batch.get_array_memory_size() as u64;
        generate += t.elapsed();
        let t = Instant::now();
        engine.database().ingest("T", vec![batch]).await?;
        ingest += t.elapsed();
        if (i + 1) % 100 == 0 {
            eprintln!("  ingested {} of {INGESTIONS}", i + 1);
        }
    }
    bench.next_ingestion = INGESTIONS;
    let extents = engine.database().extents("T").await?;
    let disk: u64 = extents.iter().map(|e| e.file.size).sum();
    println!(
        "T: {n} rows, {} extents, {:.0} MiB in memory (Arrow), {:.0} MiB on disk; generated in {:.1} s, ingested in {:.1} s ({} rows/s)",
        extents.len(),
        mib(memory_size),
        mib(disk),
        generate.as_secs_f64(),
        ingest.as_secs_f64(),
        rate(n as u64, ingest.as_secs_f64())
    );
    // T as one Parquet file for DuckDB and deltalake (not timed).
    let copied = bench
        .copy_rows(&format!(
            "COPY (SELECT * FROM T) TO {} STORED AS PARQUET OPTIONS ('format.compression' 'snappy')",
            quoted(path_str(&bench.t_parquet)?)
        ))
        .await?;
    if copied != n as u64 {
        return Err(format!("the Parquet copy of T has {copied} rows, expected {n}").into());
    }
    settle();

    // Warm-up (not timed): the process's first export pays for page faults and
    // allocator growth that later ones do not.
    eprintln!("[warm-up]");
    bench.run(Task::Export(Format::Parquet)).await?;

    if !args.only.is_empty() {
        // Profiling mode: only the listed tasks, alternating.
        let r = bench.alternate(&args.only, reps).await?;
        for (task, (secs, rows)) in args.only.iter().zip(r) {
            println!(
                "{:<34} median {secs:>8.3} s  {} rows/s",
                task.label(),
                rate(rows, secs)
            );
        }
        return Ok(());
    }

    let mut lines = Vec::new();
    let pair = |ours: Task, base: Task, results: &[(f64, u64)], target: Ratio| Line {
        label: ours.label().into(),
        ours: results[0],
        baseline: Some((base.label().into(), results[1].0, results[1].1)),
        ratio: target,
    };

    // Context: the query alone, and one writer.
    eprintln!("[scan only / single writer]");
    let r = bench
        .alternate(
            &[
                Task::ScanOnly,
                Task::Export(Format::Parquet),
                Task::ExportSingle,
            ],
            reps,
        )
        .await?;
    let scan = r[0];
    let per_node = r[1];
    let single = r[2];

    // 2. Flat exports vs DataFusion COPY.
    let mut no_dictionary = None;
    for format in [Format::Parquet, Format::Csv, Format::Json] {
        eprintln!("[{}]", format.kql());
        let mut tasks = vec![Task::Export(format), Task::Copy(format)];
        if format == Format::Parquet {
            // Where the Parquet time goes: dictionaries of unique values.
            tasks.push(Task::CopyNoDictionary);
        }
        let r = bench.alternate(&tasks, reps).await?;
        lines.push(pair(tasks[0], tasks[1], &r, Ratio::Throughput(1.0)));
        if format == Format::Parquet {
            no_dictionary = Some(Line {
                label: "  info: DF COPY, no dict id/ts/v/s".into(),
                ours: r[2],
                baseline: Some((tasks[1].label().into(), r[1].0, r[1].1)),
                ratio: Ratio::ThroughputInfo,
            });
        }
    }
    lines.extend(no_dictionary);
    lines.push(Line {
        label: "  info: SELECT * FROM T (no write)".into(),
        ours: scan,
        baseline: Some((".export parquet (per_node)".into(), per_node.0, per_node.1)),
        ratio: Ratio::Info,
    });
    lines.push(Line {
        label: "  info: .export parquet single".into(),
        ours: single,
        baseline: Some((".export parquet (per_node)".into(), per_node.0, per_node.1)),
        ratio: Ratio::Info,
    });

    // 3. Hive-partitioned Parquet.
    eprintln!("[partitioned]");
    let tasks = [
        Task::ExportPartitioned,
        Task::CopyPartitioned,
        Task::DuckdbPartitioned,
        Task::CopyPartitionedKeep,
        Task::DuckdbPartitionedKeep,
    ];
    let r = bench.alternate(&tasks, reps).await?;
    lines.push(pair(tasks[0], tasks[1], &r, Ratio::Throughput(1.0)));
    lines.push(pair(
        tasks[0],
        tasks[2],
        &[r[0], r[2]],
        Ratio::Throughput(1.0),
    ));
    let mut keep = pair(tasks[0], tasks[3], &[r[0], r[3]], Ratio::ThroughputInfo);
    keep.label = "  info: same, baseline keeps region".into();
    lines.push(keep);
    let mut keep = pair(tasks[0], tasks[4], &[r[0], r[4]], Ratio::ThroughputInfo);
    keep.label = "  info: same, baseline keeps region".into();
    lines.push(keep);

    // 4. Delta.
    eprintln!("[delta]");
    let tasks = [Task::ExportDelta, Task::PythonDelta];
    let r = bench.alternate(&tasks, reps).await?;
    lines.push(pair(tasks[0], tasks[1], &r, Ratio::Throughput(1.0)));

    // 6. Continuous export: a run over 1% new data vs a full export.
    eprintln!("[continuous]");
    let tasks = [Task::ContinuousRun, Task::FullExportC];
    let r = bench.alternate(&tasks, reps).await?;
    lines.push(pair(tasks[0], tasks[1], &r, Ratio::TimeFraction(0.05)));

    // 7. No-op runs: nothing new since the last run.
    eprintln!("[no-op]");
    let mut run_ms = Vec::new();
    for _ in 0..args.noop_iters {
        let t = Instant::now();
        let batches = engine.execute_collect(".run continuous-export E").await?;
        run_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let outcome = string_value(&batches, "Result").unwrap_or_default();
        if outcome != "NoNewData" {
            return Err(format!("a no-op run returned {outcome}").into());
        }
    }
    // E runs every second: let it become due, so that every fresh scheduler's
    // tick really runs it (and finds nothing new).
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let mut tick_ms = Vec::new();
    for _ in 0..args.noop_iters {
        let scheduler = Scheduler::new(engine.clone());
        let t = Instant::now();
        let results = scheduler.tick().await?;
        tick_ms.push(t.elapsed().as_secs_f64() * 1e3);
        match results.as_slice() {
            [(name, Ok(outcome))] if name == "E" && outcome.run.is_none() => {}
            other => return Err(format!("a no-op tick did {other:?}").into()),
        }
    }

    // 5. Peak memory of a 512 MiB-limited export of a table several times that.
    eprintln!("[peak memory]");
    let target_bytes = 4 * CHILD_LIMIT_MIB as u64 * 1024 * 1024;
    let copies = target_bytes.div_ceil(memory_size.max(1)).clamp(1, 8);
    let t = Instant::now();
    for _ in 0..copies {
        engine
            .execute_collect(&format!(
                ".set-or-append Big <| SELECT * FROM T WHERE cursor_before_or_at('{}')",
                // T as of the end of step 1 (without the continuous runs' extra data).
                extents.last().map_or(0, |e| e.cursor)
            ))
            .await?;
    }
    let big_rows = copies * n as u64;
    let big_extents = engine.database().extents("Big").await?.len();
    let big_memory = copies * memory_size;
    eprintln!(
        "  Big: {copies} x T = {big_rows} rows, ~{:.0} MiB in memory, built in {:.1} s",
        mib(big_memory),
        t.elapsed().as_secs_f64()
    );
    settle();
    let mut children = Vec::new();
    for (table, limit) in [("Big", CHILD_LIMIT_MIB), ("Big", 0), ("T", CHILD_LIMIT_MIB)] {
        let out = bench.fresh_dir("peak");
        let report = run_child(&root, table, &out, limit)?;
        remove(&out);
        settle();
        children.push((table, limit, report));
    }

    // Report.
    println!();
    print_table(&lines);
    println!();
    println!(
        "{:<34} {:>9} (median of {} runs; target < 50 ms)",
        "no-op .run continuous-export E",
        format!("{:.2} ms", median(&run_ms)),
        run_ms.len()
    );
    println!(
        "{:<34} {:>9} (median of {} runs; target < 50 ms)",
        "no-op Scheduler::new(..).tick()",
        format!("{:.2} ms", median(&tick_ms)),
        tick_ms.len()
    );
    let (min_tick, max_tick) = tick_ms
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    println!("{:<34} min {min_tick:.2} ms, max {max_tick:.2} ms", "");
    println!();
    for (table, limit, c) in &children {
        let (rows, memory, extents) = if *table == "Big" {
            (big_rows, big_memory, big_extents)
        } else {
            // T has grown by the continuous runs' extra ingestions.
            let t_rows: usize = (0..bench.next_ingestion)
                .map(|i| ingestion_rows(n, i).len())
                .sum();
            let memory = memory_size * t_rows as u64 / n.max(1) as u64;
            (t_rows as u64, memory, bench.next_ingestion)
        };
        let mut text = String::new();
        let _ = write!(
            text,
            "peak memory, .export parquet of {table} ({rows} rows, ~{:.0} MiB Arrow, {extents} extents), {}: VmHWM {:.0} MiB (RSS before export {:.0} MiB), pool peak {:.1} MiB, pool limit {}, {:.2} s, {} rows/s",
            mib(memory),
            if *limit > 0 {
                format!("memory_limit {limit} MiB")
            } else {
                "no memory limit".to_string()
            },
            mib(c.vmhwm),
            mib(c.vmrss_before),
            mib(c.pool_peak),
            c.pool_limit,
            c.secs,
            rate(c.rows, c.secs)
        );
        if c.rows != rows {
            let _ = write!(text, " [exported {} rows, expected {rows}]", c.rows);
        }
        if !c.error.is_empty() {
            let _ = write!(text, " ERROR: {}", c.error);
        }
        println!("{text}");
    }
    println!(
        "total {:.1} s; loadavg at end {}",
        started.elapsed().as_secs_f64(),
        load_average()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("export_report: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match args.child.clone() {
        Some(child) => child_main(child).await,
        None => report(args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("export_report: {e}");
            ExitCode::FAILURE
        }
    }
}
