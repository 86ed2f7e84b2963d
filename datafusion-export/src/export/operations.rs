//! Asynchronous operations: `.export async …` returns an operation id at once;
//! `.show operations` and `.show operation <id> [details]` follow it, from any process.
//!
//! # Durability
//!
//! * An operation is a catalog object of the database (kind [`KIND`], named by its id):
//!   `InProgress` is committed to the log **before** its task starts, so a failing
//!   start fails the command and nothing runs. The outcome, `Completed` or `Failed`,
//!   is a second commit when the task ends — including when it panics: the task runs
//!   under `catch_unwind`, and a panic becomes `Failed` with the panic's message.
//! * The record names its owner: the process ([`OperationOwner`]: a per-process
//!   instance id, the host and the pid). While the task runs, the owner refreshes a
//!   heartbeat object, `operations/<id>.heartbeat`, every [`HEARTBEAT_INTERVAL`],
//!   stamped with the database's clock.
//! * A reader that finds an `InProgress` record decides whether its owner is still
//!   there: in the owning process, the task must still be registered as running;
//!   elsewhere, the last heartbeat (or the record's own time) must be younger than
//!   [`ABANDONED_AFTER`] by the database's clock (`DatabaseOptions::clock`, so tests
//!   decide without sleeping). Otherwise the operation reads as `Failed`, its status
//!   saying it was abandoned and since when. Readers never write: if the owner was
//!   only slow and finishes after all, its outcome is what later reads show.
//! * With `persistDetails` (the default for async exports) the result table is
//!   written to `operations/<id>.json` before the outcome is committed, so any
//!   process can show it; otherwise only the process that ran it can.
//! * Finished operations older than [`RETENTION`] are dropped from the catalog when a
//!   new one starts, so the catalog (and its checkpoints) stay small.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use datafusion_export_tables::log::action::Action;
use datafusion_export_tables::{Database, DeletedKind};
use futures::FutureExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ExportError, Result};

/// The catalog kind of operation records.
pub const KIND: &str = "operation";
/// Where details and heartbeats live, under the database root.
const FOLDER: &str = "operations";
/// How often a running operation's owner shows it is alive.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
/// An `InProgress` operation whose owner showed no sign of life for this long reads
/// as `Failed` (abandoned). Eight heartbeats: a busy or briefly stalled process is
/// not declared dead.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(120);
/// Finished operations are kept this long (30 days).
pub const RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// Tries to commit an outcome before giving up (the operation then reads as
/// abandoned once its heartbeat stops).
const FINISH_ATTEMPTS: u32 = 6;

/// Where an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperationState {
    /// Still running.
    InProgress,
    /// Finished; details hold the result.
    Completed,
    /// Failed (or abandoned); `status` holds the error.
    Failed,
}

impl OperationState {
    /// The state's name as shown.
    pub fn name(&self) -> &'static str {
        match self {
            OperationState::InProgress => "InProgress",
            OperationState::Completed => "Completed",
            OperationState::Failed => "Failed",
        }
    }
}

/// A result table, kept as rows of strings so it survives JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OperationDetails {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Option<String>>>,
}

/// The process that runs an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationOwner {
    /// Chosen at random when the process first starts an operation.
    pub instance: Uuid,
    /// The host name, as far as it can be told.
    pub host: String,
    /// The process id.
    pub pid: u32,
}

impl OperationOwner {
    /// This process.
    pub fn this_process() -> &'static OperationOwner {
        static OWNER: OnceLock<OperationOwner> = OnceLock::new();
        OWNER.get_or_init(|| OperationOwner {
            instance: Uuid::new_v4(),
            host: host_name(),
            pid: std::process::id(),
        })
    }
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown host".into())
}

/// Operations whose task runs in this process (any engine, any runtime). A task
/// removes itself when it ends or is dropped (its runtime shut down).
static RUNNING: LazyLock<Mutex<HashSet<Uuid>>> = LazyLock::new(Mutex::default);

fn running() -> std::sync::MutexGuard<'static, HashSet<Uuid>> {
    RUNNING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keeps an operation in [`RUNNING`] while its task lives.
struct RunningGuard(Uuid);

impl RunningGuard {
    fn new(id: Uuid) -> Self {
        running().insert(id);
        Self(id)
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        running().remove(&self.0);
    }
}

/// One operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// Its id.
    pub id: Uuid,
    /// What it is, e.g. `DataExport`.
    pub kind: String,
    /// The command, secrets removed.
    pub text: String,
    /// When it started.
    pub started_on: DateTime<Utc>,
    /// When it last changed.
    pub last_updated_on: DateTime<Utc>,
    /// Its state.
    pub state: OperationState,
    /// The error of a failed operation.
    pub status: Option<String>,
    /// The result of a completed one (not kept in the catalog: see
    /// `details_persisted`).
    pub details: Option<OperationDetails>,
    /// The process running it.
    #[serde(default)]
    pub owner: Option<OperationOwner>,
    /// Whether its details are in `operations/<id>.json`.
    #[serde(default)]
    pub details_persisted: bool,
}

/// The last sign of life of a running operation's owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Heartbeat {
    instance: Uuid,
    at: DateTime<Utc>,
}

fn details_path(id: Uuid) -> Path {
    Path::from(format!("{FOLDER}/{id}.json"))
}

fn heartbeat_path(id: Uuid) -> Path {
    Path::from(format!("{FOLDER}/{id}.heartbeat"))
}

/// Files of operations no longer in the catalog and last written before `cutoff`:
/// left behind when an operation was pruned and deleting its files failed.
pub async fn stale_files(
    db: &Database,
    cutoff: DateTime<Utc>,
) -> Result<Vec<(object_store::ObjectMeta, DeletedKind)>> {
    let files = db.list(FOLDER).await?;
    let state = db.state();
    Ok(files
        .into_iter()
        .filter(|meta| {
            let id = meta
                .location
                .filename()
                .and_then(|name| name.split_once('.'))
                .map(|(id, _)| id);
            let known = id.is_some_and(|id| state.object(KIND, id).is_some());
            !known && meta.last_modified < cutoff
        })
        .map(|meta| (meta, DeletedKind::Other("file of a pruned operation")))
        .collect())
}

/// The asynchronous operations of a database, as one engine sees them.
#[derive(Debug, Clone)]
pub struct Operations {
    db: Database,
    /// Operations this engine finished: their outcome with details, shown even when
    /// the details were not persisted or the final commit failed.
    finished: Arc<Mutex<BTreeMap<Uuid, Operation>>>,
    /// Tasks this engine started, for [`Operations::wait`].
    tasks: Arc<Mutex<HashMap<Uuid, tokio::task::JoinHandle<()>>>>,
    heartbeat_interval: Duration,
    abandoned_after: Duration,
}

impl Operations {
    /// The operations of `db`.
    pub fn new(db: Database) -> Self {
        Self {
            db,
            finished: Arc::default(),
            tasks: Arc::default(),
            heartbeat_interval: HEARTBEAT_INTERVAL,
            abandoned_after: ABANDONED_AFTER,
        }
    }

    /// The same, with another heartbeat interval and abandonment delay (tests).
    pub fn with_timing(mut self, heartbeat_interval: Duration, abandoned_after: Duration) -> Self {
        self.heartbeat_interval = heartbeat_interval.max(Duration::from_millis(1));
        self.abandoned_after = abandoned_after;
        self
    }

    fn store(&self) -> Arc<dyn ObjectStore> {
        self.db.object_store()
    }

    fn now(&self) -> DateTime<Utc> {
        self.db.options().clock.now()
    }

    fn finished(&self) -> std::sync::MutexGuard<'_, BTreeMap<Uuid, Operation>> {
        self.finished.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, tokio::task::JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts `work` as an operation: commits it `InProgress`, then runs it on a task
    /// of its own and commits its outcome (`Failed` if it panics). Returns once the
    /// start is durable; an error means nothing was started.
    pub async fn spawn<F>(
        &self,
        kind: &str,
        text: &str,
        persist_details: bool,
        work: F,
    ) -> Result<Uuid>
    where
        F: Future<Output = std::result::Result<OperationDetails, String>> + Send + 'static,
    {
        let op = self.new_operation(kind, text);
        let id = op.id;
        // Registered before the commit: no reader in this process can see the record
        // without its task.
        let guard = RunningGuard::new(id);
        let pruned = self.commit_record(&op, true).await?;
        self.forget_files(pruned).await;
        let this = self.clone();
        let task = tokio::spawn(async move {
            let _guard = guard;
            let work = AssertUnwindSafe(work).catch_unwind();
            let heartbeat = this.heartbeat(id);
            futures::pin_mut!(work, heartbeat);
            let outcome = match futures::future::select(work, heartbeat).await {
                futures::future::Either::Left((outcome, _)) => outcome,
                futures::future::Either::Right(((), work)) => work.await,
            };
            let outcome = outcome.unwrap_or_else(|panic| {
                Err(format!(
                    "the operation's task panicked: {}",
                    crate::command::scrub_secrets(&panic_message(&*panic))
                ))
            });
            this.finish(op, outcome, persist_details).await;
        });
        self.tasks().insert(id, task);
        Ok(id)
    }

    /// A new operation of this process, in progress from now.
    fn new_operation(&self, kind: &str, text: &str) -> Operation {
        let now = self.now();
        Operation {
            id: Uuid::new_v4(),
            kind: kind.to_string(),
            text: text.to_string(),
            started_on: now,
            last_updated_on: now,
            state: OperationState::InProgress,
            status: None,
            details: None,
            owner: Some(OperationOwner::this_process().clone()),
            details_persisted: false,
        }
    }

    /// Records an operation that already ended (a synchronous export that persists
    /// its details), in one commit.
    pub async fn record(
        &self,
        kind: &str,
        text: &str,
        outcome: std::result::Result<OperationDetails, String>,
        persist_details: bool,
    ) -> Result<Uuid> {
        let op = self.new_operation(kind, text);
        let id = op.id;
        let done = self.outcome_record(op, outcome, persist_details).await;
        let pruned = self.commit_record(&done, true).await?;
        self.forget_files(pruned).await;
        self.finished().insert(id, done);
        Ok(id)
    }

    /// Refreshes the heartbeat of `id` every interval, forever (dropped when the
    /// work ends).
    async fn heartbeat(&self, id: Uuid) {
        loop {
            tokio::time::sleep(self.heartbeat_interval).await;
            let beat = Heartbeat {
                instance: OperationOwner::this_process().instance,
                at: self.now(),
            };
            let Ok(body) = serde_json::to_vec(&beat) else {
                continue;
            };
            if let Err(e) = self
                .store()
                .put(&heartbeat_path(id), PutPayload::from(body))
                .await
            {
                log::warn!("operation {id}: heartbeat not written: {e}");
            }
        }
    }

    /// `op` as it ended: state, status, time, and details (persisted first when
    /// asked, so that a reader that sees the outcome finds them).
    async fn outcome_record(
        &self,
        mut op: Operation,
        outcome: std::result::Result<OperationDetails, String>,
        persist_details: bool,
    ) -> Operation {
        op.last_updated_on = self.now().max(op.started_on);
        match outcome {
            Ok(details) => {
                op.state = OperationState::Completed;
                op.details = Some(details);
            }
            Err(error) => {
                op.state = OperationState::Failed;
                op.status = Some(if error.trim().is_empty() {
                    "the operation failed without a message".into()
                } else {
                    error
                });
            }
        }
        if persist_details {
            match serde_json::to_vec(&op) {
                Ok(body) => match self
                    .store()
                    .put(&details_path(op.id), PutPayload::from(body))
                    .await
                {
                    Ok(_) => op.details_persisted = true,
                    Err(e) => log::warn!("operation {}: details not persisted: {e}", op.id),
                },
                Err(e) => log::warn!("operation {}: details not persisted: {e}", op.id),
            }
        }
        op
    }

    /// Records the outcome of `op`: in memory at once, then in the log (retried).
    async fn finish(
        &self,
        op: Operation,
        outcome: std::result::Result<OperationDetails, String>,
        persist_details: bool,
    ) {
        let id = op.id;
        let done = self.outcome_record(op, outcome, persist_details).await;
        self.finished().insert(id, done.clone());
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=FINISH_ATTEMPTS {
            match self.commit_record(&done, false).await {
                Ok(_) => break,
                Err(e) if attempt == FINISH_ATTEMPTS => {
                    log::error!(
                        "operation {id}: outcome {} not recorded after {attempt} tries: {e}; \
                         other processes will see it as abandoned",
                        done.state.name()
                    );
                }
                Err(e) => {
                    log::warn!("operation {id}: outcome not recorded yet ({e}); retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        if let Err(e) = self.store().delete(&heartbeat_path(id)).await {
            if !matches!(e, object_store::Error::NotFound { .. }) {
                log::debug!("operation {id}: heartbeat not removed: {e}");
            }
        }
    }

    /// Commits `op` as its catalog record; with `prune`, drops records finished more
    /// than [`RETENTION`] ago in the same commit and returns their ids.
    async fn commit_record(&self, op: &Operation, prune: bool) -> Result<Vec<Uuid>> {
        let mut stored = op.clone();
        stored.details = None;
        let body =
            serde_json::to_value(&stored).map_err(|e| ExportError::Invalid(e.to_string()))?;
        let name = op.id.to_string();
        let horizon = chrono::Duration::from_std(RETENTION)
            .ok()
            .and_then(|r| self.now().checked_sub_signed(r));
        let mut pruned = Vec::new();
        self.db
            .commit(|state| {
                pruned.clear();
                let mut actions = Vec::new();
                if let (true, Some(horizon)) = (prune, horizon) {
                    for (other, value) in state.objects_of(KIND) {
                        let Ok(old) = serde_json::from_value::<Operation>(value.clone()) else {
                            continue;
                        };
                        if *other != name
                            && old.last_updated_on < horizon
                            && !running().contains(&old.id)
                        {
                            pruned.push(old.id);
                            actions.push(Action::DropObject {
                                kind: KIND.into(),
                                name: other.clone(),
                            });
                        }
                    }
                }
                actions.push(Action::PutObject {
                    kind: KIND.into(),
                    name: name.clone(),
                    body: body.clone(),
                });
                Ok(actions)
            })
            .await?;
        Ok(pruned)
    }

    /// Removes the files of pruned operations (best effort).
    async fn forget_files(&self, ids: Vec<Uuid>) {
        for id in ids {
            for path in [details_path(id), heartbeat_path(id)] {
                let _ = self.store().delete(&path).await;
            }
        }
    }

    /// Waits for the task of operation `id` if this engine started it, and returns
    /// the operation as it ended (`None` if this engine did not start it).
    pub async fn wait(&self, id: Uuid) -> Option<Operation> {
        let task = self.tasks().remove(&id)?;
        self.await_task(id, task).await;
        self.finished().get(&id).cloned()
    }

    /// Waits for every operation this engine started and has not waited for; returns
    /// them as they ended, oldest first.
    pub async fn wait_all(&self) -> Vec<Operation> {
        let mut ended = Vec::new();
        loop {
            let next = {
                let mut tasks = self.tasks();
                let id = tasks.keys().next().copied();
                id.and_then(|id| tasks.remove(&id).map(|t| (id, t)))
            };
            let Some((id, task)) = next else { break };
            self.await_task(id, task).await;
            if let Some(op) = self.finished().get(&id).cloned() {
                ended.push(op);
            }
        }
        ended.sort_by_key(|o| o.started_on);
        ended
    }

    async fn await_task(&self, id: Uuid, task: tokio::task::JoinHandle<()>) {
        if let Err(e) = task.await {
            // The task records its own outcome, panics included; this is for a task
            // that was cancelled or panicked while recording.
            log::error!("operation {id}: its task ended abnormally: {e}");
        }
    }

    /// Every operation of the database, oldest first, as it stands now (an
    /// abandoned one shows as `Failed`).
    pub async fn list(&self) -> Result<Vec<Operation>> {
        self.db.refresh().await?;
        let records: Vec<(String, serde_json::Value)> = self
            .db
            .state()
            .objects_of(KIND)
            .map(|(name, body)| (name.clone(), body.clone()))
            .collect();
        let mut ops = Vec::with_capacity(records.len());
        for (name, body) in records {
            let op: Operation = serde_json::from_value(body).map_err(|e| {
                ExportError::Invalid(format!("operation {name} is unreadable: {e}"))
            })?;
            ops.push(self.current(op).await);
        }
        ops.sort_by_key(|o| (o.started_on, o.id));
        Ok(ops)
    }

    /// One operation, by id, from any process; completed ones with their details
    /// when they are known.
    pub async fn get(&self, id: &str) -> Result<Operation> {
        let uuid = Uuid::parse_str(id.trim())
            .map_err(|_| ExportError::Invalid(format!("'{id}' is not an operation id (a GUID)")))?;
        self.db.refresh().await?;
        let record = self.db.state().object(KIND, &uuid.to_string()).cloned();
        let op = match record {
            Some(body) => {
                let op: Operation = serde_json::from_value(body).map_err(|e| {
                    ExportError::Invalid(format!("operation {uuid} is unreadable: {e}"))
                })?;
                self.current(op).await
            }
            // Before operations were catalog objects, only outcomes were stored, as
            // files.
            None => match self.read_details(uuid).await? {
                Some(op) => op,
                None => {
                    return Err(ExportError::Invalid(format!(
                        "operation {uuid} does not exist"
                    )))
                }
            },
        };
        if op.state != OperationState::Completed || op.details.is_some() {
            return Ok(op);
        }
        if let Some(done) = self.finished().get(&uuid).and_then(|d| d.details.clone()) {
            return Ok(Operation {
                details: Some(done),
                ..op
            });
        }
        if op.details_persisted {
            if let Some(stored) = self.read_details(uuid).await? {
                return Ok(Operation {
                    details: stored.details,
                    ..op
                });
            }
        }
        Ok(op)
    }

    async fn read_details(&self, id: Uuid) -> Result<Option<Operation>> {
        match self.store().get(&details_path(id)).await {
            Ok(r) => {
                let bytes = r
                    .bytes()
                    .await
                    .map_err(|e| ExportError::Invalid(e.to_string()))?;
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| ExportError::Invalid(format!("operation {id}: {e}")))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(ExportError::Invalid(e.to_string())),
        }
    }

    /// `op` as it stands: an `InProgress` record whose owner is gone reads as
    /// `Failed` (abandoned).
    async fn current(&self, op: Operation) -> Operation {
        if op.state != OperationState::InProgress {
            return op;
        }
        if running().contains(&op.id) {
            return op;
        }
        if let Some(done) = self.finished().get(&op.id) {
            // Finished here, but its outcome is not in the log (yet).
            return done.clone();
        }
        let owner = op.owner.clone();
        let here = owner
            .as_ref()
            .is_some_and(|o| o.instance == OperationOwner::this_process().instance);
        let who = match &owner {
            Some(o) => format!("process {} on {}", o.pid, o.host),
            None => "process".into(),
        };
        if here {
            return abandoned(
                op,
                format!(
                    "abandoned: the {who} (this one) that ran it has no task for it any more; \
                     it ended without recording an outcome"
                ),
            );
        }
        let beat = self.last_heartbeat(op.id).await;
        let last = beat.map_or(op.last_updated_on, |b| b.max(op.last_updated_on));
        let silent = self.now().signed_duration_since(last);
        let limit =
            chrono::Duration::from_std(self.abandoned_after).unwrap_or(chrono::Duration::MAX);
        if silent <= limit {
            return op;
        }
        abandoned(
            op,
            format!(
                "abandoned: the {who} that ran it stopped without finishing; its last sign of \
                 life was at {} (over {} ago)",
                last.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                crate::command::format_timespan(self.abandoned_after)
            ),
        )
    }

    async fn last_heartbeat(&self, id: Uuid) -> Option<DateTime<Utc>> {
        let r = self.store().get(&heartbeat_path(id)).await.ok()?;
        let bytes = r.bytes().await.ok()?;
        serde_json::from_slice::<Heartbeat>(&bytes)
            .ok()
            .map(|h| h.at)
    }
}

fn abandoned(mut op: Operation, status: String) -> Operation {
    op.state = OperationState::Failed;
    op.status = Some(status);
    op
}

/// The message of a panic payload.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "no message".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_export_tables::{Clock, DatabaseOptions, ManualClock};

    async fn db_with_clock() -> (Database, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new("2026-03-01T00:00:00Z".parse().unwrap()));
        let db = Database::open_with(
            "memory://",
            DatabaseOptions::default().with_clock(clock.clone()),
        )
        .await
        .unwrap();
        (db, clock)
    }

    fn details(n: usize) -> OperationDetails {
        OperationDetails {
            columns: vec!["Path".into()],
            rows: (0..n).map(|i| vec![Some(format!("p{i}"))]).collect(),
        }
    }

    #[tokio::test]
    async fn outcomes_are_durable_and_visible_to_other_readers() {
        let (db, _) = db_with_clock().await;
        let ops = Operations::new(db.clone());
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let id = ops
            .spawn("DataExport", "x", true, async move {
                let _ = wait.await;
                Ok(details(2))
            })
            .await
            .unwrap();
        // Committed before the work ran: another reader of the database sees it.
        let other = Operations::new(db.clone());
        let seen = other.get(&id.to_string()).await.unwrap();
        assert_eq!(seen.state, OperationState::InProgress);
        assert_eq!(seen.owner.as_ref(), Some(OperationOwner::this_process()));
        assert_eq!(other.list().await.unwrap().len(), 1);
        release.send(()).unwrap();
        let done = ops.wait(id).await.unwrap();
        assert_eq!(done.state, OperationState::Completed);
        let seen = other.get(&id.to_string()).await.unwrap();
        assert_eq!(seen.state, OperationState::Completed);
        assert_eq!(seen.details, Some(details(2)));
        assert!(seen.details_persisted);
        // The catalog keeps the record, not the details.
        let stored = db.state().object(KIND, &id.to_string()).cloned().unwrap();
        assert!(stored["details"].is_null(), "{stored}");
    }

    #[tokio::test]
    async fn a_panicking_or_failing_task_ends_failed() {
        let (db, _) = db_with_clock().await;
        let ops = Operations::new(db.clone());
        let id = ops
            .spawn("DataExport", "x", false, async {
                if std::hint::black_box(true) {
                    panic!("the writer exploded");
                }
                Ok(details(0))
            })
            .await
            .unwrap();
        let done = ops.wait(id).await.unwrap();
        assert_eq!(done.state, OperationState::Failed);
        let status = done.status.unwrap();
        assert!(
            status.contains("panicked") && status.contains("the writer exploded"),
            "{status}"
        );
        // Durably: a fresh reader sees it failed too.
        let seen = Operations::new(db.clone())
            .get(&id.to_string())
            .await
            .unwrap();
        assert_eq!(seen.state, OperationState::Failed);
        assert!(!running().contains(&id));

        let id = ops
            .spawn("DataExport", "x", false, async { Err(String::new()) })
            .await
            .unwrap();
        let done = ops.wait(id).await.unwrap();
        assert_eq!(done.state, OperationState::Failed);
        assert!(!done.status.unwrap().is_empty());
    }

    fn foreign(now: DateTime<Utc>, instance: Uuid) -> Operation {
        Operation {
            id: Uuid::new_v4(),
            kind: "DataExport".into(),
            text: ".export async …".into(),
            started_on: now,
            last_updated_on: now,
            state: OperationState::InProgress,
            status: None,
            details: None,
            owner: Some(OperationOwner {
                instance,
                host: "elsewhere".into(),
                pid: 4242,
            }),
            details_persisted: false,
        }
    }

    #[tokio::test]
    async fn an_operation_whose_owner_is_gone_reads_as_abandoned() {
        let (db, clock) = db_with_clock().await;
        let ops = Operations::new(db.clone());
        let op = foreign(clock.now(), Uuid::new_v4());
        ops.commit_record(&op, false).await.unwrap();
        let id = op.id.to_string();
        assert_eq!(
            ops.get(&id).await.unwrap().state,
            OperationState::InProgress
        );
        // A heartbeat keeps it alive past the first deadline.
        clock.advance(chrono::Duration::seconds(100));
        let beat = Heartbeat {
            instance: Uuid::new_v4(),
            at: clock.now(),
        };
        db.object_store()
            .put(
                &heartbeat_path(op.id),
                serde_json::to_vec(&beat).unwrap().into(),
            )
            .await
            .unwrap();
        clock.advance(chrono::Duration::seconds(100));
        assert_eq!(
            ops.get(&id).await.unwrap().state,
            OperationState::InProgress
        );
        clock.advance(chrono::Duration::seconds(21));
        let seen = ops.get(&id).await.unwrap();
        assert_eq!(seen.state, OperationState::Failed);
        let status = seen.status.unwrap();
        assert!(
            status.contains("abandoned") && status.contains("process 4242 on elsewhere"),
            "{status}"
        );
        assert_eq!(ops.list().await.unwrap()[0].state, OperationState::Failed);
        // Reading never rewrites the record.
        let stored: Operation =
            serde_json::from_value(db.state().object(KIND, &id).cloned().unwrap()).unwrap();
        assert_eq!(stored.state, OperationState::InProgress);

        // Owned by this process but with no task here: abandoned at once.
        let mine = foreign(clock.now(), OperationOwner::this_process().instance);
        ops.commit_record(&mine, false).await.unwrap();
        let seen = ops.get(&mine.id.to_string()).await.unwrap();
        assert_eq!(seen.state, OperationState::Failed);
        assert!(seen.status.unwrap().contains("(this one)"));
    }

    #[tokio::test]
    async fn old_operations_are_pruned() {
        let (db, clock) = db_with_clock().await;
        let ops = Operations::new(db.clone());
        let old = ops
            .record("DataExport", "x", Ok(details(1)), true)
            .await
            .unwrap();
        assert!(db.object_store().head(&details_path(old)).await.is_ok());
        clock.advance(chrono::Duration::days(31));
        let new = ops
            .record("DataExport", "y", Ok(details(1)), false)
            .await
            .unwrap();
        let ids: Vec<Uuid> = ops.list().await.unwrap().iter().map(|o| o.id).collect();
        assert_eq!(ids, vec![new]);
        assert!(db.object_store().head(&details_path(old)).await.is_err());
        assert!(ops.get(&old.to_string()).await.is_err());
    }
}
