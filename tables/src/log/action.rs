//! What a commit says: the log protocol, with no I/O.

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::Schema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One immutable Parquet file of a table, as recorded in a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtentFile {
    /// Extent id.
    pub id: Uuid,
    /// Object path relative to the database root.
    pub path: String,
    /// Number of records.
    pub rows: u64,
    /// Size of the file in bytes.
    pub size: u64,
    /// Size of its data before compression and encoding, in bytes (Kusto's
    /// "original size", which merge policies bound); absent in extents written by
    /// versions before 0.2, where the file size stands in for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_size: Option<u64>,
}

impl ExtentFile {
    /// The data's size before compression: [`original_size`](Self::original_size),
    /// or the file size where it was not recorded.
    pub fn original_bytes(&self) -> u64 {
        self.original_size.unwrap_or(self.size)
    }
}

/// A merged extent as its commit records it (see `crate::merge`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MergedFile {
    /// The file.
    pub file: ExtentFile,
    /// The oldest row's cursor.
    pub min_cursor: u64,
    /// The newest row's cursor.
    pub max_cursor: u64,
    /// The oldest row's ingestion time.
    pub min_ingestion_time: DateTime<Utc>,
    /// The newest row's ingestion time.
    pub max_ingestion_time: DateTime<Utc>,
}

/// A change a commit makes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// A new ingestion-tracked table.
    CreateTable {
        /// Unique id; extents live under `tables/<id>/`.
        id: Uuid,
        /// Table name (unique among live tables).
        name: String,
        /// Columns.
        schema: Schema,
    },
    /// Removes a table and its extents from the database.
    DropTable {
        /// The table's id.
        id: Uuid,
        /// The table's name, for readers of the log.
        name: String,
    },
    /// Creates or replaces a named catalog object of some kind (an external table, a
    /// continuous-export definition, …). The database stores its body opaquely.
    PutObject {
        /// The object's kind, e.g. `external_table`.
        kind: String,
        /// The object's name, unique per kind.
        name: String,
        /// Its definition.
        body: serde_json::Value,
    },
    /// Removes a catalog object.
    DropObject {
        /// The object's kind.
        kind: String,
        /// The object's name.
        name: String,
    },
    /// Adds extents to a table: these records are ingested at this commit.
    AddExtents {
        /// The table's id.
        table_id: Uuid,
        /// The files.
        extents: Vec<ExtentFile>,
    },
    /// Appends record `seq` to the record stream `stream`: history (for example a
    /// continuous export's runs and their artifacts) that the log keeps in this commit
    /// and in `_records/`, but not in the state, so checkpoints do not grow with it.
    AppendRecord {
        /// The stream, e.g. `continuous_export/<id>`.
        stream: String,
        /// The record's number: 1 for a stream's first, then one more each time.
        seq: u64,
        /// The record.
        body: serde_json::Value,
    },
    /// Replaces consecutive extents of a table by one merged extent holding all their
    /// rows (each with its own cursor and ingestion time).
    MergeExtents {
        /// The table's id.
        table_id: Uuid,
        /// The extents merged, consecutive in the table's cursor order.
        remove: Vec<Uuid>,
        /// The merged extent.
        add: MergedFile,
    },
    /// Ends a record stream; the vacuum deletes its records once they are old enough.
    DropStream {
        /// The stream.
        stream: String,
    },
    /// Written by the vacuum: forgets the removals committed at or before `version`,
    /// whose files it has deleted.
    ForgetRemoved {
        /// The newest removal forgotten.
        through_version: u64,
    },
}

/// One commit of the log: its sequence number is the cursor of everything it ingests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    /// The commit's cursor.
    pub version: u64,
    /// A unique id chosen by the writer. A writer whose put-if-absent of this version
    /// reports "already exists" (for example after a lost response and a retry) reads
    /// the stored commit back: the same id means the commit is its own and landed.
    /// Commits written before ids existed read as the nil id, which no writer uses.
    #[serde(default = "Uuid::nil")]
    pub id: Uuid,
    /// When the commit was made (never earlier than the previous commit's).
    pub ingestion_time: DateTime<Utc>,
    /// The changes, applied atomically.
    pub actions: Vec<Action>,
}

/// The pointer to the newest checkpoint, kept so that opening reads one small object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastCheckpoint {
    /// The version the checkpoint holds the state of.
    pub version: u64,
}
