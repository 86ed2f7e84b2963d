//! The database: one root URL, one commit log, many ingestion-tracked tables.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::SendableRecordBatchStream;
use datafusion_export_udfs::{Cursor, CursorRange};
use futures::StreamExt;
use object_store::ObjectStore;
use uuid::Uuid;

use crate::clock::{Clock, SystemClock};
use crate::error::{Result, TablesError};
use crate::extent_writer::ExtentWriter;
use crate::log::action::{Action, Commit, ExtentFile};
use crate::log::state::{DatabaseState, Extent, StreamHead, TableState};
use crate::log::store::{CommitLog, PutOutcome};
use crate::root::open_root;

/// How a database behaves; the defaults suit production.
#[derive(Clone)]
pub struct DatabaseOptions {
    /// Stamps ingestion times.
    pub clock: Arc<dyn Clock>,
    /// A checkpoint is written every this many commits.
    pub checkpoint_interval: u64,
    /// An ingestion starts a new extent every this many records.
    pub max_rows_per_extent: usize,
    /// Options for cloud object stores (keys as `object_store` names them).
    pub storage_options: Vec<(String, String)>,
    /// The key(s) that encrypt secrets inside stored definitions (external tables'
    /// account keys and SAS tokens). Kept outside the database root; `None` refuses
    /// definitions that carry a secret. See [`crate::secrets`].
    pub secret_keys: Option<crate::secrets::SecretKeys>,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            checkpoint_interval: 100,
            max_rows_per_extent: 1 << 20,
            storage_options: Vec::new(),
            secret_keys: None,
        }
    }
}

impl std::fmt::Debug for DatabaseOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Storage options hold credentials: only their keys are shown.
        f.debug_struct("DatabaseOptions")
            .field("clock", &self.clock)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("max_rows_per_extent", &self.max_rows_per_extent)
            .field(
                "storage_options",
                &crate::root::StorageOptions(self.storage_options.clone()),
            )
            .field("secret_keys", &self.secret_keys)
            .finish()
    }
}

impl DatabaseOptions {
    /// These options with another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitInfo {
    /// The commit's cursor.
    pub cursor: Cursor,
    /// The commit's ingestion time.
    pub ingestion_time: DateTime<Utc>,
}

/// What an ingestion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestReceipt {
    /// The commit, or `None` when there was nothing to ingest.
    pub commit: Option<CommitInfo>,
    /// Records ingested.
    pub rows: u64,
    /// Extents added.
    pub extents: usize,
}

/// A summary of a table, as `.show tables` lists it.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// Name.
    pub name: String,
    /// Columns.
    pub schema: SchemaRef,
    /// Records.
    pub rows: u64,
    /// Extents.
    pub extents: usize,
    /// Bytes in extents.
    pub size: u64,
}

const MAX_COMMIT_ATTEMPTS: usize = 10_000;

/// A handle on a database. Cheap to clone; clones share state.
///
/// ```no_run
/// # async fn demo() -> datafusion_export_tables::Result<()> {
/// use datafusion_export_tables::Database;
/// let db = Database::open("./mydb").await?;
/// let ctx = db.session_context();
/// ctx.sql("SELECT * FROM T WHERE cursor_after('41')").await?.show().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) root: String,
    pub(crate) store: Arc<dyn ObjectStore>,
    store_url: ObjectStoreUrl,
    pub(crate) log: CommitLog,
    /// Copy-on-write, so that a checkpoint serialises a snapshot while commits go on.
    state: RwLock<Arc<DatabaseState>>,
    refresh_lock: tokio::sync::Mutex<()>,
    commit_lock: tokio::sync::Mutex<()>,
    /// When this handle last caught up with the log, on its clock (see
    /// [`RELOAD_AFTER`]).
    last_refresh: Mutex<Option<DateTime<Utc>>>,
    checkpoints: Mutex<Checkpoints>,
    pub(crate) options: DatabaseOptions,
}

/// Checkpoints written by this handle, in the background.
#[derive(Debug, Default)]
struct Checkpoints {
    /// The newest version checkpointed (or loaded from a checkpoint).
    last: u64,
    /// The write in progress.
    task: Option<tokio::task::JoinHandle<()>>,
}

/// A handle that has not caught up with the log for this long checks for a newer
/// checkpoint first: the vacuum may have deleted the commits that follow its state
/// (it only deletes commits older than its window, at least [`crate::MIN_VACUUM_WINDOW`]).
const RELOAD_AFTER: Duration = Duration::from_secs(30 * 60);

impl Database {
    /// Opens (creating if needed) the database under `root`: a local folder or an
    /// object store URL.
    pub async fn open(root: &str) -> Result<Self> {
        Self::open_with(root, DatabaseOptions::default()).await
    }

    /// [`Database::open`] with options.
    pub async fn open_with(root: &str, options: DatabaseOptions) -> Result<Self> {
        let (store, shown) = open_root(root, &options.storage_options)?;
        let storage_options = options.storage_options.clone();
        let db = Self::open_store(store, &shown, options).await?;
        if !root.trim_start().starts_with("memory:") {
            crate::bindings::record(db.object_store_url().as_str(), root, &storage_options);
        }
        Ok(db)
    }

    /// A database that lives in memory only (for tests and scratch work).
    pub async fn in_memory() -> Result<Self> {
        Self::open_with("memory://", DatabaseOptions::default()).await
    }

    /// Opens the database stored in `store`, whose paths are relative to the root.
    /// `root` is only shown to users. Use it to wrap stores (caching, counting,
    /// fault injection).
    pub async fn open_store(
        store: Arc<dyn ObjectStore>,
        root: &str,
        options: DatabaseOptions,
    ) -> Result<Self> {
        let log = CommitLog::new(Arc::clone(&store));
        let unreachable = |e: TablesError| match e {
            TablesError::Storage(e) => TablesError::InvalidRoot {
                url: root.to_string(),
                reason: crate::redact::scrub_secrets(&e.to_string()),
            },
            TablesError::InvalidRoot { reason, .. } => TablesError::InvalidRoot {
                url: root.to_string(),
                reason,
            },
            other => other,
        };
        log.probe_put_if_absent().await.map_err(unreachable)?;
        let state = log
            .read_latest_checkpoint()
            .await
            .map_err(unreachable)?
            .unwrap_or_default();
        let checkpointed = state.version;
        let store_url =
            ObjectStoreUrl::parse(format!("dfexport://db-{}", Uuid::new_v4().simple()))?;
        let db = Database {
            inner: Arc::new(Inner {
                root: root.to_string(),
                store,
                store_url,
                log,
                state: RwLock::new(Arc::new(state)),
                refresh_lock: tokio::sync::Mutex::new(()),
                commit_lock: tokio::sync::Mutex::new(()),
                last_refresh: Mutex::new(None),
                checkpoints: Mutex::new(Checkpoints {
                    last: checkpointed,
                    task: None,
                }),
                options,
            }),
        };
        db.refresh().await?;
        Ok(db)
    }

    /// The root, as shown to users (secrets removed).
    pub fn root(&self) -> &str {
        &self.inner.root
    }

    /// The object store under the root.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.inner.store)
    }

    /// The URL under which scans find [`Database::object_store`] in a session.
    pub fn object_store_url(&self) -> &ObjectStoreUrl {
        &self.inner.store_url
    }

    /// The options this handle was opened with.
    pub fn options(&self) -> &DatabaseOptions {
        &self.inner.options
    }

    /// The newest cursor this handle has seen committed (no I/O).
    pub fn current_cursor(&self) -> Cursor {
        self.read_state().cursor()
    }

    /// A snapshot of the state as of the last refresh (no I/O).
    pub fn state(&self) -> Arc<DatabaseState> {
        self.read_state()
    }

    pub(crate) fn read_state(&self) -> Arc<DatabaseState> {
        Arc::clone(&self.inner.state.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Catches up with commits made by other handles; returns the newest cursor.
    pub async fn refresh(&self) -> Result<Cursor> {
        let _guard = self.inner.refresh_lock.lock().await;
        let now = self.inner.options.clock.now();
        let idle = self
            .inner
            .last_refresh
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| {
                now.signed_duration_since(t).to_std().unwrap_or_default() > RELOAD_AFTER
            });
        if idle {
            self.reload_if_behind_checkpoint().await?;
        }
        let mut next = self.read_state().version + 1;
        while let Some(commit) = self.inner.log.read_commit(next).await? {
            self.apply_if_next(&commit)?;
            next += 1;
        }
        *self
            .inner
            .last_refresh
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(now);
        Ok(self.current_cursor())
    }

    /// Replaces the state with the newest checkpoint's when that is newer: the
    /// commits between may have been vacuumed, and a handle that read "no commit
    /// follows" from a deleted one would commit over history.
    async fn reload_if_behind_checkpoint(&self) -> Result<()> {
        let version = self.read_state().version;
        if self.inner.log.read_checkpoint_version().await? <= Some(version + 1) {
            return Ok(());
        }
        if let Some(newer) = self.inner.log.read_latest_checkpoint().await? {
            let mut state = self.inner.state.write().unwrap_or_else(|p| p.into_inner());
            if newer.version > state.version {
                *state = Arc::new(newer);
            }
        }
        Ok(())
    }

    fn apply_if_next(&self, commit: &Commit) -> Result<()> {
        let mut state = self.inner.state.write().unwrap_or_else(|p| p.into_inner());
        if commit.version == state.version + 1 {
            Arc::make_mut(&mut state).apply(commit)?;
        }
        Ok(())
    }

    /// Commits the actions `build` makes from the newest state, as one new cursor.
    ///
    /// `build` is called again with the newer state whenever another writer wins the
    /// slot, so what it commits is always valid on top of what precedes it.
    pub async fn commit<F>(&self, mut build: F) -> Result<CommitInfo>
    where
        F: FnMut(&DatabaseState) -> Result<Vec<Action>>,
    {
        let _guard = self.inner.commit_lock.lock().await;
        for _ in 0..MAX_COMMIT_ATTEMPTS {
            self.refresh().await?;
            let (commit, heads) = {
                let state = self.read_state();
                let actions = build(&state)?;
                state.validate(&actions)?;
                let now = self.inner.options.clock.now();
                let heads: Vec<(String, StreamHead)> = actions
                    .iter()
                    .filter_map(|a| match a {
                        Action::AppendRecord { stream, .. } => {
                            state.stream(stream).map(|h| (stream.clone(), h))
                        }
                        _ => None,
                    })
                    .collect();
                let commit = Commit {
                    version: state.version + 1,
                    id: Uuid::new_v4(),
                    ingestion_time: state.last_ingestion_time.map_or(now, |last| last.max(now)),
                    actions,
                };
                (commit, heads)
            };
            // A stream's records are written after their commit; the one before
            // this append may have been lost to a crash. Keeping "every record but
            // the head is stored" makes reads need no log.
            for (stream, head) in &heads {
                self.ensure_record(stream, *head).await?;
            }
            match self.inner.log.put_commit(&commit).await? {
                PutOutcome::Committed => {
                    self.apply_if_next(&commit)?;
                    self.write_records(&commit).await;
                    self.maybe_checkpoint();
                    return Ok(CommitInfo {
                        cursor: Cursor::new(commit.version),
                        ingestion_time: commit.ingestion_time,
                    });
                }
                PutOutcome::Lost => continue,
            }
        }
        Err(TablesError::Contention(MAX_COMMIT_ATTEMPTS))
    }

    /// Starts writing a checkpoint in the background when `checkpoint_interval`
    /// commits have passed since the last one: the commit that triggers it does not
    /// wait, and commits go on while it is serialised (the state is copy-on-write).
    fn maybe_checkpoint(&self) {
        let interval = self.inner.options.checkpoint_interval.max(1);
        let mut checkpoints = self
            .inner
            .checkpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if checkpoints.task.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let snapshot = self.read_state();
        if snapshot.version < checkpoints.last.saturating_add(interval) {
            return;
        }
        checkpoints.last = snapshot.version;
        let log = self.inner.log.clone();
        checkpoints.task = Some(tokio::spawn(async move {
            let version = snapshot.version;
            let body = tokio::task::spawn_blocking(move || serde_json::to_vec(&*snapshot)).await;
            let written = match body {
                Ok(Ok(body)) => log.write_checkpoint(body.into(), version).await,
                Ok(Err(e)) => Err(e.into()),
                Err(e) => Err(TablesError::Internal(format!("checkpoint task: {e}"))),
            };
            // A missing checkpoint only makes opening slower; the commit stands.
            if let Err(e) = written {
                log::warn!("checkpoint {version} not written: {e}");
            }
        }));
    }

    /// Waits for the checkpoint being written in the background, if any, then
    /// writes one more if this handle's commits have moved `checkpoint_interval` past
    /// it. Call it before a short-lived process exits, so that the next one opens
    /// from a recent checkpoint.
    pub async fn flush(&self) {
        for _ in 0..2 {
            let task = self
                .inner
                .checkpoints
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .task
                .take();
            if let Some(task) = task {
                let _ = task.await;
            }
            self.maybe_checkpoint();
        }
    }

    /// Creates an ingestion-tracked table.
    pub async fn create_table(&self, name: &str, schema: Schema) -> Result<CommitInfo> {
        validate_table_name(name)?;
        validate_columns(&schema)?;
        let schema = nullable(schema);
        self.commit(|state| {
            if state.tables.contains_key(name) {
                return Err(TablesError::TableExists(name.to_string()));
            }
            Ok(vec![Action::CreateTable {
                id: Uuid::new_v4(),
                name: name.to_string(),
                schema: schema.clone(),
            }])
        })
        .await
    }

    /// Drops a table. With `if_exists`, a missing table is not an error.
    pub async fn drop_table(&self, name: &str, if_exists: bool) -> Result<Option<CommitInfo>> {
        self.refresh().await?;
        if if_exists && !self.read_state().tables.contains_key(name) {
            return Ok(None);
        }
        self.commit(|state| {
            let table = state.table(name)?;
            let mut actions = vec![Action::DropTable {
                id: table.id,
                name: name.to_string(),
            }];
            // The table's own settings (catalog objects named by its id, such as its
            // merge policy) go with it.
            let id = table.id.to_string();
            for (kind, objects) in &state.objects {
                if objects.contains_key(&id) {
                    actions.push(Action::DropObject {
                        kind: kind.clone(),
                        name: id.clone(),
                    });
                }
            }
            Ok(actions)
        })
        .await
        .map(Some)
    }

    /// Ingests record batches into `table` as one commit.
    pub async fn ingest(
        &self,
        table: &str,
        batches: impl IntoIterator<Item = RecordBatch>,
    ) -> Result<IngestReceipt> {
        let stream = futures::stream::iter(batches.into_iter().map(Ok));
        self.ingest_batches(table, None, stream).await
    }

    /// Ingests a stream of record batches into `table` as one commit. With
    /// `create_with`, a missing table is created with that schema in the same commit.
    pub async fn ingest_stream(
        &self,
        table: &str,
        stream: SendableRecordBatchStream,
        create_if_missing: bool,
    ) -> Result<IngestReceipt> {
        let create_with = create_if_missing.then(|| stream.schema());
        self.ingest_batches(
            table,
            create_with,
            stream.map(|r| r.map_err(TablesError::from)),
        )
        .await
    }

    async fn ingest_batches<S>(
        &self,
        table: &str,
        create_with: Option<SchemaRef>,
        mut batches: S,
    ) -> Result<IngestReceipt>
    where
        S: futures::Stream<Item = Result<RecordBatch>> + Unpin,
    {
        self.refresh().await?;
        let existing = self
            .read_state()
            .tables
            .get(table)
            .map(|t| (t.id, Arc::clone(&t.schema)));
        let (target, schema) = match (existing, create_with) {
            (Some((id, schema)), _) => (Some(id), schema),
            (None, Some(schema)) => {
                validate_table_name(table)?;
                validate_columns(&schema)?;
                (None, Arc::new(nullable(schema.as_ref().clone())))
            }
            (None, None) => return Err(TablesError::TableNotFound(table.to_string())),
        };

        let mut writer = ExtentWriter::new(
            self.object_store(),
            table,
            Arc::clone(&schema),
            self.inner.options.max_rows_per_extent,
        );
        let written = async {
            while let Some(batch) = batches.next().await {
                let batch = batch?;
                if batch.num_rows() > 0 {
                    writer.write(&batch).await?;
                }
            }
            Ok::<_, TablesError>(())
        }
        .await;
        if let Err(e) = written {
            writer.abort().await;
            return Err(e);
        }
        let rows = writer.rows();
        let extents = writer.finish().await?;
        if extents.is_empty() && target.is_some() {
            return Ok(IngestReceipt {
                commit: None,
                rows: 0,
                extents: 0,
            });
        }
        let count = extents.len();
        let commit = self
            .commit(|state| add_extents_actions(state, table, target, &schema, &extents))
            .await?;
        Ok(IngestReceipt {
            commit: Some(commit),
            rows,
            extents: count,
        })
    }

    /// Every live table.
    pub async fn tables(&self) -> Result<Vec<TableInfo>> {
        self.refresh().await?;
        Ok(self
            .read_state()
            .tables
            .values()
            .map(|t| TableInfo {
                name: t.name.clone(),
                schema: Arc::clone(&t.schema),
                rows: t.rows(),
                extents: t.extents.len(),
                size: t.size(),
            })
            .collect())
    }

    /// The extents of `table`, in cursor order.
    pub async fn extents(&self, table: &str) -> Result<Vec<Extent>> {
        self.refresh().await?;
        Ok(self.read_state().table(table)?.extents.clone())
    }

    /// The schema of `table`.
    pub async fn table_schema(&self, table: &str) -> Result<SchemaRef> {
        self.refresh().await?;
        Ok(Arc::clone(&self.read_state().table(table)?.schema))
    }

    /// Resolves `range` against the newest state: the extents of table `id` in
    /// range, how many extents the table has, and the resolved range.
    pub async fn scope_extents(
        &self,
        id: Uuid,
        name: &str,
        range: &CursorRange,
    ) -> Result<(Vec<Extent>, usize, CursorRange)> {
        self.refresh().await?;
        let state = self.read_state();
        let current = state.cursor();
        for bound in [Some(range.after), range.at_or_before]
            .into_iter()
            .flatten()
        {
            if bound > current {
                return Err(TablesError::CursorOutOfRange {
                    cursor: bound.to_string(),
                    current: current.to_string(),
                });
            }
        }
        let table: &TableState = state
            .table_by_id(id)
            .ok_or_else(|| TablesError::TableNotFound(name.to_string()))?;
        let resolved = CursorRange::between(range.after, range.at_or_before.unwrap_or(current));
        Ok((
            table.extents_in(&resolved).to_vec(),
            table.extents.len(),
            resolved,
        ))
    }
}

fn add_extents_actions(
    state: &DatabaseState,
    table: &str,
    target: Option<Uuid>,
    schema: &SchemaRef,
    extents: &[ExtentFile],
) -> Result<Vec<Action>> {
    let mut actions = Vec::new();
    let table_id = match (state.tables.get(table), target) {
        (Some(t), Some(id)) if t.id == id => id,
        (Some(t), None) if t.schema.as_ref() == schema.as_ref() => t.id,
        (Some(_), _) | (None, Some(_)) => {
            return Err(TablesError::SchemaMismatch {
                table: table.to_string(),
                reason: "the table was dropped or re-created while the data was being written; nothing was ingested".into(),
            })
        }
        (None, None) => {
            let id = Uuid::new_v4();
            actions.push(Action::CreateTable {
                id,
                name: table.to_string(),
                schema: schema.as_ref().clone(),
            });
            id
        }
    };
    actions.push(Action::AddExtents {
        table_id,
        extents: extents.to_vec(),
    });
    Ok(actions)
}

/// Every column of an ingestion-tracked table accepts nulls, as in Kusto.
fn nullable(schema: Schema) -> Schema {
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

/// Table names become object paths nowhere, but must stay SQL-friendly.
pub fn validate_table_name(name: &str) -> Result<()> {
    let invalid = |reason: &str| TablesError::InvalidName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(invalid("names cannot be empty"));
    }
    if name.len() > 1024 {
        return Err(invalid("names are at most 1024 bytes"));
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err(invalid(
            "names cannot contain '/', '\\' or control characters",
        ));
    }
    if name == INGESTION_TIME_RESERVED {
        return Err(invalid("the name is reserved"));
    }
    Ok(())
}

const INGESTION_TIME_RESERVED: &str = datafusion_export_udfs::INGESTION_TIME_COLUMN;

fn validate_columns(schema: &Schema) -> Result<()> {
    if schema.fields().is_empty() {
        return Err(TablesError::InvalidName {
            name: "(columns)".into(),
            reason: "a table needs at least one column".into(),
        });
    }
    let mut seen = std::collections::HashSet::new();
    for f in schema.fields() {
        validate_table_name(f.name())?;
        if !seen.insert(f.name().as_str()) {
            return Err(TablesError::InvalidName {
                name: f.name().clone(),
                reason: "the column appears twice".into(),
            });
        }
    }
    Ok(())
}
