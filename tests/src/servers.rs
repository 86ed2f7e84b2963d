//! Real object-store servers for the tests, started once per test process on free
//! 127.0.0.1 ports: moto's S3 server (`moto_server`, PyPI `moto[server]`) and Azurite's
//! blob service (`azurite-blob`, npm `azurite`). Each gets one bucket / container; tests
//! work under a unique prefix in it. The servers die with the test process (they are
//! started by a thread that lives as long as the process, with `PR_SET_PDEATHSIG`).
//!
//! A missing server fails the tests that need it with how to install it, unless
//! `DFEXPORT_SKIP_CLOUD_TESTS=1` is set (then [`s3_or_skip`] and [`azure_or_skip`]
//! return `None`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Azurite's well-known development account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development key (public; not a secret).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

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

    /// The environment a user sets for this server, as `object_store`'s `from_env()`
    /// builders read it (for processes: the `dfexport` CLI).
    pub fn env(&self) -> Vec<(String, String)> {
        let pairs: Vec<(&str, String)> = match self.cloud {
            Cloud::S3 => vec![
                ("AWS_ACCESS_KEY_ID", "testing".into()),
                ("AWS_SECRET_ACCESS_KEY", "testing".into()),
                ("AWS_REGION", "us-east-1".into()),
                ("AWS_ENDPOINT", self.endpoint.clone()),
                ("AWS_ALLOW_HTTP", "true".into()),
            ],
            Cloud::Azure => vec![
                ("AZURE_STORAGE_ACCOUNT_NAME", AZURITE_ACCOUNT.into()),
                ("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY.into()),
                ("AZURE_STORAGE_USE_EMULATOR", "true".into()),
                ("AZURITE_BLOB_STORAGE_URL", self.endpoint.clone()),
            ],
        };
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// The same as storage options (object_store's key names), for in-process tests:
    /// a test process does not change its own environment, which other threads read.
    pub fn storage_options(&self) -> Vec<(String, String)> {
        let pairs: Vec<(&str, String)> = match self.cloud {
            Cloud::S3 => vec![
                ("aws_access_key_id", "testing".into()),
                ("aws_secret_access_key", "testing".into()),
                ("aws_region", "us-east-1".into()),
                ("aws_endpoint", self.endpoint.clone()),
                ("aws_allow_http", "true".into()),
            ],
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
}

fn skip() -> bool {
    std::env::var("DFEXPORT_SKIP_CLOUD_TESTS").is_ok_and(|v| v == "1")
}

/// The S3 server (moto), started on first use.
pub fn s3() -> &'static Server {
    s3_or_skip().expect("DFEXPORT_SKIP_CLOUD_TESTS=1 skips the S3 tests")
}

/// The Azure blob server (Azurite), started on first use.
pub fn azure() -> &'static Server {
    azure_or_skip().expect("DFEXPORT_SKIP_CLOUD_TESTS=1 skips the Azure tests")
}

/// [`s3`], or `None` when cloud tests are skipped.
pub fn s3_or_skip() -> Option<&'static Server> {
    static S3: OnceLock<Server> = OnceLock::new();
    if skip() {
        return None;
    }
    Some(S3.get_or_init(start_moto))
}

/// [`azure`], or `None` when cloud tests are skipped.
pub fn azure_or_skip() -> Option<&'static Server> {
    static AZURE: OnceLock<Server> = OnceLock::new();
    if skip() {
        return None;
    }
    Some(AZURE.get_or_init(start_azurite))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Starts `command` from a thread that outlives every test, so that the server gets
/// SIGKILL when this process ends, however it ends.
fn spawn_for_life(mut command: Command, install_hint: &'static str) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(target_os = "linux")]
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                // Die with the thread that started us (it lives as long as the process).
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let started = command.spawn();
        let _ = tx.send(started.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        if let Ok(mut child) = started {
            let _ = child.wait();
        }
        loop {
            std::thread::park();
        }
    });
    if let Err(e) = rx.recv().expect("the server thread answers") {
        panic!("cannot start the test server ({e}); {install_hint}");
    }
}

fn wait_for(port: u16, what: &str) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what} did not listen on 127.0.0.1:{port} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One plain HTTP/1.1 request; the status code.
fn http(port: u16, method: &str, path: &str) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

fn start_moto() -> Server {
    let port = free_port();
    let mut command = Command::new("moto_server");
    command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    spawn_for_life(
        command,
        "install moto's server: python3 -m pip install 'moto[server]'",
    );
    wait_for(port, "moto_server");
    let bucket = "dfexport-tests".to_string();
    let status = http(port, "PUT", &format!("/{bucket}"));
    assert_eq!(status, 200, "moto did not create bucket {bucket}");
    Server {
        cloud: Cloud::S3,
        endpoint: format!("http://127.0.0.1:{port}"),
        bucket,
    }
}

fn start_azurite() -> Server {
    let port = free_port();
    let location = std::env::temp_dir().join(format!("azurite-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&location).unwrap();
    let mut command = Command::new("azurite-blob");
    command.args([
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        &port.to_string(),
        "--location",
        location.to_str().unwrap(),
        "--silent",
        "--skipApiVersionCheck",
        "--loose",
    ]);
    spawn_for_life(
        command,
        "install Azurite: npm install -g azurite (and python3 -m pip install azure-storage-blob)",
    );
    wait_for(port, "azurite-blob");
    let container = "dfexport-tests".to_string();
    let endpoint = format!("http://127.0.0.1:{port}");
    // Creating a container needs a signed request: Azure's own client does it.
    let connection = format!(
        "DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};\
         BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};"
    );
    let script = format!(
        "from azure.storage.blob import BlobServiceClient\n\
         BlobServiceClient.from_connection_string({connection:?}).create_container({container:?})\n"
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "cannot create the Azurite container (python3 -m pip install azure-storage-blob): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Server {
        cloud: Cloud::Azure,
        endpoint,
        bucket: container,
    }
}
