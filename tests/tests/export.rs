//! `.export`, external tables and the export sink, end to end.

use std::sync::Arc;

use datafusion_export::Engine;
use datafusion_export_integration_tests::{
    i64_column, injected_error, python, row_count, rows_as_text, string_column, InstrumentedStore,
};
use object_store::memory::InMemory;
use object_store::ObjectStore;

/// T(id, s, ts, v): values that exercise quoting, nulls and partitions.
async fn engine_with_data(rows: usize) -> Engine {
    let engine = Engine::in_memory().await.unwrap();
    engine
        .execute(".create table T (id:long, s:string, ts:datetime, v:real)")
        .await
        .unwrap();
    let awkward = [
        "plain",
        "comma, inside",
        "quote \" inside",
        "new\nline",
        "back\\slash",
        "tab\tinside",
        "",
    ];
    let mut values = Vec::new();
    for i in 0..rows {
        let s = awkward[i % awkward.len()];
        let s = if i % 11 == 10 {
            "NULL".to_string()
        } else {
            format!("'{}'", s.replace('\'', "''"))
        };
        values.push(format!(
            "({i}, {s}, to_timestamp('2026-11-{:02}T{:02}:00:00Z'), {}.5)",
            1 + i % 3,
            i % 24,
            i
        ));
    }
    for chunk in values.chunks(500) {
        engine
            .execute_collect(&format!("INSERT INTO T VALUES {}", chunk.join(", ")))
            .await
            .unwrap();
    }
    engine
}

async fn expected_rows(engine: &Engine) -> Vec<String> {
    rows_as_text(
        &engine
            .execute_collect("SELECT id, s, ts, v FROM T")
            .await
            .unwrap(),
    )
}

fn paths(batches: &[datafusion::arrow::array::RecordBatch]) -> Vec<String> {
    string_column(batches, "Path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_compression_and_partitioning_round_trips() {
    let engine = engine_with_data(300).await;
    let expected = expected_rows(&engine).await;
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("csv", "", "includeHeaders='all'"),
        ("csv", "compressed=true", "includeHeaders='all'"),
        ("tsv", "", "includeHeaders='all'"),
        ("json", "", "fileExtension='.jsonl'"),
        ("json", "compressed=true", "namePrefix='part'"),
        ("parquet", "", "namePrefix='p'"),
        ("parquet", "", "namePrefix='z', compressed=true"),
    ];
    let partitionings = [
        "",
        "partition by (Day:datetime = bin(ts, 1d), Region:string = s)",
        "partition by (Bucket:long = hash(id, 4)) pathformat = (\"bucket-\" Bucket)",
        "partition by (Month:datetime = startofmonth(ts)) pathformat = (datetime_pattern(\"yyyy/MM\", Month))",
    ];
    let mut n = 0;
    for (format, flags, props) in cases {
        for partition in partitionings {
            n += 1;
            let name = format!("X{n}");
            let url = dir.path().join(&name);
            let with = [flags, props]
                .iter()
                .filter(|p| !p.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            engine
                .execute_collect(&format!(
                    ".create external table {name} (id:long, s:string, ts:datetime, v:real) kind=storage {partition} dataformat={format} ('{}') with ({with})",
                    url.display()
                ))
                .await
                .unwrap_or_else(|e| panic!("{name} {format} {partition}: {e}"));
            let result = engine
                .execute_collect(&format!(
                    ".export to table {name} <| SELECT id, s, ts, v FROM T"
                ))
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let total: i64 = i64_column(&result, "NumRecords").iter().sum();
            assert_eq!(total, 300, "{name}");
            assert!(string_column(&result, "ExternalTableName")
                .iter()
                .all(|t| t == &name));

            // Read back with DataFusion: every exported row, partitions included.
            let back = engine
                .execute_collect(&format!(
                    "SELECT id, s, ts, v FROM external_table('{name}')"
                ))
                .await
                .unwrap_or_else(|e| panic!("{name} read back: {e}"));
            // CSV and TSV have no null: an empty field reads back as null.
            let expected = if matches!(format, "csv" | "tsv") {
                let mut e: Vec<String> = expected
                    .iter()
                    .map(|r| r.replacen("||", "|NULL|", 1))
                    .collect();
                e.sort();
                e
            } else {
                expected.clone()
            };
            assert_eq!(
                rows_as_text(&back),
                expected,
                "{name} {format} {flags} {partition}"
            );
            if partition.contains("Region") {
                let regions = engine
                    .execute_collect(&format!(
                        "SELECT count(*) AS n FROM external_table('{name}') WHERE Region = 'plain'"
                    ))
                    .await
                    .unwrap();
                assert!(i64_column(&regions, "n")[0] > 0);
                let first = &paths(&result)[0];
                assert!(first.contains("Day=2026-11-0"), "{first}");
            }
            if partition.contains("bucket-") {
                assert!(
                    paths(&result).iter().all(|p| p.contains("/bucket-")),
                    "{:?}",
                    paths(&result)
                );
            }
            if partition.contains("yyyy/MM") {
                assert!(
                    paths(&result).iter().all(|p| p.contains("/2026/11/")),
                    "{:?}",
                    paths(&result)
                );
            }
        }
    }

    // The independent reader: pyarrow over the same files, for the unpartitioned cases.
    for (i, (format, flags, _)) in cases.iter().enumerate() {
        let name = format!("X{}", i * partitionings.len() + 1);
        let url = dir.path().join(&name);
        let count = python(&format!(
            r#"
import glob, gzip, io, json, sys
import pyarrow as pa, pyarrow.csv as pc, pyarrow.json as pj, pyarrow.parquet as pq
fmt, compressed, root = "{format}", {compressed}, r"{root}"
files = [f for f in glob.glob(root + "/**/*", recursive=True) if not f.endswith("/") and "." in f.rsplit("/", 1)[-1]]
rows, ids = 0, []
for f in files:
    if fmt == "parquet":
        t = pq.read_table(f)
    else:
        data = open(f, "rb").read()
        if f.endswith(".gz"):
            data = gzip.decompress(data)
        if fmt in ("csv", "tsv"):
            t = pc.read_csv(io.BytesIO(data), parse_options=pc.ParseOptions(delimiter="," if fmt == "csv" else "\t", newlines_in_values=True))
        else:
            t = pj.read_json(io.BytesIO(data))
    rows += t.num_rows
    ids += t.column("id").to_pylist()
print(rows, len(set(ids)), sum(ids))
"#,
            compressed = if flags.is_empty() { "False" } else { "True" },
            root = url.display()
        ));
        assert_eq!(
            count.trim(),
            format!("300 300 {}", (0..300).sum::<i64>()),
            "pyarrow on {name} ({format} {flags})"
        );
    }
}

#[tokio::test]
async fn csv_follows_rfc_4180() {
    let engine = engine_with_data(7).await;
    let dir = tempfile::tempdir().unwrap();
    let result = engine
        .execute_collect(&format!(
            ".export to csv ('{}') with (includeHeaders='all', distribution='single') <| SELECT id, s FROM T ORDER BY id",
            dir.path().display()
        ))
        .await
        .unwrap();
    let path = &paths(&result)[0];
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        text,
        "id,s\n0,plain\n1,\"comma, inside\"\n2,\"quote \"\" inside\"\n3,\"new\nline\"\n4,back\\slash\n5,tab\tinside\n6,\n"
    );
}

#[tokio::test]
async fn size_limit_rolls_artifacts_and_first_file_has_the_only_header() {
    let engine = engine_with_data(20_000).await;
    let dir = tempfile::tempdir().unwrap();
    let limit = 1_048_576u64;
    let result = engine
        .execute_collect(&format!(
            ".export compressed to csv ('{}') with (sizeLimit={limit}, includeHeaders='firstFile', namePrefix='roll') <| SELECT id, s, ts, v, repeat('x', 100 + id % 100) AS pad FROM T",
            dir.path().display()
        ))
        .await
        .unwrap();
    let files = paths(&result);
    assert!(files.len() >= 3, "{files:?}");
    let mut headers = 0;
    let mut rows = 0;
    for path in &files {
        assert!(
            path.ends_with(".csv.gz") && path.contains("/roll_"),
            "{path}"
        );
        let compressed = std::fs::read(path).unwrap();
        let mut text = String::new();
        use std::io::Read;
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_string(&mut text)
            .unwrap();
        // Within one batch (8192 rows of at most ~300 bytes) of the limit.
        assert!(
            (text.len() as u64) < limit + 8192 * 300,
            "{path}: {} bytes",
            text.len()
        );
        headers += text.matches("id,s,ts,v,pad\n").count();
        rows += i64_column(&result, "NumRecords")[files.iter().position(|p| p == path).unwrap()];
    }
    assert_eq!(headers, 1);
    assert_eq!(rows, 20_000);
}

#[tokio::test]
async fn async_exports_are_operations() {
    let engine = engine_with_data(50).await;
    let dir = tempfile::tempdir().unwrap();
    let started = engine
        .execute_collect(&format!(
            ".export async to parquet ('{}') <| SELECT * FROM T",
            dir.path().display()
        ))
        .await
        .unwrap();
    let id = string_column(&started, "OperationId")[0].clone();
    let mut state = String::new();
    for _ in 0..200 {
        let op = engine
            .execute_collect(&format!(".show operation {id}"))
            .await
            .unwrap();
        state = string_column(&op, "State")[0].clone();
        if state != "InProgress" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(state, "Completed");
    let details = engine
        .execute_collect(&format!(".show operation {id} details"))
        .await
        .unwrap();
    let records: i64 = string_column(&details, "NumRecords")
        .iter()
        .map(|n| n.parse::<i64>().unwrap())
        .sum();
    assert_eq!(records, 50);
    let all = engine.execute_collect(".show operations").await.unwrap();
    assert!(string_column(&all, "OperationId").contains(&id));

    // A failing async export: the error, once failed.
    let started = engine
        .execute_collect(".export async to table Missing <| SELECT * FROM T")
        .await;
    if let Ok(started) = started {
        let id = string_column(&started, "OperationId")[0].clone();
        let mut failed = false;
        for _ in 0..200 {
            let op = engine
                .execute_collect(&format!(".show operation {id}"))
                .await
                .unwrap();
            if string_column(&op, "State")[0] == "Failed" {
                failed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(failed);
        let err = engine
            .execute_collect(&format!(".show operation {id} details"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("Missing"), "{err}");
    }
}

#[tokio::test]
async fn bad_export_input_gets_clear_errors() {
    let engine = engine_with_data(10).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let cases = [
        (format!(".export to xml ('{d}') <| SELECT * FROM T"), "xml"),
        (
            ".export to csv ('ftp://nowhere/x') <| SELECT * FROM T".to_string(),
            "ftp://nowhere/x",
        ),
        (
            format!(".export to csv ('{d}') with (namePrefix='a/b') <| SELECT * FROM T"),
            "namePrefix",
        ),
        (
            format!(".export to csv ('{d}') with (namePrefix='..') <| SELECT * FROM T"),
            "namePrefix",
        ),
        (
            format!(".export to csv ('{d}') with (sizeLimit=10) <| SELECT * FROM T"),
            "sizeLimit",
        ),
        (
            format!(".export to csv ('{d}') with (sizeLimit=99999999999) <| SELECT * FROM T"),
            "sizeLimit",
        ),
        (
            format!(".export to csv ('{d}') with (colour='blue') <| SELECT * FROM T"),
            "colour",
        ),
        (
            format!(".export to csv ('{d}') with (compressionType='snappy') <| SELECT * FROM T"),
            "snappy",
        ),
        (
            ".export to table Nope <| SELECT * FROM T".to_string(),
            "Nope",
        ),
    ];
    for (command, needle) in cases {
        let err = engine
            .execute_collect(&command)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "`{command}` failed with `{err}`");
    }
    engine
        .execute_collect(&format!(
            ".create external table E (id:long, s:string) kind=storage dataformat=csv ('{d}/e')"
        ))
        .await
        .unwrap();
    let err = engine
        .execute_collect(".export to table E <| SELECT id, v FROM T")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("does not match external table 'E'") && err.contains("'v'"),
        "{err}"
    );
    let err = engine
        .execute_collect(".export to table E <| SELECT id FROM T")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("1 columns"), "{err}");
}

#[tokio::test]
async fn a_write_that_fails_halfway_fails_the_command_and_reports_nothing() {
    let engine = engine_with_data(3000).await;
    let store = InstrumentedStore::new(Arc::new(InMemory::new()) as Arc<dyn ObjectStore>);
    engine
        .context()
        .register_object_store(&url::Url::parse("faulty://bucket").unwrap(), store.clone());
    let mut writes = 0;
    store.set_put_hook(Some(Box::new(move |path| {
        writes += 1;
        // The third artifact write fails.
        (writes == 3).then(|| {
            let err = injected_error(path);
            Box::pin(async move { Err(err) })
                as futures::future::BoxFuture<'static, object_store::Result<()>>
        })
    })));
    let err = engine
        .execute_collect(
            ".export to csv ('faulty://bucket/out') with (distribution='single', sizeLimit=1048576) <| SELECT id, repeat('x', 2000) AS pad FROM T",
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("injected failure"), "{err}");
    let ops = engine.execute_collect(".show operations").await.unwrap();
    assert_eq!(
        row_count(&ops),
        0,
        "a failed sync export reports no artifact anywhere"
    );
}

#[tokio::test]
async fn external_tables_are_listed_without_secrets_and_dropped() {
    let engine = Engine::in_memory().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    engine
        .execute_collect(&format!(
            ".create external table S (a:long) kind=storage dataformat=parquet ('{}') with (namePrefix='n')",
            dir.path().display()
        ))
        .await
        .unwrap();
    let err = engine
        .execute_collect(&format!(
            ".create external table S (a:long) kind=storage dataformat=parquet ('{}')",
            dir.path().display()
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    engine
        .execute_collect(&format!(
            ".create-or-alter external table S (a:long, b:string) kind=storage dataformat=csv ('{}')",
            dir.path().display()
        ))
        .await
        .unwrap();
    let err = engine
        .execute_collect(".create external table Az (a:long) kind=storage dataformat=csv (h@'https://acct.blob.core.windows.net/c;SECRETKEY')")
        .await;
    if let Err(e) = &err {
        assert!(!e.to_string().contains("SECRETKEY"), "{e}");
    }
    let shown = engine
        .execute_collect(".show external tables")
        .await
        .unwrap();
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&shown)
        .unwrap()
        .to_string();
    assert!(!text.contains("SECRETKEY"), "{text}");
    assert!(string_column(&shown, "TableName").contains(&"S".to_string()));
    let one = engine
        .execute_collect(".show external table S")
        .await
        .unwrap();
    assert_eq!(string_column(&one, "Schema"), vec!["a:long, b:string"]);
    engine
        .execute_collect(".drop external table S")
        .await
        .unwrap();
    let err = engine
        .execute_collect(".show external table S")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_to_delta_is_one_commit_readable_by_other_readers() {
    let engine = engine_with_data(200).await;
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("delta");
    engine
        .execute_collect(&format!(
            ".create external table D (id:long, s:string, ts:datetime, v:real) kind=delta ('{}')",
            url.display()
        ))
        .await
        .unwrap();
    for _ in 0..2 {
        engine
            .execute_collect(".export to table D <| SELECT id, s, ts, v FROM T")
            .await
            .unwrap();
    }
    let back = engine
        .execute_collect("SELECT count(*) AS n, count(DISTINCT id) AS d FROM external_table('D')")
        .await
        .unwrap();
    assert_eq!(i64_column(&back, "n"), vec![400]);
    assert_eq!(i64_column(&back, "d"), vec![200]);
    let out = python(&format!(
        "from deltalake import DeltaTable\nt = DeltaTable(r'{}')\nprint(t.version(), t.to_pyarrow_table().num_rows)",
        url.display()
    ));
    // Version 0 creates the table; each export is one commit.
    assert_eq!(out.trim(), "2 400");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_delta_tables_keep_partition_values_in_the_log() {
    let engine = engine_with_data(200).await;
    let dir = tempfile::tempdir().unwrap();
    let query = "SELECT id, CASE WHEN id % 3 = 0 THEN 'EU' WHEN id % 3 = 1 THEN 'New York %20' END AS region, v FROM T";
    let counts = "SELECT region, count(*) AS n FROM external_table('{}') GROUP BY region ORDER BY region NULLS LAST";

    // 1. A new table, partitioned as declared.
    let created = dir.path().join("created");
    let err = engine
        .execute_collect(&format!(
            ".create external table Bad (id:long, region:string, v:real) kind=delta partition by (id:string) ('{}')",
            created.display()
        ))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("partition 'id:string' must be one of the table's columns"),
        "{err}"
    );
    engine
        .execute_collect(&format!(
            ".create external table D (id:long, region:string, v:real) kind=delta partition by (region:string) ('{}')",
            created.display()
        ))
        .await
        .unwrap();
    // 2. A table another writer created, partitioned: its partitioning is used.
    let foreign = dir.path().join("foreign");
    python(&format!(
        "import pyarrow as pa\nfrom deltalake import write_deltalake\n\
         write_deltalake(r'{}', pa.table({{'id': pa.array([-1], pa.int64()), 'region': ['EU'], 'v': [0.5]}}), partition_by=['region'])",
        foreign.display()
    ));
    engine
        .execute_collect(&format!(
            ".create external table F (id:long, region:string, v:real) kind=delta ('{}')",
            foreign.display()
        ))
        .await
        .unwrap();

    for (table, url, extra) in [("D", &created, 0), ("F", &foreign, 1)] {
        engine
            .execute_collect(&format!(".export to table {table} <| {query}"))
            .await
            .unwrap();
        let back = engine
            .execute_collect(&counts.replace("{}", table))
            .await
            .unwrap();
        assert_eq!(
            rows_as_text(&back),
            rows_as_text(
                &engine
                    .execute_collect(&format!(
                        "SELECT * FROM (VALUES ('EU', {}), ('New York %20', 67), (NULL, 66)) AS x(region, n)",
                        67 + extra
                    ))
                    .await
                    .unwrap()
            ),
            "{table}"
        );
        // Another reader: partition values from the log; data files without them.
        let out = python(&format!(
            "import collections, pyarrow.parquet as pq\nfrom deltalake import DeltaTable\n\
             t = DeltaTable(r'{}')\n\
             print(t.metadata().partition_columns)\n\
             print(sorted(collections.Counter(t.to_pyarrow_table().column('region').to_pylist()).items(), key=str))\n\
             files = t.file_uris()\n\
             print(all('region=' in f for f in files), sorted({{tuple(pq.read_schema(f).names) for f in files}}))",
            url.display()
        ));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "['region']", "{table}: {out}");
        assert_eq!(
            lines[1],
            format!("[('EU', {}), ('New York %20', 67), (None, 66)]", 67 + extra),
            "{table}: {out}"
        );
        assert_eq!(lines[2], "True [('id', 'v')]", "{table}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_partitions_stay_within_the_open_writer_bound() {
    // 200 partitions, more than the 32 artifacts a writer keeps open: the least
    // recently used ones are closed and reopened as new artifacts; nothing is lost.
    let engine = Engine::in_memory().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    engine
        .execute_collect(&format!(
            ".create external table H (id:long, s:string, ts:datetime, v:real) kind=storage partition by (B:long = hash(id, 200)) dataformat=csv ('{}')",
            dir.path().display()
        ))
        .await
        .unwrap();
    let result = engine
        .execute_collect(".export to table H with (distribution='single') <| SELECT value AS id, 'x' AS s, to_timestamp(value) AS ts, 0.5 AS v FROM generate_series(1, 30000)")
        .await
        .unwrap();
    assert_eq!(i64_column(&result, "NumRecords").iter().sum::<i64>(), 30000);
    let folders: std::collections::BTreeSet<String> = paths(&result)
        .iter()
        .map(|p| p.rsplit_once('/').unwrap().0.to_string())
        .collect();
    assert_eq!(folders.len(), 200, "partition folders");
    assert!(
        row_count(&result) > folders.len(),
        "LRU closing produced extra artifacts"
    );
    let back = engine
        .execute_collect("SELECT count(DISTINCT id) AS n FROM external_table('H')")
        .await
        .unwrap();
    assert_eq!(i64_column(&back, "n"), vec![30000]);
}
