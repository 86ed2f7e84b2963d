//! The vacuum: deletes what the database no longer needs once it is older than a
//! window, so that a query, ingestion or export that started inside the window never
//! loses a file it is about to read or commit.
//!
//! What goes, and why it is safe:
//! * **Extents no state references**: files of tables dropped before the window
//!   (their removal is in [`DatabaseState::removed`] until the vacuum forgets it) and
//!   files of ingestions that never committed. A file a live table holds, a file
//!   removed inside the window, and a file written inside the window (an ingestion
//!   still running) are kept.
//! * **Records of dropped streams** (a dropped continuous export's run history).
//! * **Log commits and checkpoints before the newest checkpoint whose commit is older
//!   than the window**: opening needs only that checkpoint and the commits after it.
//!   Handles idle for long re-read the checkpoint first (see `Database::refresh`).
//! * **Scratch objects**: put-if-absent probes, and on a local root the staging
//!   files of multipart uploads a killed process left. (On S3 and GCS incomplete
//!   multipart uploads are invisible to listings; a bucket lifecycle rule aborts
//!   them. Azure discards uncommitted blocks itself after 7 days.)
//!
//! The vacuum commits once, after deleting, to forget the removals it cleaned.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::ObjectMeta;

use crate::database::Database;
use crate::error::{Result, TablesError};
use crate::log::action::Action;
use crate::log::store::LogEntry;
use crate::records::RECORDS_DIR;

/// The shortest window the vacuum accepts: anything that runs longer (an ingestion
/// of a huge file, a long query) could lose files it still needs.
pub const MIN_VACUUM_WINDOW: Duration = Duration::from_secs(3600);
/// The default window (7 days).
pub const DEFAULT_VACUUM_WINDOW: Duration = Duration::from_secs(7 * 86_400);

/// Folder of extent files under the root.
const EXTENTS_DIR: &str = "extents";

/// Deletes between pauses: the vacuum is background work and yields the machine to
/// ingestion and queries (a pause per batch keeps its share of CPU and I/O small).
const DELETE_BATCH: usize = 100;
/// The pause after each batch.
const DELETE_PAUSE: Duration = Duration::from_millis(20);

/// Why the vacuum deleted an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletedKind {
    /// An extent of a table dropped before the window.
    DroppedExtent,
    /// An extent no commit ever added (a failed or killed ingestion).
    UncommittedExtent,
    /// A record of a stream that was dropped (e.g. a dropped continuous export's runs).
    DroppedRecord,
    /// A log commit older than the checkpoint kept.
    Commit,
    /// A checkpoint older than the one kept.
    Checkpoint,
    /// A scratch or staging object (probe, unfinished upload).
    Scratch,
    /// Something a layer above the database cleaned (e.g. old operation files).
    Other(&'static str),
}

impl DeletedKind {
    /// A short description for users.
    pub fn describe(&self) -> &'static str {
        match self {
            DeletedKind::DroppedExtent => "extent of a dropped table",
            DeletedKind::UncommittedExtent => "extent never committed",
            DeletedKind::DroppedRecord => "record of a dropped stream",
            DeletedKind::Commit => "log commit",
            DeletedKind::Checkpoint => "checkpoint",
            DeletedKind::Scratch => "unfinished upload or scratch object",
            DeletedKind::Other(what) => what,
        }
    }
}

/// One deleted object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// Path relative to the database root.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Why it went.
    pub kind: DeletedKind,
}

/// What a vacuum did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VacuumReport {
    /// Everything deleted, in the order deleted.
    pub deleted: Vec<Deleted>,
    /// The checkpoint that opening now starts from, when log files were deleted.
    pub kept_checkpoint: Option<u64>,
    /// Only what was older than this went (now, on the database's clock, minus the
    /// window): layers above clean their own objects by the same instant.
    pub cutoff: DateTime<Utc>,
}

impl VacuumReport {
    /// Bytes deleted in all.
    pub fn bytes(&self) -> u64 {
        self.deleted.iter().map(|d| d.size).sum()
    }
}

impl Database {
    /// Deletes what the database no longer needs and is older than `older_than`
    /// (at least [`MIN_VACUUM_WINDOW`]); see the module documentation. Safe while
    /// other handles and processes ingest, query and export.
    pub async fn vacuum(&self, older_than: Duration) -> Result<VacuumReport> {
        let cutoff = self.vacuum_cutoff(older_than)?;
        self.refresh().await?;
        let state = self.read_state();
        let mut report = VacuumReport {
            deleted: Vec::new(),
            kept_checkpoint: None,
            cutoff,
        };

        // Stream heads are restored from their commits before those may go.
        for (stream, head) in &state.streams {
            self.ensure_record(stream, *head).await?;
        }

        // Extents.
        let live = state.live_paths();
        let recent: HashSet<&str> = state
            .removed
            .iter()
            .filter(|r| r.time >= cutoff)
            .flat_map(|r| r.paths.iter().map(String::as_str))
            .collect();
        let dropped: HashSet<&str> = state
            .removed
            .iter()
            .filter(|r| r.time < cutoff)
            .flat_map(|r| r.paths.iter().map(String::as_str))
            .collect();
        let mut doomed = Vec::new();
        for meta in self.list(EXTENTS_DIR).await? {
            let path = meta.location.as_ref();
            if live.contains(path) || recent.contains(path) || meta.last_modified >= cutoff {
                continue;
            }
            let kind = if dropped.contains(path) {
                DeletedKind::DroppedExtent
            } else {
                DeletedKind::UncommittedExtent
            };
            doomed.push((meta, kind));
        }

        // Records of dropped streams.
        for meta in self.list(RECORDS_DIR).await? {
            let stream = meta
                .location
                .as_ref()
                .strip_prefix(&format!("{RECORDS_DIR}/"))
                .and_then(|rest| rest.rsplit_once('/'))
                .map(|(stream, _)| stream);
            if stream.is_some_and(|s| !state.streams.contains_key(s)) && meta.last_modified < cutoff
            {
                doomed.push((meta, DeletedKind::DroppedRecord));
            }
        }
        self.delete_all(doomed, &mut report).await?;

        // The log, last: everything above was decided on a state it can rebuild.
        let (log_doomed, kept) = self.log_garbage(cutoff).await?;
        if let Some(kept) = kept {
            if self.inner.log.read_checkpoint_version().await? < Some(kept) {
                self.inner.log.write_checkpoint_pointer(kept).await?;
            }
            report.kept_checkpoint = Some(kept);
        }
        self.delete_all(log_doomed, &mut report).await?;

        if let Some(dir) = crate::root::local_dir(&self.inner.root) {
            report
                .deleted
                .extend(delete_local_staging_files(&dir, cutoff).await?);
        }

        // Forget the removals whose files are gone.
        if let Some(through) = state
            .removed
            .iter()
            .filter(|r| r.time < cutoff)
            .map(|r| r.version)
            .max()
        {
            self.commit(|_| {
                Ok(vec![Action::ForgetRemoved {
                    through_version: through,
                }])
            })
            .await?;
        }
        Ok(report)
    }

    /// The instant before which the vacuum deletes, for a window `older_than` (at
    /// least [`MIN_VACUUM_WINDOW`]), on the database's clock.
    fn vacuum_cutoff(&self, older_than: Duration) -> Result<DateTime<Utc>> {
        if older_than < MIN_VACUUM_WINDOW {
            return Err(TablesError::Invalid(format!(
                "the vacuum window must be at least 1h: anything still running that started \
                 earlier (an ingestion, a query, an export) could lose its files; got {}s",
                older_than.as_secs()
            )));
        }
        let now = self.inner.options.clock.now();
        Ok(chrono::Duration::from_std(older_than)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC))
    }

    /// Every object under folder `dir` of the root.
    pub async fn list(&self, dir: &str) -> Result<Vec<ObjectMeta>> {
        Ok(self
            .inner
            .store
            .list(Some(&Path::from(dir)))
            .try_collect()
            .await?)
    }

    /// Log objects the vacuum may delete, and the checkpoint opening starts from.
    async fn log_garbage(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<(Vec<(ObjectMeta, DeletedKind)>, Option<u64>)> {
        let entries = self.inner.log.list_log().await?;
        let mut checkpoints: Vec<u64> = entries
            .iter()
            .filter_map(|(e, _)| match e {
                LogEntry::Checkpoint(v) => Some(*v),
                _ => None,
            })
            .collect();
        checkpoints.sort_unstable_by(|a, b| b.cmp(a));
        // The newest checkpoint whose commit is older than the window: every handle
        // that refreshed inside the window is past it.
        let mut kept = None;
        for version in checkpoints {
            match self.inner.log.read_commit(version).await? {
                Some(commit) if commit.ingestion_time < cutoff => {
                    kept = Some(version);
                    break;
                }
                // Too new, or its commit unreadable: not a checkpoint to rely on.
                _ => continue,
            }
        }
        let mut doomed = Vec::new();
        for (entry, meta) in entries {
            let kind = match (entry, kept) {
                (LogEntry::Commit(v), Some(k)) if v < k => DeletedKind::Commit,
                (LogEntry::Checkpoint(v), Some(k)) if v < k => DeletedKind::Checkpoint,
                (LogEntry::Probe, _) if meta.last_modified < cutoff => DeletedKind::Scratch,
                _ => continue,
            };
            doomed.push((meta, kind));
        }
        // Oldest first: a crash part-way leaves a log that still opens.
        doomed.sort_by(|(a, _), (b, _)| a.location.cmp(&b.location));
        Ok((doomed, kept))
    }

    /// Deletes `doomed` (a few at a time) and reports each in `report`, for layers
    /// above that clean objects of their own. An object already gone (another
    /// vacuum) is not an error.
    pub async fn delete_all(
        &self,
        doomed: Vec<(ObjectMeta, DeletedKind)>,
        report: &mut VacuumReport,
    ) -> Result<()> {
        let store = &self.inner.store;
        let mut doomed = doomed.into_iter().peekable();
        while doomed.peek().is_some() {
            let batch: Vec<_> = doomed.by_ref().take(DELETE_BATCH).collect();
            // One bulk request per batch where the store has one (S3's DeleteObjects).
            let paths: Vec<object_store::Result<Path>> =
                batch.iter().map(|(m, _)| Ok(m.location.clone())).collect();
            let outcomes: Vec<object_store::Result<Path>> = store
                .delete_stream(futures::stream::iter(paths).boxed())
                .collect()
                .await;
            // An object already gone (another vacuum) counts as deleted.
            for outcome in outcomes {
                match outcome {
                    Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            report
                .deleted
                .extend(batch.into_iter().map(|(meta, kind)| Deleted {
                    path: meta.location.to_string(),
                    size: meta.size,
                    kind,
                }));
            if doomed.peek().is_some() {
                tokio::time::sleep(DELETE_PAUSE).await;
            }
        }
        Ok(())
    }
}

/// `object_store`'s local store stages an upload in `<name>#<digits>` next to its
/// destination and hides such files from listings; a killed process leaves them.
async fn delete_local_staging_files(
    dir: &std::path::Path,
    cutoff: DateTime<Utc>,
) -> Result<Vec<Deleted>> {
    let dir = dir.to_path_buf();
    let cutoff = SystemTime::from(cutoff);
    tokio::task::spawn_blocking(move || {
        let mut deleted = Vec::new();
        let mut pending = vec![dir.clone()];
        while let Some(folder) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else { continue };
                let path = entry.path();
                if meta.is_dir() {
                    pending.push(path);
                    continue;
                }
                let name = entry.file_name();
                let staging =
                    name.to_str()
                        .and_then(|n| n.rsplit_once('#'))
                        .is_some_and(|(_, suffix)| {
                            !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit())
                        });
                let old = meta.modified().is_ok_and(|m| m < cutoff);
                if staging && old && std::fs::remove_file(&path).is_ok() {
                    deleted.push(Deleted {
                        path: path
                            .strip_prefix(&dir)
                            .unwrap_or(&path)
                            .display()
                            .to_string(),
                        size: meta.len(),
                        kind: DeletedKind::Scratch,
                    });
                }
            }
        }
        deleted
    })
    .await
    .map_err(|e| TablesError::Internal(format!("vacuum of staging files: {e}")))
}
