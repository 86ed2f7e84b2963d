//! Processes die; nothing is lost. The `dfexport` command line runs, as separate
//! processes on one database — on the S3 server (moto), and on the local disk — two
//! `serve` schedulers (merging extents in the background), a loop of
//! cron-style `.run continuous-export` calls, and an ingester writing rows with unique
//! ids. The `serve` processes are killed with SIGKILL at random (seeded) moments and
//! started again. Then one `serve` drains, and the reported artifacts of a storage and a
//! Delta export must hold every ingested id exactly once.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion_export::tables::DatabaseOptions;
use datafusion_export::Engine;
use datafusion_export_integration_tests::servers::{self, Server};
use datafusion_export_integration_tests::{i64_column, ids_in_files, string_column};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SEED: u64 = 0x5eed_c4a0;
/// Ingestions (5 rows each).
const INGESTIONS: i64 = 24;
/// The longest the drain may take.
const DRAIN: Duration = Duration::from_secs(90);

/// Where the database and the exports live.
enum Place {
    S3(&'static Server),
    Local(tempfile::TempDir),
}

struct Cli {
    s3: Option<&'static Server>,
    db: String,
}

impl Cli {
    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dfexport-e2e"));
        if let Some(s3) = self.s3 {
            command.envs(s3.env());
        }
        command
            .env("RUST_LOG", "warn")
            .arg("--db")
            .arg(&self.db)
            .stdin(Stdio::null());
        command
    }

    /// Runs one statement to completion; its output, or why it failed.
    fn run(&self, statement: &str) -> Result<String, String> {
        let out = self
            .command()
            .arg("--format")
            .arg("csv")
            .arg("-c")
            .arg(statement)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn must(&self, statement: &str) -> String {
        self.run(statement)
            .unwrap_or_else(|e| panic!("{statement}: {e}"))
    }

    fn serve(&self) -> Child {
        self.command()
            .args(["serve", "--poll-interval", "100ms"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dfexport serve")
    }
}

fn kill(child: &mut Child) {
    // `Child::kill` is SIGKILL on Unix: no shutdown, no cleanup.
    let _ = child.kill();
    let _ = child.wait();
}

/// One chaos run at a time: each keeps five processes busy.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_serve_processes_lose_nothing_and_duplicate_nothing_on_s3() {
    chaos(Place::S3(servers::s3())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_serve_processes_lose_nothing_and_duplicate_nothing_on_local_disk() {
    chaos(Place::Local(tempfile::tempdir().unwrap())).await;
}

async fn chaos(place: Place) {
    let _one = ONE_AT_A_TIME.lock().await;
    let (root, s3) = match &place {
        Place::S3(s3) => (
            s3.url(&format!("chaos-{}", uuid::Uuid::new_v4().simple())),
            Some(*s3),
        ),
        Place::Local(dir) => (dir.path().to_str().unwrap().to_string(), None),
    };
    let cli = Arc::new(Cli {
        s3,
        db: format!("{root}/db"),
    });
    cli.must(".create table T (id:long, s:string)");
    // Background merging on (issue: extent merging): every `serve` merges pairs of
    // small extents when it starts, while the others run, ingest and get killed.
    cli.must(r#".alter table T policy merge '{"MaxExtentsToMerge": 2, "LoopPeriod": "00:01:00"}'"#);
    cli.must(&format!(
        ".create external table X (id:long, s:string) kind=storage dataformat=parquet ('{root}/out')"
    ));
    cli.must(&format!(
        ".create external table D (id:long, s:string) kind=delta ('{root}/delta')"
    ));
    for (name, table) in [("E", "X"), ("F", "D")] {
        cli.must(&format!(
            ".create-or-alter continuous-export {name} to table {table} with (intervalBetweenRuns=1s) <| SELECT id, s FROM T"
        ));
    }

    let done = Arc::new(AtomicBool::new(false));
    let ingested = Arc::new(Mutex::new(Vec::new()));
    let ingester = {
        let (cli, done, ingested) = (cli.clone(), done.clone(), ingested.clone());
        std::thread::spawn(move || {
            for batch in 0..INGESTIONS {
                let ids: Vec<i64> = (batch * 5..batch * 5 + 5).collect();
                let values: Vec<String> = ids.iter().map(|i| format!("({i}, 'r{i}')")).collect();
                // An ingestion that reports an error did not commit: retry it.
                let statement = format!("INSERT INTO T VALUES {}", values.join(", "));
                let mut tries = 0;
                while let Err(e) = cli.run(&statement) {
                    tries += 1;
                    assert!(tries < 5, "ingestion keeps failing: {e}");
                }
                ingested.lock().unwrap().extend(ids);
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let cron = {
        let (cli, done) = (cli.clone(), done.clone());
        std::thread::spawn(move || {
            let mut runs = 0;
            while !done.load(Ordering::SeqCst) {
                // Conflicts with the schedulers are expected and harmless.
                let _ = cli.run(".run continuous-export E");
                let _ = cli.run(".run continuous-export F");
                runs += 1;
            }
            runs
        })
    };

    let mut rng = StdRng::seed_from_u64(SEED);
    let mut serves = [cli.serve(), cli.serve()];
    let mut kills = 0;
    while !done.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(rng.random_range(150..900)));
        let victim = rng.random_range(0..serves.len());
        kill(&mut serves[victim]);
        kills += 1;
        serves[victim] = cli.serve();
    }
    ingester.join().unwrap();
    let cron_runs = cron.join().unwrap();
    for serve in &mut serves {
        kill(serve);
    }

    // One `serve` drains what is left.
    let engine = Engine::open_with(
        &cli.db,
        DatabaseOptions {
            storage_options: s3.map(|s3| s3.storage_options()).unwrap_or_default(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut drainer = cli.serve();
    let started = Instant::now();
    let at = engine.database().refresh().await.unwrap().sequence();
    let target = target_cursor(&engine, at).await;
    loop {
        let shown = engine
            .execute_collect(".show continuous-exports")
            .await
            .unwrap();
        let drained = string_column(&shown, "ExportCursor")
            .iter()
            .all(|c| c.parse::<u64>().unwrap_or(0) >= target);
        if drained {
            break;
        }
        assert!(
            started.elapsed() < DRAIN,
            "serve did not drain in {DRAIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    kill(&mut drainer);

    let mut expected = ingested.lock().unwrap().clone();
    expected.sort();
    assert_eq!(expected.len() as i64, INGESTIONS * 5);

    // Storage: the files the runs reported, read back.
    if let Some(s3) = s3 {
        let bucket = url::Url::parse(&root).unwrap();
        let bucket = url::Url::parse(&format!("s3://{}", bucket.host_str().unwrap())).unwrap();
        let (store, _) =
            datafusion_export::tables::cloud_store(&bucket, &s3.storage_options()).unwrap();
        engine.context().register_object_store(&bucket, store);
    }
    let artifacts = engine
        .execute_collect(".show continuous-export E exported-artifacts")
        .await
        .unwrap();
    let exported = ids_in_files(engine.context(), &string_column(&artifacts, "Path"), false).await;
    assert_eq!(exported, expected, "storage export after {kills} kills");

    // Delta: the table, and the records the runs reported.
    let mut delta = i64_column(
        &engine
            .execute_collect("SELECT id FROM external_table('D')")
            .await
            .unwrap(),
        "id",
    );
    delta.sort();
    assert_eq!(delta, expected, "Delta table after {kills} kills");
    let reported = engine
        .execute_collect(".show continuous-export F exported-artifacts")
        .await
        .unwrap();
    assert_eq!(
        i64_column(&reported, "NumRecords").iter().sum::<i64>(),
        INGESTIONS * 5
    );
    println!(
        "chaos ({}): {kills} SIGKILLs of serve, {cron_runs} cron rounds, {} ingestions, {} artifacts \
         reported, {} extents left of T",
        if s3.is_some() { "S3" } else { "local disk" },
        INGESTIONS,
        string_column(&artifacts, "Path").len(),
        engine.database().extents("T").await.unwrap().len()
    );
}

/// The newest cursor that ingested into T, at or before `at`: what the exports must
/// reach (later commits are run records and catalog changes).
async fn target_cursor(engine: &Engine, at: u64) -> u64 {
    engine
        .database()
        .extents("T")
        .await
        .unwrap()
        .iter()
        .map(|e| e.cursor)
        .filter(|c| *c <= at)
        .max()
        .unwrap_or(0)
}
