//! Writing a query's result to an external table: artifacts under a storage table's
//! URLs (partitioned as it says), or data files committed to a Delta table, plus
//! deleting what an attempt that can never commit left behind. Used by `.export to
//! table` and by every continuous-export run.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::{cast, col};
use datafusion_export_tables::{convertible, StorageOptions, TablesError};
use uuid::Uuid;

use crate::command::{
    DataFormat, ExternalTableKind, KustoType, PartitionDef, PartitionExpr, Property,
};
use crate::error::{ExportError, Result};
use crate::export::attempts::ExportAttempt;
use crate::export::delta::{DeltaFile, DeltaTarget, DeltaTxn};
use crate::export::external_table::{self, ExternalTable};
use crate::export::partition::Partitioner;
use crate::export::path_format::PathLayout;
use crate::export::planner::{plan_export, run_export};
use crate::export::progress::ExportProgress;
use crate::export::sink_exec::{Artifact, ExportSpec};
use crate::export::target::{resolve_target, StorageTarget};
use crate::kusto_types::kusto_name;

/// Open artifacts per writer before the least recently used one is closed.
pub const MAX_OPEN_WRITERS: usize = 32;

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
    match table.def.kind {
        ExternalTableKind::Storage => {
            let (spec, distribution) =
                storage_table_spec(table, &frame, &task, options, attempt, progress)?;
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
                source: Some(crate::export::target::TargetSource {
                    url: url.clone(),
                    storage_options: StorageOptions::of(task.session_config()),
                }),
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
                distributed: false,
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

/// The export spec of a storage external table: its URLs, format and partitioning
/// (`frame` must be conformed to the table already).
pub fn storage_table_spec(
    table: &ExternalTable,
    frame: &DataFrame,
    task: &datafusion::execution::TaskContext,
    options: crate::export::options::ExportOptions,
    attempt: Uuid,
    progress: Arc<ExportProgress>,
) -> Result<(Arc<ExportSpec>, crate::export::options::Distribution)> {
    let targets = storage_targets(table, task)?;
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
    let distribution = options.distribution;
    let spec = Arc::new(ExportSpec {
        targets,
        format: table.data_format(),
        options,
        partitioning,
        data_columns: None,
        max_open_writers: MAX_OPEN_WRITERS,
        progress,
        attempt,
        written: Arc::default(),
        distributed: false,
    });
    Ok((spec, distribution))
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

/// The storage targets of a storage external table's URLs, opened as `task`'s session
/// opens URLs (its registered stores, its storage options).
pub fn storage_targets(
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
