//! Real object-store servers for the tests, started lazily and once per test process on
//! free 127.0.0.1 ports: moto's S3 server (`moto_server`, PyPI `moto[server]`) and
//! Azurite's blob service (`azurite-blob`, npm `azurite`, in memory). Each gets one bucket /
//! container; a test works under a unique prefix in it ([`Server::unique_url`]), so tests
//! run in parallel.
//!
//! Credentials reach the product the way a user gives them: when a server starts, its
//! variables ([`Server::env`]: `AWS_*` for moto, `AZURE_*`/`AZURITE_*` for Azurite) are set
//! in this process's environment — before any store of that cloud can be built, since
//! every test gets the server through [`s3`] / [`azure`] first — and `object_store`'s
//! `from_env()` builders read them, for database roots, export URLs, external tables and
//! Delta targets alike. The same settings as `object_store` storage options
//! ([`Server::storage_options`]) are for tests that pass them explicitly
//! (`DatabaseOptions { storage_options, .. }`, `--storage-option`). A child process inherits
//! the variables; one that must not (to prove that options alone work) removes
//! [`ENV_NAMES`].
//!
//! The servers die with the test process, however it ends (a panic, an abort, SIGKILL): each
//! is started by a thread that lives as long as the process, with `PR_SET_PDEATHSIG`.
//!
//! A missing server binary fails the tests that need it, saying how to install it, unless
//! `DFEXPORT_SKIP_CLOUD_TESTS=1` is set: then [`s3_or_skip`] and [`azure_or_skip`] return
//! `None` (and [`s3`] / [`azure`] panic, saying so).

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Azurite's well-known development account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development key (public; not a secret).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Every environment variable the harness sets (see [`Server::env`]).
pub const ENV_NAMES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_ENDPOINT",
    "AWS_ALLOW_HTTP",
    "AZURE_STORAGE_ACCOUNT_NAME",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_USE_EMULATOR",
    "AZURITE_BLOB_STORAGE_URL",
];

/// The variable that skips the S3 and Azure tests when set to `1`.
pub const SKIP_VARIABLE: &str = "DFEXPORT_SKIP_CLOUD_TESTS";

const S3_HINT: &str = "moto's S3 server (`moto_server`) is needed: \
    python3 -m pip install 'moto[server]' (./test.sh installs it), \
    or set DFEXPORT_SKIP_CLOUD_TESTS=1 to skip the S3 and Azure tests";
const AZURE_HINT: &str = "Azurite's blob service (`azurite-blob`) is needed: \
    npm install -g azurite@3 (./test.sh installs it), \
    or set DFEXPORT_SKIP_CLOUD_TESTS=1 to skip the S3 and Azure tests";

/// Which cloud a [`Server`] emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// S3 (moto).
    S3,
    /// Azure Blob Storage (Azurite).
    Azure,
}

/// A running server and how to reach it.
#[derive(Debug)]
pub struct Server {
    /// Which cloud.
    pub cloud: Cloud,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The bucket or container the tests use.
    pub bucket: String,
}

impl Server {
    /// The URL of `prefix` in the bucket: `s3://bucket/prefix` or `az://container/prefix`.
    pub fn url(&self, prefix: &str) -> String {
        let scheme = match self.cloud {
            Cloud::S3 => "s3",
            Cloud::Azure => "az",
        };
        format!("{scheme}://{}/{prefix}", self.bucket)
    }

    /// A URL under a prefix no other test uses: `s3://bucket/<label>-<uuid>`.
    pub fn unique_url(&self, label: &str) -> String {
        self.url(&format!("{label}-{}", uuid::Uuid::new_v4().simple()))
    }

    /// The environment a user sets for this server, as `object_store`'s `from_env()`
    /// builders read it. The harness sets it in this process when the server starts;
    /// pass it to processes that do not inherit it.
    pub fn env(&self) -> Vec<(String, String)> {
        let pairs: Vec<(&str, String)> = match self.cloud {
            Cloud::S3 => vec![
                ("AWS_ACCESS_KEY_ID", "testing".into()),
                ("AWS_SECRET_ACCESS_KEY", "testing".into()),
                ("AWS_REGION", "us-east-1".into()),
                ("AWS_ENDPOINT", self.endpoint.clone()),
                ("AWS_ALLOW_HTTP", "true".into()),
            ],
            // With `use_emulator`, object_store's Azure builder takes the blob endpoint
            // from AZURITE_BLOB_STORAGE_URL (default http://127.0.0.1:10000) and allows
            // plain HTTP.
            Cloud::Azure => vec![
                ("AZURE_STORAGE_ACCOUNT_NAME", AZURITE_ACCOUNT.into()),
                ("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY.into()),
                ("AZURE_STORAGE_USE_EMULATOR", "true".into()),
                ("AZURITE_BLOB_STORAGE_URL", self.endpoint.clone()),
            ],
        };
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// The same as storage options (object_store's key names), for tests that pass them
    /// explicitly: `DatabaseOptions { storage_options, .. }` or `--storage-option`.
    pub fn storage_options(&self) -> Vec<(String, String)> {
        let pairs: Vec<(&str, String)> = match self.cloud {
            Cloud::S3 => vec![
                ("aws_access_key_id", "testing".into()),
                ("aws_secret_access_key", "testing".into()),
                ("aws_region", "us-east-1".into()),
                ("aws_endpoint", self.endpoint.clone()),
                ("aws_allow_http", "true".into()),
            ],
            // Without the emulator switch, which a real account does not have: the
            // account's endpoint (path style, as Azurite serves it) over plain HTTP.
            Cloud::Azure => vec![
                ("azure_storage_account_name", AZURITE_ACCOUNT.into()),
                ("azure_storage_account_key", AZURITE_KEY.into()),
                (
                    "azure_storage_endpoint",
                    format!("{}/{AZURITE_ACCOUNT}", self.endpoint),
                ),
                ("azure_allow_http", "true".into()),
            ],
        };
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// Sets [`Server::env`] in this process, once, when the server has started: before
    /// any test can build a store of this cloud (each gets the server first).
    fn export_env(&self) {
        for (key, value) in self.env() {
            debug_assert!(ENV_NAMES.contains(&key.as_str()), "{key}");
            std::env::set_var(key, value);
        }
    }
}

/// Whether `DFEXPORT_SKIP_CLOUD_TESTS=1` asks to skip the S3 and Azure tests.
pub fn skip_cloud_tests() -> bool {
    std::env::var(SKIP_VARIABLE).is_ok_and(|v| v == "1")
}

/// The S3 server (moto), started on first use.
pub fn s3() -> &'static Server {
    s3_or_skip().unwrap_or_else(|| panic!("{SKIP_VARIABLE}=1 skips the S3 tests"))
}

/// The Azure blob server (Azurite), started on first use.
pub fn azure() -> &'static Server {
    azure_or_skip().unwrap_or_else(|| panic!("{SKIP_VARIABLE}=1 skips the Azure tests"))
}

/// [`s3`], or `None` when cloud tests are skipped.
pub fn s3_or_skip() -> Option<&'static Server> {
    static S3: OnceLock<Server> = OnceLock::new();
    if skip_cloud_tests() {
        return None;
    }
    Some(S3.get_or_init(|| {
        let server = start_moto();
        server.export_env();
        server
    }))
}

/// [`azure`], or `None` when cloud tests are skipped.
pub fn azure_or_skip() -> Option<&'static Server> {
    static AZURE: OnceLock<Server> = OnceLock::new();
    if skip_cloud_tests() {
        return None;
    }
    Some(AZURE.get_or_init(|| {
        let server = start_azurite();
        server.export_env();
        server
    }))
}

/// The server of `cloud` ([`s3_or_skip`] / [`azure_or_skip`]).
pub fn server_or_skip(cloud: Cloud) -> Option<&'static Server> {
    match cloud {
        Cloud::S3 => s3_or_skip(),
        Cloud::Azure => azure_or_skip(),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A server process: whether it has exited, and the tail of what it printed.
struct Process {
    exited: Arc<Mutex<Option<String>>>,
    output: Arc<Mutex<VecDeque<u8>>>,
}

impl Process {
    fn exited(&self) -> Option<String> {
        self.exited.lock().unwrap().clone()
    }

    fn output(&self) -> String {
        let tail = self.output.lock().unwrap();
        String::from_utf8_lossy(&tail.iter().copied().collect::<Vec<u8>>()).into_owned()
    }
}

/// How much of a server's output is kept for error messages.
const OUTPUT_TAIL: usize = 8 * 1024;

/// Keeps the last [`OUTPUT_TAIL`] bytes of `from` (and keeps the pipe drained, so that
/// a chatty server never blocks on a full pipe).
fn drain(mut from: impl Read + Send + 'static, into: Arc<Mutex<VecDeque<u8>>>) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = from.read(&mut buffer) {
            if n == 0 {
                break;
            }
            let mut tail = into.lock().unwrap();
            tail.extend(&buffer[..n]);
            let excess = tail.len().saturating_sub(OUTPUT_TAIL);
            tail.drain(..excess);
        }
    });
}

/// Starts `command` from a thread that outlives every test, so that the server gets
/// SIGKILL when this process ends, however it ends. A program that cannot be started
/// (not installed) panics with `install_hint`.
fn spawn_for_life(mut command: Command, install_hint: &'static str) -> Process {
    let program = command.get_program().to_string_lossy().into_owned();
    let exited = Arc::new(Mutex::new(None));
    let output = Arc::new(Mutex::new(VecDeque::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let (exited, output) = (Arc::clone(&exited), Arc::clone(&output));
        std::thread::Builder::new()
            .name(format!("{program} (test server)"))
            .spawn(move || {
                command
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                #[cfg(target_os = "linux")]
                unsafe {
                    use std::os::unix::process::CommandExt;
                    command.pre_exec(|| {
                        // SIGKILL when the thread that started us ends: it lives as
                        // long as the test process.
                        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
                let mut child = match command.spawn() {
                    Ok(child) => child,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                drain(child.stdout.take().unwrap(), Arc::clone(&output));
                drain(child.stderr.take().unwrap(), Arc::clone(&output));
                let _ = tx.send(Ok(()));
                // This thread waits as long as the server lives (the whole process,
                // normally); it ends only once the server has exited.
                let status = child.wait();
                *exited.lock().unwrap() = Some(match status {
                    Ok(status) => status.to_string(),
                    Err(e) => e.to_string(),
                });
            })
            .expect("a thread for the test server");
    }
    match rx.recv().expect("the server thread answers") {
        Ok(()) => Process { exited, output },
        Err(e) if e.kind() == ErrorKind::NotFound => {
            panic!("cannot start `{program}`: it is not installed or not on PATH. {install_hint}")
        }
        Err(e) => panic!("cannot start `{program}` ({e}). {install_hint}"),
    }
}

/// How long a server may take to listen.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// Waits until `port` accepts connections; `Err` when the process exited first (e.g.
/// another process took the port in between).
fn wait_for(port: u16, process: &Process, what: &str) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Some(status) = process.exited() {
            return Err(format!(
                "{what} exited ({status}) before listening on 127.0.0.1:{port}; it printed:\n{}",
                process.output()
            ));
        }
        assert!(
            started.elapsed() < READY_WITHIN,
            "{what} did not listen on 127.0.0.1:{port} within {READY_WITHIN:?}; it printed:\n{}",
            process.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a server on a free port (`command_for(port)`), retrying with another port
/// if the process exits before it listens. The port.
fn start(
    what: &str,
    install_hint: &'static str,
    command_for: impl Fn(u16) -> Command,
) -> (u16, Process) {
    let mut failures = Vec::new();
    for _ in 0..3 {
        let port = free_port();
        let process = spawn_for_life(command_for(port), install_hint);
        match wait_for(port, &process, what) {
            Ok(()) => return (port, process),
            Err(e) => failures.push(e),
        }
    }
    panic!("{what} would not start: {}", failures.join("\n"));
}

/// One HTTP/1.1 request with no body; the status code and the response.
fn http(port: u16, method: &str, path: &str, headers: &[(&str, String)]) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the test server");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Content-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, response)
}

/// The bucket or container every test works in (under its own prefix).
const BUCKET: &str = "dfexport-tests";

fn start_moto() -> Server {
    let (port, process) = start("moto_server", S3_HINT, |port| {
        let mut command = Command::new("moto_server");
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        command
    });
    // moto accepts an unsigned request.
    let (status, response) = http(port, "PUT", &format!("/{BUCKET}"), &[]);
    assert_eq!(
        status,
        200,
        "moto did not create bucket {BUCKET}: {response}\n{}",
        process.output()
    );
    Server {
        cloud: Cloud::S3,
        endpoint: format!("http://127.0.0.1:{port}"),
        bucket: BUCKET.to_string(),
    }
}

fn start_azurite() -> Server {
    let (port, process) = start("azurite-blob", AZURE_HINT, |port| {
        let mut command = Command::new("azurite-blob");
        command.args([
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            &port.to_string(),
            // Nothing on disk: no workspace folder to clean up.
            "--inMemoryPersistence",
            "--silent",
            "--disableTelemetry",
            // object_store's API version may be newer than this Azurite's.
            "--skipApiVersionCheck",
            "--loose",
        ]);
        command
    });
    let (status, response) = create_container(port, BUCKET);
    assert_eq!(
        status,
        201,
        "Azurite did not create container {BUCKET}: {response}\n{}",
        process.output()
    );
    Server {
        cloud: Cloud::Azure,
        endpoint: format!("http://127.0.0.1:{port}"),
        bucket: BUCKET.to_string(),
    }
}

/// Azure's Create Container, signed with the development account's key (Shared Key
/// authorization, as Azure's SDKs sign it).
fn create_container(port: u16, container: &str) -> (u16, String) {
    use base64::Engine as _;
    const VERSION: &str = "2021-08-06";
    let date = chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    // Path style: /<account>/<container>; the canonical resource is /<account><path>.
    let path = format!("/{AZURITE_ACCOUNT}/{container}");
    let string_to_sign = format!(
        "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{VERSION}\n\
         /{AZURITE_ACCOUNT}{path}\nrestype:container"
    );
    let key = base64::engine::general_purpose::STANDARD
        .decode(AZURITE_KEY)
        .expect("the development key is base64");
    let signature = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
        string_to_sign.as_bytes(),
    );
    let authorization = format!(
        "SharedKey {AZURITE_ACCOUNT}:{}",
        base64::engine::general_purpose::STANDARD.encode(signature.as_ref())
    );
    http(
        port,
        "PUT",
        &format!("{path}?restype=container"),
        &[
            ("x-ms-date", date),
            ("x-ms-version", VERSION.to_string()),
            ("Authorization", authorization),
        ],
    )
}
