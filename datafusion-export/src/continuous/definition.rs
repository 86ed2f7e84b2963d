//! A continuous export as stored in the database catalog: its definition and the
//! state its runs advance.

use std::time::Duration;

use chrono::{DateTime, Utc};
use datafusion_export_tables::log::action::Action;
use datafusion_export_tables::{Database, DatabaseState};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog_objects;
use crate::command::{Property, PropertyValue};
use crate::error::{ExportError, Result};
use crate::export::sink_exec::Artifact;

/// The catalog kind of continuous-export definitions.
pub const KIND: &str = "continuous_export";
/// How users call it.
const WHAT: &str = "continuous export";
/// The catalog kind of committed runs (their artifacts), named `<export>/<run>`.
pub const RUN_KIND: &str = "continuous_export_run";

/// Failures kept per export (the newest).
pub const MAX_FAILURES: usize = 100;

/// One failed run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// When.
    pub timestamp: DateTime<Utc>,
    /// The run's operation id.
    pub operation_id: Uuid,
    /// The last successful run before it.
    pub last_success_run: Option<DateTime<Utc>>,
    /// `Failure` or `PartialFailure`.
    pub kind: String,
    /// Whether retrying cannot help until someone changes something.
    pub is_permanent: bool,
    /// The error, secrets removed.
    pub details: String,
}

/// A continuous export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContinuousExport {
    /// Name.
    pub name: String,
    /// Identity: the Delta application-transaction id of its runs.
    pub id: Uuid,
    /// Target external table.
    pub external_table: String,
    /// The SQL query.
    pub query: String,
    /// Fact tables, when `over (…)` was given.
    pub over: Option<Vec<String>>,
    /// The tables scoped to each run's cursor range.
    pub cursor_scoped_tables: Vec<String>,
    /// Export properties handed to the sink (`sizeLimit`, `distribution`, …).
    pub export_properties: Vec<Property>,
    /// Time between runs.
    pub interval: Duration,
    /// Records younger than this are left for a later run.
    pub forced_latency: Option<Duration>,
    /// Whether the scheduler skips it.
    pub is_disabled: bool,
    /// The database cursor when it was created: its first run starts after it.
    pub start_cursor: u64,
    /// When it was created.
    pub created_on: DateTime<Utc>,
    /// Number of the last committed run (0: none yet).
    pub last_run: u64,
    /// The end cursor of the last committed run (`start_cursor` before the first).
    pub export_cursor: u64,
    /// When the last run (successful or not) ended.
    pub last_run_time: Option<DateTime<Utc>>,
    /// When the last successful run ended.
    pub last_success_time: Option<DateTime<Utc>>,
    /// `Completed`, `Failed` or `NoNewData`.
    pub last_run_result: Option<String>,
    /// Since when every run has failed permanently.
    pub permanent_failure_since: Option<DateTime<Utc>>,
    /// The newest failures.
    pub failures: Vec<Failure>,
}

/// A committed run and what it reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run number (1, 2, …).
    pub run: u64,
    /// Exported commits `(from, to]`.
    pub from_cursor: u64,
    /// See `from_cursor`.
    pub to_cursor: u64,
    /// When it was committed.
    pub timestamp: DateTime<Utc>,
    /// Its artifacts.
    pub artifacts: Vec<RunArtifact>,
}

/// An artifact of a committed run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunArtifact {
    /// Location (secrets removed).
    pub path: String,
    /// Records.
    pub num_records: u64,
    /// Bytes stored.
    pub size: u64,
}

impl From<&Artifact> for RunArtifact {
    fn from(a: &Artifact) -> Self {
        RunArtifact {
            path: a.path.clone(),
            num_records: a.num_records,
            size: a.size,
        }
    }
}

/// Properties a continuous export accepts besides the sink's.
const OWN_PROPERTIES: [&str; 3] = ["intervalBetweenRuns", "forcedLatency", "isDisabled"];
/// Sink properties it passes on.
const SINK_PROPERTIES: [&str; 4] = [
    "sizeLimit",
    "distributed",
    "distribution",
    "parquetRowGroupSize",
];

/// The parsed properties of `.create-or-alter continuous-export`.
#[derive(Debug, Clone, PartialEq)]
pub struct ContinuousProperties {
    /// `intervalBetweenRuns` (default 5 minutes; at least 1 second).
    pub interval: Duration,
    /// `forcedLatency`.
    pub forced_latency: Option<Duration>,
    /// `isDisabled`.
    pub is_disabled: Option<bool>,
    /// Passed to the export sink.
    pub export_properties: Vec<Property>,
}

impl ContinuousProperties {
    /// Validates `properties`.
    pub fn parse(properties: &[Property]) -> Result<Self> {
        let mut out = ContinuousProperties {
            interval: Duration::from_secs(300),
            forced_latency: None,
            is_disabled: None,
            export_properties: Vec::new(),
        };
        for p in properties {
            let name = p.name.as_str();
            let is = |n: &str| name.eq_ignore_ascii_case(n);
            if is("intervalBetweenRuns") {
                let d = timespan(p)?;
                if d < Duration::from_secs(1) {
                    return Err(ExportError::property(name, "must be at least 1 second"));
                }
                out.interval = d;
            } else if is("forcedLatency") {
                out.forced_latency = Some(timespan(p)?);
            } else if is("isDisabled") {
                out.is_disabled = Some(
                    p.value
                        .as_bool()
                        .ok_or_else(|| ExportError::property(name, "expected true or false"))?,
                );
            } else if SINK_PROPERTIES.iter().any(|s| is(s)) {
                out.export_properties.push(p.clone());
            } else {
                return Err(ExportError::property(
                    name,
                    format!(
                        "unknown continuous-export property; supported: {}, {}",
                        OWN_PROPERTIES.join(", "),
                        SINK_PROPERTIES.join(", ")
                    ),
                ));
            }
        }
        Ok(out)
    }
}

fn timespan(p: &Property) -> Result<Duration> {
    match &p.value {
        PropertyValue::Integer(_) | PropertyValue::Float(_) => Err(ExportError::property(
            &p.name,
            "expected a timespan such as 10s, 5m, 1h or '00:10:00'",
        )),
        v => v.as_duration().ok_or_else(|| {
            ExportError::property(
                &p.name,
                "expected a timespan such as 10s, 5m, 1h or '00:10:00'",
            )
        }),
    }
}

/// Loads continuous export `name` from `state`.
pub fn from_state(state: &DatabaseState, name: &str) -> Result<ContinuousExport> {
    catalog_objects::get(state, KIND, WHAT, name)
}

/// Loads continuous export `name` from the newest state.
pub async fn load(db: &Database, name: &str) -> Result<ContinuousExport> {
    catalog_objects::load(db, KIND, WHAT, name).await
}

/// Every continuous export.
pub async fn list(db: &Database) -> Result<Vec<ContinuousExport>> {
    catalog_objects::list(db, KIND, WHAT).await
}

/// The committed runs of export `name`, oldest first.
pub fn runs(state: &DatabaseState, name: &str) -> Result<Vec<RunRecord>> {
    catalog_objects::all(
        state,
        RUN_KIND,
        "continuous export run",
        &format!("{name}/"),
    )
}

/// The catalog name of run `run` of export `name` (sorts by run number).
pub fn run_key(name: &str, run: u64) -> String {
    format!("{name}/{run:020}")
}

/// The action storing `export`.
pub fn put_action(export: &ContinuousExport) -> Result<Action> {
    Ok(Action::PutObject {
        kind: KIND.into(),
        name: export.name.clone(),
        body: serde_json::to_value(export).map_err(|e| ExportError::Invalid(e.to_string()))?,
    })
}

/// The action storing a committed run.
pub fn run_action(name: &str, record: &RunRecord) -> Result<Action> {
    Ok(Action::PutObject {
        kind: RUN_KIND.into(),
        name: run_key(name, record.run),
        body: serde_json::to_value(record).map_err(|e| ExportError::Invalid(e.to_string()))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(name: &str, value: PropertyValue) -> Property {
        Property {
            name: name.into(),
            value,
        }
    }

    #[test]
    fn parses_properties() {
        let p = ContinuousProperties::parse(&[
            prop(
                "intervalBetweenRuns",
                PropertyValue::Timespan(Duration::from_secs(10)),
            ),
            prop("forcedLatency", PropertyValue::Identifier("1m".into())),
            prop("sizeLimit", PropertyValue::Integer(104857600)),
        ])
        .unwrap();
        assert_eq!(p.interval, Duration::from_secs(10));
        assert_eq!(p.forced_latency, Some(Duration::from_secs(60)));
        assert_eq!(p.export_properties.len(), 1);
        assert!(ContinuousProperties::parse(&[prop(
            "intervalBetweenRuns",
            PropertyValue::Identifier("100ms".into())
        )])
        .is_err());
        assert!(ContinuousProperties::parse(&[prop("frob", PropertyValue::Bool(true))]).is_err());
        assert!(
            ContinuousProperties::parse(&[prop("forcedLatency", PropertyValue::Integer(5))])
                .is_err()
        );
    }
}
