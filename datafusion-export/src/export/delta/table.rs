//! Opening a Delta target's table: creating it when it does not exist yet, loading and
//! refreshing its state into a [`DeltaTableHandle`], and reading it through DataFusion.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use deltalake::kernel::engine::arrow_conversion::TryIntoArrow;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use deltalake::DeltaTable;

use crate::command::scrub_secrets;
use crate::error::{ExportError, Result};

use super::{DeltaTableHandle, DeltaTarget};

impl DeltaTarget {
    /// Whether a Delta table (a `_delta_log` with at least one commit) exists at the URL.
    pub async fn exists(&self) -> Result<bool> {
        self.log_store
            .is_delta_table_location()
            .await
            .map_err(|e| self.error("cannot list the table's _delta_log", e))
    }

    /// Opens the table, creating it (protocol reader v1 / writer v2) with `schema` and
    /// `partition_columns` if it does not exist yet.
    ///
    /// If it exists, checks that its schema matches `schema`: the same column names in the
    /// same order, and compatible types (the same Delta type after the mapping below, or a
    /// lossless widening such as `int` → `long`); the error names the first difference.
    /// A non-empty `partition_columns` must name the table's partition columns; an empty
    /// one accepts the existing table's partitioning (see
    /// [`DeltaTableHandle::partition_columns`]).
    ///
    /// Arrow → Delta types: timestamps of any unit become `timestamp` (with a time zone,
    /// stored in UTC, microseconds) or `timestamp_ntz`; durations become `long` (the count
    /// of the duration's unit, nanoseconds for Kusto `timespan`); unsigned integers widen to
    /// the next signed type; `Utf8View`/`LargeUtf8` become `string`; decimals stay decimals.
    pub async fn ensure_table(
        &self,
        schema: &SchemaRef,
        partition_columns: &[String],
    ) -> Result<DeltaTableHandle> {
        let requested = self.delta_schema(schema)?;
        self.check_partition_columns(&requested, partition_columns)?;
        let mut table = DeltaTable::new(self.log_store.clone());
        if !self.exists().await? {
            let created = table
                .create()
                .with_columns(requested.fields().cloned())
                .with_partition_columns(partition_columns.to_vec())
                .with_save_mode(SaveMode::ErrorIfExists)
                .with_commit_properties(CommitProperties::default().with_metadata([(
                    "userMetadata".to_string(),
                    serde_json::Value::String("created by datafusion-export".into()),
                )]))
                .await;
            match created {
                Ok(created) => return self.handle(created),
                Err(e) => {
                    // Another writer may have created it meanwhile: then check theirs.
                    if !self.exists().await.unwrap_or(false) {
                        return Err(self.error("cannot create the table", e));
                    }
                }
            }
        }
        table
            .load()
            .await
            .map_err(|e| self.error("cannot open the table", e))?;
        let handle = self.handle(table)?;
        self.check_existing(&handle, &requested, partition_columns)?;
        Ok(handle)
    }

    /// Opens the existing table at its latest version, without any schema check.
    pub async fn open(&self) -> Result<DeltaTableHandle> {
        let table = self.load().await?;
        self.handle(table)
    }

    /// Re-reads the latest table state into `handle`. Fails if the table's schema or
    /// partitioning changed since the handle was opened.
    pub async fn refresh(&self, handle: &mut DeltaTableHandle) -> Result<()> {
        handle
            .table
            .update_state()
            .await
            .map_err(|e| self.error("cannot read the latest table state", e))?;
        let fresh = self.handle(handle.table.clone())?;
        if fresh.delta_schema != handle.delta_schema
            || fresh.partition_columns != handle.partition_columns
        {
            return Err(ExportError::Invalid(scrub_secrets(&format!(
                "the schema or partitioning of Delta table '{}' changed at version {} \
                 while it was being written",
                self.shown,
                fresh.version()
            ))));
        }
        *handle = fresh;
        Ok(())
    }

    /// A DataFusion [`TableProvider`] reading the latest version of the table (for
    /// `external_table('X')`); partition columns included. The provider registers the
    /// table's object store in the session it scans in.
    pub async fn table_provider(&self) -> Result<Arc<dyn TableProvider>> {
        let table = self.load().await?;
        table
            .table_provider()
            .await
            .map_err(|e| ExportError::DataFusion(scrub_datafusion(e)))
    }

    async fn load(&self) -> Result<DeltaTable> {
        self.load_if_exists().await?.ok_or_else(|| {
            ExportError::Invalid(scrub_secrets(&format!(
                "Delta table '{}' does not exist (no commits under _delta_log)",
                self.shown
            )))
        })
    }

    pub(super) async fn load_if_exists(&self) -> Result<Option<DeltaTable>> {
        if !self.exists().await? {
            return Ok(None);
        }
        let mut table = DeltaTable::new(self.log_store.clone());
        table
            .load()
            .await
            .map_err(|e| self.error("cannot open the table", e))?;
        Ok(Some(table))
    }

    fn handle(&self, table: DeltaTable) -> Result<DeltaTableHandle> {
        let state = table
            .snapshot()
            .map_err(|e| self.error("cannot read the table state", e))?;
        let delta_schema = state.schema().as_ref().clone();
        let partition_columns = state.metadata().partition_columns().to_vec();
        let arrow: Schema = (&delta_schema)
            .try_into_arrow()
            .map_err(|e| self.invalid(format!("the table schema has no Arrow equivalent: {e}")))?;
        let schema = Arc::new(arrow);
        let data_file_schema = Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .filter(|f| !partition_columns.contains(f.name()))
                .cloned()
                .collect::<Vec<_>>(),
        ));
        Ok(DeltaTableHandle {
            table,
            schema,
            delta_schema,
            partition_columns,
            data_file_schema,
        })
    }
}

fn scrub_datafusion(e: datafusion::error::DataFusionError) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::Plan(scrub_secrets(&e.to_string()))
}
