//! Secrets at rest: account keys, SAS tokens and `h'…'` literals inside stored
//! definitions are encrypted under a key kept outside the database root; no byte under
//! the root, no result, error, `Debug` output or `serve` log line holds them.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion_export::Engine;
use datafusion_export_tables::{DatabaseOptions, SecretKey, SecretKeys};
use object_store::memory::InMemory;

const ACCOUNT_KEY: &str = "QWNjb3VudEtleVNlY3JldDAwMTE=";
const SAS_SIG: &str = "SasSignatureSecret0022";
const H_SECRET: &str = "SExpdGVyYWxTZWNyZXQwMDMz";
const SECRETS: &[&str] = &[ACCOUNT_KEY, SAS_SIG, H_SECRET];

const BLOB: &str = "https://acct.blob.core.windows.net";

fn key_url() -> String {
    format!("{BLOB}/c/key;{ACCOUNT_KEY}")
}
fn sas_url() -> String {
    format!("{BLOB}/c/sas?sv=2024-01-01&sp=rw&sig={SAS_SIG}")
}
fn h_url() -> String {
    format!("{BLOB}/c/h;{H_SECRET}")
}

fn options(keys: Option<SecretKeys>) -> DatabaseOptions {
    DatabaseOptions {
        secret_keys: keys,
        ..Default::default()
    }
}

/// An engine whose session serves the fake Azure account from memory, so that the
/// definitions' URLs (with their keys) resolve and exports run without a network.
async fn engine(root: &Path, keys: Option<SecretKeys>) -> Engine {
    let engine = Engine::open_with(root.to_str().unwrap(), options(keys))
        .await
        .unwrap();
    engine
        .context()
        .register_object_store(&url::Url::parse(BLOB).unwrap(), Arc::new(InMemory::new()));
    engine
}

async fn run(engine: &Engine, text: &str) -> Result<String, String> {
    match engine.execute_collect(text).await {
        Ok(batches) => Ok(pretty_format_batches(&batches).unwrap().to_string()),
        Err(e) => Err(e.to_string()),
    }
}

fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} shows a secret: {text}");
    }
}

/// Every byte of every file under `dir`.
fn assert_no_secret_under(dir: &Path) -> usize {
    let mut files = 0;
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for s in SECRETS {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "{} holds a secret: {text}",
                entry.display()
            );
        }
        files += 1;
    }
    files
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn log_files(root: &Path) -> usize {
    walk(root)
        .iter()
        .filter(|p| p.to_string_lossy().contains("_log"))
        .count()
}

async fn create_definitions(engine: &Engine) {
    run(engine, ".create table T (a:long)").await.unwrap();
    run(engine, "INSERT INTO T VALUES (1), (2), (3)")
        .await
        .unwrap();
    for (name, url, format) in [
        ("AzKey", format!("'{}'", key_url()), "csv"),
        ("AzSas", format!("'{}'", sas_url()), "parquet"),
        ("AzH", format!("h'{}'", h_url()), "csv"),
    ] {
        let out = run(
            engine,
            &format!(
                ".create external table {name} (a:long) kind=storage dataformat={format} ({url})"
            ),
        )
        .await
        .unwrap();
        assert_no_secret("create", &out);
    }
}

#[tokio::test]
async fn secrets_are_encrypted_at_rest_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let keys = SecretKeys::new(SecretKey::generate());
    let engine = engine(&root, Some(keys.clone())).await;
    create_definitions(&engine).await;

    // The definitions work: exports through each run with the decrypted URL.
    for name in ["AzKey", "AzSas", "AzH"] {
        let out = run(
            &engine,
            &format!(".export to table {name} <| SELECT * FROM T"),
        )
        .await
        .unwrap();
        assert!(out.contains(name), "{out}");
        assert_no_secret("export", &out);
    }
    let back = run(&engine, "SELECT count(*) AS n FROM external_table('AzSas')")
        .await
        .unwrap();
    assert!(back.contains("| 3 "), "{back}");
    run(
        &engine,
        ".create-or-alter continuous-export CE to table AzSas with (intervalBetweenRuns=1s) <| SELECT * FROM T",
    )
    .await
    .unwrap();
    let ran = run(&engine, ".run continuous-export CE").await;
    assert_no_secret(".run", &format!("{ran:?}"));
    // A continuous export's own properties are stored as they are: no secret there.
    let e = run(
        &engine,
        &format!(".create-or-alter continuous-export CE2 to table AzSas with (distribution=h'{H_SECRET}') <| SELECT * FROM T"),
    )
    .await
    .unwrap_err();
    assert!(e.contains("holds a secret"), "{e}");
    assert_no_secret("continuous-export error", &e);

    // Async exports are recorded in the database (operations/*.json).
    for url in [
        format!("'{}'", key_url()),
        format!("'{}'", sas_url()),
        format!("h'{}'", h_url()),
    ] {
        let out = run(
            &engine,
            &format!(".export async to csv ({url}) <| SELECT * FROM T"),
        )
        .await
        .unwrap();
        assert_no_secret("export async", &out);
    }
    run(&engine, ".export async to table AzKey <| SELECT * FROM T")
        .await
        .unwrap();
    for _ in 0..100 {
        let ops = run(&engine, ".show operations").await.unwrap();
        if !ops.contains("InProgress") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let ops = engine.execute_collect(".show operations").await.unwrap();
    for id in datafusion_export_integration_tests::string_column(&ops, "OperationId") {
        let details = run(&engine, &format!(".show operation {id} details")).await;
        assert_no_secret("operation details", &format!("{details:?}"));
    }

    // Every output and error.
    let mut shown = String::new();
    for command in [
        ".show external tables",
        ".show external table AzKey",
        ".show external table AzSas",
        ".show external table AzH",
        ".show continuous-exports",
        ".show continuous-export CE",
        ".show continuous-export CE exported-artifacts",
        ".show continuous-export CE failures",
        ".show operations",
        &format!(
            ".create external table AzKey (a:long) kind=storage dataformat=csv ('{}')",
            key_url()
        ),
        &format!(".export to csv ('{}') <| SELECT nope FROM T", key_url()),
        &format!(".export to csv ('{}') <| SELECT nope FROM T", sas_url()),
        &format!(".export to csv (h'{}') <| SELECT nope FROM T", h_url()),
        &format!(".ingest into table T ('{}')", sas_url()),
        ".alter database secret key",
    ] {
        let out = run(&engine, command).await;
        let text = format!("{out:?} {}", out.clone().unwrap_or_else(|e| e));
        assert_no_secret(command, &text);
        shown.push_str(&text);
    }
    assert!(shown.contains("*****"), "{shown}");

    // Debug of the public types.
    let table = datafusion_export::export::external_table::load(engine.database(), "AzKey")
        .await
        .unwrap();
    assert!(table.def.urls[0].expose().contains(ACCOUNT_KEY)); // decrypted for use
    let export = datafusion_export::continuous::definition::load(engine.database(), "CE")
        .await
        .unwrap();
    for (what, text) in [
        ("Engine", format!("{engine:?}")),
        ("Database", format!("{:?}", engine.database())),
        (
            "DatabaseOptions",
            format!("{:?}", engine.database().options()),
        ),
        ("ExternalTable", format!("{table:?} {table:#?}")),
        ("ExternalTableDef", format!("{:?}", table.def)),
        ("ContinuousExport", format!("{export:?}")),
        ("DatabaseState", format!("{:?}", engine.database().state())),
        ("SecretKeys", format!("{keys:?}")),
    ] {
        assert_no_secret(what, &text);
        assert!(
            !text.contains(&keys.primary().to_base64()),
            "{what}: {text}"
        );
    }

    // Every byte under the root: the definitions are stored encrypted.
    drop(engine);
    let files = assert_no_secret_under(&root);
    assert!(files > 3, "{files}");
    let log: String = walk(&root)
        .iter()
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
        .collect();
    assert!(log.contains(&format!("\"encrypted\":\"v1:{}:", keys.primary().id())));
    assert!(!log.contains(&keys.primary().to_base64()));
}

#[tokio::test]
async fn no_key_refuses_secrets_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let engine = engine(&root, None).await;
    run(&engine, ".create table T (a:long)").await.unwrap();
    let before = log_files(&root);
    for url in [
        format!("'{}'", key_url()),
        format!("'{}'", sas_url()),
        format!("h'{}'", h_url()),
    ] {
        let e = run(
            &engine,
            &format!(".create external table X (a:long) kind=storage dataformat=csv ({url})"),
        )
        .await
        .unwrap_err();
        assert!(
            e.contains("DFEXPORT_SECRET_KEY") && e.contains("--secret-key-file"),
            "{e}"
        );
        assert_no_secret("refusal", &e);
    }
    assert_eq!(log_files(&root), before, "nothing committed");
    assert!(!run(&engine, ".show external tables")
        .await
        .unwrap()
        .contains("X"));
    // Without an inline secret (credentials from the environment) no key is needed.
    run(
        &engine,
        &format!(
            ".create external table Plain (a:long) kind=storage dataformat=csv ('{BLOB}/c/plain')"
        ),
    )
    .await
    .unwrap();
    run(&engine, "INSERT INTO T VALUES (7)").await.unwrap();
    run(&engine, ".export to table Plain <| SELECT * FROM T")
        .await
        .unwrap();
    assert_no_secret_under(&root);
}

#[tokio::test]
async fn wrong_key_is_a_clear_error_and_rotation_reencrypts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let old = SecretKey::generate();
    let new = SecretKey::generate();
    {
        let engine = engine(&root, Some(SecretKeys::new(old.clone()))).await;
        create_definitions(&engine).await;
    }
    // The wrong key: listing works (redacted), use fails saying which key is missing.
    {
        let engine = engine(&root, Some(SecretKeys::new(new.clone()))).await;
        let list = run(&engine, ".show external tables").await.unwrap();
        assert!(list.contains("AzSas") && list.contains("*****"), "{list}");
        let e = run(&engine, ".export to table AzSas <| SELECT * FROM T")
            .await
            .unwrap_err();
        assert!(e.contains(old.id()) && e.contains("not configured"), "{e}");
        assert_no_secret("wrong key", &e);
        let e = run(&engine, "SELECT * FROM external_table('AzKey')")
            .await
            .unwrap_err();
        assert!(e.contains(old.id()), "{e}");
        // And no key at all.
        let none = self::engine(&root, None).await;
        let e = run(&none, ".export to table AzKey <| SELECT * FROM T")
            .await
            .unwrap_err();
        assert!(e.contains("no secret key is configured"), "{e}");
        assert_no_secret("no key", &e);
    }
    // Rotation: the new key first, the old one kept to decrypt; re-encrypt; drop old.
    {
        let both = SecretKeys::from_keys(vec![new.clone(), old.clone()]).unwrap();
        let engine = engine(&root, Some(both)).await;
        let out = run(&engine, ".alter database secret key").await.unwrap();
        for name in ["AzKey", "AzSas", "AzH"] {
            assert!(out.contains(name), "{out}");
        }
        assert!(out.contains(new.id()), "{out}");
    }
    let engine = engine(&root, Some(SecretKeys::new(new.clone()))).await;
    for name in ["AzKey", "AzSas", "AzH"] {
        run(
            &engine,
            &format!(".export to table {name} <| SELECT * FROM T"),
        )
        .await
        .unwrap();
    }
    drop(engine);
    assert_no_secret_under(&root);
}

/// `dfexport` as a process: key from DFEXPORT_SECRET_KEY or --secret-key-file, and the
/// log of `serve` at RUST_LOG=trace, failing runs against the (unreachable) account
/// included.
#[test]
fn cli_and_serve_trace_log_show_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let key = SecretKey::generate();
    let key_file = dir.path().join("secret.key");
    std::fs::write(&key_file, format!("{}\n", key.to_base64())).unwrap();
    let bin = env!("CARGO_BIN_EXE_dfexport-e2e");
    let cli = |args: &[&str], with_key: bool| {
        let mut c = std::process::Command::new(bin);
        c.arg("--db").arg(&root).args(args);
        c.env_remove("DFEXPORT_SECRET_KEY");
        if with_key {
            c.arg("--secret-key-file").arg(&key_file);
        }
        let out = c.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_no_secret(&format!("{args:?}"), &text);
        (out.status.success(), text)
    };
    let create = format!(
        ".create external table AzKey (a:long) kind=storage dataformat=csv ('{}')",
        key_url()
    );
    let (ok, text) = cli(&["-c", ".create table T (a:long)"], false);
    assert!(ok, "{text}");
    let (ok, text) = cli(&["-c", &create], false);
    assert!(!ok && text.contains("--secret-key-file"), "{text}");
    for command in [
        create.clone(),
        format!(
            ".create external table AzSas (a:long) kind=storage dataformat=parquet ('{}')",
            sas_url()
        ),
        format!(
            ".create external table AzH (a:long) kind=storage dataformat=csv (h'{}')",
            h_url()
        ),
        ".create-or-alter continuous-export CK to table AzKey with (intervalBetweenRuns=1s) <| SELECT * FROM T".into(),
        ".create-or-alter continuous-export CS to table AzSas with (intervalBetweenRuns=1s) <| SELECT * FROM T".into(),
        ".create-or-alter continuous-export CH to table AzH with (intervalBetweenRuns=1s) <| SELECT * FROM T".into(),
        // After the exports' creation: their first runs have rows to send.
        "INSERT INTO T VALUES (1), (2)".into(),
        ".show external tables".into(),
        ".show continuous-exports".into(),
    ] {
        let (ok, text) = cli(&["-c", &command], true);
        assert!(ok, "{command}: {text}");
    }
    // serve, with the key in the environment, at trace level; then killed.
    let child = std::process::Command::new(bin)
        .arg("--db")
        .arg(&root)
        .args(["serve", "--poll-interval", "100ms"])
        .env("DFEXPORT_SECRET_KEY", key.to_base64())
        .env("RUST_LOG", "trace")
        .env_remove("AZURE_STORAGE_ACCOUNT_KEY")
        // The account's requests go to a port where nothing listens: they fail at
        // once, and the retries log the request URLs (SAS tokens included).
        .env("AZURE_STORAGE_USE_EMULATOR", "true")
        .env("AZURITE_BLOB_STORAGE_URL", "http://127.0.0.1:1")
        // Files, not pipes: a trace log fills a pipe's buffer in no time.
        .stdout(std::fs::File::create(dir.path().join("serve.out")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("serve.err")).unwrap())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(5));
    let pid = child.id();
    unsafe_kill(pid);
    let mut child = child;
    child.wait().unwrap();
    let log = ["serve.out", "serve.err"]
        .map(|f| String::from_utf8_lossy(&std::fs::read(dir.path().join(f)).unwrap()).into_owned())
        .join("");
    assert!(log.contains("TRACE") || log.contains("DEBUG"), "{log}");
    assert!(log.contains("127.0.0.1:1"), "the runs ran: {log}");
    assert_no_secret("serve log", &log);
    let (_, failures) = cli(&["-c", ".show continuous-export CS failures"], true);
    assert_no_secret("failures", &failures);
    assert_no_secret_under(&root);
}

fn unsafe_kill(pid: u32) {
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _ = std::process::Command::new("kill")
        .arg("-KILL")
        .arg(pid.to_string())
        .status();
}

/// A Delta external table whose URL is an `h'…'` literal (here the secret is the URL
/// itself): stored encrypted, and exports to it run with the key (Azurite).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_definition_with_a_secret_works_with_the_key() {
    let Some(server) = datafusion_export_integration_tests::servers::azure_or_skip() else {
        return;
    };
    let url = server.unique_url("secret-delta");
    let label = url.rsplit('/').next().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("db");
    let keys = SecretKeys::new(SecretKey::generate());
    let engine = Engine::open_with(root.to_str().unwrap(), options(Some(keys)))
        .await
        .unwrap();
    run(&engine, ".create table T (a:long)").await.unwrap();
    run(&engine, "INSERT INTO T VALUES (1), (2)").await.unwrap();
    let out = run(
        &engine,
        &format!(".create external table D (a:long) kind=delta (h'{url}')"),
    )
    .await
    .unwrap();
    assert!(!out.contains(&label), "{out}");
    run(&engine, ".export to table D <| SELECT * FROM T")
        .await
        .unwrap();
    let back = run(&engine, "SELECT count(*) AS n FROM external_table('D')")
        .await
        .unwrap();
    assert!(back.contains("| 2 "), "{back}");
    let shown = run(&engine, ".show external tables").await.unwrap();
    assert!(
        !shown.contains(&label) && shown.contains("*****"),
        "{shown}"
    );
    drop(engine);
    for file in walk(&root) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(!text.contains(&label), "{}: {text}", file.display());
    }
    let none = Engine::open_with(root.to_str().unwrap(), options(None))
        .await
        .unwrap();
    let e = run(&none, ".export to table D <| SELECT * FROM T")
        .await
        .unwrap_err();
    assert!(e.contains("no secret key is configured"), "{e}");
    assert!(!e.contains(&label), "{e}");
}
