//! Extent merging: a merged extent keeps every row's cursor and ingestion time, so
//! cursor scopes, `ingestion_time()` and continuous export do not notice the merge;
//! a merge whose sources are gone is refused.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use datafusion_export::tables::{Database, DatabaseOptions, ManualClock, TablesError};
use datafusion_export::Engine;
use datafusion_export_integration_tests::{i64_column, id_batch, rows_as_text, InstrumentedStore};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::ObjectStore;
use uuid::Uuid;

async fn rows(e: &Engine, sql: &str) -> Vec<String> {
    let mut rows = rows_as_text(&e.execute_collect(sql).await.unwrap());
    rows.sort();
    rows
}

/// Every answer that depends on cursors or ingestion times, for cursors 0..=last.
async fn answers(e: &Engine, last: u64) -> Vec<Vec<String>> {
    let mut out = vec![rows(e, "SELECT id, ingestion_time() AS t FROM T").await];
    for after in 0..=last {
        for at in after..=last {
            out.push(
                rows(
                    e,
                    &format!(
                        "SELECT id, ingestion_time() AS t FROM T \
                         WHERE cursor_after('{after}') AND cursor_before_or_at('{at}')"
                    ),
                )
                .await,
            );
        }
    }
    out
}

fn extent_ids(db: &Database) -> Vec<Uuid> {
    db.state()
        .table("T")
        .unwrap()
        .extents
        .iter()
        .map(|e| e.file.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_extents_keep_every_rows_cursor_and_ingestion_time() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
    ));
    let options = DatabaseOptions::default().with_clock(clock.clone());
    let db = Database::open_store(Arc::clone(&store), "db", options.clone())
        .await
        .unwrap();
    let e = Engine::new(db.clone());
    e.execute_collect(".create table T (id:long, s:string)")
        .await
        .unwrap();
    let target = tempfile::tempdir().unwrap();
    let url = url::Url::from_directory_path(target.path()).unwrap();
    e.execute_collect(&format!(
        ".create external table X (id:long, s:string) kind=storage dataformat=parquet ('{url}x')"
    ))
    .await
    .unwrap();
    e.execute_collect(
        ".create-or-alter continuous-export E over (T) to table X <| SELECT id, s FROM T",
    )
    .await
    .unwrap();
    // Six ingestions a minute apart: cursors 4..=9.
    for n in 0..6i64 {
        clock.advance(chrono::Duration::minutes(1));
        db.ingest("T", vec![id_batch(&[2 * n, 2 * n + 1])])
            .await
            .unwrap();
        if n == 2 {
            e.execute_collect(".run continuous-export E").await.unwrap();
        }
    }
    let last = db.current_cursor().sequence();
    let before = answers(&e, last).await;

    // The middle four become one extent.
    let ids = extent_ids(&db);
    let receipt = db.merge_extents("T", &ids[1..5]).await.unwrap();
    assert_eq!(receipt.sources, ids[1..5].to_vec());
    assert_eq!(extent_ids(&db).len(), 3);
    assert_eq!(answers(&e, last).await, before, "after one merge");
    let extents = rows(&e, ".show table T extents").await;
    assert_eq!(extents.len(), 3, "{extents:?}");

    // A partly covered merged extent is filtered by cursor; EXPLAIN shows it.
    let plan = rows_as_text(
        &e.execute_collect("EXPLAIN SELECT id FROM T WHERE cursor_after('6')")
            .await
            .unwrap(),
    )
    .join("\n");
    assert!(plan.contains("FilterExec: __dfx_cursor@1 > 6"), "{plan}");
    assert!(plan.contains("pruning_predicate=__dfx_cursor"), "{plan}");
    assert!(plan.contains("extents=2 of 3"), "{plan}");

    // Merging a merged extent with its neighbour keeps them too.
    let ids = extent_ids(&db);
    db.merge_extents("T", &ids[1..3]).await.unwrap();
    assert_eq!(extent_ids(&db).len(), 2);
    assert_eq!(
        answers(&e, last).await,
        before,
        "after merging a merged extent"
    );
    let reopened = Engine::new(
        Database::open_store(Arc::clone(&store), "db", options)
            .await
            .unwrap(),
    );
    assert_eq!(answers(&reopened, last).await, before, "from a new handle");

    // The continuous export goes on from its cursor: each row exported once.
    e.execute_collect(".run continuous-export E").await.unwrap();
    let mut exported = i64_column(
        &e.execute_collect("SELECT id FROM external_table('X')")
            .await
            .unwrap(),
        "id",
    );
    exported.sort();
    assert_eq!(exported, (0..12).collect::<Vec<i64>>());
}

/// Runs `during` when `b` starts uploading its merged extent: what another process
/// commits between a merge's read of its sources and its commit.
fn before_upload(
    store: &InstrumentedStore,
    during: impl FnOnce() -> futures::future::BoxFuture<'static, ()> + Send + 'static,
) {
    let mut during = Some(during);
    store.set_put_hook(Some(Box::new(move |path: &Path| {
        if !path.as_ref().starts_with("extents/") {
            return None;
        }
        let run = during.take()?;
        Some(Box::pin(async move {
            run().await;
            Ok(())
        }))
    })));
}

async fn count(db: &Database) -> Vec<i64> {
    i64_column(
        &Engine::new(db.clone())
            .execute_collect("SELECT count(*) AS id FROM T")
            .await
            .unwrap(),
        "id",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_whose_sources_are_gone_is_refused() {
    let shared: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let a = Database::open_store(Arc::clone(&shared), "db", Default::default())
        .await
        .unwrap();
    let watched = InstrumentedStore::new(Arc::clone(&shared));
    let b = Database::open_store(watched.clone(), "db", Default::default())
        .await
        .unwrap();
    a.create_table("T", id_batch(&[0]).schema().as_ref().clone())
        .await
        .unwrap();
    for n in 0..4 {
        a.ingest("T", vec![id_batch(&[n])]).await.unwrap();
    }
    let ids = extent_ids(&a);

    // Another process merges an overlapping set while b writes: b's commit is refused,
    // and its file is deleted.
    {
        let (a, overlap) = (a.clone(), ids[1..3].to_vec());
        before_upload(&watched, move || {
            Box::pin(async move {
                a.merge_extents("T", &overlap).await.unwrap();
            })
        });
    }
    let err = b.merge_extents("T", &ids[0..2]).await.unwrap_err();
    assert!(matches!(err, TablesError::Conflict(_)), "{err}");
    assert!(err.to_string().contains("gone"), "{err}");
    assert_eq!(count(&a).await, vec![4]);
    assert_eq!(extent_ids(&a).len(), 3);
    let live: Vec<String> = a
        .state()
        .table("T")
        .unwrap()
        .extents
        .iter()
        .map(|e| e.file.path.clone())
        .collect();
    let removed: Vec<String> = a
        .state()
        .removed
        .iter()
        .flat_map(|r| r.paths.clone())
        .collect();
    let stored = a.list("extents").await.unwrap();
    assert_eq!(
        stored.len(),
        live.len() + removed.len(),
        "b's merged file was deleted"
    );

    // Seen before writing: refused at once, as are extents that are not consecutive.
    b.refresh().await.unwrap();
    let err = b.merge_extents("T", &ids[1..3]).await.unwrap_err();
    assert!(err.to_string().contains("merged already"), "{err}");
    let ids = extent_ids(&a);
    let err = a.merge_extents("T", &[ids[0], ids[2]]).await.unwrap_err();
    assert!(err.to_string().contains("consecutive"), "{err}");

    // The table is dropped and re-created while b merges: refused, nothing changes.
    watched.set_put_hook(None);
    {
        let a = a.clone();
        before_upload(&watched, move || {
            Box::pin(async move {
                a.drop_table("T", false).await.unwrap();
                a.create_table("T", id_batch(&[0]).schema().as_ref().clone())
                    .await
                    .unwrap();
            })
        });
    }
    let err = b.merge_extents("T", &ids[0..2]).await.unwrap_err();
    assert!(matches!(err, TablesError::Conflict(_)), "{err}");
    assert_eq!(count(&a).await, vec![0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_command_merges_what_the_policy_allows() {
    let e = Engine::in_memory().await.unwrap();
    one_row_extents(
        &e,
        "id:long, s:string",
        (0..12).map(|n| format!("({n}, 'r{n}')")),
    )
    .await;
    let last = e.database().current_cursor().sequence();
    let before = answers(&e, last).await;
    let shown = e
        .execute_collect(".alter table T policy merge '{\"MaxExtentsToMerge\": 4}'")
        .await
        .unwrap();
    let policy = rows_as_text(&shown).join("\n");
    assert!(policy.contains(r#""MaxExtentsToMerge":4"#), "{policy}");
    assert!(
        policy.contains(r#""RowCountUpperBoundForMerge":16777216"#),
        "{policy}"
    );

    // Two named extents first, then everything the policy's bounds allow, tiers
    // aside (as Delta's OPTIMIZE): at most four sources a merge, merged again until
    // one extent is left.
    let ids = extent_ids(e.database());
    let merged = e
        .execute_collect(&format!(".merge T ({}, '{}')", ids[3], ids[4]))
        .await
        .unwrap();
    assert_eq!(i64_column(&merged, "SourceExtents"), vec![2]);
    let merged = e.execute_collect(".merge T").await.unwrap();
    assert_eq!(i64_column(&merged, "RowCount"), vec![5, 4, 3, 12]);
    assert_eq!(i64_column(&merged, "SourceExtents"), vec![4, 4, 3, 3]);
    assert_eq!(extent_ids(e.database()).len(), 1);
    assert_eq!(answers(&e, last).await, before);
    // Nothing is left to merge.
    let merged = e.execute_collect(".merge T").await.unwrap();
    assert_eq!(merged.iter().map(|b| b.num_rows()).sum::<usize>(), 0);

    // Policies: the database's default, refusals with the reason, AllowMerge.
    let shown = rows_as_text(
        &e.execute_collect(".show database policy merge")
            .await
            .unwrap(),
    )
    .join("\n");
    assert!(shown.contains(r#""MaxExtentsToMerge":100"#), "{shown}");
    for (policy, needle) in [
        (r#"{"Frob": 1}"#, "unknown field `Frob`"),
        (r#"{"MaxExtentsToMerge": 1}"#, "at least 2"),
        (r#"{"LoopPeriod": "soon"}"#, "LoopPeriod 'soon'"),
        ("not json", "invalid merge policy"),
    ] {
        let err = e
            .execute_collect(&format!(".alter table T policy merge '{policy}'"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{policy}: {err}");
    }
    e.execute_collect(r#".alter database policy merge '{"AllowMerge": false}'"#)
        .await
        .unwrap();
    e.execute_collect(".drop table T").await.unwrap();
    one_row_extents(
        &e,
        "id:long, s:string",
        (0..3).map(|n| format!("({n}, 'r{n}')")),
    )
    .await;
    // The re-created table has no policy of its own: the database's applies.
    let shown = rows_as_text(
        &e.execute_collect(".show table T policy merge")
            .await
            .unwrap(),
    )
    .join("\n");
    assert!(shown.contains(r#""AllowMerge":false"#), "{shown}");
    let merged = e.execute_collect(".merge T").await.unwrap();
    assert_eq!(merged.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    // Bad ids are refused with the reason.
    let err = e
        .execute_collect(".merge T (not-a-guid)")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid extent id"), "{err}");
    let err = e
        .execute_collect(&format!(".merge T ({})", Uuid::new_v4()))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not in table 'T'"), "{err}");
}

/// `dfexport serve` merges what each table's policy allows, in the background.
#[test]
fn serve_merges_small_extents_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let db = root.to_str().unwrap().to_string();
    let cli = |command: &str| -> String {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dfexport-e2e"))
            .args(["--db", &db, "--format", "csv", "-c", command])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    cli(".create table T (id:long)");
    for n in 0..8 {
        cli(&format!("INSERT INTO T VALUES ({n})"));
    }
    cli(r#".alter table T policy merge '{"MaxExtentsToMerge": 4, "LoopPeriod": "00:01:00"}'"#);
    let extents = || cli(".show table T extents").lines().count() - 1;
    assert_eq!(extents(), 8);
    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_dfexport-e2e"))
        .args([
            "--db",
            &db,
            "serve",
            "--poll-interval",
            "1s",
            "--clean-interval",
            "off",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Eight one-row extents become two of four rows (the next tier needs four).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while extents() != 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    serve.kill().unwrap();
    serve.wait().unwrap();
    assert_eq!(extents(), 2);
    assert_eq!(
        cli("SELECT count(*) AS n, sum(id) AS s FROM T"),
        "n,s\n8,28\n"
    );
    assert_eq!(
        cli("SELECT count(*) AS n FROM T WHERE cursor_after('5')"),
        "n\n4\n",
        "rows keep their cursors: commits 6..=9 are the last four"
    );
}

/// A continuous export over a fact table joined with a dimension table: both are
/// merged (and a vacuum runs) while a run uploads its artifact, that is after the run
/// planned its scopes on the older extents, and the next run plans on merged ones.
/// Every fact row is exported once, with its dimension values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fact_and_dimension_tables_merged_mid_run_export_each_row_once() {
    use datafusion_export::tables::merge::MergePolicy;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("bucket");
    std::fs::create_dir_all(&folder).unwrap();
    let bucket = InstrumentedStore::new(Arc::new(
        object_store::local::LocalFileSystem::new_with_prefix(&folder).unwrap(),
    ) as Arc<dyn ObjectStore>);
    let e = Engine::in_memory().await.unwrap();
    e.context()
        .register_object_store(&url::Url::parse("faulty://bucket").unwrap(), bucket.clone());
    for text in [
        ".create table F (id:long, k:long)",
        ".create table D (k:long, name:string)",
        ".create external table X (id:long, name:string) kind=storage dataformat=parquet ('faulty://bucket/out')",
        ".create-or-alter continuous-export E over (F) to table X <| SELECT F.id, D.name FROM F JOIN D ON F.k = D.k",
    ] {
        e.execute_collect(text).await.unwrap();
    }
    let policy = MergePolicy {
        max_extents: 2,
        ..Default::default()
    };
    let mut next = 0i64;
    for round in 0..3 {
        // Facts and the dimension rows they refer to, in many small ingestions.
        for _ in 0..4 {
            let k = next;
            e.execute_collect(&format!("INSERT INTO D VALUES ({k}, 'name-{k}')"))
                .await
                .unwrap();
            e.execute_collect(&format!(
                "INSERT INTO F VALUES ({}, {k}), ({}, {k})",
                2 * next,
                2 * next + 1
            ))
            .await
            .unwrap();
            next += 1;
        }
        // While the run uploads its artifact, both tables are merged and a vacuum
        // runs: the run's commit still covers exactly what it planned.
        {
            let (db, policy) = (e.database().clone(), policy.clone());
            let mut armed = true;
            bucket.set_put_hook(Some(Box::new(move |path: &Path| {
                if !armed || !path.as_ref().starts_with("out/") {
                    return None;
                }
                armed = false;
                let (db, policy) = (db.clone(), policy.clone());
                Some(Box::pin(async move {
                    db.merge_table("F", &policy).await.unwrap();
                    db.merge_table("D", &policy).await.unwrap();
                    db.vacuum(std::time::Duration::from_secs(3600))
                        .await
                        .unwrap();
                    Ok(())
                }))
            })));
        }
        e.execute_collect(".run continuous-export E").await.unwrap();
        bucket.set_put_hook(None);
        assert!(
            e.database().extents("F").await.unwrap().len() < 4 * (round + 1),
            "round {round}: F was merged"
        );
    }
    let mut exported = rows_as_text(
        &e.execute_collect("SELECT id, name FROM external_table('X')")
            .await
            .unwrap(),
    );
    exported.sort();
    let mut expected: Vec<String> = (0..2 * next)
        .map(|id| format!("{id}|name-{}", id / 2))
        .collect();
    expected.sort();
    assert_eq!(
        exported, expected,
        "each fact row once, with its dimension values"
    );
}

/// A merge whose commit's response is lost still lands once (the commit is read back by
/// its id); one whose upload fails commits nothing, and a retry merges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_under_faults_lands_once_or_not_at_all() {
    use datafusion_export_integration_tests::fault_store::{CallKind, Fault, FaultStore};
    let faulty = FaultStore::new(Arc::new(InMemory::new()));
    let db = Database::open_store(faulty.clone(), "db", Default::default())
        .await
        .unwrap();
    let e = Engine::new(db.clone());
    e.execute_collect(".create table T (id:long, s:string)")
        .await
        .unwrap();
    for n in 0..6 {
        db.ingest("T", vec![id_batch(&[n])]).await.unwrap();
    }
    let last = db.current_cursor().sequence();
    let before = answers(&e, last).await;
    let ids = extent_ids(&db);

    // The merged file's upload fails: nothing is committed.
    faulty.arm(CallKind::Put, 1, Fault::FailBeforeWrite);
    assert!(db.merge_extents("T", &ids[0..2]).await.is_err());
    faulty.disarm();
    assert_eq!(extent_ids(&db), ids);

    // The commit lands but its response is lost: the merge reads it back, once.
    faulty.arm(CallKind::Put, 2, Fault::LostResponse);
    let receipt = db.merge_extents("T", &ids[0..2]).await.unwrap();
    assert_eq!(faulty.disarm(), 1, "the fault hit the commit");
    assert_eq!(extent_ids(&db).len(), 5);
    assert_eq!(extent_ids(&db)[0], receipt.merged.file.id);
    let reopened = Engine::new(
        Database::open_store(faulty.clone(), "db", Default::default())
            .await
            .unwrap(),
    );
    assert_eq!(extent_ids(reopened.database()).len(), 5);
    assert_eq!(answers(&reopened, last).await, before);
}

/// A merge commits after a continuous-export run planned its query and before it read
/// a row (at the run's first commit, its attempt record): the run's scan resolves its
/// scope against the merged extent, filters it by cursor, and exports each row once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_between_a_runs_planning_and_its_read_changes_nothing() {
    use datafusion_export::tables::merge::MergePolicy;
    let raw: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let watched = InstrumentedStore::new(Arc::clone(&raw));
    let e = Engine::new(
        Database::open_store(watched.clone(), "db", Default::default())
            .await
            .unwrap(),
    );
    let merger = Database::open_store(Arc::clone(&raw), "db", Default::default())
        .await
        .unwrap();
    let target = tempfile::tempdir().unwrap();
    let url = url::Url::from_directory_path(target.path()).unwrap();
    for text in [
        ".create table T (id:long, s:string)".to_string(),
        format!(".create external table X (id:long, s:string) kind=storage dataformat=parquet ('{url}x')"),
        ".create-or-alter continuous-export E over (T) to table X <| SELECT id, s FROM T".to_string(),
    ] {
        e.execute_collect(&text).await.unwrap();
    }
    let mut exported_so_far = 0;
    for round in 0..3i64 {
        for n in 0..4 {
            let id = round * 4 + n;
            e.database()
                .ingest("T", vec![id_batch(&[id])])
                .await
                .unwrap();
        }
        // The next commit is the run's attempt record: the merge lands just before it,
        // over extents the last run exported and the ones this run will read.
        let fired = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut armed = true;
        let flag = Arc::clone(&fired);
        let (merger, policy) = (
            merger.clone(),
            MergePolicy {
                max_extents: 2,
                ..Default::default()
            },
        );
        watched.set_put_hook(Some(Box::new(move |path: &Path| {
            if !armed || !path.as_ref().starts_with("_log/0") {
                return None;
            }
            armed = false;
            let (merger, policy, flag) = (merger.clone(), policy.clone(), Arc::clone(&flag));
            Some(Box::pin(async move {
                let merged = !merger.merge_table("T", &policy).await.unwrap().is_empty();
                flag.store(merged, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            }))
        })));
        let outcome = e.execute_collect(".run continuous-export E").await.unwrap();
        watched.set_put_hook(None);
        assert!(
            fired.load(std::sync::atomic::Ordering::SeqCst),
            "round {round}: the merge ran inside the run"
        );
        exported_so_far += 4;
        let mut exported = i64_column(
            &e.execute_collect("SELECT id FROM external_table('X')")
                .await
                .unwrap(),
            "id",
        );
        exported.sort();
        assert_eq!(
            exported,
            (0..exported_so_far).collect::<Vec<i64>>(),
            "round {round}: {}",
            rows_as_text(&outcome).join("; ")
        );
    }
}

/// `.merge async` returns an operation id at once; the operation merges, and its
/// details are the merges' rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_async_runs_as_an_operation() {
    let e = Engine::in_memory().await.unwrap();
    one_row_extents(&e, "id:long", (0..4).map(|n| format!("({n})"))).await;
    e.execute_collect(r#".alter table T policy merge '{"MaxExtentsToMerge": 4}'"#)
        .await
        .unwrap();
    let started = e.execute_collect(".merge async T").await.unwrap();
    let id = datafusion_export_integration_tests::string_column(&started, "OperationId")[0].clone();
    let ended = e.operations().wait_all().await;
    assert_eq!(ended.len(), 1);
    let shown = rows_as_text(
        &e.execute_collect(&format!(".show operation {id}"))
            .await
            .unwrap(),
    )
    .join("\n");
    assert!(
        shown.contains("Completed") && shown.contains("ExtentsMerge"),
        "{shown}"
    );
    let details = e
        .execute_collect(&format!(".show operation {id} details"))
        .await
        .unwrap();
    assert_eq!(
        datafusion_export_integration_tests::string_column(&details, "RowCount"),
        vec!["4".to_string()]
    );
    assert_eq!(extent_ids(e.database()).len(), 1);
    // A missing table is refused at once, with no operation.
    let err = e
        .execute_collect(".merge async Nope")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("Nope"), "{err}");
}

/// Creates `T (columns)` in `e` and inserts each of `rows` (a SQL `VALUES` tuple) on
/// its own: one extent per row.
async fn one_row_extents(e: &Engine, columns: &str, rows: impl IntoIterator<Item = String>) {
    e.execute_collect(&format!(".create table T ({columns})"))
        .await
        .unwrap();
    for row in rows {
        e.execute_collect(&format!("INSERT INTO T VALUES {row}"))
            .await
            .unwrap();
    }
}
