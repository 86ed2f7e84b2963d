//! Record streams: history that grows without bound (a continuous export's runs and
//! their artifacts) kept out of the checkpointed state.
//!
//! A record is appended by a commit ([`Action::AppendRecord`]), which is its durable
//! copy; after the commit lands it is also written to
//! `_records/<stream>/<seq:020>.json`, where readers page through a stream by number
//! without reading the log. Only the head of each stream lives in the state. The
//! invariant "every record but the head is stored" is kept by the commit that appends
//! the next record (it stores the head first, from its commit, if a crash lost it), and
//! the head itself is read from its commit when its file is missing.

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::database::Database;
use crate::error::{Result, TablesError};
use crate::log::action::{Action, Commit};
use crate::log::state::StreamHead;

/// The folder of record streams under the database root.
pub const RECORDS_DIR: &str = "_records";

/// Reads per stream page kept in flight.
const READ_CONCURRENCY: usize = 16;

/// One record of a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The stream.
    pub stream: String,
    /// Its number in the stream (1, 2, …).
    pub seq: u64,
    /// The commit that appended it.
    pub version: u64,
    /// That commit's ingestion time.
    pub time: DateTime<Utc>,
    /// What was recorded.
    pub body: serde_json::Value,
}

/// The path of record `seq` of `stream`.
pub fn record_path(stream: &str, seq: u64) -> Path {
    Path::from(format!("{RECORDS_DIR}/{stream}/{seq:020}.json"))
}

/// The records a commit appends.
fn records_of(commit: &Commit) -> impl Iterator<Item = Record> + '_ {
    commit.actions.iter().filter_map(|a| match a {
        Action::AppendRecord { stream, seq, body } => Some(Record {
            stream: stream.clone(),
            seq: *seq,
            version: commit.version,
            time: commit.ingestion_time,
            body: body.clone(),
        }),
        _ => None,
    })
}

impl Database {
    /// Writes the records `commit` appends (after it landed). A failure is only
    /// logged: the commit holds them, and the next append or a read restores them.
    pub(crate) async fn write_records(&self, commit: &Commit) {
        for record in records_of(commit) {
            if let Err(e) = self.put_record(&record).await {
                log::warn!(
                    "record {} of stream '{}' not stored yet ({e}); its commit {} holds it",
                    record.seq,
                    record.stream,
                    commit.version
                );
            }
        }
    }

    async fn put_record(&self, record: &Record) -> Result<()> {
        // Deterministic bytes: a retried or repeated write stores the same object.
        let body = serde_json::to_vec(record)?;
        self.inner
            .store
            .put(
                &record_path(&record.stream, record.seq),
                PutPayload::from(body),
            )
            .await?;
        Ok(())
    }

    /// Makes sure the head record of `stream` is stored, restoring it from its
    /// commit if needed.
    pub(crate) async fn ensure_record(&self, stream: &str, head: StreamHead) -> Result<()> {
        match self.inner.store.head(&record_path(stream, head.seq)).await {
            Ok(_) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => {
                let record = self.record_from_log(stream, head).await?;
                self.put_record(&record).await
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn record_from_log(&self, stream: &str, head: StreamHead) -> Result<Record> {
        let missing = |reason: &str| TablesError::CorruptLog {
            path: record_path(stream, head.seq).to_string(),
            reason: reason.to_string(),
        };
        let commit = self
            .inner
            .log
            .read_commit(head.version)
            .await?
            .ok_or_else(|| missing("the record and the commit that appended it are gone"))?;
        let found = records_of(&commit).find(|r| r.stream == stream && r.seq == head.seq);
        found.ok_or_else(|| missing("the commit that should hold the record does not"))
    }

    /// The head of record stream `stream` in the newest state, or `None` if it has
    /// no records.
    pub async fn stream_head(&self, stream: &str) -> Result<Option<StreamHead>> {
        self.refresh().await?;
        Ok(self.read_state().stream(stream))
    }

    /// Records `from..=to` of `stream` (clamped to the records it has), in order.
    pub async fn records(&self, stream: &str, from: u64, to: u64) -> Result<Vec<Record>> {
        let Some(head) = self.stream_head(stream).await? else {
            return Ok(Vec::new());
        };
        let (from, to) = (from.max(1), to.min(head.seq));
        if from > to {
            return Ok(Vec::new());
        }
        futures::stream::iter(from..=to)
            .map(|seq| self.read_record(stream, seq, head))
            .buffered(READ_CONCURRENCY)
            .try_collect()
            .await
    }

    async fn read_record(&self, stream: &str, seq: u64, head: StreamHead) -> Result<Record> {
        let path = record_path(stream, seq);
        match self.inner.store.get(&path).await {
            Ok(r) => {
                let bytes = r.bytes().await?;
                serde_json::from_slice(&bytes).map_err(|e| TablesError::CorruptLog {
                    path: path.to_string(),
                    reason: e.to_string(),
                })
            }
            Err(object_store::Error::NotFound { .. }) if seq == head.seq => {
                self.record_from_log(stream, head).await
            }
            Err(object_store::Error::NotFound { .. }) => Err(TablesError::CorruptLog {
                path: path.to_string(),
                reason: "the record is missing".into(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The number of the first record of `stream` appended at or after `time`
    /// (one more than the head when there is none), found by binary search:
    /// record times never go backwards.
    pub async fn first_record_since(&self, stream: &str, time: DateTime<Utc>) -> Result<u64> {
        let Some(head) = self.stream_head(stream).await? else {
            return Ok(1);
        };
        let (mut lo, mut hi) = (1, head.seq + 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.read_record(stream, mid, head).await?.time < time {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }
}
