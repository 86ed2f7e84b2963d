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
//!
//! Where things live: `store` (the table URL; object and log stores), `table` (opening,
//! creating and reading the table), `schema` (Arrow → Delta types; schema and partitioning
//! checks), `data_files` (data-file batches, partition values and directories) and
//! `commit` (one commit per run under an application transaction; reading a transaction's
//! files back).

mod commit;
mod data_files;
mod schema;
mod store;
mod table;
#[cfg(test)]
mod test_fixtures;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use deltalake::kernel::StructType;
use deltalake::logstore::LogStoreRef;
use deltalake::{DeltaTable, DeltaTableError};
use object_store::ObjectStore;
use url::Url;

use crate::command::scrub_secrets;
use crate::error::ExportError;

pub use commit::MAX_COMMITS_SEARCHED;
pub use data_files::{partition_path, NULL_PARTITION_DIR_VALUE};

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

impl DeltaTarget {
    /// The table root URL as given (secrets scrubbed), for messages.
    pub fn display_url(&self) -> &str {
        &self.shown
    }

    /// The normalized table root URL (may carry secrets: never show it).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The object store rooted at the table directory, where the caller writes Parquet data
    /// files (paths relative to the table root, e.g. `Region=EU/part-00000-<uuid>.parquet`).
    pub fn object_store(&self, handle: &DeltaTableHandle) -> Arc<dyn ObjectStore> {
        handle.table.object_store()
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

    /// The underlying deltalake table (at [`Self::version`]).
    pub fn delta_table(&self) -> &DeltaTable {
        &self.table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
