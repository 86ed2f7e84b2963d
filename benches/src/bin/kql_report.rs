//! KQL against the equivalent SQL, in one run on the same data: planning time (text to
//! an optimized physical plan) and end-to-end time (`Engine::execute_collect`) for five
//! typical export queries — a filter, a projection with `extend`, a `summarize … by bin`,
//! a lookup `join` and a `top`. The ratios should be within noise of 1.0: both languages
//! become the same kind of DataFusion plan.
//!
//! `cargo run --release -p datafusion-export-benches --bin kql_report -- [--reps N] [--rows N]`

use std::time::{Duration, Instant};

use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use datafusion_export::query::plan_query;
use datafusion_export::Engine;
use datafusion_export_benches::median;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// (what, KQL, SQL)
const QUERIES: &[(&str, &str, &str)] = &[
    (
        "filter",
        r#"Events | where Region == "EU" and Size > 500"#,
        "SELECT * FROM Events WHERE Region = 'EU' AND Size > 500",
    ),
    (
        "project + extend",
        "Events | extend Kb = Size / 1024.0, Upper = toupper(Region) | project Id, Kb, Upper",
        "SELECT Id, Size / 1024.0 AS Kb, upper(Region) AS Upper FROM Events",
    ),
    (
        "summarize by bin",
        "Events | summarize count(), sum(Size) by bin(Timestamp, 1h)",
        "SELECT date_bin(INTERVAL '1 hour', Timestamp, TIMESTAMP '1970-01-01T00:00:00Z') AS Timestamp, \
         count(*) AS count_, sum(Size) AS sum_Size FROM Events GROUP BY 1",
    ),
    (
        "lookup join",
        "Events | join kind=inner Regions on Region | project Id, Name, Size",
        "SELECT e.Id, r.Name, e.Size FROM Events e JOIN Regions r ON e.Region = r.Region",
    ),
    (
        "top",
        "Events | top 100 by Size desc",
        "SELECT * FROM Events ORDER BY Size DESC NULLS LAST LIMIT 100",
    ),
];

const REGIONS: &[&str] = &["EU", "US", "APAC", "MEA", "LATAM"];

fn events(first: i64, rows: usize, rng: &mut StdRng) -> RecordBatch {
    let ids: Vec<i64> = (first..first + rows as i64).collect();
    let regions: Vec<&str> = (0..rows)
        .map(|_| REGIONS[rng.random_range(0..REGIONS.len())])
        .collect();
    let sizes: Vec<f64> = (0..rows).map(|_| rng.random_range(0.0..1000.0)).collect();
    let start = 1_795_000_000_000_000_000i64; // 2026-11-18
    let times: Vec<i64> = ids.iter().map(|i| start + i * 1_000_000_000).collect();
    RecordBatch::try_from_iter(vec![
        ("Id", Arc::new(Int64Array::from(ids)) as ArrayRef),
        ("Region", Arc::new(StringArray::from(regions)) as ArrayRef),
        ("Size", Arc::new(Float64Array::from(sizes)) as ArrayRef),
        (
            "Timestamp",
            Arc::new(TimestampNanosecondArray::from(times).with_timezone("UTC")) as ArrayRef,
        ),
    ])
    .expect("batch")
}

async fn timed<F, Fut>(reps: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        f().await;
        samples.push(start.elapsed());
    }
    median(&samples)
}

fn main() {
    let (mut reps, mut rows) = (21usize, 1_000_000usize);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match (flag.as_str(), it.next().and_then(|v| v.parse().ok())) {
            ("--reps", Some(v)) => reps = v,
            ("--rows", Some(v)) => rows = v,
            _ => {
                eprintln!("usage: kql_report [--reps N] [--rows N]");
                std::process::exit(2);
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(dir.path().to_str().expect("utf-8"))
            .await
            .expect("open");
        engine
            .execute_collect(".create table Events (Id:long, Region:string, Size:real, Timestamp:datetime)")
            .await
            .expect("create");
        engine
            .execute_collect(".create table Regions (Region:string, Name:string)")
            .await
            .expect("create");
        engine
            .execute_collect(
                "INSERT INTO Regions VALUES ('EU', 'Europe'), ('US', 'United States'), \
                 ('APAC', 'Asia Pacific'), ('MEA', 'Middle East and Africa')",
            )
            .await
            .expect("insert");
        let mut rng = StdRng::seed_from_u64(0x6b71);
        // Ten ingestions, ten extents.
        let per = rows / 10;
        for i in 0..10 {
            let batch = events((i * per) as i64, per, &mut rng);
            engine
                .database()
                .ingest("Events", vec![batch])
                .await
                .expect("ingest");
        }
        println!("# KQL vs SQL: {rows} rows in 10 extents, median of {reps}");
        println!("| query | planning KQL | planning SQL | KQL / SQL | end to end KQL | end to end SQL | KQL / SQL |");
        println!("|---|---|---|---|---|---|---|");
        for (what, kql, sql) in QUERIES {
            // Both give the same rows (checked once, not timed).
            let count = |batches: Vec<RecordBatch>| batches.iter().map(|b| b.num_rows()).sum::<usize>();
            let (k, s) = (
                count(engine.execute_collect(kql).await.expect("kql")),
                count(engine.execute_collect(sql).await.expect("sql")),
            );
            assert_eq!(k, s, "{what}: KQL and SQL disagree");
            let plan = |text: &'static str| {
                let engine = &engine;
                async move {
                    let state = engine.context().state();
                    let logical = plan_query(&state, text).await.expect("plan");
                    state.create_physical_plan(&logical).await.expect("physical");
                }
            };
            let plan_kql = timed(reps, || plan(kql)).await;
            let plan_sql = timed(reps, || plan(sql)).await;
            let run = |text: &'static str| {
                let engine = &engine;
                async move {
                    engine.execute_collect(text).await.expect("run");
                }
            };
            let run_kql = timed(reps, || run(kql)).await;
            let run_sql = timed(reps, || run(sql)).await;
            let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
            println!(
                "| {what} | {} | {} | ×{:.2} | {} | {} | ×{:.2} |",
                ms(plan_kql),
                ms(plan_sql),
                plan_kql.as_secs_f64() / plan_sql.as_secs_f64(),
                ms(run_kql),
                ms(run_sql),
                run_kql.as_secs_f64() / run_sql.as_secs_f64()
            );
        }
    });
}
