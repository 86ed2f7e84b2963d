//! Executing `.export`, the external-table commands and the operation commands.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::{cast, col};
use datafusion_export_tables::{convertible, StorageOptions, TablesError};
use uuid::Uuid;

use crate::command::{
    BinStep, DataFormat, ExportCommand, ExportTarget, ExternalTableDef, ExternalTableKind,
    KustoType, PartitionDef, PartitionExpr, PathFormatPart, Property, StartOfUnit,
};
use crate::engine::Engine;
use crate::error::{ExportError, Result};
use crate::export::attempts::ExportAttempt;
use crate::export::delta::{DeltaFile, DeltaTarget, DeltaTxn};
use crate::export::external_table::{self, ExternalTable};
use crate::export::operations::{OperationDetails, OperationState};
use crate::export::options::{Distribution, ExportOptions};
use crate::export::partition::Partitioner;
use crate::export::path_format::PathLayout;
use crate::export::planner::{plan_export, run_export};
use crate::export::progress::ExportProgress;
use crate::export::sink_exec::{Artifact, ExportSpec};
use crate::export::target::{resolve_target, StorageTarget};
use crate::kusto_types::kusto_name;
use crate::results::ResultBuilder;

/// Open artifacts per writer before the least recently used one is closed.
pub const MAX_OPEN_WRITERS: usize = 32;

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

async fn run(engine: &Engine, command: ExportCommand) -> Result<RecordBatch> {
    let frame = engine.query_frame(&command.query).await?;
    match command.target {
        ExportTarget::Storage { format, urls } => {
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
            });
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
            let table = external_table::load(engine.database(), &name).await?;
            let attempt = Uuid::new_v4();
            // On record while it writes, so that its files stay hidden from read-back
            // until it has finished, and a killed export's files are found and deleted
            // by `.clean database`. (A Delta table shows only what its log commits.)
            let recorded = table.def.kind == ExternalTableKind::Storage;
            if recorded {
                record_one_shot_attempt(engine, &name, attempt).await?;
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
            artifacts_table(Some(&name), &artifacts)
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

/// Checks that `frame` has the external table's columns (same names, in order,
/// types equal or losslessly convertible) and converts it to them.
pub fn conform_frame(frame: DataFrame, table: &ExternalTable) -> Result<DataFrame> {
    let given = frame.schema().clone();
    let expected = &table.schema;
    let describe = |s: &Schema| {
        s.fields()
            .iter()
            .map(|f| format!("{}:{}", f.name(), kusto_name(f.data_type())))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mismatch = |detail: String| {
        ExportError::Invalid(format!(
            "the query's output does not match external table '{}' ({}): {detail}",
            table.def.name,
            describe(expected)
        ))
    };
    if given.fields().len() != expected.fields().len() {
        return Err(mismatch(format!(
            "the query returns {} columns ({}), the table has {}",
            given.fields().len(),
            describe(given.as_arrow()),
            expected.fields().len()
        )));
    }
    let mut exprs = Vec::new();
    for (i, (qualifier, field)) in given.iter().enumerate() {
        let want = expected.field(i);
        if field.name() != want.name() {
            return Err(mismatch(format!(
                "column {} is '{}', expected '{}'",
                i + 1,
                field.name(),
                want.name()
            )));
        }
        if field.data_type() != want.data_type()
            && !convertible(field.data_type(), want.data_type())
        {
            return Err(mismatch(format!(
                "column '{}' is {}, expected {}",
                field.name(),
                kusto_name(field.data_type()),
                kusto_name(want.data_type())
            )));
        }
        let column = datafusion::common::Column::new(qualifier.cloned(), field.name());
        exprs.push(cast(col(column), want.data_type().clone()).alias(want.name()));
    }
    Ok(frame.select(exprs)?)
}

/// Writes `frame` to an external table: artifacts under its URLs (partitioned as it
/// says), or data files committed to its Delta table in one commit carrying `txn`.
/// Every file's name carries `attempt`. If writing fails, or the Delta table refuses the
/// commit (another run already exported these commits), the files are deleted.
pub async fn export_to_table(
    table: &ExternalTable,
    frame: DataFrame,
    properties: &[Property],
    txn: Option<DeltaTxn>,
    attempt: Uuid,
    progress: Arc<ExportProgress>,
) -> Result<Vec<Artifact>> {
    let frame = conform_frame(frame, table)?;
    let task = frame.task_ctx();
    let task = Arc::new(task);
    let options = table.export_options(properties)?;
    let distribution = options.distribution;
    let format = table.data_format();
    match table.def.kind {
        ExternalTableKind::Storage => {
            let targets = storage_targets(table, &task)?;
            let partitioning = if table.def.partitions.is_empty() {
                None
            } else {
                let schema = Arc::new(frame.schema().as_arrow().clone());
                let names: Vec<String> = table
                    .def
                    .partitions
                    .iter()
                    .map(|p| p.name.clone())
                    .collect();
                Some((
                    Partitioner::try_new(&table.def.partitions, &schema)?,
                    PathLayout::try_new(&names, &table.def.path_format)?,
                ))
            };
            let spec = Arc::new(ExportSpec {
                targets,
                format,
                options,
                partitioning,
                data_columns: None,
                max_open_writers: MAX_OPEN_WRITERS,
                progress,
                attempt,
                written: Arc::default(),
            });
            let plan = plan_export(frame, Arc::clone(&spec), distribution).await?;
            run_export(plan, &spec, task).await
        }
        ExternalTableKind::Delta => {
            let url = table.def.urls.first().ok_or_else(|| {
                ExportError::Invalid("the Delta external table has no URL".into())
            })?;
            let target = DeltaTarget::new_in(
                url.expose(),
                external_table::storage_map(&StorageOptions::of(task.session_config())),
                Some(task.runtime_env().as_ref()),
            )?;
            let declared: Vec<String> = table
                .def
                .partitions
                .iter()
                .map(|p| p.name.clone())
                .collect();
            let mut handle = target.ensure_table(&table.schema_ref(), &declared).await?;
            let storage = StorageTarget {
                store: target.object_store(&handle),
                display: url.redacted().trim_end_matches('/').to_string(),
            };
            // The table's partitioning (declared, or found in an existing table):
            // files go under `Column=value/` and hold the other columns only.
            let partition_columns = handle.partition_columns().to_vec();
            let (partitioning, data_columns) = if partition_columns.is_empty() {
                (None, None)
            } else {
                let schema = Arc::new(frame.schema().as_arrow().clone());
                let defs = partition_columns
                    .iter()
                    .map(|c| delta_partition_def(c, &schema))
                    .collect::<Result<Vec<_>>>()?;
                let data_columns = (0..schema.fields().len())
                    .filter(|i| !partition_columns.contains(schema.field(*i).name()))
                    .collect();
                (
                    Some((
                        Partitioner::try_new(&defs, &schema)?,
                        PathLayout::try_new(&partition_columns, &[])?,
                    )),
                    Some(data_columns),
                )
            };
            let spec = Arc::new(ExportSpec {
                targets: vec![storage],
                format: DataFormat::Parquet,
                options,
                partitioning,
                data_columns,
                max_open_writers: MAX_OPEN_WRITERS,
                progress,
                attempt,
                written: Arc::default(),
            });
            let plan = plan_export(frame, Arc::clone(&spec), distribution).await?;
            let artifacts = run_export(plan, &spec, task).await?;
            if !artifacts.is_empty() || txn.is_some() {
                let files: Vec<DeltaFile> = artifacts
                    .iter()
                    .map(|a| DeltaFile {
                        path: a.relative_path.clone(),
                        size: a.size,
                        num_records: a.num_records,
                        partition_values: a.partition_values.clone(),
                    })
                    .collect();
                let committed = target
                    .commit_files(&mut handle, &files, txn, "dfexport export")
                    .await;
                if let Err(e) = committed {
                    // Refused before any commit was tried: the files are in no Delta
                    // commit. (After an ambiguous commit failure they may be: kept.)
                    if matches!(e, ExportError::Tables(TablesError::Conflict(_))) {
                        spec.delete_written().await;
                    }
                    return Err(e);
                }
            }
            Ok(artifacts)
        }
    }
}

/// A Delta partition column as a plain-column partition of the sink, whose values
/// print as Delta records them (temporal columns other than dates print differently,
/// so they are refused).
fn delta_partition_def(column: &str, schema: &SchemaRef) -> Result<PartitionDef> {
    let field = schema.field_with_name(column).map_err(|_| {
        ExportError::Invalid(format!(
            "Delta partition column '{column}' is not in the export's columns"
        ))
    })?;
    let kusto_type = match field.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => KustoType::String,
        DataType::Int8 | DataType::Int16 | DataType::Int32 => KustoType::Int,
        DataType::Int64 => KustoType::Long,
        DataType::Float32 | DataType::Float64 => KustoType::Real,
        DataType::Boolean => KustoType::Bool,
        DataType::Decimal128(..) => KustoType::Decimal,
        DataType::Date32 => KustoType::Datetime,
        other => {
            return Err(ExportError::Invalid(format!(
                "Delta partition column '{column}' is {other}; this exporter writes Delta tables \
                 partitioned by string, integer, real, bool, decimal or date columns"
            )))
        }
    };
    Ok(PartitionDef {
        name: column.to_string(),
        kusto_type,
        expr: PartitionExpr::Column(column.to_string()),
    })
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

fn details_of(batch: &RecordBatch) -> OperationDetails {
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

/// The storage targets of a storage external table's URLs, opened as `task`'s session
/// opens URLs (its registered stores, its storage options).
fn storage_targets(
    table: &ExternalTable,
    task: &datafusion::execution::TaskContext,
) -> Result<Vec<StorageTarget>> {
    let runtime = task.runtime_env();
    let storage_options = StorageOptions::of(task.session_config());
    table
        .def
        .urls
        .iter()
        .map(|u| resolve_target(u, Some(&runtime), &storage_options))
        .collect()
}

/// Deletes `artifacts` of a storage external table: the files of a continuous-export run
/// whose commit was refused (stale), which nothing will ever report.
pub async fn delete_artifacts(
    table: &ExternalTable,
    artifacts: &[Artifact],
    task: &datafusion::execution::TaskContext,
) -> Result<()> {
    let targets = storage_targets(table, task)?;
    for artifact in artifacts {
        if let Some(target) = targets.get(artifact.target) {
            let path = object_store::path::Path::parse(&artifact.relative_path)
                .map_err(|e| ExportError::Invalid(e.to_string()))?;
            object_store::ObjectStoreExt::delete(target.store.as_ref(), &path)
                .await
                .map_err(TablesError::from)?;
        }
    }
    Ok(())
}

/// Deletes every file under a storage external table's URLs whose name carries one of
/// `attempts` (see [`crate::export::path_format::artifact_name`]): what an attempt that can
/// never commit left behind.
pub async fn delete_attempt_files(
    table: &ExternalTable,
    attempts: &[Uuid],
    task: &datafusion::execution::TaskContext,
) -> Result<Vec<(String, u64)>> {
    use futures::TryStreamExt;
    let mut deleted = Vec::new();
    for target in storage_targets(table, task)? {
        let files: Vec<object_store::ObjectMeta> = target
            .store
            .list(None)
            .try_filter(|meta| {
                let theirs = attempts
                    .iter()
                    .any(|a| ExportAttempt::wrote(*a, &meta.location));
                futures::future::ready(theirs)
            })
            .try_collect()
            .await
            .map_err(TablesError::from)?;
        for meta in files {
            object_store::ObjectStoreExt::delete(target.store.as_ref(), &meta.location)
                .await
                .map_err(TablesError::from)?;
            deleted.push((format!("{}/{}", target.display, meta.location), meta.size));
        }
    }
    Ok(deleted)
}
