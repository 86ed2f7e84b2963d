//! A continuous export's run history lives outside the checkpointed state, in a record
//! stream: checkpoints hold none of it, `.show … exported-artifacts` pages through it,
//! and a record lost to a crash between its commit and its file comes back.

use std::sync::Arc;

use chrono::Utc;
use datafusion_export::tables::{Database, DatabaseOptions, ManualClock};
use datafusion_export::Engine;
use datafusion_export_integration_tests::{i64_column, id_batch, string_column};
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

async fn exec(e: &Engine, text: &str) -> Vec<datafusion::arrow::array::RecordBatch> {
    e.execute_collect(text)
        .await
        .unwrap_or_else(|err| panic!("{text}: {err}"))
}

async fn newest_checkpoint(store: &Arc<dyn ObjectStore>) -> String {
    let mut checkpoints: Vec<String> = store
        .list(Some(&Path::from("_log")))
        .map_ok(|m| m.location.to_string())
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.ends_with(".checkpoint.json"))
        .collect();
    checkpoints.sort();
    let newest = checkpoints.last().expect("a checkpoint");
    let bytes = store
        .get(&Path::from(newest.as_str()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_history_is_paged_and_kept_out_of_checkpoints() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let options = DatabaseOptions {
        checkpoint_interval: 5,
        ..DatabaseOptions::default().with_clock(clock.clone())
    };
    let db = Database::open_store(Arc::clone(&store), "db", options.clone())
        .await
        .unwrap();
    let e = Engine::new(db.clone());
    let target = tempfile::tempdir().unwrap();
    let url = url::Url::from_directory_path(target.path()).unwrap();
    exec(&e, ".create table T (id:long, s:string)").await;
    exec(
        &e,
        &format!(".create external table X (id:long, s:string) kind=storage dataformat=parquet ('{url}out')"),
    )
    .await;
    exec(
        &e,
        ".create-or-alter continuous-export E to table X with (distribution='single') <| SELECT id, s FROM T",
    )
    .await;
    // 20 runs, an hour apart, each exporting one artifact of one row.
    for run in 0..20i64 {
        db.ingest("T", vec![id_batch(&[run])]).await.unwrap();
        exec(&e, ".run continuous-export E").await;
        clock.advance(chrono::Duration::hours(1));
    }
    let all = exec(&e, ".show continuous-export E exported-artifacts").await;
    let paths = string_column(&all, "Path");
    assert_eq!(paths.len(), 20);

    // Checkpoints hold the export's definition, not its history.
    db.flush().await;
    let checkpoint = newest_checkpoint(&store).await;
    for path in &paths {
        let name = path.rsplit('/').next().unwrap();
        assert!(!checkpoint.contains(name), "{name} is in the checkpoint");
    }

    // Pages: the newest N artifacts, and those since a time.
    let newest = exec(&e, ".show continuous-export E exported-artifacts | take 3").await;
    assert_eq!(string_column(&newest, "Path"), paths[17..].to_vec());
    let none = exec(&e, ".show continuous-export E exported-artifacts | take 0").await;
    assert_eq!(string_column(&none, "Path"), Vec::<String>::new());
    // Run k committed k hours after the first; the clock is now 20 hours after it.
    let recent = exec(&e, ".show continuous-export E exported-artifacts since 5h").await;
    assert_eq!(string_column(&recent, "Path"), paths[15..].to_vec());
    let recent_two = exec(
        &e,
        ".show continuous-export E exported-artifacts since 5h | limit 2",
    )
    .await;
    assert_eq!(string_column(&recent_two, "Path"), paths[18..].to_vec());
    let all_since = exec(
        &e,
        ".show continuous-export E exported-artifacts since '2000-01-01'",
    )
    .await;
    assert_eq!(i64_column(&all_since, "NumRecords"), vec![1; 20]);

    // The newest record's file is lost (a crash after the commit): it is read from
    // the log, and the next run stores it again.
    let stream = format!(
        "_records/continuous_export/{}",
        datafusion_export::continuous::definition::load(&db, "E")
            .await
            .unwrap()
            .id
            .simple()
    );
    let head = Path::from(format!("{stream}/{:020}.json", 20));
    store.delete(&head).await.unwrap();
    let reopened = Engine::new(
        Database::open_store(Arc::clone(&store), "db", options)
            .await
            .unwrap(),
    );
    assert_eq!(
        string_column(
            &exec(&reopened, ".show continuous-export E exported-artifacts").await,
            "Path"
        ),
        paths
    );
    db.ingest("T", vec![id_batch(&[20])]).await.unwrap();
    exec(&e, ".run continuous-export E").await;
    store.head(&head).await.expect("record 20 is stored again");
    assert_eq!(
        string_column(
            &exec(&reopened, ".show continuous-export E exported-artifacts").await,
            "Path"
        )
        .len(),
        21
    );

    // A dropped export's history is not shown by a new export of the same name.
    exec(&e, ".drop continuous-export E").await;
    exec(
        &e,
        ".create-or-alter continuous-export E to table X <| SELECT id, s FROM T",
    )
    .await;
    assert_eq!(
        exec(&e, ".show continuous-export E exported-artifacts")
            .await
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        0
    );
}
