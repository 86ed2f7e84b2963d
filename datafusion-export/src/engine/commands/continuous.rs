//! Executing the continuous-export commands of DESIGN §6.

use std::collections::BTreeSet;

use chrono::Utc;
use datafusion::arrow::array::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::LogicalPlan;
use datafusion_export_tables::log::action::Action;
use datafusion_export_tables::{IngestionTable, TablesError};
use uuid::Uuid;

use crate::command::{Command, Property, Since};
use crate::continuous::definition::{
    self, put_action, ContinuousExport, ContinuousProperties, RunPage, RUN_KIND,
};
use crate::continuous::run::run_once;
use crate::engine::session::Engine;
use crate::error::{ExportError, Result};
use crate::export::external_table;
use crate::export::to_table::conform_frame;
use crate::results::ResultBuilder;

/// Runs a continuous-export command.
pub async fn execute(engine: &Engine, command: Command) -> Result<RecordBatch> {
    match command {
        Command::CreateOrAlterContinuousExport {
            name,
            over,
            external_table,
            properties,
            query,
        } => create_or_alter(engine, &name, over, &external_table, &properties, &query).await,
        Command::ShowContinuousExports => {
            let exports = definition::list(engine.database()).await?;
            describe(engine, &exports)
        }
        Command::ShowContinuousExport { name } => {
            let export = definition::load(engine.database(), &name).await?;
            describe(engine, &[export])
        }
        Command::ShowExportedArtifacts { name, since, take } => {
            exported_artifacts(engine, &name, since, take).await
        }
        Command::ShowContinuousExportFailures { name } => failures(engine, &name).await,
        Command::EnableContinuousExport { name } => set_disabled(engine, &name, false).await,
        Command::DisableContinuousExport { name } => set_disabled(engine, &name, true).await,
        Command::DropContinuousExport { name, if_exists } => drop(engine, &name, if_exists).await,
        Command::RunContinuousExport { name } => {
            let export = definition::load(engine.database(), &name).await?;
            if export.is_disabled {
                return Err(ExportError::Invalid(format!(
                    "continuous export '{name}' is disabled; `.enable continuous-export {name}` first"
                )));
            }
            let outcome = run_once(&engine.exporter(), &name).await?;
            ResultBuilder::new()
                .strings("Name", [Some(outcome.name.as_str())])
                .longs("Run", [outcome.run.map(|r| r as i64)])
                .strings("FromCursor", [Some(outcome.from_cursor.to_string())])
                .strings("ToCursor", [Some(outcome.to_cursor.to_string())])
                .strings(
                    "Result",
                    [Some(if outcome.run.is_some() {
                        "Completed"
                    } else {
                        "NoNewData"
                    })],
                )
                .longs("NumArtifacts", [Some(outcome.artifacts.len() as i64)])
                .longs(
                    "NumRecords",
                    [Some(
                        outcome.artifacts.iter().map(|a| a.num_records as i64).sum(),
                    )],
                )
                .build()
        }
        other => Err(ExportError::Invalid(format!(
            "not a continuous-export command: {other:?}"
        ))),
    }
}

/// The ingestion-tracked tables a query reads.
async fn tables_read(engine: &Engine, query: &str) -> Result<BTreeSet<String>> {
    let plan = crate::query::plan_query_body(&engine.context().state(), query).await?;
    let plan = engine.context().state().analyzer().execute_and_check(
        plan,
        engine.context().state().config_options(),
        |_, _| {},
    )?;
    let mut tables = BTreeSet::new();
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if let Ok(provider) = source_as_provider(&scan.source) {
                if let Some(t) = provider.downcast_ref::<IngestionTable>() {
                    tables.insert(t.name().to_string());
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(tables)
}

async fn create_or_alter(
    engine: &Engine,
    name: &str,
    over: Option<Vec<String>>,
    external_table_name: &str,
    properties: &[Property],
    query: &str,
) -> Result<RecordBatch> {
    datafusion_export_tables::validate_table_name(name)?;
    let db = engine.database();
    let props = ContinuousProperties::parse(properties)?;
    let table = external_table::load(db, external_table_name).await?;
    // The sink properties must be valid for this target.
    table.export_options(&props.export_properties)?;
    let read = tables_read(engine, query).await?;
    let scoped: Vec<String> = match &over {
        Some(facts) => {
            for f in facts {
                if !db.state().tables.contains_key(f) {
                    return Err(ExportError::Invalid(format!(
                        "over ({f}): '{f}' is not an ingestion-tracked table of this database"
                    )));
                }
                if !read.contains(f) {
                    return Err(ExportError::Invalid(format!(
                        "over ({f}): the query does not read '{f}'"
                    )));
                }
            }
            facts.clone()
        }
        None => read.iter().cloned().collect(),
    };
    if scoped.is_empty() {
        return Err(ExportError::Invalid(
            "a continuous export needs at least one fact table: the query reads no ingestion-tracked table (or `over` lists none)".into(),
        ));
    }
    // The output must match the external table (checked again at every run).
    conform_frame(engine.query_frame(query).await?, &table)?;

    db.refresh().await?;
    let now = db.options().clock.now();
    let start_cursor = db.current_cursor().sequence();
    let name_owned = name.to_string();
    let build = |existing: Option<ContinuousExport>| -> ContinuousExport {
        let base = existing.unwrap_or_else(|| ContinuousExport {
            name: name_owned.clone(),
            id: Uuid::new_v4(),
            external_table: String::new(),
            query: String::new(),
            over: None,
            cursor_scoped_tables: Vec::new(),
            export_properties: Vec::new(),
            interval: props.interval,
            forced_latency: None,
            is_disabled: false,
            start_cursor,
            created_on: now,
            last_run: 0,
            export_cursor: start_cursor,
            last_run_time: None,
            last_success_time: None,
            last_run_result: None,
            permanent_failure_since: None,
            failures: Vec::new(),
        });
        ContinuousExport {
            external_table: external_table_name.to_string(),
            query: query.to_string(),
            over: over.clone(),
            cursor_scoped_tables: scoped.clone(),
            export_properties: props.export_properties.clone(),
            interval: props.interval,
            forced_latency: props.forced_latency,
            is_disabled: props.is_disabled.unwrap_or(base.is_disabled),
            ..base
        }
    };
    db.commit(|state| {
        let existing = definition::from_state(state, name).ok();
        let export = build(existing);
        Ok(vec![
            put_action(&export).map_err(|e| TablesError::Conflict(e.to_string()))?
        ])
    })
    .await?;
    let export = definition::load(db, name).await?;
    describe(engine, &[export])
}

fn describe(engine: &Engine, exports: &[ContinuousExport]) -> Result<RecordBatch> {
    let db = engine.database();
    let state = db.state();
    let exported_to = |e: &ContinuousExport| {
        state
            .tables
            .values()
            .filter_map(|t| {
                let upto = t.extents_in(&datafusion_export_udfs::CursorRange::at_or_before(
                    datafusion_export_udfs::Cursor::new(e.export_cursor),
                ));
                upto.last().map(|x| x.ingestion_time)
            })
            .max()
    };
    let span = |d: &std::time::Duration| {
        let s = d.as_secs();
        format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    };
    let properties = |e: &ContinuousExport| {
        let pairs: serde_json::Map<String, serde_json::Value> = e
            .export_properties
            .iter()
            .map(|p| {
                let v = match &p.value {
                    crate::command::PropertyValue::Integer(i) => serde_json::json!(i),
                    crate::command::PropertyValue::Bool(b) => serde_json::json!(b),
                    other => serde_json::json!(other
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("{other:?}"))),
                };
                (p.name.clone(), v)
            })
            .collect();
        serde_json::Value::Object(pairs).to_string()
    };
    ResultBuilder::new()
        .strings("Name", exports.iter().map(|e| Some(e.name.as_str())))
        .strings(
            "ExternalTableName",
            exports.iter().map(|e| Some(e.external_table.as_str())),
        )
        .strings("Query", exports.iter().map(|e| Some(e.query.as_str())))
        .strings(
            "ForcedLatency",
            exports.iter().map(|e| e.forced_latency.as_ref().map(span)),
        )
        .strings(
            "IntervalBetweenRuns",
            exports.iter().map(|e| Some(span(&e.interval))),
        )
        .strings(
            "CursorScopedTables",
            exports
                .iter()
                .map(|e| Some(serde_json::json!(e.cursor_scoped_tables).to_string())),
        )
        .strings(
            "ExportProperties",
            exports.iter().map(|e| Some(properties(e))),
        )
        .times("ExportedTo", exports.iter().map(exported_to))
        .times("LastRunTime", exports.iter().map(|e| e.last_run_time))
        .strings(
            "StartCursor",
            exports.iter().map(|e| Some(e.start_cursor.to_string())),
        )
        .bools("IsDisabled", exports.iter().map(|e| Some(e.is_disabled)))
        .strings(
            "LastRunResult",
            exports.iter().map(|e| e.last_run_result.as_deref()),
        )
        .strings(
            "ExportCursor",
            exports.iter().map(|e| Some(e.export_cursor.to_string())),
        )
        .bools(
            "IsRunning",
            exports
                .iter()
                .map(|e| Some(engine.continuous_state().is_running(&e.name))),
        )
        .build()
}

/// The artifacts of committed runs, oldest first: those of runs committed `since`,
/// and of those the newest `take`. Runs are read newest first, a page at a time, so
/// a short page of a long history reads only what it shows.
async fn exported_artifacts(
    engine: &Engine,
    name: &str,
    since: Option<Since>,
    take: Option<u64>,
) -> Result<RecordBatch> {
    let db = engine.database();
    let export = definition::load(db, name).await?;
    let since = match since {
        None => None,
        Some(Since::At(t)) => Some(t),
        Some(Since::Ago(d)) => {
            let now = db.options().clock.now();
            Some(
                chrono::Duration::from_std(d)
                    .ok()
                    .and_then(|d| now.checked_sub_signed(d))
                    .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC),
            )
        }
    };
    let runs = match take {
        None => {
            definition::runs(
                db,
                &export,
                RunPage {
                    since,
                    newest: None,
                },
            )
            .await?
        }
        Some(take) => {
            // Runs hold any number of artifacts: widen the page until it holds
            // `take` of them or the whole history.
            let mut newest = take.clamp(1, 1024);
            loop {
                let runs = definition::runs(
                    db,
                    &export,
                    RunPage {
                        since,
                        newest: Some(newest),
                    },
                )
                .await?;
                let artifacts: u64 = runs.iter().map(|r| r.artifacts.len() as u64).sum();
                if artifacts >= take || (runs.len() as u64) < newest {
                    break runs;
                }
                newest = newest.saturating_mul(4);
            }
        }
    };
    let mut rows: Vec<(
        chrono::DateTime<Utc>,
        &crate::continuous::definition::RunArtifact,
    )> = runs
        .iter()
        .flat_map(|r| r.artifacts.iter().map(move |a| (r.timestamp, a)))
        .collect();
    if let Some(take) = take {
        rows.drain(
            ..rows
                .len()
                .saturating_sub(usize::try_from(take).unwrap_or(usize::MAX)),
        );
    }
    ResultBuilder::new()
        .times("Timestamp", rows.iter().map(|(t, _)| Some(*t)))
        .strings(
            "ExternalTableName",
            rows.iter().map(|_| Some(export.external_table.as_str())),
        )
        .strings("Path", rows.iter().map(|(_, a)| Some(a.path.as_str())))
        .longs(
            "NumRecords",
            rows.iter().map(|(_, a)| Some(a.num_records as i64)),
        )
        .longs("SizeInBytes", rows.iter().map(|(_, a)| Some(a.size as i64)))
        .build()
}

async fn failures(engine: &Engine, name: &str) -> Result<RecordBatch> {
    let export = definition::load(engine.database(), name).await?;
    let f = &export.failures;
    ResultBuilder::new()
        .times("Timestamp", f.iter().map(|x| Some(x.timestamp)))
        .strings(
            "OperationId",
            f.iter().map(|x| Some(x.operation_id.to_string())),
        )
        .strings("Name", f.iter().map(|_| Some(name)))
        .times("LastSuccessRun", f.iter().map(|x| x.last_success_run))
        .strings("FailureKind", f.iter().map(|x| Some(x.kind.as_str())))
        .bools("IsPermanent", f.iter().map(|x| Some(x.is_permanent)))
        .strings("Details", f.iter().map(|x| Some(x.details.as_str())))
        .build()
}

async fn set_disabled(engine: &Engine, name: &str, disabled: bool) -> Result<RecordBatch> {
    let db = engine.database();
    db.commit(|state| {
        let mut export = definition::from_state(state, name)
            .map_err(|e| TablesError::Conflict(e.to_string()))?;
        export.is_disabled = disabled;
        if !disabled {
            export.permanent_failure_since = None;
        }
        Ok(vec![
            put_action(&export).map_err(|e| TablesError::Conflict(e.to_string()))?
        ])
    })
    .await?;
    let export = definition::load(db, name).await?;
    describe(engine, &[export])
}

async fn drop(engine: &Engine, name: &str, if_exists: bool) -> Result<RecordBatch> {
    let db = engine.database();
    db.refresh().await?;
    if db.state().object(definition::KIND, name).is_none() {
        if if_exists {
            return ResultBuilder::new()
                .strings("Name", [Some(name)])
                .bools("Dropped", [Some(false)])
                .build();
        }
        return Err(ExportError::Invalid(format!(
            "continuous export '{name}' does not exist"
        )));
    }
    db.commit(|state| {
        let prefix = format!("{name}/");
        let export = definition::from_state(state, name)
            .map_err(|e| TablesError::Conflict(e.to_string()))?;
        let mut actions = vec![
            Action::DropObject {
                kind: definition::KIND.into(),
                name: name.to_string(),
            },
            definition::drop_runs_action(&export),
        ];
        actions.extend(
            state
                .objects_of(RUN_KIND)
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(k, _)| Action::DropObject {
                    kind: RUN_KIND.into(),
                    name: k.clone(),
                }),
        );
        Ok(actions)
    })
    .await?;
    ResultBuilder::new()
        .strings("Name", [Some(name)])
        .bools("Dropped", [Some(true)])
        .build()
}
