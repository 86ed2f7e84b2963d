//! The Delta Lake target of `.export to table X` (external tables of `kind=delta`) and of
//! continuous export (DESIGN §4, §5, §6).
//!
//! The export sink writes Parquet data files itself, into the object store rooted at the
//! table directory ([`DeltaTarget::object_store`]); this module then adds them to the table
//! in **one** Delta commit ([`DeltaTarget::commit_files`]). A continuous-export run commits
//! with an application transaction ([`DeltaTxn`]: app id = the export's identity, version =
//! the run's end cursor), so that a crash between the Delta commit and the run record is
//! recovered without duplicates: before exporting the commits after cursor E, read
//! [`DeltaTarget::app_transaction_version`] and, if it is already > E, only commit the run
//! record (with the files of that Delta commit).
//!
//! Data files follow the Delta protocol: they hold the non-partition columns only
//! ([`DeltaTableHandle::data_file_schema`], [`DeltaTableHandle::to_data_file_batch`]);
//! partition values live in the log as strings ([`DeltaTableHandle::partition_value`]).
//!
//! Storage: `file://` and local paths (and `memory://`, per target) work out of the box. For
//! `s3://`/`s3a://`, `gs://`, `az://`/`abfs[s]://`/`adl://`/`azure://` and Azure/S3 `https://`
//! URLs this module registers, once, deltalake's default log store (commits are
//! put-if-absent objects, `PutMode::Create`) over the crate's own `object_store` builders,
//! unless a deltalake storage feature already registered that scheme.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Once};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{
    DataType as ArrowType, Date32Type, Decimal128Type, DecimalType, Field, FieldRef, Fields,
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, Schema, SchemaRef,
    TimeUnit,
};
use datafusion::catalog::TableProvider;
use datafusion_export_tables::TablesError;
use deltalake::kernel::engine::arrow_conversion::{TryFromArrow, TryIntoArrow};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{
    Action, Add, DataType as DeltaType, PrimitiveType, StructField, StructType, Transaction,
};
use deltalake::logstore::{
    default_logstore, logstore_factories, object_store_factories, LogStore, LogStoreFactory,
    LogStoreRef, ObjectStoreFactory, ObjectStoreRef, StorageConfig,
};
use deltalake::protocol::{DeltaOperation, OutputMode, SaveMode};
use deltalake::{DeltaResult, DeltaTable, DeltaTableBuilder, DeltaTableError};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreScheme};
use url::Url;

use crate::command::scrub_secrets;
use crate::error::{ExportError, Result};

/// The directory name Delta writers (Spark, delta-rs) use for a null partition value.
pub const NULL_PARTITION_DIR_VALUE: &str = "__HIVE_DEFAULT_PARTITION__";

/// A Delta table used as an export target.
///
/// Cheap to keep around: it holds the table URL, the storage options and the log store
/// (the object-store access); table state is read fresh by each call, or kept in a
/// [`DeltaTableHandle`].
#[derive(Clone)]
pub struct DeltaTarget {
    url: Url,
    shown: String,
    storage_options: HashMap<String, String>,
    log_store: LogStoreRef,
}

impl fmt::Debug for DeltaTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<&String> = self.storage_options.keys().collect();
        keys.sort();
        f.debug_struct("DeltaTarget")
            .field("url", &self.shown)
            .field("storage_option_keys", &keys)
            .finish()
    }
}

/// An opened (and possibly just created) Delta table, at the version last read or committed.
#[derive(Clone)]
pub struct DeltaTableHandle {
    table: DeltaTable,
    schema: SchemaRef,
    delta_schema: StructType,
    partition_columns: Vec<String>,
    data_file_schema: SchemaRef,
}

impl fmt::Debug for DeltaTableHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeltaTableHandle")
            .field("url", &scrub_secrets(self.table.table_url().as_str()))
            .field("version", &self.version())
            .field("partition_columns", &self.partition_columns)
            .finish()
    }
}

/// The application transaction a continuous-export run commits with: app id = the
/// export's identity; `version` = the run's end cursor N, which grows run after run as
/// Delta requires and tells a recovery run exactly which commits landed; `after` = the
/// run's start cursor E. The table may take the run only while it records no version
/// after E for the app id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaTxn {
    /// The application id.
    pub app_id: String,
    /// The run's start cursor (exclusive).
    pub after: i64,
    /// The run's end cursor (inclusive): the transaction version recorded.
    pub version: i64,
}

impl DeltaTxn {
    /// The transaction of a run of `app_id` over the commits `(after, version]`.
    pub fn new(app_id: impl Into<String>, after: i64, version: i64) -> Self {
        Self {
            app_id: app_id.into(),
            after,
            version,
        }
    }
}

/// One data file to add to the table in [`DeltaTarget::commit_files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaFile {
    /// The object-store path of the file relative to the table root, exactly as written
    /// through [`DeltaTarget::object_store`] (`Path::as_ref()`), e.g.
    /// `Region=EU/part-00000-<uuid>.parquet`. Percent-encoding for the log is done here.
    pub path: String,
    /// Size of the file in bytes.
    pub size: u64,
    /// Number of records in the file.
    pub num_records: u64,
    /// Value of every partition column of the table, as Delta partition strings
    /// ([`DeltaTableHandle::partition_value`]); `None` for null.
    pub partition_values: Vec<(String, Option<String>)>,
}

impl DeltaTarget {
    /// A Delta table at `url`: a local path, a `file://` URL, `memory://` (private to this
    /// target), or an object store URL (`s3://`, `gs://`, `az://`, `abfss://`, Azure/S3
    /// `https://`) of the table root. `storage_options` are `object_store` configuration
    /// keys (`aws_access_key_id`, `azure_storage_account_key`, ...); cloud credentials are
    /// also read from the environment. Nothing is read or written yet.
    pub fn new(url: &str, storage_options: HashMap<String, String>) -> Result<Self> {
        Self::new_in(url, storage_options, None)
    }

    /// [`DeltaTarget::new`] in a session: an object store registered in `runtime` for
    /// the URL's scheme and host (`SessionContext::register_object_store`) holds the
    /// table, as it does for the storage targets of the same session.
    pub fn new_in(
        url: &str,
        storage_options: HashMap<String, String>,
        runtime: Option<&datafusion::execution::runtime_env::RuntimeEnv>,
    ) -> Result<Self> {
        let shown = scrub_secrets(url.trim());
        let invalid = |reason: String| {
            ExportError::Invalid(scrub_secrets(&format!(
                "invalid Delta table URL '{shown}': {reason}"
            )))
        };
        let url = parse_table_url(url.trim()).map_err(invalid)?;
        if !matches!(url.scheme(), "file" | "memory") {
            register_cloud_handlers();
        }
        let registered = runtime.filter(|_| url.has_host()).and_then(|runtime| {
            let base = format!("{}://{}", url.scheme(), url.authority());
            let base = datafusion::execution::object_store::ObjectStoreUrl::parse(base).ok()?;
            runtime.object_store(&base).ok()
        });
        let log_store = DeltaTableBuilder::from_url(url.clone())
            .and_then(|builder| {
                let builder = builder.with_storage_options(storage_options.clone());
                match registered {
                    Some(store) => builder.with_storage_backend(store, url.clone()),
                    None => builder,
                }
                .build_storage()
            })
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            url,
            shown,
            storage_options,
            log_store,
        })
    }

    /// The table root URL as given (secrets scrubbed), for messages.
    pub fn display_url(&self) -> &str {
        &self.shown
    }

    /// The normalized table root URL (may carry secrets: never show it).
    pub fn url(&self) -> &Url {
        &self.url
    }

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

    /// The object store rooted at the table directory, where the caller writes Parquet data
    /// files (paths relative to the table root, e.g. `Region=EU/part-00000-<uuid>.parquet`).
    pub fn object_store(&self, handle: &DeltaTableHandle) -> Arc<dyn ObjectStore> {
        handle.table.object_store()
    }

    /// Commits `files` as ONE Delta commit and returns the new table version.
    ///
    /// Each file becomes an `add` action (partition values, size, modification time = now,
    /// `dataChange = true`, stats `{"numRecords": n}`). With a [`DeltaTxn`] the commit also
    /// carries that application transaction (operation `STREAMING UPDATE`, as Spark
    /// streaming writes) and is refused if the table already records, for the same app
    /// id, a version after the run's start cursor: some run starting there (perhaps
    /// another runner's, with another end cursor) is already in the table. Two writers
    /// racing with the same app id cannot both commit (delta-rs's conflict checker fails
    /// the loser with a concurrent-transaction conflict). A commit that fails but in
    /// fact landed (a lost response, then a retry that conflicts with itself) is found
    /// by its transaction and these very files, and is success. Without `txn` the
    /// operation is a blind `WRITE` append. `operation_note` goes to the commit's
    /// `userMetadata`.
    ///
    /// The handle is refreshed to the latest version first and left at the new version.
    /// Nothing to commit (no files and no `txn`) returns the current version unchanged.
    pub async fn commit_files(
        &self,
        handle: &mut DeltaTableHandle,
        files: &[DeltaFile],
        txn: Option<DeltaTxn>,
        operation_note: &str,
    ) -> Result<i64> {
        self.refresh(handle).await?;
        let adds = self.add_actions(handle, files)?;
        let log_store = handle.table.log_store();
        if let Some(txn) = &txn {
            if txn.app_id.is_empty() {
                return Err(ExportError::Invalid(
                    "the application transaction id of a Delta commit is empty".into(),
                ));
            }
            let state = handle
                .table
                .snapshot()
                .map_err(|e| self.error("cannot read the table state", e))?;
            let recorded = state
                .transaction_version(log_store.as_ref(), &txn.app_id)
                .await
                .map_err(|e| self.error("cannot read application transactions", e))?;
            if let Some(recorded) = recorded.filter(|recorded| *recorded > txn.after) {
                if recorded == txn.version && self.landed(txn, files).await? {
                    return Ok(handle.version());
                }
                return Err(ExportError::Tables(TablesError::Conflict(scrub_secrets(
                    &format!(
                        "Delta table '{}' already records application transaction version \
                     {recorded} for '{}' (at table version {}): the commits after cursor {} \
                     were already exported by another run; refusing to commit version {} \
                     again",
                        self.shown,
                        txn.app_id,
                        handle.version(),
                        txn.after,
                        txn.version
                    ),
                ))));
            }
        } else if adds.is_empty() {
            return Ok(handle.version());
        }

        let now = chrono::Utc::now().timestamp_millis();
        let mut properties = CommitProperties::default().with_metadata([(
            "userMetadata".to_string(),
            serde_json::Value::String(operation_note.to_string()),
        )]);
        let operation = match &txn {
            Some(txn) => {
                properties = properties.with_application_transaction(
                    Transaction::new_with_last_update(&txn.app_id, txn.version, Some(now)),
                );
                DeltaOperation::StreamingUpdate {
                    output_mode: OutputMode::Append,
                    query_id: txn.app_id.clone(),
                    epoch_id: txn.version,
                }
            }
            None => DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: (!handle.partition_columns.is_empty())
                    .then(|| handle.partition_columns.clone()),
                predicate: None,
            },
        };
        let actions = adds.into_iter().map(Action::Add).collect();
        let finalized = {
            let state = handle
                .table
                .snapshot()
                .map_err(|e| self.error("cannot read the table state", e))?;
            CommitBuilder::from(properties)
                .with_actions(actions)
                .build(Some(state), log_store, operation)
                .await
        };
        let finalized = match (finalized, &txn) {
            (Ok(finalized), _) => finalized,
            (Err(e), Some(txn)) => {
                // Did it land after all (a lost response, then a retry that lost to
                // itself)? Then it is this commit, not a second one.
                if self.landed(txn, files).await.unwrap_or(false) {
                    self.refresh(handle).await?;
                    return Ok(handle.version());
                }
                return Err(self.error("commit failed", e));
            }
            (Err(e), None) => return Err(self.error("commit failed", e)),
        };
        let version = finalized.version();
        handle.table.state = Some(finalized.snapshot());
        to_i64_version(version)
    }

    /// Whether the table holds the commit of `txn` and it added exactly `files`.
    async fn landed(&self, txn: &DeltaTxn, files: &[DeltaFile]) -> Result<bool> {
        let Some(committed) = self.transaction_files(&txn.app_id, txn.version).await? else {
            return Ok(false);
        };
        let ours: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let theirs: HashSet<&str> = committed.iter().map(|f| f.path.as_str()).collect();
        Ok(ours == theirs)
    }

    /// The application transaction version recorded for `app_id` in the latest table
    /// state, if any (`None` as well when the table does not exist yet).
    pub async fn app_transaction_version(&self, app_id: &str) -> Result<Option<i64>> {
        let Some(table) = self.load_if_exists().await? else {
            return Ok(None);
        };
        let state = table
            .snapshot()
            .map_err(|e| self.error("cannot read the table state", e))?;
        state
            .transaction_version(self.log_store.as_ref(), app_id)
            .await
            .map_err(|e| self.error("cannot read application transactions", e))
    }

    /// The files added by the commit that recorded application transaction
    /// `(app_id, txn_version)`, looking back from the latest table version over at most
    /// [`MAX_COMMITS_SEARCHED`] commits. `None` when that commit is not found (older,
    /// or its log entry was cleaned up).
    pub async fn transaction_files(
        &self,
        app_id: &str,
        txn_version: i64,
    ) -> Result<Option<Vec<CommittedFile>>> {
        let Some(table) = self.load_if_exists().await? else {
            return Ok(None);
        };
        let Some(latest) = table.version() else {
            return Ok(None);
        };
        let oldest = latest.saturating_sub(MAX_COMMITS_SEARCHED);
        for version in (oldest..=latest).rev() {
            let Some(entry) = self
                .log_store
                .read_commit_entry(version)
                .await
                .map_err(|e| self.error("cannot read the table log", e))?
            else {
                continue;
            };
            if let Some(files) = files_of_transaction(&entry, app_id, txn_version)
                .map_err(|e| self.invalid(format!("commit {version}: {e}")))?
            {
                return Ok(Some(files));
            }
        }
        Ok(None)
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

    async fn load_if_exists(&self) -> Result<Option<DeltaTable>> {
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

    /// `schema` as a Delta schema (after the type mapping of [`Self::ensure_table`]).
    fn delta_schema(&self, schema: &SchemaRef) -> Result<StructType> {
        if schema.fields().is_empty() {
            return Err(self.invalid("the export schema has no columns".into()));
        }
        let mut seen = HashSet::new();
        let mut fields = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            if !seen.insert(field.name().to_lowercase()) {
                return Err(self.invalid(format!(
                    "column '{}' appears twice (Delta column names are case-insensitive)",
                    field.name()
                )));
            }
            let mapped = delta_field(field)
                .map_err(|reason| self.invalid(format!("column '{}': {reason}", field.name())))?;
            let delta = StructField::try_from_arrow(&mapped).map_err(|e| {
                self.invalid(format!("column '{}': no Delta type: {e}", field.name()))
            })?;
            fields.push(delta);
        }
        StructType::try_new(fields).map_err(|e| self.invalid(format!("bad schema: {e}")))
    }

    fn check_partition_columns(
        &self,
        schema: &StructType,
        partition_columns: &[String],
    ) -> Result<()> {
        let mut seen = HashSet::new();
        for column in partition_columns {
            if !seen.insert(column.as_str()) {
                return Err(self.invalid(format!("partition column '{column}' is listed twice")));
            }
            let Some(field) = schema.field(column) else {
                return Err(self.invalid(format!(
                    "partition column '{column}' is not a column of the schema"
                )));
            };
            let partitionable = matches!(
                field.data_type(),
                DeltaType::Primitive(p) if !matches!(p, PrimitiveType::Binary)
            );
            if !partitionable {
                return Err(self.invalid(format!(
                    "column '{column}' of type {} cannot be a partition column",
                    field.data_type()
                )));
            }
        }
        if !partition_columns.is_empty() && partition_columns.len() == schema.fields().len() {
            return Err(self.invalid(
                "every column is a partition column; a Delta table needs at least one data column"
                    .into(),
            ));
        }
        Ok(())
    }

    fn check_existing(
        &self,
        handle: &DeltaTableHandle,
        requested: &StructType,
        partition_columns: &[String],
    ) -> Result<()> {
        let state = handle
            .table
            .snapshot()
            .map_err(|e| self.error("cannot read the table state", e))?;
        let configuration = state.metadata().configuration();
        if let Some(mode) = configuration
            .get("delta.columnMapping.mode")
            .filter(|mode| !mode.eq_ignore_ascii_case("none"))
        {
            return Err(self.invalid(format!(
                "the table uses column mapping (mode '{mode}'), which this exporter does not write"
            )));
        }
        if let Some(key) = configuration
            .keys()
            .find(|key| key.starts_with("delta.constraints."))
        {
            return Err(self.invalid(format!(
                "the table has a CHECK constraint ('{key}'), which this exporter does not enforce"
            )));
        }
        for field in handle.delta_schema.fields() {
            let special = field.metadata().keys().find(|key| {
                matches!(
                    key.as_str(),
                    "delta.invariants" | "delta.generationExpression" | "delta.identity.start"
                )
            });
            if let Some(key) = special {
                return Err(self.invalid(format!(
                    "column '{}' carries '{key}', which this exporter does not enforce",
                    field.name()
                )));
            }
        }

        let table_fields: Vec<&StructField> = handle.delta_schema.fields().collect();
        let requested_fields: Vec<&StructField> = requested.fields().collect();
        for i in 0..table_fields.len().max(requested_fields.len()) {
            match (table_fields.get(i), requested_fields.get(i)) {
                (Some(t), Some(r)) if t.name() != r.name() => {
                    return Err(self.mismatch(format!(
                        "column {} is '{}' ({}) in the table but '{}' ({}) in the export schema",
                        i + 1,
                        t.name(),
                        t.data_type(),
                        r.name(),
                        r.data_type()
                    )));
                }
                (Some(t), Some(r)) if !type_compatible(r.data_type(), t.data_type()) => {
                    return Err(self.mismatch(format!(
                        "column '{}' is {} in the table but {} in the export schema",
                        t.name(),
                        t.data_type(),
                        r.data_type()
                    )));
                }
                (Some(_), Some(_)) => {}
                (Some(t), None) => {
                    return Err(self.mismatch(format!(
                        "table column '{}' ({}) is missing from the export schema",
                        t.name(),
                        t.data_type()
                    )));
                }
                (None, Some(r)) => {
                    return Err(self.mismatch(format!(
                        "export column '{}' ({}) is not in the table",
                        r.name(),
                        r.data_type()
                    )));
                }
                (None, None) => {}
            }
        }

        if !partition_columns.is_empty() {
            let wanted: HashSet<&String> = partition_columns.iter().collect();
            let actual: HashSet<&String> = handle.partition_columns.iter().collect();
            if wanted != actual {
                return Err(self.mismatch(format!(
                    "the table is partitioned by ({}) but the export asks for ({})",
                    handle.partition_columns.join(", "),
                    partition_columns.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn add_actions(&self, handle: &DeltaTableHandle, files: &[DeltaFile]) -> Result<Vec<Add>> {
        let now = chrono::Utc::now().timestamp_millis();
        let expected: HashSet<&str> = handle
            .partition_columns
            .iter()
            .map(|s| s.as_str())
            .collect();
        let mut paths = HashSet::new();
        let mut adds = Vec::with_capacity(files.len());
        for file in files {
            let bad = |reason: String| {
                ExportError::Invalid(scrub_secrets(&format!(
                    "cannot add file '{}' to Delta table '{}': {reason}",
                    file.path, self.shown
                )))
            };
            check_relative_path(&file.path).map_err(bad)?;
            if !paths.insert(file.path.as_str()) {
                return Err(bad("the file is listed twice".into()));
            }
            let mut partition_values = HashMap::with_capacity(file.partition_values.len());
            for (column, value) in &file.partition_values {
                if !expected.contains(column.as_str()) {
                    return Err(bad(format!(
                        "'{column}' is not a partition column of the table (partition columns: \
                         [{}])",
                        handle.partition_columns.join(", ")
                    )));
                }
                if partition_values
                    .insert(column.clone(), value.clone())
                    .is_some()
                {
                    return Err(bad(format!("partition column '{column}' is given twice")));
                }
            }
            if let Some(missing) = handle
                .partition_columns
                .iter()
                .find(|c| !partition_values.contains_key(*c))
            {
                return Err(bad(format!("no value for partition column '{missing}'")));
            }
            let size = i64::try_from(file.size).map_err(|_| bad("size is too large".into()))?;
            let stats = serde_json::json!({ "numRecords": file.num_records }).to_string();
            adds.push(Add {
                path: file.path.clone(),
                partition_values,
                size,
                modification_time: now,
                data_change: true,
                stats: Some(stats),
                tags: None,
                deletion_vector: None,
                base_row_id: None,
                default_row_commit_version: None,
                clustering_provider: None,
            });
        }
        Ok(adds)
    }

    fn invalid(&self, reason: String) -> ExportError {
        ExportError::Invalid(scrub_secrets(&format!(
            "Delta table '{}': {reason}",
            self.shown
        )))
    }

    fn mismatch(&self, reason: String) -> ExportError {
        ExportError::Invalid(scrub_secrets(&format!(
            "the schema of Delta table '{}' does not match the export: {reason}",
            self.shown
        )))
    }

    fn error(&self, action: &str, e: DeltaTableError) -> ExportError {
        ExportError::Invalid(scrub_secrets(&format!(
            "Delta table '{}': {action}: {e}",
            self.shown
        )))
    }
}

impl DeltaTableHandle {
    /// The table version this handle reflects.
    pub fn version(&self) -> i64 {
        self.table
            .version()
            .and_then(|v| i64::try_from(v).ok())
            .unwrap_or(-1)
    }

    /// The table's schema in Arrow terms, as DataFusion reads it back (partition columns
    /// included, Delta types: e.g. `Timestamp(µs, "UTC")` for `timestamp`).
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The table's partition columns, in table order.
    pub fn partition_columns(&self) -> &[String] {
        &self.partition_columns
    }

    /// The schema data files must have: the table schema without the partition columns.
    pub fn data_file_schema(&self) -> &SchemaRef {
        &self.data_file_schema
    }

    /// `batch` (with columns named as the table's) as a data-file batch: partition columns
    /// dropped, the rest cast to the table's types (e.g. nanosecond timestamps to
    /// microseconds, durations to their integer count). Extra columns are an error.
    pub fn to_data_file_batch(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let batch_schema = batch.schema();
        if let Some(extra) = batch_schema
            .fields()
            .iter()
            .find(|f| self.schema.field_with_name(f.name()).is_err())
        {
            return Err(ExportError::Invalid(format!(
                "column '{}' is not a column of the Delta table",
                extra.name()
            )));
        }
        let columns = self
            .data_file_schema
            .fields()
            .iter()
            .map(|field| {
                let (index, _) = batch_schema.column_with_name(field.name()).ok_or_else(|| {
                    ExportError::Invalid(format!(
                        "the batch has no column '{}' of the Delta table",
                        field.name()
                    ))
                })?;
                cast_column(batch.column(index), field.name(), field.data_type())
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordBatch::try_new(
            self.data_file_schema.clone(),
            columns,
        )?)
    }

    /// The Delta partition string of `array[row]` for partition `column` (the array is cast
    /// to the column's table type first): `None` for null and for the empty string (Delta
    /// writes both as null); dates as `2026-11-21`, timestamps as
    /// `2026-11-21 13:45:00.000000` (UTC), decimals in plain notation, numbers and booleans
    /// as Spark prints them.
    pub fn partition_value(
        &self,
        column: &str,
        array: &dyn Array,
        row: usize,
    ) -> Result<Option<String>> {
        if !self.partition_columns.iter().any(|c| c == column) {
            return Err(ExportError::Invalid(format!(
                "'{column}' is not a partition column of the Delta table"
            )));
        }
        let field = self.schema.field_with_name(column)?;
        if row >= array.len() {
            return Err(ExportError::Invalid(format!(
                "row {row} is out of range for partition column '{column}'"
            )));
        }
        let one = array.slice(row, 1);
        let cast = cast_column(&one, column, field.data_type())?;
        partition_string(cast.as_ref()).map_err(|reason| {
            ExportError::Invalid(format!("partition column '{column}': {reason}"))
        })
    }

    /// The underlying deltalake table (at [`Self::version`]).
    pub fn delta_table(&self) -> &DeltaTable {
        &self.table
    }
}

/// Commits [`DeltaTarget::transaction_files`] reads back at most.
pub const MAX_COMMITS_SEARCHED: u64 = 1000;

/// A data file a Delta commit added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedFile {
    /// Relative to the table root, as in the `add` action.
    pub path: String,
    /// Bytes stored.
    pub size: u64,
    /// Records, from the action's statistics (0 when it has none).
    pub num_records: u64,
}

/// The files added by one commit's JSON lines if the commit carries application
/// transaction `(app_id, version)`.
fn files_of_transaction(
    entry: &[u8],
    app_id: &str,
    version: i64,
) -> std::result::Result<Option<Vec<CommittedFile>>, String> {
    let mut ours = false;
    let mut files = Vec::new();
    for line in entry.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let action: serde_json::Value =
            serde_json::from_slice(line).map_err(|e| format!("not a Delta action: {e}"))?;
        if let Some(txn) = action.get("txn") {
            ours |= txn.get("appId").and_then(|v| v.as_str()) == Some(app_id)
                && txn.get("version").and_then(|v| v.as_i64()) == Some(version);
        }
        if let Some(add) = action.get("add") {
            let path = add
                .get("path")
                .and_then(|v| v.as_str())
                .ok_or("an add action without a path")?;
            let num_records = add
                .get("stats")
                .and_then(|v| v.as_str())
                .and_then(|stats| serde_json::from_str::<serde_json::Value>(stats).ok())
                .and_then(|stats| stats.get("numRecords").and_then(|n| n.as_u64()))
                .unwrap_or(0);
            files.push(CommittedFile {
                path: path.to_string(),
                size: add.get("size").and_then(|v| v.as_u64()).unwrap_or(0),
                num_records,
            });
        }
    }
    Ok(ours.then_some(files))
}

/// The hive-style directory for `partition_values` as Delta writers name it, e.g.
/// `Region=EU/Day=2026-11-21%2000%3A00%3A00.000000` (values percent-encoded as delta-rs
/// does; null as [`NULL_PARTITION_DIR_VALUE`]). Empty for an unpartitioned table. Delta
/// readers take partition values from the log, never from the path, so this is a
/// convention, not a requirement.
pub fn partition_path(partition_values: &[(String, Option<String>)]) -> String {
    partition_values
        .iter()
        .map(|(column, value)| match value {
            Some(value) => format!("{column}={}", encode_partition_value(value)),
            None => format!("{column}={NULL_PARTITION_DIR_VALUE}"),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Percent-encodes a partition value for a directory name, with the character set
/// delta-rs uses (the Delta protocol's "URL-encode keys and string values").
fn encode_partition_value(value: &str) -> String {
    const RESERVED: &[u8] = b" !\"#$%&'()*+,/:;<=>?@[\\]^`{|}";
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_control() || !byte.is_ascii() || RESERVED.contains(&byte) {
            out.push_str(&format!("%{byte:02X}"));
        } else {
            out.push(byte as char);
        }
    }
    out
}

fn check_relative_path(path: &str) -> std::result::Result<(), String> {
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if path.starts_with('/') || path.contains("://") {
        return Err("the path must be relative to the table root".into());
    }
    if path.split('/').any(|segment| segment == "..") {
        return Err("the path must not contain '..'".into());
    }
    if path == "_delta_log" || path.starts_with("_delta_log/") {
        return Err("data files cannot live under _delta_log".into());
    }
    Path::parse(path).map_err(|e| e.to_string())?;
    Ok(())
}

fn cast_column(array: &ArrayRef, name: &str, to: &ArrowType) -> Result<ArrayRef> {
    if array.data_type() == to {
        return Ok(array.clone());
    }
    // Durations are stored as their integer count: reinterpret, do not convert.
    let source: ArrayRef = match array.data_type() {
        ArrowType::Duration(_) => cast_with_options(array, &ArrowType::Int64, &safe_cast())
            .map_err(|e| cast_error(name, array.data_type(), to, e))?,
        _ => array.clone(),
    };
    cast_with_options(&source, to, &safe_cast())
        .map_err(|e| cast_error(name, array.data_type(), to, e))
}

fn safe_cast() -> CastOptions<'static> {
    CastOptions {
        safe: false,
        ..Default::default()
    }
}

fn cast_error(name: &str, from: &ArrowType, to: &ArrowType, e: impl fmt::Display) -> ExportError {
    ExportError::Invalid(format!(
        "column '{name}': cannot convert {from} to the Delta table's {to}: {e}"
    ))
}

fn partition_string(array: &dyn Array) -> std::result::Result<Option<String>, String> {
    if array.is_null(0) {
        return Ok(None);
    }
    let value = match array.data_type() {
        ArrowType::Boolean => array.as_boolean().value(0).to_string(),
        ArrowType::Int8 => array.as_primitive::<Int8Type>().value(0).to_string(),
        ArrowType::Int16 => array.as_primitive::<Int16Type>().value(0).to_string(),
        ArrowType::Int32 => array.as_primitive::<Int32Type>().value(0).to_string(),
        ArrowType::Int64 => array.as_primitive::<Int64Type>().value(0).to_string(),
        ArrowType::Float32 => array.as_primitive::<Float32Type>().value(0).to_string(),
        ArrowType::Float64 => array.as_primitive::<Float64Type>().value(0).to_string(),
        ArrowType::Utf8 => array.as_string::<i32>().value(0).to_string(),
        ArrowType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(0);
            Date32Type::to_naive_date_opt(days)
                .ok_or_else(|| format!("date {days} is out of range"))?
                .format("%Y-%m-%d")
                .to_string()
        }
        ArrowType::Timestamp(TimeUnit::Microsecond, _) => {
            let micros = array
                .as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>()
                .value(0);
            let time = chrono::DateTime::from_timestamp_micros(micros)
                .ok_or_else(|| format!("timestamp {micros}µs is out of range"))?;
            time.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
        }
        ArrowType::Decimal128(precision, scale) => {
            let value = array.as_primitive::<Decimal128Type>().value(0);
            Decimal128Type::format_decimal(value, *precision, *scale)
        }
        other => return Err(format!("type {other} cannot be a Delta partition column")),
    };
    Ok(if value.is_empty() { None } else { Some(value) })
}

/// `field` with its type mapped to one Delta can store (see [`DeltaTarget::ensure_table`]).
fn delta_field(field: &Field) -> std::result::Result<Field, String> {
    Ok(Field::new(
        field.name(),
        delta_type(field.data_type())?,
        field.is_nullable(),
    ))
}

fn delta_fields(fields: &Fields) -> std::result::Result<Fields, String> {
    fields
        .iter()
        .map(|f| delta_field(f).map(Arc::new))
        .collect::<std::result::Result<Vec<FieldRef>, String>>()
        .map(Fields::from)
}

fn delta_type(data_type: &ArrowType) -> std::result::Result<ArrowType, String> {
    use ArrowType as T;
    Ok(match data_type {
        T::Boolean
        | T::Int8
        | T::Int16
        | T::Int32
        | T::Int64
        | T::Float32
        | T::Float64
        | T::Utf8
        | T::Binary
        | T::Date32 => data_type.clone(),
        T::UInt8 => T::Int16,
        T::UInt16 => T::Int32,
        T::UInt32 | T::UInt64 => T::Int64,
        T::Float16 => T::Float32,
        T::LargeUtf8 | T::Utf8View => T::Utf8,
        T::LargeBinary | T::BinaryView | T::FixedSizeBinary(_) => T::Binary,
        T::Date64 => T::Date32,
        T::Timestamp(_, None) => T::Timestamp(TimeUnit::Microsecond, None),
        T::Timestamp(_, Some(_)) => T::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        T::Duration(_) => T::Int64,
        T::Decimal32(p, s) | T::Decimal64(p, s) | T::Decimal128(p, s) if *s >= 0 => {
            T::Decimal128(*p, *s)
        }
        T::Decimal256(p, s) if *p <= 38 && *s >= 0 => T::Decimal128(*p, *s),
        T::Dictionary(_, value) => delta_type(value)?,
        T::List(item) | T::LargeList(item) | T::ListView(item) | T::LargeListView(item) => {
            T::List(Arc::new(delta_field(item)?))
        }
        T::FixedSizeList(item, _) => T::List(Arc::new(delta_field(item)?)),
        T::Struct(fields) => T::Struct(delta_fields(fields)?),
        T::Map(entries, sorted) => T::Map(Arc::new(delta_field(entries)?), *sorted),
        other => return Err(format!("type {other} has no Delta Lake equivalent")),
    })
}

/// Whether data of Delta type `requested` can be written into a column of type `table`.
fn type_compatible(requested: &DeltaType, table: &DeltaType) -> bool {
    use PrimitiveType as P;
    match (requested, table) {
        (DeltaType::Primitive(r), DeltaType::Primitive(t)) => {
            r == t
                || matches!(
                    (r, t),
                    (P::Byte, P::Short | P::Integer | P::Long)
                        | (P::Short, P::Integer | P::Long)
                        | (P::Integer, P::Long)
                        | (P::Float, P::Double)
                )
        }
        (DeltaType::Array(r), DeltaType::Array(t)) => {
            type_compatible(r.element_type(), t.element_type())
        }
        (DeltaType::Map(r), DeltaType::Map(t)) => {
            type_compatible(r.key_type(), t.key_type())
                && type_compatible(r.value_type(), t.value_type())
        }
        (DeltaType::Struct(r), DeltaType::Struct(t)) => {
            r.fields().len() == t.fields().len()
                && r.fields().zip(t.fields()).all(|(r, t)| {
                    r.name() == t.name() && type_compatible(r.data_type(), t.data_type())
                })
        }
        _ => false,
    }
}

fn to_i64_version(version: u64) -> Result<i64> {
    i64::try_from(version)
        .map_err(|_| ExportError::Invalid(format!("Delta table version {version} is too large")))
}

fn scrub_datafusion(e: datafusion::error::DataFusionError) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::Plan(scrub_secrets(&e.to_string()))
}

/// Parses the table root given to [`DeltaTarget::new`] into a normalized URL.
fn parse_table_url(url: &str) -> std::result::Result<Url, String> {
    if url.is_empty() {
        return Err("the URL is empty".into());
    }
    let parsed = match Url::parse(url) {
        // A one-letter scheme is a Windows drive letter: a local path.
        Ok(parsed) if parsed.scheme().len() > 1 => parsed,
        _ => return local_url(std::path::Path::new(url)),
    };
    match parsed.scheme() {
        "file" => {
            let path = parsed
                .to_file_path()
                .map_err(|_| "not a valid local file URL".to_string())?;
            local_url(&path)
        }
        "memory" => Ok(deltalake::table::normalize_table_url(&parsed)),
        "s3" | "s3a" | "gs" | "az" | "adl" | "azure" | "abfs" | "abfss" | "https" => {
            match ObjectStoreScheme::parse(&parsed) {
                Ok((ObjectStoreScheme::Http, _)) | Err(_) => Err(
                    "plain HTTP(S) servers cannot hold a Delta table; use an s3://, gs://, az:// \
                     or abfss:// URL, or an Azure/S3 https:// URL"
                        .into(),
                ),
                Ok(_) => Ok(deltalake::table::normalize_table_url(&parsed)),
            }
        }
        other => Err(format!(
            "unsupported scheme '{other}' (supported: local paths, file://, memory://, s3://, \
             s3a://, gs://, az://, abfs://, abfss://, adl://, azure://, Azure/S3 https://)"
        )),
    }
}

fn local_url(path: &std::path::Path) -> std::result::Result<Url, String> {
    let absolute = std::path::absolute(path).map_err(|e| format!("bad local path: {e}"))?;
    let url = Url::from_directory_path(&absolute)
        .map_err(|_| format!("cannot make a URL of the local path {}", absolute.display()))?;
    // Re-parse so `..` segments are resolved, as deltalake expects.
    let url = Url::parse(url.as_str()).map_err(|e| e.to_string())?;
    Ok(deltalake::table::normalize_table_url(&url))
}

/// Registers, once, object-store and log-store factories for the cloud schemes deltalake
/// knows nothing about without its storage features. Schemes already registered (by a
/// deltalake storage crate) are left alone.
fn register_cloud_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let stores = object_store_factories();
        let logs = logstore_factories();
        for scheme in [
            "s3", "s3a", "gs", "az", "adl", "azure", "abfs", "abfss", "https",
        ] {
            let Ok(key) = Url::parse(&format!("{scheme}://")) else {
                continue;
            };
            if !stores.contains_key(&key) && !logs.contains_key(&key) {
                stores.insert(key.clone(), Arc::new(CloudObjectStoreFactory));
                logs.insert(key, Arc::new(PutIfAbsentLogStoreFactory));
            }
        }
    });
}

/// Builds S3/GCS/Azure stores with `object_store`'s builders: environment first, then the
/// storage options.
struct CloudObjectStoreFactory;

impl ObjectStoreFactory for CloudObjectStoreFactory {
    fn parse_url_opts(
        &self,
        url: &Url,
        config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, Path)> {
        let (scheme, _) = ObjectStoreScheme::parse(url)
            .map_err(|e| DeltaTableError::InvalidTableLocation(scrub_secrets(&e.to_string())))?;
        if !matches!(
            scheme,
            ObjectStoreScheme::AmazonS3
                | ObjectStoreScheme::GoogleCloudStorage
                | ObjectStoreScheme::MicrosoftAzure
        ) {
            return Err(DeltaTableError::InvalidTableLocation(format!(
                "no object store for {}",
                scrub_secrets(url.as_str())
            )));
        }
        // Built as every other URL of the session is; deltalake's own keys are left out.
        let options: Vec<(String, String)> = config
            .raw
            .iter()
            .filter(|(key, _)| datafusion_export_tables::is_storage_option(key))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        Ok(datafusion_export_tables::cloud_store(url, &options)?)
    }
}

/// deltalake's default log store: commits are put-if-absent objects, which S3, GCS and
/// Azure all support natively.
struct PutIfAbsentLogStoreFactory;

impl LogStoreFactory for PutIfAbsentLogStoreFactory {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        DurationNanosecondArray, Int64Array, StringArray, TimestampNanosecondArray,
    };
    use datafusion::arrow::datatypes::TimeUnit;
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::prelude::SessionContext;
    use object_store::ObjectStoreExt;

    fn export_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("a", ArrowType::Int64, true),
            Field::new("s", ArrowType::Utf8, true),
            Field::new(
                "ts",
                ArrowType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                true,
            ),
            Field::new("d", ArrowType::Duration(TimeUnit::Nanosecond), true),
            Field::new("Region", ArrowType::Utf8, true),
        ]))
    }

    fn batch(region: &str, a: &[i64]) -> RecordBatch {
        let n = a.len();
        RecordBatch::try_new(
            export_schema(),
            vec![
                Arc::new(Int64Array::from(a.to_vec())),
                Arc::new(StringArray::from(
                    a.iter().map(|v| format!("s{v}")).collect::<Vec<_>>(),
                )),
                Arc::new(
                    TimestampNanosecondArray::from(
                        a.iter()
                            .map(|v| 1_700_000_000_000_000_000 + v * 1_000)
                            .collect::<Vec<_>>(),
                    )
                    .with_timezone("UTC"),
                ),
                Arc::new(DurationNanosecondArray::from(
                    a.iter().map(|v| v * 1_000_000_000).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(vec![region; n])),
            ],
        )
        .unwrap()
    }

    /// Writes `batch` as one Parquet data file the way the export sink does.
    async fn write_file(
        target: &DeltaTarget,
        handle: &DeltaTableHandle,
        batch: &RecordBatch,
    ) -> DeltaFile {
        let region = batch.column_by_name("Region").unwrap();
        let value = handle
            .partition_value("Region", region.as_ref(), 0)
            .unwrap();
        let partition_values = vec![("Region".to_string(), value)];
        let data = handle.to_data_file_batch(batch).unwrap();
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, data.schema(), None).unwrap();
        writer.write(&data).unwrap();
        writer.close().unwrap();
        let path = format!(
            "{}/part-00000-{}.parquet",
            partition_path(&partition_values),
            uuid::Uuid::new_v4()
        );
        let size = bytes.len() as u64;
        target
            .object_store(handle)
            .put(&Path::parse(&path).unwrap(), bytes.into())
            .await
            .unwrap();
        DeltaFile {
            path,
            size,
            num_records: data.num_rows() as u64,
            partition_values,
        }
    }

    async fn query(provider: Arc<dyn TableProvider>, sql: &str) -> Vec<RecordBatch> {
        let ctx = SessionContext::new();
        ctx.register_table("t", provider).unwrap();
        ctx.sql(sql).await.unwrap().collect().await.unwrap()
    }

    fn pretty(batches: &[RecordBatch]) -> String {
        datafusion::arrow::util::pretty::pretty_format_batches(batches)
            .unwrap()
            .to_string()
    }

    #[test]
    fn the_files_of_an_application_transaction_are_read_from_its_commit() {
        let entry = br#"{"commitInfo":{"operation":"STREAMING UPDATE"}}
{"txn":{"appId":"e1","version":42,"lastUpdated":1}}
{"add":{"path":"a.parquet","size":100,"stats":"{\"numRecords\":3}","partitionValues":{},"modificationTime":1,"dataChange":true}}
{"add":{"path":"b.parquet","size":50,"partitionValues":{},"modificationTime":1,"dataChange":true}}
"#;
        let files = files_of_transaction(entry, "e1", 42).unwrap().unwrap();
        assert_eq!(
            files,
            vec![
                CommittedFile {
                    path: "a.parquet".into(),
                    size: 100,
                    num_records: 3
                },
                CommittedFile {
                    path: "b.parquet".into(),
                    size: 50,
                    num_records: 0
                },
            ]
        );
        assert_eq!(files_of_transaction(entry, "e1", 41).unwrap(), None);
        assert_eq!(files_of_transaction(entry, "e2", 42).unwrap(), None);
        assert!(files_of_transaction(b"{not json", "e1", 42).is_err());
    }
    #[tokio::test]
    async fn create_commit_read_back_with_app_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("target table");
        let target = DeltaTarget::new(root.to_str().unwrap(), HashMap::new()).unwrap();
        assert!(!target.exists().await.unwrap());
        assert_eq!(target.app_transaction_version("app").await.unwrap(), None);

        let mut handle = target
            .ensure_table(&export_schema(), &["Region".to_string()])
            .await
            .unwrap();
        assert_eq!(handle.version(), 0);
        assert_eq!(handle.partition_columns(), ["Region".to_string()]);
        assert_eq!(
            handle
                .data_file_schema()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>(),
            ["a", "s", "ts", "d"]
        );
        assert_eq!(
            handle.schema().field_with_name("d").unwrap().data_type(),
            &ArrowType::Int64
        );

        // One file per partition value; the second value needs percent-encoding.
        let eu = write_file(&target, &handle, &batch("EU", &[1, 2, 3])).await;
        let us = write_file(&target, &handle, &batch("US West: 1", &[10, 20])).await;
        assert!(
            us.path.starts_with("Region=US%20West%3A%201/"),
            "{}",
            us.path
        );
        let version = target
            .commit_files(
                &mut handle,
                &[eu.clone(), us.clone()],
                Some(DeltaTxn::new("app", 0, 1)),
                "run 1",
            )
            .await
            .unwrap();
        assert_eq!(version, 1);
        assert_eq!(handle.version(), 1);
        assert_eq!(
            target.app_transaction_version("app").await.unwrap(),
            Some(1)
        );
        assert_eq!(target.app_transaction_version("other").await.unwrap(), None);

        let provider = target.table_provider().await.unwrap();
        let rows = query(
            provider,
            "SELECT \"Region\", count(*) AS n, sum(a) AS total, min(s) AS s, \
             min(ts) AS ts, max(d) AS d FROM t GROUP BY \"Region\" ORDER BY \"Region\"",
        )
        .await;
        let expected = [
            "+------------+---+-------+-----+-----------------------------+-------------+",
            "| Region     | n | total | s   | ts                          | d           |",
            "+------------+---+-------+-----+-----------------------------+-------------+",
            "| EU         | 3 | 6     | s1  | 2023-11-14T22:13:20.000001Z | 3000000000  |",
            "| US West: 1 | 2 | 30    | s10 | 2023-11-14T22:13:20.000010Z | 20000000000 |",
            "+------------+---+-------+-----+-----------------------------+-------------+",
        ]
        .join("\n");
        assert_eq!(pretty(&rows), expected);

        // A retry of run 1 is refused; run 2 goes through.
        let again = target
            .commit_files(
                &mut handle,
                std::slice::from_ref(&eu),
                Some(DeltaTxn::new("app", 0, 1)),
                "run 1",
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(
            again.contains("already records application transaction version 1"),
            "{again}"
        );
        let eu2 = write_file(&target, &handle, &batch("EU", &[4])).await;
        let version = target
            .commit_files(
                &mut handle,
                &[eu2],
                Some(DeltaTxn::new("app", 1, 2)),
                "run 2",
            )
            .await
            .unwrap();
        assert_eq!(version, 2);
        assert_eq!(
            target.app_transaction_version("app").await.unwrap(),
            Some(2)
        );

        let rows = query(
            target.table_provider().await.unwrap(),
            "SELECT count(*) AS n, sum(a) AS total FROM t WHERE \"Region\" = 'EU'",
        )
        .await;
        assert_eq!(
            pretty(&rows),
            [
                "+---+-------+",
                "| n | total |",
                "+---+-------+",
                "| 4 | 10    |",
                "+---+-------+",
            ]
            .join("\n")
        );

        // deltalake's own reader agrees.
        let url = Url::from_directory_path(root.canonicalize().unwrap()).unwrap();
        let table = deltalake::open_table(url).await.unwrap();
        assert_eq!(table.version(), Some(2));
        let state = table.snapshot().unwrap();
        assert_eq!(
            state
                .transaction_version(table.log_store().as_ref(), "app")
                .await
                .unwrap(),
            Some(2)
        );
        assert_eq!(table.get_file_uris().unwrap().count(), 3);

        // The log holds what the protocol asks for.
        let log =
            std::fs::read_to_string(root.join("_delta_log/00000000000000000001.json")).unwrap();
        assert!(log.contains(r#""txn":{"appId":"app","version":1"#), "{log}");
        assert!(log.contains(r#"\"numRecords\":3"#), "{log}");
        assert!(log.contains(r#""dataChange":true"#), "{log}");
        assert!(log.contains(r#""userMetadata":"run 1""#), "{log}");
        assert!(log.contains("Region=US%2520West%253A%25201/"), "{log}");

        // Reopening with the same schema (and with no partition list) works.
        let reopened = target.ensure_table(&export_schema(), &[]).await.unwrap();
        assert_eq!(reopened.version(), 2);
        assert_eq!(reopened.partition_columns(), ["Region".to_string()]);
    }

    #[tokio::test]
    async fn schema_mismatch_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let target = DeltaTarget::new(dir.path().to_str().unwrap(), HashMap::new()).unwrap();
        target
            .ensure_table(&export_schema(), &["Region".to_string()])
            .await
            .unwrap();

        let error = |fields: Vec<Field>, partitions: Vec<String>| {
            let target = target.clone();
            async move {
                target
                    .ensure_table(&Arc::new(Schema::new(fields)), &partitions)
                    .await
                    .unwrap_err()
                    .to_string()
            }
        };
        let mut fields: Vec<Field> = export_schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();

        let mut wrong_type = fields.clone();
        wrong_type[1] = Field::new("s", ArrowType::Int64, true);
        let message = error(wrong_type, vec![]).await;
        assert!(
            message.contains("column 's' is string in the table but long in the export schema"),
            "{message}"
        );

        let mut renamed = fields.clone();
        renamed[0] = Field::new("b", ArrowType::Int64, true);
        let message = error(renamed, vec![]).await;
        assert!(
            message.contains("column 1 is 'a' (long) in the table but 'b'"),
            "{message}"
        );

        let mut extra = fields.clone();
        extra.push(Field::new("z", ArrowType::Boolean, true));
        let message = error(extra, vec![]).await;
        assert!(
            message.contains("export column 'z' (boolean) is not in the table"),
            "{message}"
        );

        let message = error(fields.clone(), vec!["s".into()]).await;
        assert!(
            message.contains("partitioned by (Region) but the export asks for (s)"),
            "{message}"
        );

        // Compatible: Utf8View for string, Int32 widening into long, µs timestamps.
        fields[0] = Field::new("a", ArrowType::Int32, true);
        fields[1] = Field::new("s", ArrowType::Utf8View, true);
        fields[2] = Field::new(
            "ts",
            ArrowType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            true,
        );
        target
            .ensure_table(&Arc::new(Schema::new(fields)), &["Region".to_string()])
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn bad_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target =
            DeltaTarget::new(&format!("file://{}", dir.path().display()), HashMap::new()).unwrap();
        let schema = export_schema();
        let message = target
            .ensure_table(&schema, &["nope".to_string()])
            .await
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("partition column 'nope' is not a column"),
            "{message}"
        );
        assert!(!target.exists().await.unwrap());
        let message = target.table_provider().await.unwrap_err().to_string();
        assert!(message.contains("does not exist"), "{message}");

        let mut handle = target
            .ensure_table(&schema, &["Region".into()])
            .await
            .unwrap();
        let file = |path: &str, partition: Vec<(String, Option<String>)>| DeltaFile {
            path: path.into(),
            size: 10,
            num_records: 1,
            partition_values: partition,
        };
        let region = || vec![("Region".to_string(), Some("EU".to_string()))];
        for (bad, expected) in [
            (
                file("/abs/x.parquet", region()),
                "relative to the table root",
            ),
            (file("../x.parquet", region()), "must not contain '..'"),
            (file("_delta_log/x.parquet", region()), "under _delta_log"),
            (
                file("x.parquet", vec![]),
                "no value for partition column 'Region'",
            ),
            (
                file("x.parquet", vec![("Other".into(), None)]),
                "'Other' is not a partition column",
            ),
        ] {
            let message = target
                .commit_files(&mut handle, &[bad], None, "bad")
                .await
                .unwrap_err()
                .to_string();
            assert!(message.contains(expected), "{message}");
        }
        // Nothing was committed; a no-op commit keeps the version.
        assert_eq!(
            target
                .commit_files(&mut handle, &[], None, "x")
                .await
                .unwrap(),
            0
        );
        // A txn-only commit (a run without rows) records the run.
        let version = target
            .commit_files(
                &mut handle,
                &[],
                Some(DeltaTxn::new("job", 0, 7)),
                "empty run",
            )
            .await
            .unwrap();
        assert_eq!(version, 1);
        assert_eq!(
            target.app_transaction_version("job").await.unwrap(),
            Some(7)
        );

        for url in ["", "ftp://host/x", "http://example.com/table"] {
            let message = DeltaTarget::new(url, HashMap::new())
                .unwrap_err()
                .to_string();
            assert!(
                message.contains("invalid Delta table URL"),
                "{url}: {message}"
            );
        }
    }

    /// The futures run inside DataFusion streams and spawned tasks: they must be `Send`.
    #[test]
    fn futures_are_send() {
        fn assert_send<T: Send>(_: &T) {}
        fn check(target: &DeltaTarget, handle: &mut DeltaTableHandle, schema: &SchemaRef) {
            assert_send(&target.ensure_table(schema, &[]));
            assert_send(&target.app_transaction_version("app"));
            assert_send(&target.table_provider());
            assert_send(&target.commit_files(handle, &[], None, "note"));
        }
        let _ = check;
        fn assert_shared<T: Send + Sync + Clone>() {}
        assert_shared::<DeltaTarget>();
        assert_shared::<DeltaTableHandle>();
    }

    #[tokio::test]
    async fn memory_tables_live_as_long_as_their_target() {
        let target = DeltaTarget::new("memory:///exports/t", HashMap::new()).unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("a", ArrowType::Int64, true)]));
        let mut handle = target.ensure_table(&schema, &[]).await.unwrap();
        let data =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![5, 6]))])
                .unwrap();
        let data = handle.to_data_file_batch(&data).unwrap();
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, data.schema(), None).unwrap();
        writer.write(&data).unwrap();
        writer.close().unwrap();
        let file = DeltaFile {
            path: "part-0.parquet".into(),
            size: bytes.len() as u64,
            num_records: 2,
            partition_values: vec![],
        };
        target
            .object_store(&handle)
            .put(&Path::from("part-0.parquet"), bytes.into())
            .await
            .unwrap();
        let version = target
            .commit_files(&mut handle, &[file], None, "append")
            .await
            .unwrap();
        assert_eq!(version, 1);
        let rows = query(
            target.table_provider().await.unwrap(),
            "SELECT sum(a) AS s FROM t",
        )
        .await;
        assert_eq!(
            pretty(&rows),
            ["+----+", "| s  |", "+----+", "| 11 |", "+----+"].join("\n")
        );
    }

    #[test]
    fn cloud_urls_keep_secrets_out_of_messages() {
        let mut options = HashMap::new();
        options.insert(
            "azure_storage_account_key".to_string(),
            // A well-formed (base64) key: "SECRETSECRET".
            "U0VDUkVUU0VDUkVU".to_string(),
        );
        options.insert("azure_storage_account_name".to_string(), "acct".to_string());
        let target = DeltaTarget::new("abfss://c@acct.dfs.core.windows.net/t", options).unwrap();
        let shown = format!("{target:?}");
        assert!(!shown.contains("U0VDUkVU"), "{shown}");
        assert!(shown.contains("azure_storage_account_key"), "{shown}");
        // A malformed key fails without echoing it.
        let mut options = HashMap::new();
        options.insert(
            "azure_storage_account_key".to_string(),
            "SECRET".to_string(),
        );
        let message = DeltaTarget::new("az://c/t", options)
            .unwrap_err()
            .to_string();
        assert!(!message.contains("SECRET"), "{message}");
        let message = DeltaTarget::new("ftp://user:SECRET@host/x", HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(!message.contains("SECRET"), "{message}");
    }

    #[test]
    fn partition_strings_follow_the_protocol() {
        assert_eq!(
            partition_path(&[
                ("a".into(), Some("x/y z".into())),
                ("b".into(), None),
                ("c".into(), Some("é".into())),
            ]),
            "a=x%2Fy%20z/b=__HIVE_DEFAULT_PARTITION__/c=%C3%A9"
        );
        let ts =
            TimestampNanosecondArray::from(vec![1_700_000_000_123_456_789]).with_timezone("UTC");
        let cast = cast_column(
            &(Arc::new(ts) as ArrayRef),
            "ts",
            &ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        )
        .unwrap();
        assert_eq!(
            partition_string(cast.as_ref()).unwrap().as_deref(),
            Some("2023-11-14 22:13:20.123456")
        );
        let empty = StringArray::from(vec![""]);
        assert_eq!(partition_string(&empty).unwrap(), None);
    }
}
