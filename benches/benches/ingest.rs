//! Ingestion into a local-folder database vs. writing the same batches as one raw
//! Parquet file with the same writer properties (the baseline).
//!
//! Data: 1,000,000 fixed-seed rows (`id:Int64, name:Utf8, value:Float64,
//! ts:Timestamp(ns, UTC)`) in batches of 8,192 rows. Only the write is timed:
//! creating the temporary folder / database / table and cloning the batches happen
//! before the clock starts, deleting the files after it stops.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use datafusion_export_benches::{
    database_ingest, default_ingest_batches, fresh_ingest_database, runtime, write_raw_parquet,
    INGEST_ROWS,
};

fn ingest(c: &mut Criterion) {
    let rt = runtime();
    let batches = default_ingest_batches();

    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.throughput(Throughput::Elements(INGEST_ROWS as u64));

    group.bench_function("raw_parquet", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let batches = &batches;
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().expect("temporary folder");
                    let started = Instant::now();
                    let bytes = write_raw_parquet(dir.path(), black_box(batches))
                        .expect("raw parquet write");
                    total += started.elapsed();
                    black_box(bytes);
                    drop(dir);
                }
                total
            }
        })
    });

    group.bench_function("database_ingest", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let batches = &batches;
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (dir, db) = fresh_ingest_database().await.expect("fresh database");
                    let input = batches.clone();
                    let started = Instant::now();
                    database_ingest(&db, black_box(input))
                        .await
                        .expect("database ingest");
                    total += started.elapsed();
                    drop(db);
                    drop(dir);
                }
                total
            }
        })
    });

    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
