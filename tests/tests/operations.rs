//! Durable async operations (issue 9, item 8): `.export async` records `InProgress`
//! in the database when it starts and `Completed`/`Failed` when it ends (a panic
//! included); `dfexport -c '.export async …'` prints the id at once and waits; an
//! operation whose process died reads as `Failed` (abandoned), never `InProgress`
//! forever.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_export::tables::{DatabaseOptions, ManualClock};
use datafusion_export::Engine;
use datafusion_export_integration_tests::string_column;

fn dfexport(db: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dfexport-e2e"));
    command
        .env("RUST_LOG", "warn")
        .arg("--db")
        .arg(db)
        .arg("--format")
        .arg("csv")
        .stdin(Stdio::null());
    command
}

/// Runs `dfexport --db DB --format csv -c STATEMENT`; stdout, or stderr on failure.
fn run(db: &str, statement: &str) -> Result<String, String> {
    let out = dfexport(db)
        .arg("-c")
        .arg(statement)
        .output()
        .expect("dfexport runs");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn must(db: &str, statement: &str) -> String {
    run(db, statement).unwrap_or_else(|e| panic!("{statement}: {e}"))
}

/// The value of `column` in the first row of CSV output.
fn csv_value(csv: &str, column: &str) -> String {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let i = header
        .iter()
        .position(|h| *h == column)
        .unwrap_or_else(|| panic!("no {column} in {csv}"));
    lines
        .next()
        .and_then(|l| l.split(',').nth(i))
        .unwrap_or_else(|| panic!("no row in {csv}"))
        .to_string()
}

/// Starts `dfexport -c STATEMENT` and reads the operation id it prints first.
fn start_async(
    db: &str,
    statement: &str,
) -> (
    std::process::Child,
    String,
    BufReader<std::process::ChildStdout>,
) {
    let mut child = dfexport(db)
        .arg("-c")
        .arg(statement)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dfexport starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut header = String::new();
    let mut id = String::new();
    stdout.read_line(&mut header).unwrap();
    stdout.read_line(&mut id).unwrap();
    assert_eq!(header.trim(), "OperationId", "{header}{id}");
    let id = id.trim().to_string();
    assert_eq!(id.len(), 36, "{id}");
    (child, id, stdout)
}

#[test]
fn dfexport_waits_for_an_async_export_and_a_fresh_process_shows_it_completed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db = db.to_str().unwrap();
    let out = dir.path().join("out");
    must(db, ".create table T (id:long, s:string)");
    must(
        db,
        "INSERT INTO T SELECT value AS id, 'row' AS s FROM generate_series(1, 2000000)",
    );
    let started = Instant::now();
    let (mut child, id, mut stdout) = start_async(
        db,
        &format!(
            ".export async to csv ('{}') with (distribution='single') <| SELECT * FROM T",
            out.display()
        ),
    );
    // The id is printed at once, while the export still runs.
    assert!(
        child.try_wait().unwrap().is_none(),
        "dfexport exited before the export could have finished"
    );
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(status.success(), "{rest}");
    eprintln!(
        "async export of 2M rows through dfexport: {:.1?}",
        started.elapsed()
    );

    // Every row is in the files: the process did not exit before the export ended.
    let mut rows = 0usize;
    for entry in std::fs::read_dir(&out).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        rows += text.lines().count();
    }
    assert_eq!(rows, 2_000_000);

    // A fresh process reads the outcome and the details from the database.
    let shown = must(db, &format!(".show operation {id}"));
    assert_eq!(csv_value(&shown, "State"), "Completed", "{shown}");
    let details = must(db, &format!(".show operation {id} details"));
    assert_eq!(csv_value(&details, "NumRecords"), "2000000", "{details}");
    let all = must(db, ".show operations");
    assert!(all.contains(&id) && all.contains("Completed"), "{all}");
}

#[test]
fn dfexport_reports_a_failed_async_export_and_so_does_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db = db.to_str().unwrap();
    must(db, ".create table T (id:long, s:string)");
    must(db, "INSERT INTO T VALUES (1, 'one'), (2, 'two')");
    // Fails when it runs (not when it is planned): the operation fails.
    let (mut child, id, _stdout) = start_async(
        db,
        &format!(
            ".export async to csv ('{}') <| SELECT CAST(s AS INT) AS n FROM T",
            dir.path().join("out").display()
        ),
    );
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains(&format!("operation {id} failed")),
        "{stderr}"
    );
    let shown = must(db, &format!(".show operation {id}"));
    assert_eq!(csv_value(&shown, "State"), "Failed", "{shown}");
    let err = run(db, &format!(".show operation {id} details")).unwrap_err();
    assert!(err.contains("failed") && err.contains("one"), "{err}");
}

#[test]
fn an_async_export_whose_process_is_killed_reads_as_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db_path = db.to_str().unwrap().to_string();
    must(&db_path, ".create table T (id:long)");
    must(&db_path, "INSERT INTO T VALUES (1)");
    // An export that would run for hours.
    let (mut child, id, _stdout) = start_async(
        &db_path,
        &format!(
            ".export async to csv ('{}') <| SELECT value, repeat('x', 100) AS pad FROM generate_series(1, 10000000000)",
            dir.path().join("out").display()
        ),
    );
    let pid = child.id();
    child.kill().unwrap(); // SIGKILL: nothing can record an outcome.
    child.wait().unwrap();

    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            // Right away, its owner may only be slow: still in progress.
            let engine = Engine::open(&db_path).await.unwrap();
            let shown = engine
                .execute_collect(&format!(".show operation {id}"))
                .await
                .unwrap();
            assert_eq!(string_column(&shown, "State"), vec!["InProgress"]);

            // Minutes later (by the database's clock) without a heartbeat: abandoned.
            let later = Arc::new(ManualClock::new(
                chrono::Utc::now() + chrono::Duration::minutes(10),
            ));
            let engine = Engine::open_with(
                &db_path,
                DatabaseOptions::default().with_clock(later.clone()),
            )
            .await
            .unwrap();
            let shown = engine
                .execute_collect(&format!(".show operation {id}"))
                .await
                .unwrap();
            assert_eq!(string_column(&shown, "State"), vec!["Failed"]);
            let status = string_column(&shown, "Status")[0].clone();
            assert!(
                status.contains("abandoned") && status.contains(&format!("process {pid} ")),
                "{status}"
            );
            let err = engine
                .execute_collect(&format!(".show operation {id} details"))
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains("abandoned"), "{err}");
            let all = engine.execute_collect(".show operations").await.unwrap();
            assert_eq!(string_column(&all, "State"), vec!["Failed"]);
        });
}

/// `boom(x)`: panics when it runs.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Boom {
    signature: Signature,
}

impl ScalarUDFImpl for Boom {
    fn name(&self) -> &str {
        "boom"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        panic!("boom: the export's task panicked on purpose");
    }
}

#[tokio::test]
async fn a_panicking_async_export_ends_failed_durably() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let root = root.to_str().unwrap();
    let engine = Engine::open(root).await.unwrap();
    engine.execute(".create table T (id:long)").await.unwrap();
    engine
        .execute_collect("INSERT INTO T VALUES (1), (2)")
        .await
        .unwrap();
    engine
        .context()
        .register_udf(ScalarUDF::new_from_impl(Boom {
            signature: Signature::any(1, Volatility::Volatile),
        }));
    let started = engine
        .execute_collect(&format!(
            ".export async to csv ('{}') <| SELECT boom(id) AS b FROM T",
            dir.path().join("out").display()
        ))
        .await
        .unwrap();
    let id = string_column(&started, "OperationId")[0].clone();
    let ended = engine.operations().wait(id.parse().unwrap()).await.unwrap();
    assert_eq!(ended.state.name(), "Failed");
    let status = ended.status.unwrap_or_default();
    assert!(status.contains("boom"), "{status}");

    // Another process (a fresh engine on the same root) sees the same.
    let fresh = Engine::open(root).await.unwrap();
    let shown = fresh
        .execute_collect(&format!(".show operation {id}"))
        .await
        .unwrap();
    assert_eq!(string_column(&shown, "State"), vec!["Failed"]);
    assert!(string_column(&shown, "Status")[0].contains("boom"));

    // A bad async export is refused at once, and records nothing.
    let before = fresh.execute_collect(".show operations").await.unwrap();
    for bad in [
        ".export async to table Missing <| SELECT * FROM T",
        ".export async to csv ('/tmp/x') with (sizeLimit=1) <| SELECT * FROM T",
        ".export async to csv ('/tmp/x') <| SELECT nope FROM T",
        ".export async to csv ('ftp://nowhere/x') <| SELECT * FROM T",
    ] {
        assert!(engine.execute_collect(bad).await.is_err(), "{bad}");
    }
    let after = fresh.execute_collect(".show operations").await.unwrap();
    assert_eq!(
        string_column(&after, "OperationId"),
        string_column(&before, "OperationId")
    );
    // Waiting is bounded: nothing else is pending.
    let waited = tokio::time::timeout(Duration::from_secs(5), engine.operations().wait_all())
        .await
        .unwrap();
    assert!(waited.is_empty());
}
