//! The Flight SQL service over a real TCP socket on 127.0.0.1, driven by Arrow's own
//! `FlightSqlServiceClient`, against an engine on a temporary folder.

use std::sync::Arc;
use std::time::Duration;

use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandStatementQuery, ProstMessageExt, TicketStatementQuery};
use arrow_flight::{FlightDescriptor, FlightInfo, Ticket};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use datafusion_export::tables::{DatabaseOptions, ManualClock};
use datafusion_export::Engine;
use datafusion_export_server::{
    hash_password, new_api_token, FlightServer, Metrics, MetricsEndpoint, ServerConfig,
};
use futures::TryStreamExt;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tonic::transport::{Channel, Endpoint};

const TOKEN_TTL: Duration = Duration::from_secs(600);

struct Fixture {
    engine: Arc<Engine>,
    clock: Arc<ManualClock>,
    addr: std::net::SocketAddr,
    metrics_addr: std::net::SocketAddr,
    api_token: String,
    dir: tempfile::TempDir,
    _stop: Vec<oneshot::Sender<()>>,
}

impl Fixture {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new("2026-06-01T12:00:00Z".parse().unwrap()));
        let options = DatabaseOptions {
            clock: clock.clone(),
            ..Default::default()
        };
        let root = dir.path().join("db");
        let engine = Arc::new(
            Engine::open_with(root.to_str().unwrap(), options)
                .await
                .unwrap(),
        );
        let (api_token, api_hash) = new_api_token();
        let users = serde_json::json!({
            "users": [
                {"name": "alice", "password_hash": hash_password("alice-pw").unwrap(), "role": "admin"},
                {"name": "ivan", "password_hash": hash_password("ivan-pw").unwrap(), "role": "ingestor"},
                {"name": "victor", "password_hash": hash_password("victor-pw").unwrap(), "role": "viewer"},
            ],
            "api_tokens": [{"name": "bot", "token_sha256": api_hash, "role": "viewer"}],
        });
        let users_file = dir.path().join("users.json");
        std::fs::write(&users_file, users.to_string()).unwrap();
        let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
        config.users_file = Some(users_file);
        config.token_ttl = TOKEN_TTL;
        let metrics = Metrics::new().unwrap();
        let server = FlightServer::bind(Arc::clone(&engine), config, metrics.clone())
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let endpoint =
            MetricsEndpoint::bind("127.0.0.1:0".parse().unwrap(), Arc::clone(&engine), metrics)
                .await
                .unwrap();
        let metrics_addr = endpoint.local_addr().unwrap();
        let (stop_server, stopped_server) = oneshot::channel::<()>();
        let (stop_metrics, stopped_metrics) = oneshot::channel::<()>();
        tokio::spawn(server.serve(async {
            stopped_server.await.ok();
        }));
        tokio::spawn(endpoint.serve(async {
            stopped_metrics.await.ok();
        }));
        Fixture {
            engine,
            clock,
            addr,
            metrics_addr,
            api_token,
            dir,
            _stop: vec![stop_server, stop_metrics],
        }
    }

    async fn anonymous(&self) -> FlightSqlServiceClient<Channel> {
        let channel = Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        FlightSqlServiceClient::new(channel)
    }

    async fn client(&self, user: &str, password: &str) -> FlightSqlServiceClient<Channel> {
        let mut client = self.anonymous().await;
        client.handshake(user, password).await.unwrap();
        assert!(
            client.token().is_some(),
            "the handshake returns a bearer token"
        );
        client
    }

    async fn admin(&self) -> FlightSqlServiceClient<Channel> {
        self.client("alice", "alice-pw").await
    }

    async fn http_get(&self, path: &str) -> (u16, String) {
        http_get(self.metrics_addr, path).await
    }
}

/// A GET of `path` on the HTTP endpoint at `addr`: status and body.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }
}

/// Runs `text` as GetFlightInfo + DoGet; checks that the stream's schema is exactly
/// the one FlightInfo announced.
async fn fetch(
    client: &mut FlightSqlServiceClient<Channel>,
    text: &str,
) -> Result<(Schema, Vec<RecordBatch>), FlightError> {
    let info = client.execute(text.to_string(), None).await?;
    let (schema, batches) = read(client, info.clone()).await?;
    Ok((schema, batches))
}

async fn read(
    client: &mut FlightSqlServiceClient<Channel>,
    info: FlightInfo,
) -> Result<(Schema, Vec<RecordBatch>), FlightError> {
    let schema = info.clone().try_decode_schema()?;
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.expect("a ticket");
        let mut stream = client.do_get(ticket).await?;
        while let Some(batch) = stream.try_next().await? {
            assert_eq!(
                batch.schema().as_ref(),
                &schema,
                "batch schema = FlightInfo schema"
            );
            batches.push(batch);
        }
        let streamed = stream
            .schema()
            .expect("the stream sends its schema")
            .clone();
        assert_eq!(
            streamed.as_ref(),
            &schema,
            "DoGet schema = FlightInfo schema"
        );
    }
    Ok((schema, batches))
}

/// The gRPC status of a client error.
fn status(e: FlightError) -> tonic::Status {
    match e {
        FlightError::Tonic(status) => *status,
        other => panic!("not a gRPC status: {other}"),
    }
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

fn files_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

async fn seed(engine: &Engine) {
    engine
        .execute_collect(".create table T (a:long, s:string)")
        .await
        .unwrap();
    engine
        .execute_collect("INSERT INTO T VALUES (1, 'x'), (2, 'y'), (3, NULL)")
        .await
        .unwrap();
}

#[tokio::test]
async fn queries_return_what_the_engine_returns() {
    let f = Fixture::start().await;
    seed(&f.engine).await;
    let mut client = f.client("victor", "victor-pw").await;
    for text in [
        "SELECT a, s FROM T ORDER BY a",
        "T | where a > 1 | project a, s | order by a asc",
        "SELECT count(*) AS n, max(a) AS m FROM T",
        "SELECT * FROM T WHERE a > 100",
        ".show tables | project TableName, RowCount",
    ] {
        let (schema, batches) = fetch(&mut client, text).await.unwrap();
        let expected = f.engine.execute_collect(text).await.unwrap();
        let expected_frame = f.engine.execute(text).await.unwrap();
        assert_eq!(&schema, expected_frame.schema().as_arrow(), "{text}");
        let got = datafusion::arrow::compute::concat_batches(&Arc::new(schema.clone()), &batches)
            .unwrap();
        let want = datafusion::arrow::compute::concat_batches(&Arc::new(schema.clone()), &expected)
            .unwrap();
        assert_eq!(got.columns(), want.columns(), "{text}");
    }

    // A prepared statement: same result.
    let mut prepared = client
        .prepare("SELECT a FROM T WHERE s = 'y'".into(), None)
        .await
        .unwrap();
    assert_eq!(prepared.dataset_schema().unwrap().fields().len(), 1);
    let info = prepared.execute().await.unwrap();
    let (_, batches) = read(&mut client, info).await.unwrap();
    assert_eq!(rows(&batches), 1);
    prepared.close().await.unwrap();

    // SqlInfo answers.
    let info = client
        .get_sql_info(vec![arrow_flight::sql::SqlInfo::FlightSqlServerName])
        .await
        .unwrap();
    let (_, batches) = read(&mut client, info).await.unwrap();
    assert_eq!(rows(&batches), 1);
}

#[tokio::test]
async fn an_export_runs_once_and_its_ticket_reads_once() {
    let f = Fixture::start().await;
    seed(&f.engine).await;
    let out = f.dir.path().join("out");
    let text = format!(".export to csv ('{}') <| SELECT * FROM T", out.display());
    // A local folder is the server's own disk: a viewer may not write there.
    let mut viewer = f.client("victor", "victor-pw").await;
    let denied = status(viewer.execute(text.clone(), None).await.unwrap_err());
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied}");
    assert!(denied.message().contains("'admin'"), "{denied}");
    assert_eq!(files_in(&out), 0);
    let mut client = f.client("alice", "alice-pw").await;
    let info = client.execute(text.clone(), None).await.unwrap();
    let written = files_in(&out);
    assert!(written >= 1, "GetFlightInfo ran the export");
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let (_, batches) = read(&mut client, info).await.unwrap();
    assert_eq!(rows(&batches), written, "one row per artifact");
    assert_eq!(files_in(&out), written, "DoGet did not export again");

    // A replayed ticket is refused, and runs nothing.
    let replay = match client.do_get(ticket).await {
        Err(e) => e.to_string(),
        Ok(stream) => stream
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err()
            .to_string(),
    };
    assert!(replay.contains("already used"), "{replay}");
    assert_eq!(files_in(&out), written);

    // Through DoPut statement update: once more, exactly once.
    let count = client.execute_update(text, None).await.unwrap();
    assert_eq!(count as usize, written);
    assert_eq!(files_in(&out), 2 * written);
}

#[tokio::test]
async fn roles_decide_who_may_do_what() {
    let f = Fixture::start().await;
    seed(&f.engine).await;
    let lake = f.dir.path().join("lake");
    f.engine
        .execute_collect(&format!(
            ".create external table Lake (a:long, s:string) kind=storage dataformat=parquet ('{}')",
            lake.display()
        ))
        .await
        .unwrap();
    let create = ".create-or-alter continuous-export E over (T) to table Lake <| T";
    let mut viewer = f.client("victor", "victor-pw").await;
    let denied = status(viewer.execute(create.into(), None).await.unwrap_err());
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied}");
    assert!(denied.message().contains("'admin'"), "{denied}");
    let denied = status(
        viewer
            .execute_update("INSERT INTO T VALUES (9, 'z')".into(), None)
            .await
            .unwrap_err(),
    );
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied}");
    assert!(denied.message().contains("'ingestor'"), "{denied}");
    assert!(fetch(&mut viewer, ".show continuous-exports").await.is_ok());

    let mut ingestor = f.client("ivan", "ivan-pw").await;
    assert_eq!(
        ingestor
            .execute_update("INSERT INTO T VALUES (9, 'z')".into(), None)
            .await
            .unwrap(),
        1
    );
    let denied = status(ingestor.execute(create.into(), None).await.unwrap_err());
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied}");

    let mut admin = f.admin().await;
    fetch(&mut admin, create).await.unwrap();
    let (_, shown) = fetch(&mut admin, ".show continuous-exports").await.unwrap();
    assert_eq!(rows(&shown), 1);
}

#[tokio::test]
async fn credentials_and_tokens_are_checked() {
    let f = Fixture::start().await;
    seed(&f.engine).await;
    let wrong = f
        .anonymous()
        .await
        .handshake("alice", "nope")
        .await
        .unwrap_err()
        .to_string();
    let unknown = f
        .anonymous()
        .await
        .handshake("mallory", "nope")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        wrong.contains("valid authentication credentials"),
        "{wrong}"
    );
    assert_eq!(wrong, unknown, "no user enumeration");

    let missing = status(
        f.anonymous()
            .await
            .execute("SELECT 1".into(), None)
            .await
            .unwrap_err(),
    );
    assert_eq!(missing.code(), tonic::Code::Unauthenticated, "{missing}");
    let mut forged = f.anonymous().await;
    forged.set_token("not-a-token".into());
    let forged = status(forged.execute("SELECT 1".into(), None).await.unwrap_err());
    assert_eq!(forged.code(), tonic::Code::Unauthenticated, "{forged}");
    assert_eq!(forged.message(), missing.message());

    // A static API token works without a handshake.
    let mut bot = f.anonymous().await;
    bot.set_token(f.api_token.clone());
    assert!(fetch(&mut bot, "SELECT 1").await.is_ok());

    // Session tokens expire (the database's clock is the server's).
    let mut alice = f.admin().await;
    assert!(fetch(&mut alice, "SELECT 1").await.is_ok());
    f.clock
        .advance(chrono::Duration::from_std(TOKEN_TTL).unwrap() + chrono::Duration::seconds(1));
    let expired = status(alice.execute("SELECT 1".into(), None).await.unwrap_err());
    assert_eq!(expired.code(), tonic::Code::Unauthenticated, "{expired}");
    assert_eq!(
        expired.message(),
        missing.message(),
        "expired reads as any bad token"
    );
    assert!(
        fetch(&mut bot, "SELECT 1").await.is_ok(),
        "API tokens do not expire"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_clients_all_succeed() {
    let f = Arc::new(Fixture::start().await);
    seed(&f.engine).await;
    let expected = rows(&f.engine.execute_collect("SELECT * FROM T").await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..16 {
        let f = Arc::clone(&f);
        tasks.push(tokio::spawn(async move {
            let mut client = if i % 2 == 0 {
                f.client("victor", "victor-pw").await
            } else {
                let mut c = f.anonymous().await;
                c.set_token(f.api_token.clone());
                c
            };
            for j in 0..20 {
                let text = if j % 2 == 0 {
                    "SELECT * FROM T"
                } else {
                    "T | take 100"
                };
                let (_, batches) = fetch(&mut client, text).await.unwrap();
                assert_eq!(rows(&batches), expected);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_the_server_keeps_serving() {
    let f = Fixture::start().await;
    seed(&f.engine).await;
    let mut client = f.admin().await;
    let error = |e: FlightError| e.to_string();

    let empty = error(client.execute("   ".into(), None).await.unwrap_err());
    assert!(empty.contains("empty statement"), "{empty}");

    let huge = "SELECT 1 -- ".to_string() + &"x".repeat(10 << 20);
    let huge = error(client.execute(huge, None).await.unwrap_err());
    assert!(
        huge.contains("limit") || huge.contains("too large"),
        "{huge}"
    );

    let just_over = "SELECT 1 -- ".to_string() + &"x".repeat(1 << 20);
    let just_over = error(client.execute(just_over, None).await.unwrap_err());
    assert!(just_over.contains("the limit is 1048576"), "{just_over}");

    let unknown = status(
        client
            .execute(".frobnicate T".into(), None)
            .await
            .unwrap_err(),
    );
    assert_eq!(unknown.code(), tonic::Code::InvalidArgument, "{unknown}");
    assert!(
        unknown.message().contains("unknown command '.frobnicate'"),
        "{unknown}"
    );

    // Invalid UTF-8 in the statement: hand-encoded, since prost refuses to encode it.
    let mut value = vec![0x0a, 3, b'a', 0xff, 0xfe];
    value.shrink_to_fit();
    let any = prost_types::Any {
        type_url: CommandStatementQuery::default().as_any().type_url,
        value,
    };
    let descriptor = FlightDescriptor::new_cmd(any.encode_to_vec());
    let mut raw = client.inner().clone();
    let mut request = tonic::Request::new(descriptor);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", client.token().unwrap())
            .parse()
            .unwrap(),
    );
    let utf8 = raw.get_flight_info(request).await.unwrap_err();
    // arrow-flight refuses it before the service sees it (as Internal, its mapping of
    // a decode error), with a message that says what is wrong.
    assert!(utf8.message().contains("not UTF-8"), "{utf8}");

    // A malformed ticket: not a Flight SQL command at all, then a foreign handle.
    let junk = error(match client.do_get(Ticket::new(b"junk".to_vec())).await {
        Err(e) => e,
        Ok(s) => s.try_collect::<Vec<_>>().await.unwrap_err(),
    });
    assert!(!junk.is_empty());
    let foreign = TicketStatementQuery {
        statement_handle: b"someone else's".to_vec().into(),
    };
    let foreign = error(
        match client
            .do_get(Ticket::new(foreign.as_any().encode_to_vec()))
            .await
        {
            Err(e) => e,
            Ok(s) => s.try_collect::<Vec<_>>().await.unwrap_err(),
        },
    );
    assert!(foreign.contains("malformed ticket"), "{foreign}");

    // Still serving.
    let (_, batches) = fetch(&mut client, "SELECT * FROM T").await.unwrap();
    assert_eq!(rows(&batches), 3);
}

#[tokio::test]
async fn metrics_show_runs_and_lateness() {
    let f = Fixture::start().await;
    seed(&f.engine).await;
    let lake = f.dir.path().join("lake");
    let mut admin = f.admin().await;
    for text in [
        format!(
            ".create external table Lake (a:long, s:string) kind=storage dataformat=csv ('{}')",
            lake.display()
        ),
        ".create-or-alter continuous-export E over (T) to table Lake <| T".to_string(),
    ] {
        fetch(&mut admin, &text).await.unwrap();
    }
    f.engine
        .execute_collect("INSERT INTO T VALUES (4, 'w'), (5, 'v')")
        .await
        .unwrap();
    let (_, ran) = fetch(&mut admin, ".run continuous-export E").await.unwrap();
    assert_eq!(rows(&ran), 1);
    // Nothing new: a second run reports NoNewData.
    fetch(&mut admin, ".run continuous-export E").await.unwrap();
    // Ten seconds after the exported data was ingested.
    f.clock.advance(chrono::Duration::seconds(10));

    let (status, body) = f.http_get("/metrics").await;
    assert_eq!(status, 200, "{body}");
    for line in [
        "continuous_export_runs_total{name=\"E\",result=\"Completed\"} 1",
        "continuous_export_runs_total{name=\"E\",result=\"NoNewData\"} 1",
        "continuous_export_lateness_seconds{name=\"E\"} 10",
        "continuous_export_max_lateness_seconds 10",
        "continuous_export_rows_total{name=\"E\"} 2",
        "continuous_export_run_duration_seconds_count{name=\"E\"} 2",
        "table_rows{table=\"T\"} 5",
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "missing {line:?} in\n{body}"
        );
    }
    assert!(
        body.contains("flight_sql_requests_total{code=\"OK\",method=\"GetFlightInfo\"}"),
        "{body}"
    );
    assert_eq!(f.http_get("/healthz").await.0, 200);
    assert_eq!(f.http_get("/readyz").await.0, 200);
    assert_eq!(f.http_get("/nope").await.0, 404);
}

#[tokio::test]
async fn without_users_only_loopback() {
    let engine = Arc::new(Engine::in_memory().await.unwrap());
    let config = ServerConfig::new("0.0.0.0:0".parse().unwrap());
    let refused = FlightServer::bind(engine, config, Metrics::new().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("users file") && refused.contains("loopback"),
        "{refused}"
    );
}

/// `dfexport serve` as a user starts it: the continuous-export scheduler, Flight SQL
/// and metrics in one process. Commands sent over Flight SQL run, the scheduler's runs
/// show in `/metrics`, and SIGTERM drains and stops it cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dfexport_serve_listens_and_stops_on_sigterm() {
    use tokio::io::AsyncBufReadExt;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_dfexport"))
        .args([
            "--db",
            db.to_str().unwrap(),
            "serve",
            "--poll-interval",
            "100ms",
        ])
        .args(["--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut flight, mut metrics) = (None, None);
    while flight.is_none() || metrics.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("serve says where it listens within a minute")
            .unwrap()
            .expect("serve prints where it listens");
        if let Some(addr) = line.strip_prefix("dfexport: Flight SQL on grpc://") {
            flight = Some(addr.to_string());
        }
        if let Some(addr) = line.strip_prefix("dfexport: metrics on http://") {
            let addr = addr.trim_end_matches("/metrics");
            metrics = Some(addr.parse::<std::net::SocketAddr>().unwrap());
        }
    }
    let channel = Endpoint::from_shared(format!("http://{}", flight.unwrap()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    // Without a users file the service listens on loopback only, and every caller is
    // an admin.
    let mut client = FlightSqlServiceClient::new(channel);
    let out = dir.path().join("out");
    for statement in [
        ".create table T (a:long, s:string)".to_string(),
        format!(
            ".create external table X (a:long, s:string) kind=storage dataformat=csv ('{}')",
            out.display()
        ),
        ".create-or-alter continuous-export E over (T) to table X with (intervalBetweenRuns=1s) <| T"
            .to_string(),
        "INSERT INTO T VALUES (1, 'x'), (2, 'y')".to_string(),
    ] {
        fetch(&mut client, &statement).await.unwrap();
    }
    // The scheduler exports the two rows; its run is counted where Prometheus reads.
    let metrics = metrics.unwrap();
    let wanted = "continuous_export_rows_total{name=\"E\"} 2";
    let started = std::time::Instant::now();
    loop {
        let (status, body) = http_get(metrics, "/metrics").await;
        assert_eq!(status, 200);
        if body.contains(wanted) {
            assert!(
                body.contains("continuous_export_runs_total{name=\"E\",result=\"Completed\"}"),
                "{body}"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no scheduled run in a minute:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, counted) = fetch(&mut client, "external_table('X') | count")
        .await
        .unwrap();
    let count = datafusion::arrow::array::AsArray::as_primitive::<
        datafusion::arrow::datatypes::Int64Type,
    >(counted[0].column(0))
    .value(0);
    assert_eq!(count, 2);
    let (_, artifacts) = fetch(&mut client, ".show continuous-export E exported-artifacts")
        .await
        .unwrap();
    assert_eq!(rows(&artifacts), 1);

    // SIGTERM: requests and runs in flight finish, then the process exits cleanly.
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("serve stops within a minute of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    let mut rest = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        rest.push(line);
    }
    assert!(
        rest.iter().any(|l| l.contains("scheduler stopped")),
        "{rest:?}"
    );
}

/// The service through ADBC's Flight SQL driver from Python, as pipelines (Airflow,
/// pandas, notebooks) reach it: `server/tests/adbc/test_adbc.py`, run with pytest
/// against this server. `./test.sh` installs `adbc-driver-flightsql` and
/// `adbc-driver-manager` from PyPI.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn python_adbc_clients() {
    let f = Fixture::start().await;
    seed(&f.engine).await;
    // A session token that the clock then makes stale.
    let expired = f.admin().await.token().unwrap().clone();
    f.clock
        .advance(chrono::Duration::from_std(TOKEN_TTL).unwrap() + chrono::Duration::seconds(1));
    let out = f.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/adbc/test_adbc.py");
    let probe = tokio::process::Command::new("python3")
        .args([
            "-c",
            "import adbc_driver_flightsql, adbc_driver_manager, pytest",
        ])
        .output()
        .await
        .expect("python3 runs");
    assert!(
        probe.status.success(),
        "the ADBC tests need Python with adbc-driver-flightsql, adbc-driver-manager and \
         pytest: run ./test.sh, which installs them\n{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    // pytest's report goes to a file, so that a hang still shows how far it got.
    let log_path = f.dir.path().join("pytest.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut pytest = tokio::process::Command::new("python3")
        .args(["-m", "pytest", "-v", "-x", "-p", "no:cacheprovider", script])
        .env("DFEXPORT_FLIGHT_URI", format!("grpc://{}", f.addr))
        .env("DFEXPORT_BIN", env!("CARGO_BIN_EXE_dfexport"))
        .env("DFEXPORT_DB", f.dir.path().join("db"))
        .env("DFEXPORT_OUT", &out)
        .env("DFEXPORT_API_TOKEN", &f.api_token)
        .env("DFEXPORT_EXPIRED_TOKEN", expired)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(600), pytest.wait()).await;
    let report = std::fs::read_to_string(&log_path).unwrap_or_default();
    let status = status
        .unwrap_or_else(|_| panic!("the ADBC tests did not end within ten minutes:\n{report}"))
        .unwrap();
    assert!(status.success(), "ADBC tests failed:\n{report}");
}

/// `--tls-cert/--tls-key`: the service speaks TLS only; Arrow's Rust client and ADBC
/// trusting the certificate query it, and a plaintext client gets nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_trusting_clients_only() {
    use datafusion_export_server::TlsConfig;
    use tonic::transport::{Certificate, ClientTlsConfig};

    let dir = tempfile::tempdir().unwrap();
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert_pem = certified.cert.pem();
    let cert = dir.path().join("server.pem");
    let key = dir.path().join("server.key");
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();

    let engine = Arc::new(
        Engine::open(dir.path().join("db").to_str().unwrap())
            .await
            .unwrap(),
    );
    seed(&engine).await;
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    config.tls = Some(TlsConfig { cert, key });
    let server = FlightServer::bind(engine, config, Metrics::new().unwrap())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async {
        stopped.await.ok();
    }));

    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&cert_pem))
        .domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = FlightSqlServiceClient::new(channel);
    let (_, batches) = fetch(&mut client, "SELECT * FROM T").await.unwrap();
    assert_eq!(rows(&batches), 3);

    // Plaintext gRPC against the TLS port fails, and the server keeps serving.
    let plain = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    assert!(FlightSqlServiceClient::new(plain)
        .execute("SELECT 1".into(), None)
        .await
        .is_err());

    // ADBC over grpc+tls, trusting the certificate.
    let adbc = tokio::process::Command::new("python3")
        .args([
            "-c",
            "import os, adbc_driver_flightsql.dbapi as f\n\
             conn = f.connect(os.environ['URI'], db_kwargs={\n\
             'adbc.flight.sql.client_option.tls_root_certs': os.environ['CA'],\n\
             'adbc.flight.sql.client_option.tls_override_hostname': 'localhost'}, autocommit=True)\n\
             cur = conn.cursor(); cur.execute('SELECT count(*) AS n FROM T')\n\
             print(cur.fetch_arrow_table().column(0)[0].as_py())",
        ])
        .env("URI", format!("grpc+tls://{addr}"))
        .env("CA", &cert_pem)
        .output()
        .await
        .unwrap();
    assert!(
        adbc.status.success(),
        "ADBC over TLS: {}",
        String::from_utf8_lossy(&adbc.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&adbc.stdout).trim(), "3");

    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
}

/// `dfexport-users` makes the users file a server signs callers in with: a user whose
/// password came on standard input, an API token printed once.
#[tokio::test]
async fn the_users_file_comes_from_dfexport_users() {
    use std::io::Write;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.json");
    let users = |args: &[&str], stdin: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dfexport-users"))
            .arg("--file")
            .arg(&file)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, _, said) = users(&["set-user", "alice", "--role", "admin"], "wonderland\n");
    assert!(ok, "{said}");
    let (ok, token, said) = users(&["add-token", "airflow", "--role", "viewer"], "");
    assert!(ok, "{said}");
    let token = token.trim().to_string();
    let (ok, _, said) = users(&["set-user", "bob", "--role", "king"], "password1\n");
    assert!(!ok && said.contains("unknown role 'king'"), "{said}");
    let (ok, _, said) = users(&["set-user", "bob", "--role", "viewer"], "");
    assert!(!ok && said.contains("no password"), "{said}");
    let (ok, listed, _) = users(&["list"], "");
    assert!(ok);
    assert_eq!(listed, "user\talice\tadmin\napi-token\tairflow\tviewer\n");
    let stored = std::fs::read_to_string(&file).unwrap();
    assert!(!stored.contains("wonderland") && !stored.contains(&token));

    let engine = Arc::new(
        Engine::open(dir.path().join("db").to_str().unwrap())
            .await
            .unwrap(),
    );
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    config.users_file = Some(file.clone());
    let server = FlightServer::bind(engine, config, Metrics::new().unwrap())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.serve(async {
        stopped.await.ok();
    }));
    let connect = || async {
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        FlightSqlServiceClient::new(channel)
    };
    let mut alice = connect().await;
    alice.handshake("alice", "wonderland").await.unwrap();
    fetch(&mut alice, ".create table T (a:long)").await.unwrap();
    let mut airflow = connect().await;
    airflow.set_token(token);
    assert!(fetch(&mut airflow, "SELECT count(*) FROM T").await.is_ok());
    let denied = status(
        airflow
            .execute(".drop table T".into(), None)
            .await
            .unwrap_err(),
    );
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied}");
    stop.send(()).unwrap();
}
