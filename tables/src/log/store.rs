//! Reading and writing the log on an object store.
//!
//! Layout under the database root:
//!
//! ```text
//! _log/00000000000000000001.json             commit 1 (put-if-absent)
//! _log/00000000000000000100.checkpoint.json  the whole state as of commit 100
//! _log/_last_checkpoint                      {"version": 100}
//! ```

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::action::{Commit, LastCheckpoint};
use super::state::DatabaseState;
use crate::error::{Result, TablesError};

const LOG_DIR: &str = "_log";
const LAST_CHECKPOINT: &str = "_log/_last_checkpoint";

/// How many times one commit is put before an ambiguous failure is reported.
pub const PUT_ATTEMPTS: usize = 4;

const PUT_IF_ABSENT_REQUIRED: &str = "the object store does not support put-if-absent \
    (conditional create), which the commit log needs to stay consistent between writers; \
    for S3-compatible stores that lack If-None-Match, set `aws_conditional_put=etag` or use \
    a store that supports it";

/// What an object under `_log/` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogEntry {
    /// A commit of this version.
    Commit(u64),
    /// A checkpoint of this version.
    Checkpoint(u64),
    /// The pointer to the newest checkpoint.
    Pointer,
    /// A scratch object of the put-if-absent probe.
    Probe,
    /// Anything else (left alone).
    Other,
}

impl LogEntry {
    fn classify(path: &Path) -> Self {
        let text = path.as_ref();
        if text.starts_with(&format!("{LOG_DIR}/_probe/")) {
            return LogEntry::Probe;
        }
        if text == LAST_CHECKPOINT {
            return LogEntry::Pointer;
        }
        let name = path.filename().unwrap_or_default();
        if let Some(v) = name.strip_suffix(".checkpoint.json") {
            return v.parse().map_or(LogEntry::Other, LogEntry::Checkpoint);
        }
        if let Some(v) = name.strip_suffix(".json") {
            if v.len() == 20 {
                return v.parse().map_or(LogEntry::Other, LogEntry::Commit);
            }
        }
        LogEntry::Other
    }
}

/// Outcome of trying to write a commit.
#[derive(Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// The commit is now part of the log.
    Committed,
    /// Another writer committed that version first.
    Lost,
}

/// The commit log of one database.
#[derive(Debug, Clone)]
pub struct CommitLog {
    store: Arc<dyn ObjectStore>,
}

impl CommitLog {
    /// The log stored in `store` (whose paths are relative to the database root).
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    fn commit_path(version: u64) -> Path {
        Path::from(format!("{LOG_DIR}/{version:020}.json"))
    }

    fn checkpoint_path(version: u64) -> Path {
        Path::from(format!("{LOG_DIR}/{version:020}.checkpoint.json"))
    }

    /// Writes `commit` if no commit of that version exists.
    ///
    /// Idempotent under retries and lost responses: when the store says the version
    /// exists, or a put fails in a way that leaves it unknown whether it was written (a
    /// timeout, a 5xx after `object_store`'s own retries), the stored commit is read
    /// back and compared by [`Commit::id`]. Ours means committed; another writer's
    /// means lost; none means the put did not land, and it is tried again with the
    /// same id (at most [`PUT_ATTEMPTS`] times in all).
    pub async fn put_commit(&self, commit: &Commit) -> Result<PutOutcome> {
        let body = Bytes::from(serde_json::to_vec(commit)?);
        let path = Self::commit_path(commit.version);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let opts = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            let error = match self
                .store
                .put_opts(&path, PutPayload::from(body.clone()), opts)
                .await
            {
                Ok(_) => return Ok(PutOutcome::Committed),
                Err(object_store::Error::AlreadyExists { .. }) => None,
                Err(object_store::Error::NotImplemented { .. }) => {
                    return Err(TablesError::InvalidRoot {
                        url: self.store.to_string(),
                        reason: PUT_IF_ABSENT_REQUIRED.into(),
                    })
                }
                Err(e) => Some(e),
            };
            match self.read_commit(commit.version).await {
                Ok(Some(stored)) if stored.id == commit.id => return Ok(PutOutcome::Committed),
                Ok(Some(_)) => return Ok(PutOutcome::Lost),
                Ok(None) if error.is_none() => {
                    // "Already exists" but nothing to read: a store that is not
                    // read-after-write consistent; the version is taken all the same.
                    return Ok(PutOutcome::Lost);
                }
                Ok(None) | Err(_) if attempt < PUT_ATTEMPTS => {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
                Ok(None) => return Err(error.map_or(TablesError::Contention(attempt), Into::into)),
                Err(read_error) => {
                    return Err(error.map_or(read_error, Into::into));
                }
            }
        }
    }

    /// Checks once that the store honours put-if-absent, on a scratch key: a second
    /// create of the same object must fail. Without it two writers could both "win" a
    /// commit and silently fork the log.
    pub async fn probe_put_if_absent(&self) -> Result<()> {
        let path = Path::from(format!(
            "{LOG_DIR}/_probe/{}",
            uuid::Uuid::new_v4().simple()
        ));
        let create = || PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let refuse = |reason: String| TablesError::InvalidRoot {
            url: self.store.to_string(),
            reason,
        };
        let first = self
            .store
            .put_opts(&path, PutPayload::from_static(b"probe"), create())
            .await;
        let second = match first {
            Ok(_) => {
                self.store
                    .put_opts(&path, PutPayload::from_static(b"probe"), create())
                    .await
            }
            Err(object_store::Error::NotImplemented { .. }) => {
                return Err(refuse(PUT_IF_ABSENT_REQUIRED.into()))
            }
            // Read-only credentials (a consumer that only queries) cannot commit either:
            // nothing to protect, and their first commit fails with this same error.
            Err(
                object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. },
            ) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        // The probe object is scratch: a failed delete leaves one tiny object behind.
        let _ = self.store.delete(&path).await;
        match second {
            Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Ok(_) => Err(refuse(format!(
                "{PUT_IF_ABSENT_REQUIRED} (a second create of the same object succeeded: the \
                 store ignores If-None-Match)"
            ))),
            Err(object_store::Error::NotImplemented { .. }) => {
                Err(refuse(PUT_IF_ABSENT_REQUIRED.into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads commit `version`, or `None` if it does not exist (yet).
    pub async fn read_commit(&self, version: u64) -> Result<Option<Commit>> {
        let path = Self::commit_path(version);
        let Some(bytes) = self.get_optional(&path).await? else {
            return Ok(None);
        };
        let commit: Commit =
            serde_json::from_slice(&bytes).map_err(|e| TablesError::CorruptLog {
                path: path.to_string(),
                reason: e.to_string(),
            })?;
        if commit.version != version {
            return Err(TablesError::CorruptLog {
                path: path.to_string(),
                reason: format!("holds version {}", commit.version),
            });
        }
        Ok(Some(commit))
    }

    /// The version `_last_checkpoint` points at, if it is there and readable.
    pub async fn read_checkpoint_version(&self) -> Result<Option<u64>> {
        Ok(self
            .get_optional(&Path::from(LAST_CHECKPOINT))
            .await?
            .and_then(|bytes| serde_json::from_slice::<LastCheckpoint>(&bytes).ok())
            .map(|last| last.version))
    }

    /// Points `_last_checkpoint` at `version`.
    pub async fn write_checkpoint_pointer(&self, version: u64) -> Result<()> {
        let pointer = serde_json::to_vec(&LastCheckpoint { version })?;
        self.store
            .put(&Path::from(LAST_CHECKPOINT), PutPayload::from(pointer))
            .await?;
        Ok(())
    }

    /// The newest checkpointed state, if any: one read of the pointer and one of
    /// the checkpoint; a listing only when the pointer is missing or points at a
    /// checkpoint that is gone (two background writers can leave it pointing at the
    /// older of theirs, which the vacuum may delete).
    pub async fn read_latest_checkpoint(&self) -> Result<Option<DatabaseState>> {
        let pointed = self.read_checkpoint_version().await?;
        let mut found = match pointed {
            Some(version) => self
                .get_optional(&Self::checkpoint_path(version))
                .await?
                .map(|bytes| (version, bytes)),
            None => None,
        };
        if found.is_none() {
            if let Some(version) = self.find_latest_checkpoint().await? {
                found = self
                    .get_optional(&Self::checkpoint_path(version))
                    .await?
                    .map(|bytes| (version, bytes));
            }
        }
        let Some((version, bytes)) = found else {
            return Ok(None);
        };
        let path = Self::checkpoint_path(version);
        let state: DatabaseState =
            serde_json::from_slice(&bytes).map_err(|e| TablesError::CorruptLog {
                path: path.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Some(state))
    }

    async fn find_latest_checkpoint(&self) -> Result<Option<u64>> {
        Ok(self
            .list_log()
            .await?
            .into_iter()
            .filter_map(|(entry, _)| match entry {
                LogEntry::Checkpoint(v) => Some(v),
                _ => None,
            })
            .max())
    }

    /// Every object under `_log/`, classified.
    pub async fn list_log(&self) -> Result<Vec<(LogEntry, object_store::ObjectMeta)>> {
        let prefix = Path::from(LOG_DIR);
        let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        Ok(metas
            .into_iter()
            .map(|meta| (LogEntry::classify(&meta.location), meta))
            .collect())
    }

    /// The path of commit `version`.
    pub fn commit_location(version: u64) -> Path {
        Self::commit_path(version)
    }

    /// The path of the checkpoint of `version`.
    pub fn checkpoint_location(version: u64) -> Path {
        Self::checkpoint_path(version)
    }

    /// Writes a checkpoint of `state` and points `_last_checkpoint` at it.
    ///
    /// The checkpoint of a version is deterministic, so racing writers write the
    /// same bytes; the pointer only ever makes opening faster, never changes results.
    pub async fn write_checkpoint(&self, state: Bytes, version: u64) -> Result<()> {
        self.store
            .put(&Self::checkpoint_path(version), PutPayload::from(state))
            .await?;
        let pointer = serde_json::to_vec(&LastCheckpoint { version })?;
        self.store
            .put(&Path::from(LAST_CHECKPOINT), PutPayload::from(pointer))
            .await?;
        Ok(())
    }

    async fn get_optional(&self, path: &Path) -> Result<Option<Bytes>> {
        match self.store.get(path).await {
            Ok(r) => Ok(Some(r.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
