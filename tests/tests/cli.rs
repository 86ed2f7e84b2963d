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
