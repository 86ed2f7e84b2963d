//! One run of a continuous export: export the commits `(E, N]` and commit the run.
//!
//! E is the end cursor of the last committed run; N is the newest cursor whose
//! ingestion time is at least `forcedLatency` old. The query is planned with every
//! fact table scoped to `(E, N]` (by swapping in scoped providers, no SQL rewriting)
//! and dimension tables read whole; the artifacts are written by the export sink and
//! the run is committed with one log commit that succeeds only if run R-1 is still
//! the last one. A run that fails leaves E where it was; its files are orphans that
//! no one reports. For a Delta target the data files go in one Delta commit carrying
//! the application transaction (export id, N) — the run's end cursor rather than its
//! number, so that a run finding a version beyond E in the Delta log knows exactly
//! which commits landed, and only records the run.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use datafusion_export_tables::{Database, TablesError};
use datafusion_export_udfs::{Cursor, CursorRange};
use uuid::Uuid;

use crate::command::ExternalTableKind;
use crate::continuous::definition::{
    self, put_action, run_action, ContinuousExport, Failure, RunArtifact, RunRecord, MAX_FAILURES,
};
use crate::continuous::Exporter;
use crate::error::{ExportError, Result};
use crate::export::attempts::{self, ExportAttempt};
use crate::export::delta::{DeltaTarget, DeltaTxn};
use crate::export::external_table;
use crate::export::to_table::{
    conform_frame, delete_artifacts, delete_attempt_files, export_to_table,
};

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The export.
    pub name: String,
    /// The committed run number, or `None` when there was nothing new.
    pub run: Option<u64>,
    /// Commits exported: `(from, to]`.
    pub from_cursor: u64,
    /// See `from_cursor`.
    pub to_cursor: u64,
    /// The artifacts reported.
    pub artifacts: Vec<RunArtifact>,
}

/// A failed run, and whether retrying can help.
#[derive(Debug)]
pub struct RunError {
    /// The error.
    pub error: ExportError,
    /// True for failures that need someone to change something (missing external
    /// table, schema mismatch).
    pub permanent: bool,
}

impl RunError {
    fn permanent(error: ExportError) -> Self {
        RunError {
            error,
            permanent: true,
        }
    }
}

impl From<ExportError> for RunError {
    fn from(error: ExportError) -> Self {
        RunError {
            error,
            permanent: false,
        }
    }
}

impl From<TablesError> for RunError {
    fn from(e: TablesError) -> Self {
        ExportError::from(e).into()
    }
}

impl From<datafusion::error::DataFusionError> for RunError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        ExportError::from(e).into()
    }
}

/// The end cursor N of a run that starts after `after`: the newest commit that
/// ingested into one of `facts` and is older than `cutoff` — along with every commit
/// before it, since ingestion times never go backwards along the log. Commits that
/// add no fact data (catalog changes, run records, dimension ingestions) never start
/// a run on their own, so an idle export stays idle.
pub fn pick_end(db: &Database, facts: &[String], after: u64, cutoff: Option<DateTime<Utc>>) -> u64 {
    let state = db.state();
    let newer = |name: &String| {
        state
            .tables
            .get(name)
            .map(|t| t.extents_in(&CursorRange::after(Cursor::new(after))))
            .unwrap_or(&[])
    };
    // Commits at or after the first young one wait for a later run.
    let limit = cutoff
        .and_then(|cutoff| {
            state
                .tables
                .values()
                .filter_map(|t| {
                    let newer = t.extents_in(&CursorRange::after(Cursor::new(after)));
                    newer
                        .get(newer.partition_point(|e| e.ingestion_time <= cutoff))
                        .map(|e| e.cursor)
                })
                .min()
        })
        .map_or(state.version, |first_young| first_young.saturating_sub(1));
    facts
        .iter()
        .filter_map(|name| {
            let newer = newer(name);
            newer[..newer.partition_point(|e| e.cursor <= limit)]
                .last()
                .map(|e| e.cursor)
        })
        .max()
        .unwrap_or(after)
        .max(after)
}

/// Runs `name` once, now, as the scheduler would; records a failure if it fails.
pub async fn run_once(exporter: &Exporter, name: &str) -> Result<RunOutcome> {
    let db = exporter.database();
    let now = db.options().clock.now();
    let export = definition::load(db, name).await?;
    let _running = exporter.continuous_state().start_running(name)?;
    match attempt(exporter, &export, now).await {
        Ok(outcome) => Ok(outcome),
        Err(failure) => {
            let error = failure.error.scrubbed(&[]);
            let details = error.to_string();
            if let Err(e) = record_failure(exporter, name, now, &details, failure.permanent).await {
                log::warn!("continuous export {name}: failure not recorded: {e}");
            }
            Err(error)
        }
    }
}

async fn attempt(
    exporter: &Exporter,
    export: &ContinuousExport,
    now: DateTime<Utc>,
) -> std::result::Result<RunOutcome, RunError> {
    let db = exporter.database();
    db.refresh().await?;
    let from = export.export_cursor;
    // A latency longer than the calendar goes back means nothing is old enough yet.
    let cutoff = export.forced_latency.map(|d| {
        chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    });
    let to = pick_end(db, &export.cursor_scoped_tables, from, cutoff);
    let nothing = RunOutcome {
        name: export.name.clone(),
        run: None,
        from_cursor: from,
        to_cursor: from,
        artifacts: Vec::new(),
    };
    if to <= from {
        return Ok(nothing);
    }
    let table = external_table::load(db, &export.external_table)
        .await
        .map_err(RunError::permanent)?;
    let run = export.last_run + 1;
    let app_id = export.id.to_string();

    if table.def.kind == ExternalTableKind::Delta {
        let url = table.def.urls.first().ok_or_else(|| {
            RunError::permanent(ExportError::Invalid(
                "the Delta external table has no URL".into(),
            ))
        })?;
        let target = DeltaTarget::new_in(
            url.expose(),
            external_table::storage_map(&db.options().storage_options),
            Some(exporter.context().runtime_env().as_ref()),
        )?;
        if let Some(version) = target.app_transaction_version(&app_id).await? {
            let landed = u64::try_from(version).unwrap_or(0);
            if landed > from {
                // The Delta commit of this run (commits `(from, landed]`) landed but
                // its record did not: record it now, with the files that commit
                // added, without exporting again.
                let shown = url.redacted().trim_end_matches('/').to_string();
                let artifacts = target
                    .transaction_files(&app_id, version)
                    .await?
                    .unwrap_or_default()
                    .into_iter()
                    .map(|file| RunArtifact {
                        path: format!("{shown}/{}", file.path),
                        num_records: file.num_records,
                        size: file.size,
                    })
                    .collect();
                let record = RunRecord {
                    run,
                    from_cursor: from,
                    to_cursor: landed,
                    timestamp: now,
                    artifacts,
                };
                commit_run(db, export, &record, None).await?;
                return Ok(RunOutcome {
                    run: Some(run),
                    to_cursor: landed,
                    artifacts: record.artifacts,
                    ..nothing
                });
            }
        }
    }

    let scopes: HashMap<String, CursorRange> = export
        .cursor_scoped_tables
        .iter()
        .map(|t| {
            (
                t.clone(),
                CursorRange::between(Cursor::new(from), Cursor::new(to)),
            )
        })
        .collect();
    let ctx = exporter.scoped_context(scopes);
    let plan = crate::query::plan_query_body(&ctx.state(), &export.query).await?;
    let frame = ctx.execute_logical_plan(plan).await?;
    let frame = conform_frame(frame, &table).map_err(RunError::permanent)?;
    // The transaction's version is the run's end cursor: it grows run after run, as
    // Delta requires, and tells a recovery run exactly which commits landed. The table
    // takes it only if no run starting at `from` (this one or an overlapping runner's,
    // whatever its end cursor) is in it yet.
    let txn = (table.def.kind == ExternalTableKind::Delta)
        .then(|| {
            Ok::<_, RunError>(DeltaTxn::new(
                app_id.clone(),
                cursor_i64(from)?,
                cursor_i64(to)?,
            ))
        })
        .transpose()?;
    let task = frame.task_ctx();
    // A storage target's files are visible to every reader of the folder: the attempt
    // is recorded before it writes one, so that what a killed run leaves is found and
    // deleted by a later run. (A Delta table shows only the files its log adds.)
    let attempt = ExportAttempt {
        attempt: Uuid::new_v4(),
        external_table: table.def.name.clone(),
        owner: export.name.clone(),
        owner_id: export.id,
        from_cursor: from,
        started: now,
    };
    let recorded = table.def.kind == ExternalTableKind::Storage;
    if recorded {
        let action = attempt.put_action()?;
        db.commit(|_| Ok(vec![action.clone()])).await?;
    }
    let written = export_to_table(
        &table,
        frame,
        &export.export_properties,
        txn,
        attempt.attempt,
        exporter.progress(),
    )
    .await;
    let artifacts = match written {
        Ok(artifacts) => artifacts,
        Err(e) => {
            // Its finished files are deleted already; so goes its record.
            if recorded {
                forget_attempts(db, &export.name, &[attempt.attempt]).await;
            }
            return Err(e.into());
        }
    };
    let record = RunRecord {
        run,
        from_cursor: from,
        to_cursor: to,
        timestamp: now,
        artifacts: artifacts.iter().map(RunArtifact::from).collect(),
    };
    let committed = commit_run(db, export, &record, recorded.then_some(attempt.attempt)).await;
    if let Err(e) = committed {
        // A stale run was refused before anything was committed: its files are
        // orphans that nothing will report, so they go. (A Delta run's files are in the
        // Delta commit, which a later run records.) After an ambiguous failure the run
        // may have committed: its files and record stay, and a later run decides.
        let refused = matches!(&e, ExportError::Tables(TablesError::Conflict(_)));
        if refused && recorded {
            match delete_artifacts(&table, &artifacts, &task).await {
                Ok(()) => forget_attempts(db, &export.name, &[attempt.attempt]).await,
                Err(d) => log::warn!(
                    "continuous export {}: orphans not deleted: {d}",
                    export.name
                ),
            }
        }
        return Err(e.into());
    }
    if let Err(e) = clean_stale_attempts(exporter, &export.name).await {
        log::warn!(
            "continuous export {}: files of failed attempts not deleted yet: {e}",
            export.name
        );
    }
    Ok(RunOutcome {
        run: Some(run),
        to_cursor: to,
        artifacts: record.artifacts,
        ..nothing
    })
}

fn cursor_i64(cursor: u64) -> std::result::Result<i64, RunError> {
    i64::try_from(cursor).map_err(|_| {
        RunError::permanent(ExportError::Invalid(format!(
            "cursor {cursor} does not fit a Delta transaction version"
        )))
    })
}

/// Commits run `record.run` of `export` if the export is still the one the run was
/// planned from and nothing was committed since: same identity (not dropped and
/// re-created), same query and target (not altered), run `record.run - 1` the last
/// one and its end cursor the run's start. Otherwise the run is stale: its files are
/// orphans that no one reports, and the next run exports from the committed cursor.
async fn commit_run(
    db: &Database,
    export: &ContinuousExport,
    record: &RunRecord,
    attempt: Option<Uuid>,
) -> Result<()> {
    let name = export.name.as_str();
    db.commit(|state| {
        let current = definition::from_state(state, name).map_err(|e| {
            TablesError::Conflict(format!(
                "continuous export '{name}' was dropped while run {} was in flight; the \
                 run's files are orphans and are not reported ({e})",
                record.run
            ))
        })?;
        let stale = |why: &str| {
            TablesError::Conflict(format!(
                "continuous export '{name}': run {} (commits ({}, {}]) is stale: {why}; its \
                 files are orphans and are not reported, and the next run exports from cursor \
                 {}",
                record.run, record.from_cursor, record.to_cursor, current.export_cursor
            ))
        };
        if current.id != export.id {
            return Err(stale("the export was dropped and re-created while it ran"));
        }
        if current.last_run + 1 != record.run || current.export_cursor != record.from_cursor {
            return Err(stale(&format!(
                "run {} was already committed by another runner",
                current.last_run
            )));
        }
        if !same_output(&current, export) {
            return Err(stale(
                "the export's query or target was altered while it ran",
            ));
        }
        let mut updated = current;
        updated.last_run = record.run;
        updated.export_cursor = record.to_cursor;
        updated.last_run_time = Some(record.timestamp);
        updated.last_success_time = Some(record.timestamp);
        updated.last_run_result = Some("Completed".into());
        updated.permanent_failure_since = None;
        let put = put_action(&updated).map_err(|e| TablesError::Conflict(e.to_string()))?;
        let run = run_action(state, &updated, record)
            .map_err(|e| TablesError::Conflict(e.to_string()))?;
        let mut actions = vec![put, run];
        // The attempt committed: its files are the run's, nothing to clean.
        actions.extend(attempts::drop_actions(state, name, attempt.as_slice()));
        Ok(actions)
    })
    .await?;
    Ok(())
}

/// Drops the records of `attempts` of export `name` that are still there. Best effort:
/// a record left behind only makes a later run look for files that are gone.
async fn forget_attempts(db: &Database, name: &str, ids: &[Uuid]) {
    let dropped = db
        .commit(|state| Ok(attempts::drop_actions(state, name, ids)))
        .await;
    if let Err(e) = dropped {
        log::warn!("continuous export {name}: attempt records not dropped: {e}");
    }
}

/// Deletes the files of export `name`'s attempts that can never commit (they started
/// from a cursor the export has moved past, or belong to a dropped export of the same
/// name), then their records. Runs after a committed run; only attempts that left a
/// record (killed, or whose cleanup failed) have anything to delete.
async fn clean_stale_attempts(exporter: &Exporter, name: &str) -> Result<()> {
    let db = exporter.database();
    let (stale, current) = {
        let state = db.state();
        let current = definition::from_state(&state, name)?;
        let stale: Vec<ExportAttempt> = attempts::of_owner(&state, name)?
            .into_iter()
            .filter(|a| a.owner_id != current.id || a.from_cursor < current.export_cursor)
            .collect();
        (stale, current)
    };
    if stale.is_empty() {
        return Ok(());
    }
    let task = exporter.context().task_ctx();
    // One listing per table, whatever the number of attempts.
    let mut by_table: HashMap<&str, Vec<Uuid>> = HashMap::new();
    for attempt in &stale {
        by_table
            .entry(attempt.external_table.as_str())
            .or_default()
            .push(attempt.attempt);
    }
    for (name, attempts) in by_table {
        let table = match external_table::load(db, name).await {
            Ok(table) => table,
            // The table is gone: there is no folder to clean.
            Err(_) => continue,
        };
        delete_attempt_files(&table, &attempts, &task).await?;
    }
    let ids: Vec<Uuid> = stale.iter().map(|a| a.attempt).collect();
    forget_attempts(db, &current.name, &ids).await;
    Ok(())
}

/// Whether two versions of a definition export the same rows to the same place.
fn same_output(a: &ContinuousExport, b: &ContinuousExport) -> bool {
    a.query == b.query
        && a.external_table == b.external_table
        && a.over == b.over
        && a.cursor_scoped_tables == b.cursor_scoped_tables
        && a.export_properties == b.export_properties
}

async fn record_failure(
    exporter: &Exporter,
    name: &str,
    now: DateTime<Utc>,
    details: &str,
    permanent: bool,
) -> Result<()> {
    let window = exporter
        .continuous_state()
        .settings()
        .permanent_failure_window;
    exporter
        .database()
        .commit(|state| {
            let mut export = definition::from_state(state, name)
                .map_err(|e| TablesError::Conflict(e.to_string()))?;
            export.failures.push(Failure {
                timestamp: now,
                operation_id: Uuid::new_v4(),
                last_success_run: export.last_success_time,
                kind: "Failure".into(),
                is_permanent: permanent,
                details: details.to_string(),
            });
            if export.failures.len() > MAX_FAILURES {
                let excess = export.failures.len() - MAX_FAILURES;
                export.failures.drain(..excess);
            }
            export.last_run_time = Some(now);
            export.last_run_result = Some("Failed".into());
            if permanent {
                let since = *export.permanent_failure_since.get_or_insert(now);
                if chrono::Duration::from_std(window).is_ok_and(|w| now - since > w) {
                    export.is_disabled = true;
                }
            } else {
                export.permanent_failure_since = None;
            }
            Ok(vec![
                put_action(&export).map_err(|e| TablesError::Conflict(e.to_string()))?
            ])
        })
        .await?;
    Ok(())
}
