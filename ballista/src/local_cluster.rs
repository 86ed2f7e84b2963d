//! A cluster on this machine: one `dfexport-scheduler` and some `dfexport-executor`
//! processes on free 127.0.0.1 ports, for development, tests and benchmarks. The
//! processes are killed when the [`LocalCluster`] is dropped (and, on Linux, when
//! the thread that started them ends).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to start a [`LocalCluster`].
#[derive(Debug, Clone)]
pub struct LocalClusterOptions {
    /// The `dfexport-scheduler` binary.
    pub scheduler_program: PathBuf,
    /// The `dfexport-executor` binary.
    pub executor_program: PathBuf,
    /// Executor processes.
    pub executors: usize,
    /// Tasks each executor runs at once.
    pub vcores: usize,
    /// Environment of every process (e.g. `AWS_*` credentials).
    pub env: Vec<(String, String)>,
    /// Detect a dead executor within seconds rather than minutes (heartbeats every
    /// second, lost after 6 s), for tests that kill executors.
    pub fast_failover: bool,
    /// Folder for logs and work dirs (a temporary folder when `None`).
    pub dir: Option<PathBuf>,
}

impl LocalClusterOptions {
    /// `executors` executors of `vcores` task slots, with the binaries at
    /// `scheduler_program` and `executor_program`.
    pub fn new(
        scheduler_program: impl Into<PathBuf>,
        executor_program: impl Into<PathBuf>,
        executors: usize,
        vcores: usize,
    ) -> Self {
        Self {
            scheduler_program: scheduler_program.into(),
            executor_program: executor_program.into(),
            executors,
            vcores,
            env: Vec::new(),
            fast_failover: false,
            dir: None,
        }
    }
}

/// One process of the cluster; killed when dropped.
#[derive(Debug)]
pub struct ClusterProcess {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ClusterProcess {
    fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        log: PathBuf,
    ) -> Result<Self, String> {
        let file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            // `tasks_started` reads the executors' "Execute task" lines: keep them
            // whatever the caller's RUST_LOG says.
            .env(
                "RUST_LOG",
                match std::env::var("RUST_LOG") {
                    Ok(filter) => format!("{filter},ballista_executor::executor_server=info"),
                    Err(_) => "info".into(),
                },
            )
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err);
        #[cfg(target_os = "linux")]
        unsafe {
            use std::os::unix::process::CommandExt;
            // SIGKILL when the thread that started it ends, however it ends.
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        Ok(Self {
            name: name.to_string(),
            child,
            log,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where it logs.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The last few KiB of its log, headed by its name.
    pub fn output(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(6000);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        format!("--- {} ---\n{}", self.name, &text[start..])
    }

    fn exited(&mut self) -> Option<String> {
        self.child.try_wait().ok().flatten().map(|s| s.to_string())
    }

    /// Kills it (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ClusterProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A scheduler and its executors on this machine; see the module docs.
#[derive(Debug)]
pub struct LocalCluster {
    scheduler_port: u16,
    scheduler: ClusterProcess,
    executors: Vec<ClusterProcess>,
    _dir: Option<tempfile::TempDir>,
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))
}

/// The status code of `GET path` on 127.0.0.1:`port`.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.split_whitespace().nth(1)?.parse().ok()
}

impl LocalCluster {
    /// Starts the processes and waits (up to a minute) until the scheduler reports
    /// every executor; retried with other ports if a process exits first.
    pub fn start(options: &LocalClusterOptions) -> Result<Self, String> {
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Self::try_start(options) {
                Ok(cluster) => return Ok(cluster),
                Err(e) => failures.push(e),
            }
        }
        Err(format!(
            "the cluster would not start:\n{}",
            failures.join("\n")
        ))
    }

    fn try_start(options: &LocalClusterOptions) -> Result<Self, String> {
        let (dir, temp) = match &options.dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
                (dir.clone(), None)
            }
            None => {
                let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let port = free_port()?;
        let mut args = vec![
            "--bind-port".to_string(),
            port.to_string(),
            "--external-host".into(),
            "127.0.0.1".into(),
            "--min-ready-executors".into(),
            options.executors.to_string(),
        ];
        if options.fast_failover {
            args.extend(["--executor-timeout-seconds".into(), "6".into()]);
        }
        let scheduler = ClusterProcess::spawn(
            "scheduler",
            &options.scheduler_program,
            &args,
            &options.env,
            dir.join("scheduler.log"),
        )?;
        let mut cluster = Self {
            scheduler_port: port,
            scheduler,
            executors: Vec::new(),
            _dir: temp,
        };
        cluster.wait(
            || TcpStream::connect(("127.0.0.1", port)).is_ok(),
            "the scheduler to listen",
        )?;
        for i in 0..options.executors {
            let mut args = vec![
                "--scheduler-host".to_string(),
                "127.0.0.1".into(),
                "--scheduler-port".into(),
                port.to_string(),
                "--bind-host".into(),
                "127.0.0.1".into(),
                "--external-host".into(),
                "127.0.0.1".into(),
                "--bind-port".into(),
                free_port()?.to_string(),
                "--bind-grpc-port".into(),
                free_port()?.to_string(),
                "--concurrent-tasks".into(),
                options.vcores.max(1).to_string(),
                "--work-dir".into(),
                dir.join(format!("executor-{i}")).display().to_string(),
            ];
            if options.fast_failover {
                args.extend(["--heartbeat-interval-seconds".into(), "1".into()]);
            }
            cluster.executors.push(ClusterProcess::spawn(
                &format!("executor {i}"),
                &options.executor_program,
                &args,
                &options.env,
                dir.join(format!("executor-{i}.log")),
            )?);
        }
        cluster.wait(
            || http_status(port, "/readyz") == Some(200),
            "every executor to register",
        )?;
        Ok(cluster)
    }

    fn wait(&mut self, ready: impl Fn() -> bool, what: &str) -> Result<(), String> {
        let started = Instant::now();
        while !ready() {
            let exited: Vec<String> = std::iter::once(&mut self.scheduler)
                .chain(self.executors.iter_mut())
                .filter_map(|p| p.exited().map(|s| format!("{} exited ({s})", p.name)))
                .collect();
            if !exited.is_empty() || started.elapsed() > Duration::from_secs(60) {
                return Err(format!(
                    "waiting for {what}: {}\n{}",
                    if exited.is_empty() {
                        "timed out".to_string()
                    } else {
                        exited.join(", ")
                    },
                    self.output()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// `df://127.0.0.1:PORT`, for `--cluster` and [`crate::BallistaRunner::connect`].
    pub fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.scheduler_port)
    }

    /// The executors, in start order.
    pub fn executors(&self) -> &[ClusterProcess] {
        &self.executors
    }

    /// Every process's log tail.
    pub fn output(&self) -> String {
        std::iter::once(&self.scheduler)
            .chain(self.executors.iter())
            .map(ClusterProcess::output)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// How many tasks executor `i` has started so far.
    pub fn tasks_started(&self, i: usize) -> usize {
        self.executors.get(i).map_or(0, |e| {
            std::fs::read_to_string(&e.log)
                .unwrap_or_default()
                .matches("Execute task")
                .count()
        })
    }
}
