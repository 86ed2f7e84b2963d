//! `.create table`, `.drop table`, `.show tables`, `.show table T extents|schema`,
//! and SQL `CREATE TABLE`.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::logical_expr::{CreateMemoryTable, LogicalPlan};
use datafusion_export_tables::merge::MergePolicy;
use datafusion_export_tables::{Database, TablesError};

use crate::command::ColumnDef;
use crate::engine::session::Engine;
use crate::error::{ExportError, Result};
use crate::kusto_types::{arrow_type, kusto_name};
use crate::results::ResultBuilder;

fn schema_text(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{}:{}", f.name(), kusto_name(f.data_type())))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `.create table T (a:long, …)`.
pub async fn create_table(db: &Database, name: &str, columns: &[ColumnDef]) -> Result<RecordBatch> {
    let schema = Schema::new(
        columns
            .iter()
            .map(|c| Field::new(&c.name, arrow_type(c.kusto_type), true))
            .collect::<Vec<_>>(),
    );
    let text = schema_text(&schema);
    let commit = db.create_table(name, schema).await?;
    ResultBuilder::new()
        .strings("TableName", [Some(name)])
        .strings("Schema", [Some(text)])
        .strings("Cursor", [Some(commit.cursor.to_string())])
        .build()
}

/// SQL `CREATE TABLE T (…)` / `CREATE TABLE T AS SELECT …`: a durable table, its
/// initial rows (if any) ingested in the same commit.
pub async fn create_table_from_sql(engine: &Engine, create: CreateMemoryTable) -> Result<()> {
    let db = engine.database();
    let name = create.name.table().to_string();
    if create.or_replace {
        return Err(ExportError::Invalid(format!(
            "CREATE OR REPLACE TABLE is not supported for durable tables: drop '{name}' first (`.drop table {name}`)"
        )));
    }
    db.refresh().await?;
    if db.state().tables.contains_key(&name) {
        return if create.if_not_exists {
            Ok(())
        } else {
            Err(TablesError::TableExists(name).into())
        };
    }
    match create.input.as_ref() {
        LogicalPlan::EmptyRelation(e) if !e.produce_one_row => {
            let schema = create.input.schema().as_arrow().clone();
            db.create_table(&name, schema).await?;
        }
        input => {
            let frame = engine.context().execute_logical_plan(input.clone()).await?;
            let stream = frame.execute_stream().await?;
            db.ingest_stream(&name, stream, true).await?;
        }
    }
    Ok(())
}

/// `.drop table T [ifexists]`.
pub async fn drop_table(db: &Database, name: &str, if_exists: bool) -> Result<RecordBatch> {
    let commit = db.drop_table(name, if_exists).await?;
    ResultBuilder::new()
        .strings("TableName", [Some(name)])
        .bools("Dropped", [Some(commit.is_some())])
        .strings("Cursor", [commit.map(|c| c.cursor.to_string())])
        .build()
}

/// `.show tables`.
pub async fn show_tables(db: &Database) -> Result<RecordBatch> {
    let tables = db.tables().await?;
    ResultBuilder::new()
        .strings("TableName", tables.iter().map(|t| Some(t.name.as_str())))
        .strings(
            "Schema",
            tables.iter().map(|t| Some(schema_text(&t.schema))),
        )
        .longs("Extents", tables.iter().map(|t| Some(t.extents as i64)))
        .longs("RowCount", tables.iter().map(|t| Some(t.rows as i64)))
        .longs("SizeInBytes", tables.iter().map(|t| Some(t.size as i64)))
        .build()
}

/// `.show table T extents`.
pub async fn show_extents(db: &Database, name: &str) -> Result<RecordBatch> {
    let extents = db.extents(name).await?;
    ResultBuilder::new()
        .strings(
            "ExtentId",
            extents.iter().map(|e| Some(e.file.id.to_string())),
        )
        .strings("TableName", extents.iter().map(|_| Some(name)))
        .strings("Cursor", extents.iter().map(|e| Some(e.cursor.to_string())))
        .times(
            "IngestionTime",
            extents.iter().map(|e| Some(e.ingestion_time)),
        )
        .longs("RowCount", extents.iter().map(|e| Some(e.file.rows as i64)))
        .longs(
            "SizeInBytes",
            extents.iter().map(|e| Some(e.file.size as i64)),
        )
        // A merged extent holds rows of many commits: the range of their cursors and
        // ingestion times (one commit's extent: both ends equal `Cursor`/`IngestionTime`).
        .strings(
            "MinCursor",
            extents.iter().map(|e| Some(e.min_cursor().to_string())),
        )
        .strings(
            "MaxCursor",
            extents.iter().map(|e| Some(e.cursor.to_string())),
        )
        .times(
            "MinIngestionTime",
            extents.iter().map(|e| Some(e.min_ingestion_time())),
        )
        .times(
            "MaxIngestionTime",
            extents.iter().map(|e| Some(e.ingestion_time)),
        )
        // Kusto's OriginalSize: the data before compression, which
        // `OriginalSizeMBUpperBoundForMerge` bounds.
        .longs(
            "OriginalSize",
            extents.iter().map(|e| Some(e.file.original_bytes() as i64)),
        )
        .build()
}

/// `.merge [async] T [(ExtentId, …)]`: one row per merge, or with `async` the id of
/// the operation that merges (`.show operation <id> details` shows the rows).
pub async fn merge_command(
    engine: &Engine,
    table: &str,
    ids: Option<Vec<String>>,
    is_async: bool,
    shown_text: &str,
) -> Result<RecordBatch> {
    if !is_async {
        return merge(engine.database(), table, ids.as_deref()).await;
    }
    // A missing table is an error now, not a failed operation later.
    engine.database().table_schema(table).await?;
    let (db, table) = (engine.database().clone(), table.to_string());
    let id = engine
        .operations()
        .spawn("ExtentsMerge", shown_text, true, async move {
            merge(&db, &table, ids.as_deref())
                .await
                .map(|batch| super::export::details_of(&batch))
                .map_err(|e| crate::engine::scrub_error(e).to_string())
        })
        .await?;
    ResultBuilder::new()
        .strings("OperationId", [Some(id.to_string())])
        .build()
}

/// `.merge T [(ExtentId, …)]`: one row per merge.
pub async fn merge(db: &Database, table: &str, ids: Option<&[String]>) -> Result<RecordBatch> {
    let receipts = match ids {
        Some(ids) => {
            let ids = ids
                .iter()
                .map(|id| {
                    uuid::Uuid::parse_str(id)
                        .map_err(|e| ExportError::Invalid(format!("extent id '{id}': {e}")))
                })
                .collect::<Result<Vec<_>>>()?;
            vec![db.merge_extents(table, &ids).await?]
        }
        None => {
            // Asked for now: compact as far as the policy's bounds allow, tiers
            // aside (the background loop keeps to tiers).
            let policy = db.merge_policy(Some(table)).await?;
            db.compact_table(table, &policy).await?
        }
    };
    let r = &receipts;
    ResultBuilder::new()
        .strings("TableName", r.iter().map(|_| Some(table)))
        .strings(
            "ExtentId",
            r.iter().map(|m| Some(m.merged.file.id.to_string())),
        )
        .longs(
            "SourceExtents",
            r.iter().map(|m| Some(m.sources.len() as i64)),
        )
        .longs(
            "RowCount",
            r.iter().map(|m| Some(m.merged.file.rows as i64)),
        )
        .longs(
            "SizeInBytes",
            r.iter().map(|m| Some(m.merged.file.size as i64)),
        )
        .strings(
            "MinCursor",
            r.iter().map(|m| Some(m.merged.min_cursor.to_string())),
        )
        .strings(
            "MaxCursor",
            r.iter().map(|m| Some(m.merged.max_cursor.to_string())),
        )
        .build()
}

/// Properties a merge policy accepts, for error messages.
const MERGE_POLICY_PROPERTIES: &str =
    "RowCountUpperBoundForMerge, OriginalSizeMBUpperBoundForMerge, \
    MaxExtentsToMerge, MaxRangeInHours, LoopPeriod, AllowMerge";

/// `.alter table T policy merge '{…}'` / `.alter database policy merge '{…}'`: the
/// properties given replace the defaults (Kusto's); the new policy is shown.
pub async fn alter_merge_policy(
    db: &Database,
    table: Option<&str>,
    text: &str,
) -> Result<RecordBatch> {
    let policy: MergePolicy = serde_json::from_str(text).map_err(|e| {
        ExportError::Invalid(format!(
            "invalid merge policy: {e}; expected a JSON object with any of {MERGE_POLICY_PROPERTIES}"
        ))
    })?;
    let invalid = |what: &str| ExportError::Invalid(format!("invalid merge policy: {what}"));
    if policy.max_extents < 2 {
        return Err(invalid("MaxExtentsToMerge must be at least 2"));
    }
    if policy.row_count_upper_bound < 2 {
        return Err(invalid("RowCountUpperBoundForMerge must be at least 2"));
    }
    match crate::command::try_parse_timespan(&policy.loop_period) {
        Ok(d) if d >= std::time::Duration::from_secs(60) => {}
        _ => {
            return Err(invalid(&format!(
                "LoopPeriod '{}' must be a timespan of at least a minute, e.g. '01:00:00'",
                policy.loop_period
            )))
        }
    }
    db.set_merge_policy(table, &policy).await?;
    show_merge_policy(db, table).await
}

/// `.show table T policy merge` / `.show database policy merge`: the policy in effect.
pub async fn show_merge_policy(db: &Database, table: Option<&str>) -> Result<RecordBatch> {
    let policy = db.merge_policy(table).await?;
    let text = serde_json::to_string(&policy).map_err(|e| ExportError::Invalid(e.to_string()))?;
    ResultBuilder::new()
        .strings("PolicyName", [Some("MergePolicy")])
        .strings("EntityName", [Some(table.unwrap_or("database"))])
        .strings("Policy", [Some(text.as_str())])
        .strings(
            "EntityType",
            [Some(if table.is_some() { "Table" } else { "Database" })],
        )
        .build()
}

/// `.show table T [schema]`.
pub async fn show_schema(db: &Database, name: &str) -> Result<RecordBatch> {
    let schema: Arc<Schema> = db.table_schema(name).await?;
    let fields = schema.fields();
    ResultBuilder::new()
        .strings("ColumnName", fields.iter().map(|f| Some(f.name().as_str())))
        .strings(
            "ColumnType",
            fields.iter().map(|f| Some(kusto_name(f.data_type()))),
        )
        .strings(
            "ArrowType",
            fields.iter().map(|f| Some(f.data_type().to_string())),
        )
        .build()
}
