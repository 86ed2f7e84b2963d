//! Executing `.export`, the external-table commands and the operation commands.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use uuid::Uuid;

use crate::command::{
    BinStep, ExportCommand, ExportTarget, ExternalTableDef, ExternalTableKind, PartitionExpr,
    PathFormatPart, Property, StartOfUnit,
};
use crate::engine::session::Engine;
use crate::error::{ExportError, Result};
use crate::export::attempts::ExportAttempt;
use crate::export::external_table::{self, ExternalTable};
use crate::export::operations::{OperationDetails, OperationState};
use crate::export::options::{Distribution, ExportOptions};
use crate::export::planner::export_frame;
use crate::export::planner::{plan_export, run_export};
use crate::export::sink_exec::{Artifact, ExportSpec};
use crate::export::target::resolve_target;
use crate::export::to_table::{
    conform_frame, delete_attempt_files, export_to_table, storage_table_spec, MAX_OPEN_WRITERS,
};
use crate::kusto_types::kusto_name;
use crate::results::ResultBuilder;

/// `.export …`: synchronously, or as an operation with `async`.
pub async fn export(
    engine: &Engine,
    command: ExportCommand,
    shown_text: String,
) -> Result<RecordBatch> {
    let persist = persist_details(&command.properties)?;
    if command.is_async {
        // Checked before anything is recorded: a bad command is an error now, not a
        // failed operation later.
        check_export(engine, &command).await?;
        let background = engine.clone();
        let id = engine
            .operations()
            .spawn(
                "DataExport",
                &shown_text,
                persist.unwrap_or(true),
                async move {
                    run(&background, command)
                        .await
                        .map(|batch| details_of(&batch))
                        .map_err(|e| crate::engine::scrub_error(e).to_string())
                },
            )
            .await?;
        return ResultBuilder::new()
            .strings("OperationId", [Some(id.to_string())])
            .build();
    }
    let batch = run(engine, command).await?;
    if persist == Some(true) {
        engine
            .operations()
            .record("DataExport", &shown_text, Ok(details_of(&batch)), true)
            .await?;
    }
    Ok(batch)
}

/// What can be checked of an export before it runs: its properties, its external
/// table when it exports to one, and its query's plan.
async fn check_export(engine: &Engine, command: &ExportCommand) -> Result<()> {
    engine.query_frame(&command.query).await?;
    match &command.target {
        ExportTarget::Storage { format, urls } => {
            ExportOptions::parse(
                &command.properties,
                Some(*format),
                command.compressed,
                Distribution::PerShard,
            )?;
            let runtime = engine.context().runtime_env();
            let storage_options = &engine.database().options().storage_options;
            for url in urls {
                resolve_target(url, Some(&runtime), storage_options)?;
            }
        }
        ExportTarget::Table { name } => {
            if command.compressed {
                return Err(ExportError::Invalid(
                    "`compressed` does not apply to `.export to table`: set compressed=true on the external table".into(),
                ));
            }
            let table = external_table::load(engine.database(), name).await?;
            table.export_options(&command.properties)?;
        }
    }
    Ok(())
}

fn persist_details(properties: &[Property]) -> Result<Option<bool>> {
    match crate::command::find_property(properties, "persistDetails") {
        None => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| ExportError::property("persistDetails", "expected true or false")),
    }
}

/// The export spec of `.export to <format> (urls)`: its targets, options and writers.
fn storage_url_spec(
    engine: &Engine,
    command: &ExportCommand,
    format: crate::command::DataFormat,
    urls: &[crate::command::SecretString],
) -> Result<(Arc<ExportSpec>, Distribution)> {
    let options = ExportOptions::parse(
        &command.properties,
        Some(format),
        command.compressed,
        Distribution::PerShard,
    )?;
    let runtime = engine.context().runtime_env();
    let storage_options = &engine.database().options().storage_options;
    let targets = urls
        .iter()
        .map(|u| resolve_target(u, Some(&runtime), storage_options))
        .collect::<Result<Vec<_>>>()?;
    let distribution = options.distribution;
    let spec = Arc::new(ExportSpec {
        targets,
        format,
        options,
        partitioning: None,
        data_columns: None,
        max_open_writers: MAX_OPEN_WRITERS,
        progress: engine.progress(),
        attempt: Uuid::new_v4(),
        written: Arc::default(),
        distributed: false,
    });
    Ok((spec, distribution))
}

/// `EXPLAIN [ANALYZE] [VERBOSE] .export …`: the export's logical and physical plan —
/// the scan with its cursor scope, the shaping to the writers and the sink with its
/// targets, format and distribution. `ANALYZE` runs the export (its artifacts are
/// written, as DataFusion's `EXPLAIN ANALYZE COPY` writes its files) and shows
/// what each operator did; the artifacts are not recorded anywhere.
pub async fn explain(
    engine: &Engine,
    command: ExportCommand,
    verbose: bool,
    analyze: bool,
) -> Result<datafusion::dataframe::DataFrame> {
    let frame = engine.query_frame(&command.query).await?;
    let (spec, distribution, frame) = match &command.target {
        ExportTarget::Storage { format, urls } => {
            let (format, urls) = (*format, urls.clone());
            let (spec, distribution) = storage_url_spec(engine, &command, format, &urls)?;
            (spec, distribution, frame)
        }
        ExportTarget::Table { name } => {
            let table = external_table::load(engine.database(), name).await?;
            if table.def.kind != ExternalTableKind::Storage {
                return Err(ExportError::Invalid(format!(
                    "EXPLAIN shows exports to storage URLs and storage external tables; '{name}' \
                     is a Delta table"
                )));
            }
            let frame = conform_frame(frame, &table)?;
            let task = frame.task_ctx();
            let options = table.export_options(&command.properties)?;
            let (spec, distribution) = storage_table_spec(
                &table,
                &frame,
                &task,
                options,
                Uuid::new_v4(),
                engine.progress(),
            )?;
            (spec, distribution, frame)
        }
    };
    Ok(export_frame(frame, spec, distribution).explain(verbose, analyze)?)
}

async fn run(engine: &Engine, command: ExportCommand) -> Result<RecordBatch> {
    let frame = engine.query_frame(&command.query).await?;
    match &command.target {
        ExportTarget::Storage { format, urls } => {
            let (format, urls) = (*format, urls.clone());
            let (spec, distribution) = storage_url_spec(engine, &command, format, &urls)?;
            let plan = plan_export(frame, Arc::clone(&spec), distribution).await?;
            let artifacts = run_export(plan, &spec, engine.context().task_ctx()).await?;
            artifacts_table(None, &artifacts)
        }
        ExportTarget::Table { name } => {
            if command.compressed {
                return Err(ExportError::Invalid(
                    "`compressed` does not apply to `.export to table`: set compressed=true on the external table".into(),
                ));
            }
            let table = external_table::load(engine.database(), name).await?;
            let attempt = Uuid::new_v4();
            // On record while it writes, so that its files stay hidden from read-back
            // until it has finished, and a killed export's files are found and deleted
            // by `.clean database`. (A Delta table shows only what its log commits.)
            let recorded = table.def.kind == ExternalTableKind::Storage;
            if recorded {
                record_one_shot_attempt(engine, name, attempt).await?;
            }
            let written = export_to_table(
                &table,
                frame,
                &command.properties,
                None,
                attempt,
                engine.progress(),
            )
            .await;
            let confirmed = if recorded {
                forget_one_shot_attempt(engine, attempt).await
            } else {
                Ok(())
            };
            let artifacts = written?;
            confirmed.map_err(|e| {
                ExportError::Invalid(format!(
                    "the export's files were written but could not be confirmed ({e}); they \
                     stay hidden from readers of '{name}' and `.clean database` deletes them: \
                     run the export again"
                ))
            })?;
            artifacts_table(Some(name), &artifacts)
        }
    }
}

/// The owner under which one-shot `.export to table` attempts are on record.
pub const ONE_SHOT_OWNER: &str = ".export";

async fn record_one_shot_attempt(engine: &Engine, table: &str, attempt: Uuid) -> Result<()> {
    let record = ExportAttempt {
        attempt,
        external_table: table.to_string(),
        owner: ONE_SHOT_OWNER.into(),
        owner_id: Uuid::nil(),
        from_cursor: 0,
        started: engine.database().options().clock.now(),
    };
    let put = record.put_action()?;
    engine.database().commit(|_| Ok(vec![put.clone()])).await?;
    Ok(())
}

async fn forget_one_shot_attempt(engine: &Engine, attempt: Uuid) -> Result<()> {
    engine
        .database()
        .commit(|state| {
            Ok(crate::export::attempts::drop_actions(
                state,
                ONE_SHOT_OWNER,
                &[attempt],
            ))
        })
        .await?;
    Ok(())
}

/// Deletes the files of export attempts that were on record before `cutoff` and can
/// never finish — a one-shot `.export to table` whose process died, an attempt of a
/// continuous export since dropped — then their records. Returns each deleted file's
/// location and size. Part of `.clean database`.
pub async fn clean_dead_attempts(
    engine: &Engine,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<(String, u64)>> {
    use crate::export::attempts::{self, KIND};
    let db = engine.database();
    db.refresh().await?;
    let state = db.state();
    let dead: Vec<ExportAttempt> = state
        .objects_of(KIND)
        .filter_map(|(_, body)| serde_json::from_value::<ExportAttempt>(body.clone()).ok())
        .filter(|a| a.started < cutoff)
        .filter(|a| {
            a.owner == ONE_SHOT_OWNER
                || crate::continuous::definition::from_state(&state, &a.owner)
                    .map_or(true, |owner| owner.id != a.owner_id)
        })
        .collect();
    let task = engine.context().task_ctx();
    let mut deleted = Vec::new();
    for attempt in &dead {
        // A table dropped since: its files are the user's to remove with the folder.
        if let Ok(table) = external_table::load(db, &attempt.external_table).await {
            if table.def.kind == ExternalTableKind::Storage {
                deleted.extend(delete_attempt_files(&table, &[attempt.attempt], &task).await?);
            }
        }
        let (owner, id) = (attempt.owner.clone(), attempt.attempt);
        db.commit(|state| Ok(attempts::drop_actions(state, &owner, &[id])))
            .await?;
    }
    Ok(deleted)
}

/// The result table of an export.
pub fn artifacts_table(
    external_table: Option<&str>,
    artifacts: &[Artifact],
) -> Result<RecordBatch> {
    let mut builder = ResultBuilder::new();
    if let Some(name) = external_table {
        builder = builder.strings("ExternalTableName", artifacts.iter().map(|_| Some(name)));
    }
    builder
        .strings("Path", artifacts.iter().map(|a| Some(a.path.as_str())))
        .longs(
            "NumRecords",
            artifacts.iter().map(|a| Some(a.num_records as i64)),
        )
        .longs("SizeInBytes", artifacts.iter().map(|a| Some(a.size as i64)))
        .build()
}

/// A result table as an operation's details.
pub fn details_of(batch: &RecordBatch) -> OperationDetails {
    let schema = batch.schema();
    let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let formatted: Vec<Vec<Option<String>>> = (0..batch.num_rows())
        .map(|row| {
            batch
                .columns()
                .iter()
                .map(|c| {
                    (!c.is_null(row)).then(|| {
                        datafusion::common::ScalarValue::try_from_array(c, row)
                            .map(|v| v.to_string())
                            .unwrap_or_default()
                    })
                })
                .collect()
        })
        .collect();
    OperationDetails {
        columns,
        rows: formatted,
    }
}

/// `.create [or alter] external table …`.
pub async fn create_external_table(engine: &Engine, def: ExternalTableDef) -> Result<RecordBatch> {
    let table = external_table::resolve(
        def,
        &engine.context().runtime_env(),
        &engine.database().options().storage_options,
    )
    .await?;
    external_table::store(engine.database(), &table).await?;
    describe_external_tables(&[table])
}

/// `.drop external table X [ifexists]`.
pub async fn drop_external_table(
    engine: &Engine,
    name: &str,
    if_exists: bool,
) -> Result<RecordBatch> {
    let dropped = external_table::drop(engine.database(), name, if_exists).await?;
    ResultBuilder::new()
        .strings("TableName", [Some(name)])
        .bools("Dropped", [Some(dropped)])
        .build()
}

/// `.show external tables`.
pub async fn show_external_tables(engine: &Engine) -> Result<RecordBatch> {
    describe_external_tables(&external_table::list(engine.database()).await?)
}

/// `.show external table X`.
pub async fn show_external_table(engine: &Engine, name: &str) -> Result<RecordBatch> {
    describe_external_tables(&[external_table::load(engine.database(), name).await?])
}

fn describe_external_tables(tables: &[ExternalTable]) -> Result<RecordBatch> {
    let schema_text = |t: &ExternalTable| {
        t.schema
            .fields()
            .iter()
            .map(|f| format!("{}:{}", f.name(), kusto_name(f.data_type())))
            .collect::<Vec<_>>()
            .join(", ")
    };
    ResultBuilder::new()
        .strings(
            "TableName",
            tables.iter().map(|t| Some(t.def.name.as_str())),
        )
        .strings(
            "TableType",
            tables.iter().map(|t| {
                Some(match t.def.kind {
                    ExternalTableKind::Storage => "Storage",
                    ExternalTableKind::Delta => "Delta",
                })
            }),
        )
        .strings("Schema", tables.iter().map(|t| Some(schema_text(t))))
        .strings(
            "DataFormat",
            tables
                .iter()
                .map(|t| Some(t.data_format().name().to_string())),
        )
        .strings(
            "Partitions",
            tables.iter().map(|t| Some(describe_partitions(&t.def))),
        )
        .strings(
            "PathFormat",
            tables
                .iter()
                .map(|t| Some(describe_path_format(&t.def.path_format))),
        )
        .strings(
            "ConnectionStrings",
            tables.iter().map(|t| {
                Some(
                    t.def
                        .urls
                        .iter()
                        .map(|u| u.redacted())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            }),
        )
        .strings(
            "Properties",
            tables.iter().map(|t| {
                Some(
                    t.def
                        .properties
                        .iter()
                        .map(|p| format!("{}={}", p.name, describe_value(&p.value)))
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            }),
        )
        .build()
}

fn describe_value(v: &crate::command::PropertyValue) -> String {
    use crate::command::PropertyValue as V;
    match v {
        V::String(s) => format!("'{}'", s.redacted()),
        V::Bool(b) => b.to_string(),
        V::Integer(i) => i.to_string(),
        V::Float(f) => f.to_string(),
        V::Timespan(d) => format!("{}s", d.as_secs_f64()),
        V::Identifier(s) => s.clone(),
    }
}

fn describe_partitions(def: &ExternalTableDef) -> String {
    def.partitions
        .iter()
        .map(|p| {
            let expr = match &p.expr {
                PartitionExpr::Column(c) => c.clone(),
                PartitionExpr::Bin {
                    column,
                    step: BinStep::Timespan(d),
                } => format!("bin({column}, {}s)", d.as_secs_f64()),
                PartitionExpr::Bin {
                    column,
                    step: BinStep::Number(n),
                } => format!("bin({column}, {n})"),
                PartitionExpr::StartOf { column, unit } => {
                    let unit = match unit {
                        StartOfUnit::Day => "day",
                        StartOfUnit::Week => "week",
                        StartOfUnit::Month => "month",
                        StartOfUnit::Year => "year",
                    };
                    format!("startof{unit}({column})")
                }
                PartitionExpr::Hash { column, modulo } => format!("hash({column}, {modulo})"),
            };
            format!("{}:{} = {expr}", p.name, p.kusto_type.name())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_path_format(parts: &[PathFormatPart]) -> String {
    parts
        .iter()
        .map(|p| match p {
            PathFormatPart::Literal(s) => format!("\"{s}\""),
            PathFormatPart::Partition(n) => n.clone(),
            PathFormatPart::DatetimePattern { pattern, partition } => {
                format!("datetime_pattern(\"{pattern}\", {partition})")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `.show operations`: every operation of the database, from any process.
pub async fn show_operations(engine: &Engine) -> Result<RecordBatch> {
    operations_table(&engine.operations().list().await?)
}

/// `.show operation <id> [details]`.
pub async fn show_operation(engine: &Engine, id: &str, details: bool) -> Result<RecordBatch> {
    let op = engine.operations().get(id).await?;
    if !details {
        return operations_table(&[op]);
    }
    match op.state {
        OperationState::Completed => {
            let Some(d) = op.details else {
                return Err(ExportError::Invalid(format!(
                    "operation {} completed, but its details were not persisted \
                     (persistDetails=false): only the process that ran it can show them",
                    op.id
                )));
            };
            let mut builder = ResultBuilder::new();
            for (i, name) in d.columns.iter().enumerate() {
                builder = builder.strings(name, d.rows.iter().map(|r| r.get(i).cloned().flatten()));
            }
            builder.build()
        }
        OperationState::Failed => Err(ExportError::Invalid(format!(
            "operation {} failed: {}",
            op.id,
            op.status.unwrap_or_default()
        ))),
        OperationState::InProgress => Err(ExportError::Invalid(format!(
            "operation {} is still in progress; follow it with `.show operation {}`",
            op.id, op.id
        ))),
    }
}

fn operations_table(ops: &[crate::export::operations::Operation]) -> Result<RecordBatch> {
    ResultBuilder::new()
        .strings("OperationId", ops.iter().map(|o| Some(o.id.to_string())))
        .strings("Operation", ops.iter().map(|o| Some(o.kind.as_str())))
        .times("StartedOn", ops.iter().map(|o| Some(o.started_on)))
        .times("LastUpdatedOn", ops.iter().map(|o| Some(o.last_updated_on)))
        .strings("State", ops.iter().map(|o| Some(o.state.name())))
        .strings("Status", ops.iter().map(|o| o.status.as_deref()))
        .build()
}
