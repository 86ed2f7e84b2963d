//! Exports on a real local Ballista cluster: one `dfexport-scheduler` and two
//! `dfexport-executor` processes on 127.0.0.1, driven through the `dfexport-cluster`
//! command line (and the Rust API), with artifacts read back by pyarrow.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion_export::Engine;
use datafusion_export_ballista::{BallistaRunner, LocalCluster, LocalClusterOptions};
use datafusion_export_integration_tests::python;
use datafusion_export_integration_tests::servers::s3_or_skip;
use rand::{Rng, SeedableRng};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A scheduler and `executors` executors of one task slot each, from this
/// package's binaries.
fn start_cluster(executors: usize, env: &[(String, String)], fast_failover: bool) -> LocalCluster {
    let mut options = LocalClusterOptions::new(
        env!("CARGO_BIN_EXE_dfexport-scheduler"),
        env!("CARGO_BIN_EXE_dfexport-executor"),
        executors,
        1,
    );
    options.env = env.to_vec();
    options.fast_failover = fast_failover;
    LocalCluster::start(&options).unwrap_or_else(|e| panic!("{e}"))
}

/// How many executors of `cluster` ran at least one task.
fn executors_with_tasks(cluster: &LocalCluster) -> usize {
    (0..cluster.executors().len())
        .filter(|&i| cluster.tasks_started(i) > 0)
        .count()
}

/// Runs `dfexport-cluster` with `args`; its standard output, or the error with the
/// cluster's logs.
fn dfexport(
    args: &[&str],
    env: &[(String, String)],
    cluster: Option<&LocalCluster>,
) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_dfexport-cluster"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env_remove("DFEXPORT_CLUSTER")
        .stdin(Stdio::null())
        .output()
        .expect("dfexport-cluster runs");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            cluster.map(LocalCluster::output).unwrap_or_default()
        ))
    }
}

/// `command` through `dfexport-cluster --db db --cluster … --format json`.
fn on_cluster(
    db: &str,
    cluster: &LocalCluster,
    env: &[(String, String)],
    command: &str,
) -> Result<String, String> {
    dfexport(
        &[
            "--db",
            db,
            "--cluster",
            &cluster.url(),
            "--format",
            "json",
            "-c",
            command,
        ],
        env,
        Some(cluster),
    )
}

/// The `Path` of every row of `--format json` output.
fn paths(json_lines: &str) -> Vec<String> {
    json_lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let row: serde_json::Value = serde_json::from_str(l).unwrap();
            row["Path"].as_str().unwrap().to_string()
        })
        .collect()
}

/// What pyarrow reads from `files` (local paths): the sorted rows as JSON, and how
/// many files start with the header line.
fn read_back(files: &[String], format: &str, columns: &[&str]) -> (Vec<String>, usize) {
    let script = format!(
        r#"
import gzip, json, io
import pyarrow as pa, pyarrow.csv as pc, pyarrow.json as pj, pyarrow.parquet as pq
files = {files}
fmt = {format:?}
cols = {columns}
rows, headers = [], 0
for f in files:
    if fmt == "parquet":
        t = pq.read_table(f)
    else:
        raw = open(f, "rb").read()
        if f.endswith(".gz"):
            raw = gzip.decompress(raw)
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if fmt == "json":
            t = pj.read_json(io.BytesIO(raw)) if raw else pa.table({{c: [] for c in cols}})
        else:
            delim = "\t" if fmt == "tsv" else ","
            first = raw.split(b"\n", 1)[0].decode()
            has_header = first == delim.join(cols)
            headers += has_header
            t = pc.read_csv(io.BytesIO(raw), read_options=pc.ReadOptions(column_names=None if has_header else cols),
                            parse_options=pc.ParseOptions(delimiter=delim),
                            convert_options=pc.ConvertOptions(column_types={{c: pa.string() for c in cols}}))
    for r in t.select(cols).to_pylist():
        rows.append(json.dumps({{k: str(v) for k, v in r.items()}}, sort_keys=True))
print(json.dumps({{"rows": sorted(rows), "headers": headers}}))
"#,
        files = serde_json::to_string(files).unwrap(),
        columns = serde_json::to_string(columns).unwrap(),
    );
    let out: serde_json::Value = serde_json::from_str(python(&script).trim()).unwrap();
    let rows = out["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    (rows, out["headers"].as_u64().unwrap() as usize)
}

fn aws_env() -> Vec<(String, String)> {
    Vec::new()
}

/// A database with table `T` (6 extents, 60,000 rows of about 100 bytes).
fn six_extents(db: &str, env: &[(String, String)]) {
    let mut args = vec![
        "--db",
        db,
        "-c",
        ".create table T (id:long, region:string, s:string)",
    ];
    let inserts: Vec<String> = (0..6)
        .map(|i| {
            format!(
                "INSERT INTO T SELECT value, concat('r', CAST(value % 3 AS VARCHAR)), repeat('x', 100) FROM range({}, {})",
                i * 10_000,
                (i + 1) * 10_000
            )
        })
        .collect();
    for insert in &inserts {
        args.extend(["-c", insert.as_str()]);
    }
    dfexport(&args, env, None).unwrap();
}

#[test]
fn every_export_property_holds_on_a_cluster() {
    let env = aws_env();
    let cluster = start_cluster(2, &env, false);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db").display().to_string();
    six_extents(&db, &env);
    let columns = ["id", "region", "s"];
    let (all_rows, _) = {
        let local = dir.path().join("all").display().to_string();
        let out = dfexport(
            &[
                "--db",
                &db,
                "--format",
                "json",
                "-c",
                &format!(".export to parquet ('{local}') <| T"),
            ],
            &env,
            None,
        )
        .unwrap();
        read_back(&paths(&out), "parquet", &columns)
    };
    assert_eq!(all_rows.len(), 60_000);

    let cases: Vec<(&str, &str, &str)> = vec![
        // (format, `compressed` or "", properties)
        (
            "csv",
            "",
            "includeHeaders=firstFile, distribution=per_shard",
        ),
        (
            "csv",
            "compressed",
            "includeHeaders=firstFile, sizeLimit=1048576, encoding=UTF8BOM",
        ),
        (
            "tsv",
            "",
            "includeHeaders=all, namePrefix=part, sizeLimit=1048576",
        ),
        ("json", "compressed", "distribution=per_node"),
        ("parquet", "", "distribution=single, sizeLimit=1048576"),
        (
            "parquet",
            "compressed",
            "distribution=per_shard, parquetRowGroupSize=5000",
        ),
        ("csv", "", "distribution=single, includeHeaders=firstFile"),
    ];
    for (n, (format, compressed, properties)) in cases.iter().enumerate() {
        let command = |to: &str| {
            format!(".export {compressed} to {format} ('{to}') with ({properties}) <| T")
        };
        let there = dir
            .path()
            .join(format!("cluster-{n}"))
            .display()
            .to_string();
        let here = dir.path().join(format!("local-{n}")).display().to_string();
        let cluster_out = on_cluster(&db, &cluster, &env, &command(&there))
            .unwrap_or_else(|e| panic!("case {n} ({format} {properties}): {e}"));
        let local_out = dfexport(
            &["--db", &db, "--format", "json", "-c", &command(&here)],
            &env,
            None,
        )
        .unwrap();
        let (cluster_files, local_files) = (paths(&cluster_out), paths(&local_out));
        let listed: BTreeSet<String> = std::fs::read_dir(&there)
            .unwrap()
            .map(|e| e.unwrap().path().display().to_string())
            .collect();
        assert_eq!(
            listed,
            cluster_files.iter().cloned().collect::<BTreeSet<_>>(),
            "case {n}: the folder holds exactly the reported artifacts"
        );
        let (cluster_rows, cluster_headers) = read_back(&cluster_files, format, &columns);
        let (local_rows, local_headers) = read_back(&local_files, format, &columns);
        assert_eq!(
            cluster_rows.len(),
            60_000,
            "case {n} ({format} {properties})"
        );
        assert!(
            cluster_rows == all_rows,
            "case {n} ({format} {properties}): rows differ from the table's"
        );
        assert!(local_rows == all_rows, "case {n}: local rows");
        if properties.contains("firstFile") {
            assert_eq!(
                (cluster_headers, local_headers),
                (1, 1),
                "case {n}: one header per export"
            );
        }
        if properties.contains("includeHeaders=all") {
            assert_eq!(
                cluster_headers,
                cluster_files.len(),
                "case {n}: a header per file"
            );
        }
        if properties.contains("namePrefix=part") {
            assert!(cluster_files.iter().all(|f| Path::new(f)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("part_")));
        }
        if properties.contains("single") && !properties.contains("sizeLimit") {
            assert_eq!(
                cluster_files.len(),
                1,
                "case {n}: single writes one artifact"
            );
        }
        if properties.contains("sizeLimit") {
            assert!(
                cluster_files.len() > 2,
                "case {n}: sizeLimit rolls artifacts: {cluster_files:?}"
            );
        }
        if *compressed == "compressed" && *format != "parquet" {
            assert!(
                cluster_files.iter().all(|f| f.ends_with(".gz")),
                "case {n}: {cluster_files:?}"
            );
        }
    }
    assert_eq!(
        executors_with_tasks(&cluster),
        2,
        "both executors wrote:\n{}",
        cluster.output()
    );

    // `.export async`: the operation runs on the cluster too; the command line
    // waits for it before it exits.
    let later = dir.path().join("async").display().to_string();
    let tasks = |c: &LocalCluster| (0..2).map(|i| c.tasks_started(i)).sum::<usize>();
    let tasks_before = tasks(&cluster);
    let out = on_cluster(
        &db,
        &cluster,
        &env,
        &format!(".export async to parquet ('{later}') <| T"),
    )
    .unwrap();
    assert!(out.contains("OperationId"), "{out}");
    let files: Vec<String> = std::fs::read_dir(&later)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    let (rows, _) = read_back(&files, "parquet", &columns);
    assert!(
        rows == all_rows,
        ".export async: rows differ from the table's"
    );
    assert!(
        tasks(&cluster) > tasks_before,
        ".export async ran on the cluster"
    );

    // `.export to table`: a partitioned storage table with a path format, and Delta.
    let parts = dir.path().join("parts").display().to_string();
    let delta = dir.path().join("delta").display().to_string();
    dfexport(
        &[
            "--db", &db,
            "-c", &format!(".create external table P (id:long, region:string, s:string) kind=storage partition by (Region:string = region) pathformat = ('region=' Region) dataformat=csv ('{parts}')"),
            "-c", &format!(".create external table D (id:long, region:string, s:string) kind=delta ('{delta}')"),
        ],
        &env,
        None,
    )
    .unwrap();
    for table in ["P", "D"] {
        let out = on_cluster(
            &db,
            &cluster,
            &env,
            &format!(".export to table {table} <| T"),
        )
        .unwrap_or_else(|e| panic!(".export to table {table}: {e}"));
        assert!(!paths(&out).is_empty(), "{table}: {out}");
        // Read back through the table: the Delta log, or the partition folders.
        let back = dfexport(
            &["--db", &db, "--format", "json", "-c", &format!("SELECT count(*) AS n, count(DISTINCT id) AS d, min(id) AS lo, max(id) AS hi FROM external_table('{table}')")],
            &env,
            None,
        )
        .unwrap();
        let row: serde_json::Value = serde_json::from_str(back.trim()).unwrap();
        assert_eq!(
            (
                row["n"].as_i64(),
                row["d"].as_i64(),
                row["lo"].as_i64(),
                row["hi"].as_i64()
            ),
            (Some(60_000), Some(60_000), Some(0), Some(59_999)),
            "{table}: {back}"
        );
    }
    for region in ["r0", "r1", "r2"] {
        assert!(Path::new(&parts).join(format!("region={region}")).is_dir());
    }
    let delta_rows = python(&format!(
        "import deltalake\nprint(deltalake.DeltaTable({delta:?}).to_pyarrow_table().num_rows)"
    ));
    assert_eq!(delta_rows.trim(), "60000");
}

#[test]
fn what_cannot_run_on_a_cluster_says_so() {
    let env = aws_env();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db").display().to_string();
    let at = |name: &str| dir.path().join(name).display().to_string();
    dfexport(
        &[
            "--db",
            &db,
            "-c",
            ".create table T (id:long)",
            "-c",
            "INSERT INTO T VALUES (1)",
        ],
        &env,
        None,
    )
    .unwrap();
    // `dfexport-cluster --db DB --cluster URL -c C…`: the error, which must say `why`.
    let refused =
        |db: &str, url: &str, commands: &[&str], cluster: Option<&LocalCluster>, why: &str| {
            let mut args = vec!["--db", db, "--cluster", url];
            for c in commands {
                args.extend(["-c", c]);
            }
            let e = dfexport(&args, &env, cluster).expect_err(why);
            assert!(e.contains(why), "expected '{why}' in: {e}");
        };
    let nobody = format!("df://127.0.0.1:{}", free_port());
    refused(
        &db,
        &nobody,
        &[".show tables"],
        None,
        "cannot connect to the scheduler",
    );
    refused(
        &db,
        "df://nohostport",
        &[".show tables"],
        None,
        "df://HOST:PORT",
    );
    let cluster = start_cluster(1, &env, false);
    let url = cluster.url();
    let memory_target = ".export to csv ('memory://x') <| T".to_string();
    refused(&db, &url, &[&memory_target], Some(&cluster), "in memory");
    let export_m = format!(".export to csv ('{}') <| M", at("m"));
    let memory_db = [
        ".create table M (id:long)",
        "INSERT INTO M VALUES (1)",
        &export_m,
    ];
    refused(
        "memory://",
        &url,
        &memory_db,
        Some(&cluster),
        "in-memory database",
    );
    let range = format!(".export to csv ('{}') <| SELECT * FROM range(10)", at("r"));
    refused(&db, &url, &[&range], Some(&cluster), "cannot split");
    assert!(!Path::new(&at("r")).exists() || std::fs::read_dir(at("r")).unwrap().next().is_none());
    // Queries and commands other than exports still run here.
    let out = dfexport(
        &[
            "--db",
            &db,
            "--cluster",
            &url,
            "--format",
            "json",
            "-c",
            "SELECT count(*) AS n FROM T",
        ],
        &env,
        Some(&cluster),
    )
    .unwrap();
    assert!(out.contains("\"n\":1"), "{out}");
}

/// Ingestion goes on while continuous-export runs happen on the cluster; one
/// executor is killed with SIGKILL during a run. Every id is exported exactly once,
/// and the folder holds exactly the artifacts the runs reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_once_when_an_executor_is_killed_mid_run() {
    let env = aws_env();
    let cluster = start_cluster(2, &env, true);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db").display().to_string();
    let out = dir.path().join("out").display().to_string();
    let engine = Engine::open(&db).await.unwrap();
    engine
        .execute_collect(".create table T (id:long, s:string)")
        .await
        .unwrap();
    engine
        .execute_collect(&format!(".create external table X (id:long, s:string) kind=storage dataformat=parquet ('{out}')"))
        .await
        .unwrap();
    engine
        .execute_collect(
            ".create-or-alter continuous-export E to table X with (intervalBetweenRuns=1s) <| T",
        )
        .await
        .unwrap();
    let runner = BallistaRunner::connect(&cluster.url()).await.unwrap();
    // Exports are planned into one partition per task slot of the cluster.
    assert_eq!(runner.task_slots(), Some(2));
    let clustered = Engine::open(&db)
        .await
        .unwrap()
        .with_export_runner(Arc::new(runner));

    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let mut next = 0i64;
    let mut ingest = |engine: &Engine, rows: i64| {
        let sql = format!(
            "INSERT INTO T SELECT value, repeat('y', 50) FROM range({next}, {})",
            next + rows
        );
        next += rows;
        let engine = engine.clone();
        async move { engine.execute_collect(&sql).await.unwrap() }
    };
    let mut outcomes = Vec::new();
    for run in 0..6 {
        // Ingestion continues while the run happens.
        let during = ingest(&engine, 20_000);
        if run == 2 {
            // A bigger run, so that the kill finds a task writing.
            ingest(&engine, 200_000).await;
        }
        let victim_pid = cluster.executors()[0].pid() as libc::pid_t;
        let tasks_before = cluster.tasks_started(0);
        let delay = Duration::from_millis(rng.random_range(0..30));
        let started = clustered.execute_collect(".run continuous-export E");
        let killer = async {
            if run == 2 {
                // Once the victim has started a task of this run (a barrier on its
                // log), and a seeded moment later: SIGKILL.
                let waiting = Instant::now();
                while cluster.tasks_started(0) == tasks_before
                    && waiting.elapsed() < Duration::from_secs(30)
                {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                tokio::time::sleep(delay).await;
                unsafe { libc::kill(victim_pid, libc::SIGKILL) };
                eprintln!("killed executor 0 after {:?}", waiting.elapsed());
            }
        };
        let feeding = async {
            for _ in 0..3 {
                ingest(&engine, 5_000).await;
            }
        };
        let began = Instant::now();
        let (result, _, _, _) = tokio::join!(started, during, killer, feeding);
        eprintln!(
            "run {run}: {:?} in {:?}",
            result.as_ref().map(|_| ()).map_err(|e| e.to_string()),
            began.elapsed()
        );
        outcomes.push(result.map(|_| ()).map_err(|e| e.to_string()));
    }
    // The killed executor's run, or the one after it, may fail; the runs after that
    // succeed on the surviving executor and catch up.
    for _ in 0..10 {
        match clustered.execute_collect(".run continuous-export E").await {
            Ok(batches) => {
                let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                    .unwrap()
                    .to_string();
                if text.contains("NoNewData") {
                    break;
                }
            }
            Err(e) => outcomes.push(Err(e.to_string())),
        }
    }
    let artifacts = engine
        .execute_collect(".show continuous-export E exported-artifacts")
        .await
        .unwrap();
    let reported: BTreeSet<String> =
        datafusion_export_integration_tests::string_column(&artifacts, "Path")
            .into_iter()
            .collect();
    let listed: BTreeSet<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| !p.contains('#'))
        .collect();
    assert_eq!(
        listed, reported,
        "no orphans, nothing lost; outcomes {outcomes:?}"
    );
    let files: Vec<String> = reported.into_iter().collect();
    let (rows, _) = read_back(&files, "parquet", &["id"]);
    let ids: Vec<i64> = rows
        .iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(r).unwrap()["id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        ids.len(),
        "no id twice; outcomes {outcomes:?}"
    );
    assert_eq!(
        sorted,
        (0..next).collect::<Vec<_>>(),
        "every id once; outcomes {outcomes:?}"
    );
    assert!(
        outcomes.iter().take(2).all(|o| o.is_ok()),
        "runs before the kill succeed: {outcomes:?}\n{}",
        cluster.output()
    );
}

/// The database and the targets on S3 (moto): executors read extents and write
/// artifacts there with their own credentials.
#[test]
fn exports_on_s3_through_the_cluster() {
    let Some(s3) = s3_or_skip() else { return };
    let env = s3.env();
    let cluster = start_cluster(2, &env, false);
    let db = s3.unique_url("cluster-db");
    six_extents(&db, &env);
    let target = s3.unique_url("cluster-out");
    let out = on_cluster(
        &db,
        &cluster,
        &env,
        &format!(".export compressed to csv ('{target}') with (includeHeaders=firstFile) <| T"),
    )
    .unwrap();
    let files = paths(&out);
    assert!(files.len() >= 2, "{files:?}");
    let script = format!(
        r#"
import gzip, pyarrow.fs as fs
s3 = fs.S3FileSystem(access_key="testing", secret_key="testing", region="us-east-1", endpoint_override={endpoint:?}, scheme="http")
rows, headers = 0, 0
for p in {files}:
    raw = gzip.decompress(s3.open_input_file(p[len("s3://"):]).readall())
    lines = raw.decode().splitlines()
    if lines and lines[0] == "id,region,s":
        headers += 1
        lines = lines[1:]
    rows += len(lines)
print(rows, headers)
"#,
        endpoint = s3.endpoint,
        files = serde_json::to_string(&files).unwrap(),
    );
    assert_eq!(python(&script).trim(), "60000 1");
    assert_eq!(executors_with_tasks(&cluster), 2);
}

/// `dfexport-cluster serve --cluster`: the scheduler's runs happen on the cluster,
/// each new row once.
#[test]
fn serve_runs_continuous_exports_on_the_cluster() {
    let env = aws_env();
    let cluster = start_cluster(2, &env, false);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db").display().to_string();
    let out = dir.path().join("out").display().to_string();
    dfexport(
        &[
            "--db",
            &db,
            "-c",
            ".create table T (id:long)",
            "-c",
            &format!(".create external table X (id:long) kind=storage dataformat=csv ('{out}')"),
            "-c",
            ".create-or-alter continuous-export E to table X with (intervalBetweenRuns=1s) <| T",
            "-c",
            "INSERT INTO T SELECT value FROM range(0, 1000)",
        ],
        &env,
        None,
    )
    .unwrap();
    let tasks_before: usize = (0..2).map(|i| cluster.tasks_started(i)).sum();
    let serve = Command::new(env!("CARGO_BIN_EXE_dfexport-cluster"))
        .args([
            "--db",
            &db,
            "--cluster",
            &cluster.url(),
            "serve",
            "--poll-interval",
            "100ms",
            "--merge",
            "off",
        ])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let exported = || -> Vec<i64> {
        let Ok(text) = dfexport(
            &[
                "--db",
                &db,
                "--format",
                "json",
                "-c",
                "SELECT id FROM external_table('X') ORDER BY id",
            ],
            &env,
            None,
        ) else {
            return Vec::new();
        };
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["id"].as_i64())
            .collect()
    };
    let wait_for = |n: usize| {
        let started = Instant::now();
        while exported().len() < n && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_for(1000);
    dfexport(
        &[
            "--db",
            &db,
            "-c",
            "INSERT INTO T SELECT value FROM range(1000, 1500)",
        ],
        &env,
        None,
    )
    .unwrap();
    wait_for(1500);
    unsafe { libc::kill(serve.id() as libc::pid_t, libc::SIGTERM) };
    let finished = serve.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&finished.stderr).into_owned();
    assert!(finished.status.success(), "serve: {log}");
    assert_eq!(
        exported(),
        (0..1500).collect::<Vec<i64>>(),
        "each row once; serve said:\n{log}"
    );
    let tasks_after: usize = (0..2).map(|i| cluster.tasks_started(i)).sum();
    assert!(
        tasks_after >= tasks_before + 2,
        "the runs ran on the cluster:\n{}",
        cluster.output()
    );
}
