//! The `dfexport` command line, driven in-process as a user would type it.

use datafusion_export::cli::run_from;

async fn run(args: &[&str]) -> Result<String, String> {
    let mut out = Vec::new();
    let mut argv = vec!["dfexport"];
    argv.extend_from_slice(args);
    run_from(argv, &mut out).await?;
    Ok(String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn scripts_and_commands_against_a_local_folder() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mydb");
    let db = db.to_str().unwrap();
    let script = dir.path().join("setup.kql");
    std::fs::write(
        &script,
        "// a Kusto-style script\n.create table T (a:long, s:string)\n\nINSERT INTO T VALUES (1, 'one'), (2, 'two;semi');\n.append T <| SELECT 3 AS a, 'three' AS s\n\n.show tables\n",
    )
    .unwrap();
    let out = run(&["--db", db, script.to_str().unwrap()]).await.unwrap();
    assert!(
        out.contains("| T         | a:long, s:string | 2       | 3        |"),
        "{out}"
    );

    let out = run(&[
        "--db",
        db,
        "-c",
        "SELECT a, s FROM T WHERE cursor_after('2') ORDER BY a",
    ])
    .await
    .unwrap();
    assert!(out.contains("| 3 | three |"), "{out}");
    assert!(!out.contains("two;semi"), "{out}");

    let out = run(&[
        "--db",
        db,
        "--format",
        "csv",
        "-c",
        "SELECT a FROM T ORDER BY a",
    ])
    .await
    .unwrap();
    assert_eq!(out, "a\n1\n2\n3\n");
    let out = run(&[
        "--db",
        db,
        "--format",
        "json",
        "-c",
        "SELECT a FROM T WHERE a = 1",
    ])
    .await
    .unwrap();
    assert_eq!(out.trim(), "{\"a\":1}");

    let err = run(&["--db", db, "-c", ".show table Nope extents"])
        .await
        .unwrap_err();
    assert!(err.contains("table 'Nope' does not exist"), "{err}");
    let help = run(&["--help"]).await.unwrap();
    for flag in ["--db", "--command", "--format", "SCRIPT", "serve"] {
        assert!(help.contains(flag), "{help}");
    }
    let help = run(&["--db", db, "serve", "--help"]).await.unwrap();
    for flag in ["--poll-interval", "--max-concurrent-exports", "SIGTERM"] {
        assert!(help.contains(flag), "{help}");
    }
    let err = run(&["--db", db, "serve", "--poll-interval", "soon"])
        .await
        .unwrap_err();
    assert!(err.contains("not a timespan"), "{err}");
}

/// `dfexport` as a process, with `env` added to its environment.
fn process(env: &[(String, String)], args: &[&str]) -> Result<String, String> {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dfexport-e2e"));
    // Only what this call gives: the test process itself has the servers' variables.
    for name in datafusion_export_integration_tests::servers::ENV_NAMES {
        command.env_remove(name);
    }
    let out = command
        .envs(env.iter().cloned())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run dfexport");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A user's first session on S3 and on Azure: credentials in the environment (S3) or as
/// `--storage-option`s (Azure), `--db s3://…` / `--db az://…`, an ingestion, an export to
/// the same bucket and a read-back, from separate processes.
#[test]
fn cloud_databases_from_the_command_line() {
    use datafusion_export_integration_tests::servers;
    for (server, by_env) in [(servers::s3(), true), (servers::azure(), false)] {
        let base = server.url(&format!("cli-{}", uuid::Uuid::new_v4().simple()));
        let db = format!("{base}/db");
        let env = if by_env { server.env() } else { Vec::new() };
        let options: Vec<String> = if by_env {
            Vec::new()
        } else {
            server
                .storage_options()
                .iter()
                .map(|(k, v)| format!("--storage-option={k}={v}"))
                .collect()
        };
        let run = |statement: &str| {
            let mut args: Vec<&str> = vec!["--db", &db, "--format", "csv"];
            args.extend(options.iter().map(String::as_str));
            args.extend(["-c", statement]);
            process(&env, &args).unwrap_or_else(|e| panic!("{:?}: {statement}: {e}", server.cloud))
        };
        run(".create table T (a:long, s:string)");
        run("INSERT INTO T VALUES (1, 'one'), (2, 'two')");
        let out = run(&format!(
            ".export to csv ('{base}/out') with (includeHeaders='none') <| SELECT a, s FROM T ORDER BY a"
        ));
        assert!(out.contains(&format!("{base}/out/")), "{out}");
        run(&format!(
            ".create external table X (a:long, s:string) kind=storage dataformat=csv ('{base}/out')"
        ));
        let out = run("SELECT sum(a) AS total FROM external_table('X')");
        assert!(out.contains('3'), "{:?}: {out}", server.cloud);
        // Secrets given as options never reach the output or errors.
        let err = process(
            &env,
            &[
                &["--db", &format!("{base}/db2")][..],
                &options.iter().map(String::as_str).collect::<Vec<_>>(),
                &["--storage-option", "no_such_option=x", "-c", ".show tables"],
            ]
            .concat(),
        )
        .unwrap_err();
        assert!(
            err.contains("unknown storage option 'no_such_option'"),
            "{err}"
        );
        assert!(!err.contains(servers::AZURITE_KEY), "{err}");
    }
}

/// The README's first command, as a new user runs it from a clone: the quickstart script
/// ingests, queries in KQL and SQL, exports, creates a continuous export in KQL, runs it
/// twice around new ingestions and reads the lake back — and runs again just as well.
#[test]
fn the_quickstart_script_shows_the_main_job_and_can_be_re_run() {
    let dir = tempfile::tempdir().unwrap();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    std::os::unix::fs::symlink(
        examples.canonicalize().unwrap(),
        dir.path().join("examples"),
    )
    .unwrap();
    let quickstart = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dfexport-e2e"))
            .current_dir(dir.path())
            .args(["--format", "csv", "examples/scripts/quickstart.kql"])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run dfexport");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for round in 1..=2 {
        let out = quickstart();
        // KQL and SQL give the same EU rows.
        assert_eq!(
            out.matches("101,EU,\"login, from \"\"web\"\"\"").count(),
            2,
            "{out}"
        );
        // The one-time export wrote the three EU rows.
        assert!(out.contains("dfexport-lake/once/eu_"), "{out}");
        // The continuous export starts at its creation: its first run finds nothing,
        // the second exports the two rows ingested in between, and only those.
        assert!(out.contains(",NoNewData,0,0"), "{out}");
        // (One artifact per partition the run wrote: one or two.)
        let completed = out
            .lines()
            .find(|l| l.contains(",Completed,"))
            .unwrap_or_else(|| panic!("no completed run: {out}"));
        assert!(completed.ends_with(",2"), "{completed}");
        let exported: u64 = out
            .lines()
            .filter(|l| l.contains("dfexport-lake/events/export_"))
            .map(|l| l.rsplit(',').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(exported, 2, "{out}");
        // The lake holds the new rows once per run of the script.
        assert!(out.contains(&format!("EU,{round},202,202")), "{out}");
        assert!(out.contains(&format!("US,{round},201,201")), "{out}");
    }
}

/// `dfexport` built without the network service (this package's `dfexport-e2e`, or a
/// program that calls `cli::main`) says where the service is instead of ignoring
/// `--listen`.
#[tokio::test]
async fn serve_listen_without_the_service_says_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let e = run(&[
        "--db",
        db.to_str().unwrap(),
        "serve",
        "--listen",
        "127.0.0.1:0",
    ])
    .await
    .unwrap_err();
    assert!(e.contains("no network service"), "{e}");
    assert!(e.contains("datafusion-export-server"), "{e}");
    let e = run(&["serve", "--users", "users.json"]).await.unwrap_err();
    assert!(e.contains("--listen"), "{e}");
}

/// A `dfexport` without the cluster client (the server's, or any program that calls
/// `cli::main`) says where `--cluster` lives instead of exporting here.
#[tokio::test]
async fn cluster_without_the_client_says_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let out = dir.path().join("out");
    for args in [vec!["-c", ".create table T (a:long)"], vec!["serve"]] {
        let mut argv = vec![
            "--db",
            db.to_str().unwrap(),
            "--cluster",
            "df://127.0.0.1:1",
        ];
        argv.extend(args);
        let e = run(&argv).await.unwrap_err();
        assert!(e.contains("no cluster client"), "{e}");
        assert!(e.contains("dfexport-cluster"), "{e}");
    }
    let export = format!(".export to csv ('{}') <| print 1", out.display());
    let e = run(&[
        "--db",
        db.to_str().unwrap(),
        "--cluster",
        "df://h:1",
        "-c",
        &export,
    ])
    .await
    .unwrap_err();
    assert!(e.contains("no cluster client"), "{e}");
    assert!(!out.exists(), "nothing was exported here");
}
