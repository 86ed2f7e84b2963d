//! Extent merging, measured in one run (every figure a ratio against a baseline of the
//! same run):
//!
//! * tables fed by many small ingestions (10,000 of one row; 1,000 of 1,000 rows; and
//!   1,000 of 10,000 rows): a full aggregate before and after `Database::merge_table`
//!   (the default policy's tiered merges, as `serve` runs them), then after
//!   `Database::compact_table` (`.merge T`), against the same rows ingested at once;
//!   a scan scoped to the newest 1% of the compacted table against its full scan; merge throughput against
//!   `.export to parquet` of the same rows. On the local disk, and with `--s3` on
//!   moto's S3 server too (started here on 127.0.0.1 by the tests' harness);
//! * peak memory merging 16 extents of 1,048,576 rows into one (16M rows), measured in a
//!   child process as its resident-set high-water mark over the merge alone, against
//!   the 512 MiB budget;
//! * steady ingestion: 20,000 one-row ingestions with a background merge every 600
//!   (a `LoopPeriod` of 10 minutes at one ingestion a second): the share of the
//!   process's CPU time spent merging, and the write amplification (rows rewritten by
//!   merges per row ingested).
//!
//! `cargo run --release -p datafusion-export-benches --bin merge_report -- [--reps N]
//! [--s3 | --s3-only] [--skip-large] [--only 1000x1000]`

use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion_export::tables::DatabaseOptions;
use datafusion_export::Engine;
use datafusion_export_benches::median;
use datafusion_export_integration_tests::{id_batch, servers};
use datafusion_export_tables::merge::MergePolicy;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where a case's databases live.
struct Place {
    name: &'static str,
    /// Folder or URL under which each case makes its databases.
    root: String,
    options: Vec<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl Place {
    fn local() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self {
            name: "local disk",
            root: dir.path().display().to_string(),
            options: Vec::new(),
            _dir: Some(dir),
        }
    }

    fn s3() -> Self {
        let s3 = servers::s3();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        Self {
            name: "S3 (moto)",
            root: s3.url(&format!("merge-bench-{nanos:x}")),
            options: s3.storage_options(),
            _dir: None,
        }
    }

    async fn engine(&self, name: &str) -> Engine {
        Engine::open_with(
            &format!("{}/{name}", self.root),
            DatabaseOptions {
                storage_options: self.options.clone(),
                ..Default::default()
            },
        )
        .await
        .expect("open")
    }
}

/// Medians of `sql` on `a` and on `b`, timed in turns so that both see the same noise.
async fn time_pair(a: &Engine, b: &Engine, sql: &str, reps: usize) -> (Duration, Duration) {
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        for (e, samples) in [(a, &mut ta), (b, &mut tb)] {
            let start = Instant::now();
            e.execute_collect(sql).await.expect("query");
            samples.push(start.elapsed());
        }
    }
    (median(&ta), median(&tb))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// `rows` ids from `first` as batches of at most 100,000 rows.
fn batches(first: i64, rows: usize) -> Vec<RecordBatch> {
    let ids: Vec<i64> = (first..first + rows as i64).collect();
    ids.chunks(100_000).map(id_batch).collect()
}

async fn case(place: &Place, ingestions: usize, rows: usize, reps: usize) {
    let total = ingestions * rows;
    println!(
        "## {}: {ingestions} ingestions of {rows} rows ({total} rows)",
        place.name
    );
    let tag = format!("{ingestions}x{rows}");
    let once = place.engine(&format!("once-{tag}")).await;
    let small = place.engine(&format!("small-{tag}")).await;
    for e in [&once, &small] {
        e.execute_collect(".create table T (id:long, s:string)")
            .await
            .expect("create");
    }
    once.database()
        .ingest("T", batches(0, total))
        .await
        .expect("ingest");
    let start = Instant::now();
    for i in 0..ingestions {
        small
            .database()
            .ingest("T", batches((i * rows) as i64, rows))
            .await
            .expect("ingest");
    }
    println!(
        "ingested in {:.1} s ({:.1} ms per ingestion)",
        start.elapsed().as_secs_f64(),
        start.elapsed().as_secs_f64() * 1e3 / ingestions as f64
    );
    // Many commits start a background checkpoint; queries timed while it is written
    // would measure it too.
    once.database().flush().await;
    small.database().flush().await;
    let full = "SELECT count(*), sum(id) FROM T";
    let (_, t_small) = time_pair(&once, &small, full, reps).await;

    let start = Instant::now();
    let receipts = small
        .database()
        .merge_table("T", &MergePolicy::default())
        .await
        .expect("merge");
    let merge_time = start.elapsed();
    // The merges' commits start a background checkpoint: let it land before timing,
    // as the ingestions' checkpoints did.
    small.database().flush().await;
    let (t_once, t_merged) = time_pair(&once, &small, full, reps).await;
    let rewritten: u64 = receipts.iter().map(|r| r.merged.file.rows).sum();
    let extents = small.database().extents("T").await.expect("extents").len();

    // Then `.merge T`: compaction, tiers aside.
    let start = Instant::now();
    let compactions = small
        .database()
        .compact_table("T", &MergePolicy::default())
        .await
        .expect("compact");
    let compact_time = start.elapsed();
    small.database().flush().await;
    let (t_once_again, t_compacted) = time_pair(&once, &small, full, reps).await;
    let compacted_extents = small.database().extents("T").await.expect("extents").len();
    let recompacted: u64 = compactions.iter().map(|r| r.merged.file.rows).sum();
    // The fixed cost of a query on each (an empty cursor scope), timed in turns: what
    // of the gap above is not reading data.
    let (floor_once, floor_small) = {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            for (e, samples) in [(&once, &mut a), (&small, &mut b)] {
                let cursor = e.database().current_cursor().sequence();
                let sql = format!("SELECT count(*), sum(id) FROM T WHERE cursor_after('{cursor}')");
                let start = Instant::now();
                e.execute_collect(&sql).await.expect("query");
                samples.push(start.elapsed());
            }
        }
        (median(&a), median(&b))
    };
    if std::env::var_os("MERGE_REPORT_EXPLAIN").is_some() {
        for (what, e) in [("at once", &once), ("compacted", &small)] {
            let plan = e
                .execute_collect(&format!("EXPLAIN ANALYZE {full}"))
                .await
                .expect("explain");
            println!(
                "{what}:\n{}",
                datafusion::arrow::util::pretty::pretty_format_batches(&plan).expect("format")
            );
        }
    }
    let cursor = small.database().current_cursor().sequence();
    let first = cursor - ingestions as u64;
    let newest = first + (ingestions as u64 * 99 / 100);
    let scoped = format!("SELECT count(*), sum(id) FROM T WHERE cursor_after('{newest}')");
    // The same query over an empty scope: the fixed cost every query pays (planning,
    // the log's snapshot, opening the plan), which no pruning removes.
    let empty = format!("SELECT count(*), sum(id) FROM T WHERE cursor_after('{cursor}')");
    let (t_merged_again, t_scoped, t_floor) = {
        let (mut full_t, mut scoped_t, mut floor_t) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..reps {
            for (sql, samples) in [
                (full, &mut full_t),
                (scoped.as_str(), &mut scoped_t),
                (empty.as_str(), &mut floor_t),
            ] {
                let start = Instant::now();
                small.execute_collect(sql).await.expect("query");
                samples.push(start.elapsed());
            }
        }
        (median(&full_t), median(&scoped_t), median(&floor_t))
    };

    let out = format!("{}/export-{tag}", place.root);
    let start = Instant::now();
    once.execute_collect(&format!(
        ".export to parquet ('{out}') with (distribution='single') <| SELECT id, s FROM T"
    ))
    .await
    .expect("export");
    let export_time = start.elapsed();

    println!(
        "merged {} times into {extents} extents in {:.2} s ({:.2}M rows/s, each row written {:.2} times); \
         `.export to parquet` of the same rows: {:.2} s; merge / export ×{:.2}",
        receipts.len(),
        merge_time.as_secs_f64(),
        total as f64 / merge_time.as_secs_f64() / 1e6,
        rewritten as f64 / total as f64,
        export_time.as_secs_f64(),
        merge_time.as_secs_f64() / export_time.as_secs_f64()
    );
    println!(
        "full aggregate: at once {}, {ingestions} extents {} (×{:.1}), tiered merges ({extents} extents) {} (×{:.2} of at once)",
        ms(t_once),
        ms(t_small),
        t_small.as_secs_f64() / t_once.as_secs_f64(),
        ms(t_merged),
        t_merged.as_secs_f64() / t_once.as_secs_f64()
    );
    println!(
        "then `.merge T` (compaction): {} merges rewriting {:.2} rows per row in {:.2} s, {compacted_extents} extents; full aggregate at once {}, compacted {} (×{:.2} of at once)",
        compactions.len(),
        recompacted as f64 / total as f64,
        compact_time.as_secs_f64(),
        ms(t_once_again),
        ms(t_compacted),
        t_compacted.as_secs_f64() / t_once_again.as_secs_f64()
    );
    println!(
        "fixed cost of a query (an empty scope): at once {} ({} commits in its log), compacted {} ({} commits)",
        ms(floor_once),
        once.database().current_cursor().sequence(),
        ms(floor_small),
        small.database().current_cursor().sequence(),
    );
    let above = |t: Duration| (t.as_secs_f64() - t_floor.as_secs_f64()).max(0.0);
    println!(
        "newest 1% of the compacted table: {} ({:.1}% of its full scan); an empty scope (the \
         fixed cost of a query) {}; above that cost the newest 1% is {:.1}% of the full scan",
        ms(t_scoped),
        100.0 * t_scoped.as_secs_f64() / t_merged_again.as_secs_f64(),
        ms(t_floor),
        100.0 * above(t_scoped) / above(t_merged_again).max(f64::EPSILON)
    );
    println!();
}

/// This process's resident-set high-water mark, in bytes (Linux).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets the high-water mark to the current resident set (Linux ≥ 4.0).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// CPU time this process has used (user + system, every thread), at the kernel's
/// 100 Hz tick.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

const MEMORY_EXTENTS: usize = 16;
const MEMORY_EXTENT_ROWS: usize = 1 << 20;

/// The child of the memory measurement: 16 extents of 1,048,576 rows merged into one.
async fn memory_child() {
    let place = Place::local();
    let engine = place.engine("memory").await;
    engine
        .execute_collect(".create table T (id:long, s:string)")
        .await
        .expect("create");
    for i in 0..MEMORY_EXTENTS {
        engine
            .database()
            .ingest(
                "T",
                batches((i * MEMORY_EXTENT_ROWS) as i64, MEMORY_EXTENT_ROWS),
            )
            .await
            .expect("ingest");
    }
    let ids: Vec<uuid::Uuid> = engine
        .database()
        .extents("T")
        .await
        .expect("extents")
        .iter()
        .map(|e| e.file.id)
        .collect();
    let ingest_peak = peak_rss().unwrap_or(0);
    let reset = reset_peak_rss();
    let before = peak_rss().unwrap_or(0);
    let start = Instant::now();
    let receipt = engine
        .database()
        .merge_extents("T", &ids)
        .await
        .expect("merge");
    let took = start.elapsed();
    let peak = peak_rss().unwrap_or(0);
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!(
        "merged {} extents ({} rows, {:.0} MiB stored, {:.0} MiB before compression) in {:.2} s",
        ids.len(),
        receipt.merged.file.rows,
        mib(receipt.merged.file.size),
        mib(receipt.merged.file.original_bytes()),
        took.as_secs_f64()
    );
    if reset {
        println!(
            "resident set: {:.0} MiB before the merge, peak during it {:.0} MiB ({:.0}% of the \
             512 MiB budget); peak while ingesting the same rows: {:.0} MiB",
            mib(before),
            mib(peak),
            100.0 * mib(peak) / 512.0,
            mib(ingest_peak)
        );
    } else {
        println!(
            "resident-set peak since start {:.0} MiB (this kernel cannot reset the mark)",
            mib(peak)
        );
    }
}

async fn memory() {
    println!("## peak memory merging {MEMORY_EXTENTS} × {MEMORY_EXTENT_ROWS} rows (child process)");
    let out = std::process::Command::new(std::env::current_exe().expect("exe"))
        .arg("--memory-child")
        .output()
        .expect("run the memory child");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        println!("the child failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    println!();
}

/// Steady one-row ingestion with a merge every `loop_every` ingestions.
async fn steady(ingestions: usize, loop_every: usize) {
    println!(
        "## steady ingestion: {ingestions} one-row ingestions, background merge every {loop_every}"
    );
    let place = Place::local();
    let engine = place.engine("steady").await;
    engine
        .execute_collect(".create table T (id:long, s:string)")
        .await
        .expect("create");
    let policy = MergePolicy::default();
    let (mut merge_cpu, mut merge_wall, mut rewritten, mut merges) =
        (Duration::ZERO, Duration::ZERO, 0u64, 0usize);
    let (cpu0, wall0) = (cpu_time(), Instant::now());
    for i in 0..ingestions {
        engine
            .database()
            .ingest("T", vec![id_batch(&[i as i64])])
            .await
            .expect("ingest");
        if i % loop_every == loop_every - 1 {
            let (cpu, wall) = (cpu_time(), Instant::now());
            let receipts = engine
                .database()
                .merge_table("T", &policy)
                .await
                .expect("merge");
            merge_cpu += cpu_time().saturating_sub(cpu);
            merge_wall += wall.elapsed();
            merges += receipts.len();
            rewritten += receipts.iter().map(|r| r.merged.file.rows).sum::<u64>();
        }
    }
    let (cpu, wall) = (cpu_time().saturating_sub(cpu0), wall0.elapsed());
    let extents = engine.database().extents("T").await.expect("extents").len();
    println!(
        "{merges} merges; {extents} extents left of {ingestions}; write amplification {:.2} \
         (rows rewritten per row ingested)",
        rewritten as f64 / ingestions as f64
    );
    println!(
        "merging took {:.1}% of the CPU time ({:.2} of {:.2} s) and {:.1}% of the wall time \
         of this compressed run; at one ingestion a second ({ingestions} s), that is {:.4}% \
         of one core",
        100.0 * merge_cpu.as_secs_f64() / cpu.as_secs_f64().max(1e-9),
        merge_cpu.as_secs_f64(),
        cpu.as_secs_f64(),
        100.0 * merge_wall.as_secs_f64() / wall.as_secs_f64(),
        100.0 * merge_cpu.as_secs_f64() / ingestions as f64
    );
    println!();
}

fn main() {
    let mut reps = 7usize;
    let (mut s3, mut large, mut child, mut local) = (false, true, false, true);
    let mut only: Option<(usize, usize)> = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--reps" => match it.next().and_then(|v| v.parse().ok()) {
                Some(v) => reps = v,
                None => usage(),
            },
            "--s3" => s3 = true,
            "--s3-only" => (s3, local) = (true, false),
            "--only" => {
                only = it.next().and_then(|v| {
                    let (n, r) = v.split_once('x')?;
                    Some((n.parse().ok()?, r.parse().ok()?))
                });
                if only.is_none() {
                    usage();
                }
            }
            "--skip-large" => large = false,
            "--memory-child" => child = true,
            _ => usage(),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let wanted = |ingestions: usize, rows: usize| only.is_none_or(|o| o == (ingestions, rows));
    runtime.block_on(async {
        if child {
            return memory_child().await;
        }
        if local {
            let local = Place::local();
            for (ingestions, rows) in [(10_000, 1), (1_000, 1_000), (1_000, 10_000)] {
                if wanted(ingestions, rows) && (large || rows < 10_000) {
                    case(&local, ingestions, rows, reps).await;
                }
            }
            if only.is_none() {
                if large {
                    memory().await;
                }
                steady(20_000, 600).await;
            }
        }
        if s3 {
            let s3 = Place::s3();
            for (ingestions, rows) in [(10_000, 1), (1_000, 1_000)] {
                if wanted(ingestions, rows) {
                    case(&s3, ingestions, rows, reps).await;
                }
            }
        }
    });
}

fn usage() -> ! {
    eprintln!(
        "usage: merge_report [--reps N] [--s3 | --s3-only] [--skip-large] [--only INGESTIONSxROWS]"
    );
    std::process::exit(2);
}
