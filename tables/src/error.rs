//! The one error type of this crate.

use datafusion::error::DataFusionError;

/// Result alias for this crate.
pub type Result<T, E = TablesError> = std::result::Result<T, E>;

/// Errors of the database layer.
#[derive(Debug, thiserror::Error)]
pub enum TablesError {
    /// The database root URL cannot be used.
    #[error("cannot open database at '{url}': {reason}")]
    InvalidRoot {
        /// The root, with secrets removed.
        url: String,
        /// Why.
        reason: String,
    },
    /// No table of that name.
    #[error("table '{0}' does not exist")]
    TableNotFound(String),
    /// No catalog object of that kind and name.
    #[error("{kind} '{name}' does not exist")]
    ObjectNotFound {
        /// The kind, as users know it (e.g. `external table`).
        kind: String,
        /// The name.
        name: String,
    },
    /// A table of that name already exists.
    #[error("table '{0}' already exists")]
    TableExists(String),
    /// A name is not usable as a table or column name.
    #[error("invalid name '{name}': {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// Ingested data does not fit the table.
    #[error("cannot ingest into table '{table}': {reason}")]
    SchemaMismatch {
        /// The table.
        table: String,
        /// What does not fit.
        reason: String,
    },
    /// A cursor outside what the database has committed.
    #[error("cursor {cursor} is out of range: the database's current cursor is {current}")]
    CursorOutOfRange {
        /// The cursor asked for.
        cursor: String,
        /// The newest committed cursor.
        current: String,
    },
    /// The log holds something this version cannot read.
    #[error("the database log is corrupt at {path}: {reason}")]
    CorruptLog {
        /// The log object.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The commit no longer makes sense on top of the newest state (for example,
    /// another exporter already committed the same run).
    #[error("{0}")]
    Conflict(String),
    /// Too many writers raced for the same commit slot.
    #[error("could not commit after {0} attempts: too many concurrent writers")]
    Contention(usize),
    /// A request that cannot be carried out as given (for example, a vacuum window
    /// that is too short).
    #[error("{0}")]
    Invalid(String),
    /// A failure inside this crate that is not the caller's (a task that panicked).
    #[error("internal error: {0}")]
    Internal(String),
    /// Object store failure.
    #[error("storage error: {0}")]
    Storage(#[from] object_store::Error),
    /// Query engine failure.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    /// Arrow failure.
    #[error("arrow error: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// Parquet failure.
    #[error("parquet error: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    /// JSON (de)serialisation failure of a log object.
    #[error("log encoding error: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<TablesError> for DataFusionError {
    fn from(e: TablesError) -> Self {
        match e {
            TablesError::DataFusion(e) => e,
            TablesError::Storage(e) => DataFusionError::ObjectStore(Box::new(e)),
            TablesError::Arrow(e) => DataFusionError::ArrowError(Box::new(e), None),
            other => DataFusionError::Execution(other.to_string()),
        }
    }
}
