//! The durable, ingestion-tracked database behind datafusion-export.
//!
//! A [`Database`] lives under one root URL on any `object_store`. Each ingestion is
//! one commit of a put-if-absent log that assigns the commit's **cursor**, in commit
//! order; tables are lists of immutable Parquet extents stamped with their commit's
//! cursor and ingestion time. [`IngestionTable`] scans only the extents in a cursor
//! range, so cursor-scoped queries cost what they read, not what the table holds.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use datafusion_export_tables::Database;
//! let db = Database::open("./mydb").await?;
//! let ctx = db.session_context();
//! ctx.sql("CREATE VIEW recent AS SELECT * FROM T WHERE cursor_after('10')").await?;
//! # Ok(()) }
//! ```

pub mod bindings;
mod catalog;
mod clock;
mod database;
mod error;
mod extent_writer;
mod insert_sink;
mod listing;
pub mod log;
pub mod merge;
mod provider;
mod records;
mod redact;
mod root;
mod scan_exec;
pub mod secrets;
mod session;
mod vacuum;

pub use catalog::DatabaseSchema;
pub use clock::{Clock, ManualClock, SystemClock};
pub use database::{
    validate_table_name, CommitInfo, Database, DatabaseOptions, IngestReceipt, TableInfo,
};
pub use error::{Result, TablesError};
pub use extent_writer::{conform_batch, convertible, extent_writer_properties, ExtentWriter};
pub use insert_sink::IngestSink;
pub use listing::{Hidden, ListingFilter};
pub use log::state::{DatabaseState, Extent, MergedRange, Removed, StreamHead, TableState};
pub use provider::IngestionTable;
pub use records::{record_path, Record, RECORDS_DIR};
pub use redact::{query_has_secret, scrub_secrets, REDACTED};
pub use root::{cloud_store, is_storage_option, open_root, StorageOptions};
pub use scan_exec::{ExtentScanExec, ScanScope};
pub use secrets::{SecretError, SecretKey, SecretKeys, SECRET_KEY_ENV};
pub use vacuum::{Deleted, DeletedKind, VacuumReport, DEFAULT_VACUUM_WINDOW, MIN_VACUUM_WINDOW};
