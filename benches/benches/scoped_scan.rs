//! A cursor-scoped scan of the newest 1% of a table vs. the full scan.
//!
//! Setup (once): a local-folder database whose table `T (id long, v double,
//! s string)` was filled by 1,000 ingestions of 1,000 fixed-seed rows (1,000
//! extents). Both queries run `SELECT count(*), sum(v), max(s) FROM T` through the
//! same `Engine` session; the scoped one adds `WHERE cursor_after('<cursor of the
//! 990th ingestion>')` and so reads 10 extents. Both results are checked once before
//! measuring (1,000,000 and 10,000 rows).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use datafusion_export_benches::{check_scans, run_scan, runtime, ScanFixture, FULL_SCAN_SQL};

fn scoped_scan(c: &mut Criterion) {
    let rt = runtime();
    let fixture = rt.block_on(ScanFixture::build()).expect("scan fixture");
    let engine = fixture.engine();
    let scoped_sql = fixture.scoped_sql();
    let (full, scoped) = rt
        .block_on(check_scans(&fixture, &engine))
        .expect("both scans count what the table holds");
    eprintln!(
        "scoped_scan fixture built in {:.1?}; full: {} rows, scoped: {} rows ({scoped_sql})",
        fixture.build_time, full.count, scoped.count
    );

    let mut group = c.benchmark_group("scoped_scan");
    group.sample_size(10);

    group.bench_function("full_scan", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(run_scan(&engine, FULL_SCAN_SQL).await.expect("full scan"))
        })
    });
    group.bench_function("scoped_newest_1pct", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(run_scan(&engine, &scoped_sql).await.expect("scoped scan"))
        })
    });

    group.finish();
}

criterion_group!(benches, scoped_scan);
criterion_main!(benches);
