//! The Flight SQL service against the same engine in process, in one run on the same
//! data:
//!
//! - **throughput**: a full scan of a 10M-row table (`SELECT * FROM T`) collected in
//!   process, against ADBC's `fetch_arrow_table` (Python, `adbc-driver-flightsql`) and
//!   Arrow's Rust `FlightSqlServiceClient` over 127.0.0.1;
//! - **latency**: a small query (`T | take 10`), p50/p99 at 1 and 16 concurrent ADBC
//!   clients, against the same query in process.
//!
//! The server runs in this process on 127.0.0.1:0 (no users file, so loopback only);
//! ADBC runs in a child `python3`, which times its own calls (interpreter start-up is
//! not counted).
//!
//! `cargo run --release -p datafusion-export-benches --bin flight_report -- [--rows N] [--reps N]`
//! (needs `python3` with `adbc-driver-flightsql`, `adbc-driver-manager`, `pyarrow`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_flight::sql::client::FlightSqlServiceClient;
use datafusion_export::Engine;
use datafusion_export_benches::{
    database_ingest, fresh_ingest_database, ingest_batches, median, INGEST_TABLE,
};
use datafusion_export_server::{FlightServer, Metrics, ServerConfig};
use futures::TryStreamExt;
use tonic::transport::Endpoint;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SEED: u64 = 0xF11_947;
const SMALL_QUERY: &str = "T | take 10";

/// The ADBC side, in Python: `fetch_arrow_table` of the full scan `reps` times, then
/// the small query from 1 and from 16 threads (one connection each). Prints JSON.
const ADBC_SCRIPT: &str = r#"
import json, os, sys, threading, time
import adbc_driver_flightsql.dbapi as flight_sql

uri, reps, per_client = os.environ["URI"], int(os.environ["REPS"]), int(os.environ["PER_CLIENT"])
full, small = os.environ["FULL"], os.environ["SMALL"]

def connect():
    return flight_sql.connect(uri, autocommit=True)

out = {"full_s": [], "rows": 0}
with connect() as conn:
    for _ in range(reps):
        with conn.cursor() as cur:
            began = time.perf_counter()
            cur.execute(full)
            table = cur.fetch_arrow_table()
            out["full_s"].append(time.perf_counter() - began)
            out["rows"] = table.num_rows
        del table

def latencies(clients):
    samples, errors = [], []
    barrier = threading.Barrier(clients, timeout=120)
    lock = threading.Lock()
    def run():
        try:
            with connect() as conn:
                with conn.cursor() as cur:
                    cur.execute(small); cur.fetch_arrow_table()  # warm the connection
                    barrier.wait()
                    mine = []
                    for _ in range(per_client):
                        began = time.perf_counter()
                        cur.execute(small)
                        cur.fetch_arrow_table()
                        mine.append(time.perf_counter() - began)
                with lock:
                    samples.extend(mine)
        except Exception as e:
            barrier.abort()
            errors.append(repr(e))
    threads = [threading.Thread(target=run) for _ in range(clients)]
    began = time.perf_counter()
    for t in threads: t.start()
    for t in threads: t.join()
    wall = time.perf_counter() - began
    if errors:
        sys.exit("errors: " + "; ".join(errors[:3]))
    return {"samples_s": samples, "wall_s": wall}

out["latency_1"] = latencies(1)
out["latency_16"] = latencies(16)
print(json.dumps(out))
"#;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    let rank = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

fn ms(seconds: f64) -> String {
    format!("{:.2} ms", seconds * 1e3)
}

#[tokio::main]
async fn main() -> datafusion_export_benches::Result<()> {
    let rows = arg("--rows", 10_000_000);
    let reps = arg("--reps", 3);
    let per_client = arg("--per-client", 50);
    let full = format!("SELECT * FROM {INGEST_TABLE}");

    let (_dir, db) = fresh_ingest_database().await?;
    database_ingest(&db, ingest_batches(rows, 65_536, SEED)).await?;
    let engine = Arc::new(Engine::new(db));

    let server = FlightServer::bind(
        Arc::clone(&engine),
        ServerConfig::new("127.0.0.1:0".parse()?),
        Metrics::new()?,
    )
    .await?;
    let addr = server.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async {
        stopped.await.ok();
    }));

    // In process: the baseline.
    let mut in_process = Vec::new();
    for _ in 0..reps {
        let began = Instant::now();
        let batches = engine.execute_collect(&full).await?;
        in_process.push(began.elapsed());
        let got: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(got, rows);
    }
    let mut small_in_process = Vec::new();
    for _ in 0..per_client * 4 {
        let began = Instant::now();
        engine.execute_collect(SMALL_QUERY).await?;
        small_in_process.push(began.elapsed().as_secs_f64());
    }

    // Arrow's Rust client over 127.0.0.1.
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut client = FlightSqlServiceClient::new(channel);
    let mut rust_client = Vec::new();
    for _ in 0..reps {
        let began = Instant::now();
        let info = client.execute(full.clone(), None).await?;
        let mut got = 0;
        for endpoint in info.endpoint {
            let mut stream = client.do_get(endpoint.ticket.expect("ticket")).await?;
            while let Some(batch) = stream.try_next().await? {
                got += batch.num_rows();
            }
        }
        rust_client.push(began.elapsed());
        assert_eq!(got, rows);
    }

    // ADBC from Python.
    let adbc = tokio::process::Command::new("python3")
        .args(["-c", ADBC_SCRIPT])
        .env("URI", format!("grpc://{addr}"))
        .env("REPS", reps.to_string())
        .env("PER_CLIENT", per_client.to_string())
        .env("FULL", &full)
        .env("SMALL", SMALL_QUERY)
        .output()
        .await?;
    if !adbc.status.success() {
        return Err(format!("ADBC: {}", String::from_utf8_lossy(&adbc.stderr)).into());
    }
    let adbc: serde_json::Value = serde_json::from_slice(&adbc.stdout)?;
    assert_eq!(adbc["rows"].as_u64(), Some(rows as u64));
    let seconds = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .expect("an array")
            .iter()
            .map(|x| x.as_f64().expect("a number"))
            .collect()
    };
    let adbc_full = seconds(&adbc["full_s"]);
    let adbc_full = median(
        &adbc_full
            .iter()
            .map(|s| Duration::from_secs_f64(*s))
            .collect::<Vec<_>>(),
    );

    stop.send(()).ok();
    serving.await??;

    let base = median(&in_process).as_secs_f64();
    let mrows = |d: Duration| rows as f64 / d.as_secs_f64() / 1e6;
    println!("## Flight SQL against in process ({rows} rows, median of {reps})");
    println!("| path | time | Mrows/s | vs in process |");
    println!("|---|---|---|---|");
    for (what, d) in [
        (
            "in process (`Engine::execute_collect`)",
            median(&in_process),
        ),
        (
            "Flight SQL, Rust `FlightSqlServiceClient`",
            median(&rust_client),
        ),
        ("Flight SQL, ADBC `fetch_arrow_table`", adbc_full),
    ] {
        println!(
            "| {what} | {:.2} s | {:.1} | ×{:.2} |",
            d.as_secs_f64(),
            mrows(d),
            d.as_secs_f64() / base
        );
    }
    let base_p50 = percentile(&mut small_in_process, 0.5);
    println!();
    println!("## `{SMALL_QUERY}` latency ({per_client} queries a client)");
    println!("| clients | p50 | p99 | queries/s | p50 vs in process |");
    println!("|---|---|---|---|---|");
    println!(
        "| in process, 1 | {} | {} | {:.0} | ×1.00 |",
        ms(base_p50),
        ms(percentile(&mut small_in_process, 0.99)),
        1.0 / base_p50
    );
    for clients in [1, 16] {
        let run = &adbc[format!("latency_{clients}")];
        let mut samples = seconds(&run["samples_s"]);
        let wall = run["wall_s"].as_f64().expect("wall");
        let p50 = percentile(&mut samples, 0.5);
        println!(
            "| ADBC, {clients} | {} | {} | {:.0} | ×{:.2} |",
            ms(p50),
            ms(percentile(&mut samples, 0.99)),
            samples.len() as f64 / wall,
            p50 / base_p50
        );
    }
    Ok(())
}
