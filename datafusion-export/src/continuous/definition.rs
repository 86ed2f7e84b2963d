//! A continuous export as stored in the database catalog: its definition and the
//! state its runs advance.

use std::time::Duration;

use chrono::{DateTime, Utc};
use datafusion_export_tables::log::action::Action;
use datafusion_export_tables::{Database, DatabaseState};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog_objects;
use crate::command::{format_timespan, try_parse_timespan, Property, PropertyValue, TimespanError};
use crate::error::{ExportError, Result};
use crate::export::sink_exec::Artifact;

/// The catalog kind of continuous-export definitions.
pub const KIND: &str = "continuous_export";
/// How users call it.
const WHAT: &str = "continuous export";
/// The catalog kind under which versions before record streams kept committed runs,
/// named `<export>/<run>`; still read, never written.
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

/// Shortest `intervalBetweenRuns`.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Longest `intervalBetweenRuns` (365 days).
pub const MAX_INTERVAL: Duration = Duration::from_secs(365 * 86_400);
/// Default `intervalBetweenRuns` (5 minutes).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// Longest `forcedLatency` (365 days): commits older than this are exported.
pub const MAX_FORCED_LATENCY: Duration = Duration::from_secs(365 * 86_400);

/// The parsed properties of `.create-or-alter continuous-export`.
#[derive(Debug, Clone, PartialEq)]
pub struct ContinuousProperties {
    /// `intervalBetweenRuns` (default 5 minutes; 1 second to 365 days).
    pub interval: Duration,
    /// `forcedLatency` (0 to 365 days).
    pub forced_latency: Option<Duration>,
    /// `isDisabled`.
    pub is_disabled: Option<bool>,
    /// Passed to the export sink.
    pub export_properties: Vec<Property>,
}

impl ContinuousProperties {
    /// Validates `properties`: names, types and ranges (see [`MIN_INTERVAL`],
    /// [`MAX_INTERVAL`], [`MAX_FORCED_LATENCY`]).
    pub fn parse(properties: &[Property]) -> Result<Self> {
        let mut out = ContinuousProperties {
            interval: DEFAULT_INTERVAL,
            forced_latency: None,
            is_disabled: None,
            export_properties: Vec::new(),
        };
        let mut seen: Vec<String> = Vec::with_capacity(properties.len());
        for p in properties {
            let name = p.name.as_str();
            let key = name.to_ascii_lowercase();
            if seen.contains(&key) {
                return Err(ExportError::property(name, "is specified more than once"));
            }
            seen.push(key);
            let is = |n: &str| name.eq_ignore_ascii_case(n);
            if is("intervalBetweenRuns") {
                out.interval = timespan(p, MIN_INTERVAL, MAX_INTERVAL)?;
            } else if is("forcedLatency") {
                out.forced_latency = Some(timespan(p, Duration::ZERO, MAX_FORCED_LATENCY)?);
            } else if is("isDisabled") {
                out.is_disabled = Some(
                    p.value
                        .as_bool()
                        .ok_or_else(|| ExportError::property(name, "expected true or false"))?,
                );
            } else if SINK_PROPERTIES.iter().any(|s| is(s)) {
                // Stored in the definition, which holds no secret: credentials
                // belong in the external table's URL, where they are encrypted.
                if matches!(&p.value, crate::command::PropertyValue::String(s) if s.has_secret()) {
                    return Err(ExportError::property(
                        name,
                        "holds a secret; a continuous export's properties are stored in \
                         plaintext: put credentials in the external table's URL, or in the \
                         environment",
                    ));
                }
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

/// A timespan property in `min..=max`, with an error that names the property and
/// the allowed range.
fn timespan(p: &Property, min: Duration, max: Duration) -> Result<Duration> {
    let range = format!(
        "a timespan from {} to {} (e.g. 10s, 5m, 1h or '00:10:00')",
        format_timespan(min),
        format_timespan(max)
    );
    let d = match &p.value {
        PropertyValue::Timespan(d) => *d,
        PropertyValue::String(s) if s.is_obfuscated() => {
            return Err(ExportError::property(&p.name, format!("expected {range}")))
        }
        PropertyValue::String(_) | PropertyValue::Identifier(_) => {
            let text = p.value.as_str().unwrap_or_default();
            match try_parse_timespan(text) {
                Ok(d) => d,
                Err(TimespanError::OutOfRange) => {
                    let shown: String = text.trim().chars().take(40).collect();
                    return Err(ExportError::property(
                        &p.name,
                        format!("'{shown}' is out of range; expected {range}"),
                    ));
                }
                Err(TimespanError::Invalid) => {
                    return Err(ExportError::property(
                        &p.name,
                        format!(
                            "{}; expected {range}",
                            TimespanError::Invalid.describe(text)
                        ),
                    ))
                }
            }
        }
        PropertyValue::Integer(i) => {
            return Err(ExportError::property(
                &p.name,
                format!("{i} has no unit; expected {range}"),
            ))
        }
        PropertyValue::Float(f) => {
            return Err(ExportError::property(
                &p.name,
                format!("{f} has no unit; expected {range}"),
            ))
        }
        PropertyValue::Bool(b) => {
            return Err(ExportError::property(
                &p.name,
                format!("expected {range}, got {b}"),
            ))
        }
    };
    if d < min || d > max {
        return Err(ExportError::property(
            &p.name,
            format!("{} is out of range; expected {range}", format_timespan(d)),
        ));
    }
    Ok(d)
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

/// Which of an export's committed runs to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunPage {
    /// Only runs committed at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only the newest this many runs (of those `since` selects).
    pub newest: Option<u64>,
}

/// The record stream that holds the runs of `export`: named by its identity, so a
/// re-created export of the same name starts a history of its own.
pub fn run_stream(export: &ContinuousExport) -> String {
    format!("continuous_export/{}", export.id.simple())
}

/// The committed runs of `export` that `page` selects, oldest first. Runs live in a
/// record stream of the database, outside its checkpointed state; an export whose
/// first runs were committed by an older version also has those in the catalog.
pub async fn runs(
    db: &Database,
    export: &ContinuousExport,
    page: RunPage,
) -> Result<Vec<RunRecord>> {
    let stream = run_stream(export);
    let head = db.stream_head(&stream).await?.map_or(0, |h| h.seq);
    let from = match page.since {
        Some(since) => db.first_record_since(&stream, since).await?,
        None => 1,
    };
    let from = match page.newest {
        Some(n) => from.max((head + 1).saturating_sub(n)),
        None => from,
    };
    let mut runs: Vec<RunRecord> = db
        .records(&stream, from, head)
        .await?
        .into_iter()
        .map(|r| {
            serde_json::from_value(r.body).map_err(|e| {
                ExportError::Invalid(format!(
                    "run record {} of continuous export '{}' is unreadable: {e}",
                    r.seq, export.name
                ))
            })
        })
        .collect::<Result<_>>()?;
    let shown = runs.len() as u64;
    if page.newest.is_none_or(|n| shown < n) {
        let legacy: Vec<RunRecord> = catalog_objects::all(
            &db.state(),
            RUN_KIND,
            "continuous export run",
            &format!("{}/", export.name),
        )?;
        let mut legacy: Vec<RunRecord> = legacy
            .into_iter()
            .filter(|r| page.since.is_none_or(|s| r.timestamp >= s))
            .collect();
        if let Some(n) = page.newest {
            let keep = (n - shown) as usize;
            legacy.drain(..legacy.len().saturating_sub(keep));
        }
        legacy.append(&mut runs);
        runs = legacy;
    }
    Ok(runs)
}

/// The action storing `export`.
pub fn put_action(export: &ContinuousExport) -> Result<Action> {
    Ok(Action::PutObject {
        kind: KIND.into(),
        name: export.name.clone(),
        body: serde_json::to_value(export).map_err(|e| ExportError::Invalid(e.to_string()))?,
    })
}

/// The action appending a committed run to the history of `export`.
pub fn run_action(
    state: &DatabaseState,
    export: &ContinuousExport,
    record: &RunRecord,
) -> Result<Action> {
    let stream = run_stream(export);
    Ok(Action::AppendRecord {
        seq: state.stream(&stream).map_or(1, |h| h.seq + 1),
        stream,
        body: serde_json::to_value(record).map_err(|e| ExportError::Invalid(e.to_string()))?,
    })
}

/// The action ending the history of `export` (when it is dropped).
pub fn drop_runs_action(export: &ContinuousExport) -> Action {
    Action::DropStream {
        stream: run_stream(export),
    }
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

    fn error(name: &str, value: PropertyValue) -> String {
        ContinuousProperties::parse(&[prop(name, value)])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn timespans_are_range_checked() {
        let days = |n: u64| PropertyValue::Timespan(Duration::from_secs(n * 86_400));
        // Within range, at both ends.
        for (name, value) in [
            ("forcedLatency", days(365)),
            ("forcedLatency", PropertyValue::Timespan(Duration::ZERO)),
            ("intervalBetweenRuns", days(365)),
            (
                "intervalBetweenRuns",
                PropertyValue::Identifier("1s".into()),
            ),
        ] {
            ContinuousProperties::parse(&[prop(name, value)]).unwrap();
        }
        for (name, value, needle) in [
            (
                "forcedLatency",
                days(100_000_000),
                "100000000d is out of range",
            ),
            ("forcedLatency", days(366), "366d is out of range"),
            (
                "forcedLatency",
                PropertyValue::String(crate::command::SecretString::new("100000000d", false)),
                "'100000000d' is out of range",
            ),
            (
                "forcedLatency",
                PropertyValue::String(crate::command::SecretString::new(
                    "99999999999999999999s",
                    false,
                )),
                "'99999999999999999999s' is out of range",
            ),
            (
                "forcedLatency",
                PropertyValue::String(crate::command::SecretString::new("-1.00:00:00", false)),
                "'-1.00:00:00' is not a timespan",
            ),
            (
                "forcedLatency",
                PropertyValue::Identifier("NaN".into()),
                "not a timespan",
            ),
            (
                "forcedLatency",
                PropertyValue::Float(f64::NAN),
                "has no unit",
            ),
            ("intervalBetweenRuns", days(400), "400d is out of range"),
            (
                "intervalBetweenRuns",
                PropertyValue::Timespan(Duration::from_millis(500)),
                "500ms is out of range",
            ),
            ("intervalBetweenRuns", PropertyValue::Bool(true), "got true"),
        ] {
            let e = error(name, value);
            assert!(e.contains(&format!("property '{name}'")), "{e}");
            assert!(e.contains(needle), "{e}");
        }
        let e = error("forcedLatency", days(100_000_000));
        assert!(e.contains("from 0s to 365d"), "{e}");
        let e = error("intervalBetweenRuns", days(400));
        assert!(e.contains("from 1s to 365d"), "{e}");
        // Secrets never show.
        let e = error(
            "forcedLatency",
            PropertyValue::String(crate::command::SecretString::new("TOPSECRET", true)),
        );
        assert!(!e.contains("TOPSECRET"), "{e}");
        // Each property once.
        let e = ContinuousProperties::parse(&[
            prop("forcedLatency", days(1)),
            prop("ForcedLatency", days(2)),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("more than once"), "{e}");
    }
}
