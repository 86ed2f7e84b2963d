//! Prometheus metrics: continuous-export lateness and runs, what they exported, the
//! database's ingestion, and the Flight SQL requests.
//!
//! Lateness and the database gauges are read from the database when scraped
//! ([`Metrics::render`]), so they are right whichever process ran the exports. Runs
//! are counted where they happen: `.run continuous-export` through this server counts
//! itself, and the process's scheduler reports each run with [`Metrics::observe_run`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::TimestampNanosecondType;
use datafusion_export::continuous::definition;
use datafusion_export::continuous::run::RunOutcome;
use datafusion_export::Engine;
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

use crate::error::{Result, ServerError};

/// `result` label of a run that committed artifacts.
pub const COMPLETED: &str = "Completed";
/// `result` label of a run that found nothing new.
pub const NO_NEW_DATA: &str = "NoNewData";
/// `result` label of a failed run.
pub const FAILED: &str = "Failed";

/// The registry and every metric of the process.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    lateness: GaugeVec,
    max_lateness: Gauge,
    disabled: IntGaugeVec,
    runs: IntCounterVec,
    run_duration: HistogramVec,
    rows: IntCounterVec,
    bytes: IntCounterVec,
    artifacts: IntCounterVec,
    database_cursor: IntGauge,
    table_rows: IntGaugeVec,
    table_extents: IntGaugeVec,
    requests: IntCounterVec,
    request_duration: HistogramVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn prom(e: prometheus::Error) -> ServerError {
    ServerError::Config(format!("metrics: {e}"))
}

impl Metrics {
    /// A registry with every metric registered.
    pub fn new() -> Result<Self> {
        let registry = Registry::new();
        let lateness = GaugeVec::new(
            Opts::new(
                "continuous_export_lateness_seconds",
                "Now minus ExportedTo (the ingestion time of the newest exported data; the \
                 export's creation time before its first export)",
            ),
            &["name"],
        )
        .map_err(prom)?;
        let max_lateness = Gauge::new(
            "continuous_export_max_lateness_seconds",
            "The largest continuous_export_lateness_seconds of the enabled exports",
        )
        .map_err(prom)?;
        let disabled = IntGaugeVec::new(
            Opts::new(
                "continuous_export_disabled",
                "1 when the export is disabled",
            ),
            &["name"],
        )
        .map_err(prom)?;
        let runs = IntCounterVec::new(
            Opts::new(
                "continuous_export_runs_total",
                "Continuous-export runs in this process, by result (Completed, NoNewData, Failed)",
            ),
            &["name", "result"],
        )
        .map_err(prom)?;
        let run_duration = HistogramVec::new(
            HistogramOpts::new(
                "continuous_export_run_duration_seconds",
                "How long continuous-export runs took",
            )
            .buckets(vec![
                0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
            ]),
            &["name"],
        )
        .map_err(prom)?;
        let counter = |name: &str, help: &str| {
            IntCounterVec::new(Opts::new(name, help), &["name"]).map_err(prom)
        };
        let rows = counter(
            "continuous_export_rows_total",
            "Rows exported by committed runs",
        )?;
        let bytes = counter(
            "continuous_export_bytes_total",
            "Bytes of artifacts written by committed runs",
        )?;
        let artifacts = counter(
            "continuous_export_artifacts_total",
            "Artifacts written by committed runs",
        )?;
        let database_cursor = IntGauge::new(
            "database_cursor",
            "The newest commit of the database log (every ingestion is one commit)",
        )
        .map_err(prom)?;
        let table_rows = IntGaugeVec::new(
            Opts::new("table_rows", "Rows in the table's extents"),
            &["table"],
        )
        .map_err(prom)?;
        let table_extents = IntGaugeVec::new(
            Opts::new("table_extents", "Extents of the table"),
            &["table"],
        )
        .map_err(prom)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "flight_sql_requests_total",
                "Flight SQL requests by method and gRPC status code",
            ),
            &["method", "code"],
        )
        .map_err(prom)?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "flight_sql_request_duration_seconds",
                "Time to answer a Flight SQL request (for DoGet, to start the stream)",
            ),
            &["method"],
        )
        .map_err(prom)?;
        for c in [
            Box::new(lateness.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(max_lateness.clone()),
            Box::new(disabled.clone()),
            Box::new(runs.clone()),
            Box::new(run_duration.clone()),
            Box::new(rows.clone()),
            Box::new(bytes.clone()),
            Box::new(artifacts.clone()),
            Box::new(database_cursor.clone()),
            Box::new(table_rows.clone()),
            Box::new(table_extents.clone()),
            Box::new(requests.clone()),
            Box::new(request_duration.clone()),
        ] {
            registry.register(c).map_err(prom)?;
        }
        Ok(Self {
            registry,
            lateness,
            max_lateness,
            disabled,
            runs,
            run_duration,
            rows,
            bytes,
            artifacts,
            database_cursor,
            table_rows,
            table_extents,
            requests,
            request_duration,
        })
    }

    /// The registry, to add the embedding program's own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts one continuous-export run of `name`: what [`Scheduler::tick_timed`]
    /// returns for each run.
    ///
    /// [`Scheduler::tick_timed`]: datafusion_export::continuous::scheduler::Scheduler::tick_timed
    pub fn observe_run<E>(&self, name: &str, outcome: &Result<RunOutcome, E>, took: Duration) {
        let result = match outcome {
            Ok(o) if o.run.is_some() => COMPLETED,
            Ok(_) => NO_NEW_DATA,
            Err(_) => FAILED,
        };
        self.runs.with_label_values(&[name, result]).inc();
        self.run_duration
            .with_label_values(&[name])
            .observe(took.as_secs_f64());
        if let Ok(outcome) = outcome {
            let rows = outcome.artifacts.iter().map(|a| a.num_records).sum();
            let bytes = outcome.artifacts.iter().map(|a| a.size).sum();
            self.rows.with_label_values(&[name]).inc_by(rows);
            self.bytes.with_label_values(&[name]).inc_by(bytes);
            self.artifacts
                .with_label_values(&[name])
                .inc_by(outcome.artifacts.len() as u64);
        }
    }

    /// Counts one Flight SQL request.
    pub(crate) fn observe_request(&self, method: &str, code: tonic::Code, took: Duration) {
        self.requests
            .with_label_values(&[method, code_name(code)])
            .inc();
        self.request_duration
            .with_label_values(&[method])
            .observe(took.as_secs_f64());
    }

    /// Refreshes the gauges read from the database and renders every metric in
    /// Prometheus's text format.
    pub async fn render(&self, engine: &Engine) -> Result<String> {
        self.refresh(engine).await?;
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .map_err(prom)?;
        String::from_utf8(out).map_err(|e| ServerError::Config(format!("metrics: {e}")))
    }

    async fn refresh(&self, engine: &Engine) -> Result<()> {
        let db = engine.database();
        // Other processes (a scheduler, a cron `.run`) commit too.
        db.refresh()
            .await
            .map_err(datafusion_export::ExportError::from)?;
        let now = db.options().clock.now();
        let state = db.state();
        self.database_cursor
            .set(i64::try_from(state.version).unwrap_or(i64::MAX));
        self.table_rows.reset();
        self.table_extents.reset();
        for (name, table) in &state.tables {
            let rows: u64 = table.extents.iter().map(|e| e.file.rows).sum();
            self.table_rows
                .with_label_values(&[name.as_str()])
                .set(i64::try_from(rows).unwrap_or(i64::MAX));
            self.table_extents
                .with_label_values(&[name.as_str()])
                .set(table.extents.len() as i64);
        }

        // ExportedTo as `.show continuous-exports` computes it: one definition of it.
        let shown = engine.execute_collect(".show continuous-exports").await?;
        let exported_to = exported_to(&shown);
        self.lateness.reset();
        self.disabled.reset();
        let mut max = 0f64;
        for export in definition::list(db).await? {
            let since = exported_to
                .iter()
                .find(|(n, _)| *n == export.name)
                .and_then(|(_, t)| *t)
                .unwrap_or(export.created_on);
            let lateness = (now - since).num_milliseconds().max(0) as f64 / 1000.0;
            self.lateness
                .with_label_values(&[export.name.as_str()])
                .set(lateness);
            self.disabled
                .with_label_values(&[export.name.as_str()])
                .set(i64::from(export.is_disabled));
            if !export.is_disabled {
                max = max.max(lateness);
            }
        }
        self.max_lateness.set(max);
        Ok(())
    }
}

/// `(Name, ExportedTo)` of each row of `.show continuous-exports`.
fn exported_to(batches: &[RecordBatch]) -> Vec<(String, Option<DateTime<Utc>>)> {
    let mut out = Vec::new();
    for batch in batches {
        let (Some(names), Some(times)) = (
            batch.column_by_name("Name"),
            batch.column_by_name("ExportedTo"),
        ) else {
            continue;
        };
        let (Some(names), Some(times)) = (
            names.as_string_opt::<i32>(),
            times.as_primitive_opt::<TimestampNanosecondType>(),
        ) else {
            continue;
        };
        for i in 0..batch.num_rows() {
            if names.is_null(i) {
                continue;
            }
            let time = times
                .is_valid(i)
                .then(|| DateTime::from_timestamp_nanos(times.value(i)));
            out.push((names.value(i).to_string(), time));
        }
    }
    out
}

fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}
