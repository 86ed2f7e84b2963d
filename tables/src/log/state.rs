//! The database state a log replays to, with no I/O.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion_export_udfs::{Cursor, CursorRange};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::action::{Action, Commit, ExtentFile};
use crate::error::{Result, TablesError};

/// An extent as the database knows it: a file plus the commit that ingested it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extent {
    /// The file.
    #[serde(flatten)]
    pub file: ExtentFile,
    /// The cursor of the commit that added it (of a merged extent: its newest row's).
    pub cursor: u64,
    /// The ingestion time of that commit (of a merged extent: its newest row's).
    pub ingestion_time: DateTime<Utc>,
    /// For a merged extent, where its rows start; its rows carry their own cursor and
    /// ingestion time in hidden columns (see [`crate::merge`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<MergedRange>,
}

/// The oldest row of a merged extent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedRange {
    /// Its cursor.
    pub min_cursor: u64,
    /// Its ingestion time.
    pub min_ingestion_time: DateTime<Utc>,
}

impl Extent {
    /// The oldest cursor of its rows.
    pub fn min_cursor(&self) -> u64 {
        self.merged.map_or(self.cursor, |m| m.min_cursor)
    }

    /// The oldest ingestion time of its rows.
    pub fn min_ingestion_time(&self) -> DateTime<Utc> {
        self.merged
            .map_or(self.ingestion_time, |m| m.min_ingestion_time)
    }

    /// Whether every row of it is in `range`.
    pub fn within(&self, range: &CursorRange) -> bool {
        self.min_cursor() > range.after.sequence()
            && range
                .at_or_before
                .is_none_or(|hi| self.cursor <= hi.sequence())
    }
}

/// A live table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredTable")]
pub struct TableState {
    /// Unique id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Columns.
    #[serde(with = "schema_serde")]
    pub schema: SchemaRef,
    /// Extents in cursor order.
    pub extents: Vec<Extent>,
    /// The ids of `extents`, so that adding one twice is caught without a scan.
    #[serde(skip_serializing)]
    extent_ids: HashSet<Uuid>,
}

/// [`TableState`] as a checkpoint stores it (without the derived index).
#[derive(Deserialize)]
struct StoredTable {
    id: Uuid,
    name: String,
    #[serde(with = "schema_serde")]
    schema: SchemaRef,
    extents: Vec<Extent>,
}

impl From<StoredTable> for TableState {
    fn from(t: StoredTable) -> Self {
        let mut table = TableState::new(t.id, t.name, t.schema);
        table.extent_ids = t.extents.iter().map(|e| e.file.id).collect();
        table.extents = t.extents;
        table
    }
}

impl TableState {
    /// An empty table.
    pub fn new(id: Uuid, name: String, schema: SchemaRef) -> Self {
        TableState {
            id,
            name,
            schema,
            extents: Vec::new(),
            extent_ids: HashSet::new(),
        }
    }

    /// Whether the table holds the extent with id `id`.
    pub fn has_extent(&self, id: Uuid) -> bool {
        self.extent_ids.contains(&id)
    }

    /// The extents with rows whose cursor is in `range`, found by binary search (a
    /// table's extents never overlap in cursor, merged ones included).
    pub fn extents_in(&self, range: &CursorRange) -> &[Extent] {
        let lo = self
            .extents
            .partition_point(|e| e.cursor <= range.after.sequence());
        let hi = match range.at_or_before {
            Some(hi) => self
                .extents
                .partition_point(|e| e.min_cursor() <= hi.sequence()),
            None => self.extents.len(),
        };
        &self.extents[lo..hi.max(lo)]
    }

    /// Replaces the consecutive extents `remove` by `add`; returns their paths.
    /// Refused if any is gone (dropped, or merged by another writer) or they are not
    /// consecutive, or `add` does not span exactly their cursors.
    fn replace_with_merged(
        &mut self,
        remove: &[Uuid],
        add: &crate::log::action::MergedFile,
        version: u64,
    ) -> Result<Vec<String>> {
        let mut positions = Vec::with_capacity(remove.len());
        for id in remove {
            let position = self
                .extents
                .iter()
                .position(|e| e.file.id == *id)
                .ok_or_else(|| {
                    TablesError::Conflict(format!(
                        "extent {id} of table '{}' is gone (dropped, or merged by another \
                         process); the merge is refused",
                        self.name
                    ))
                })?;
            positions.push(position);
        }
        positions.sort_unstable();
        let (Some(&first), Some(&last)) = (positions.first(), positions.last()) else {
            return Err(TablesError::Conflict("a merge removes no extent".into()));
        };
        if last - first + 1 != positions.len() || positions.windows(2).any(|w| w[0] == w[1]) {
            return Err(TablesError::Conflict(format!(
                "the extents merged in commit {version} are not consecutive in table '{}'",
                self.name
            )));
        }
        let sources = &self.extents[first..=last];
        let min = sources.iter().map(|e| e.min_cursor()).min().unwrap_or(0);
        let max = sources.iter().map(|e| e.cursor).max().unwrap_or(0);
        let rows: u64 = sources.iter().map(|e| e.file.rows).sum();
        if (min, max, rows) != (add.min_cursor, add.max_cursor, add.file.rows)
            || self.has_extent(add.file.id)
        {
            return Err(TablesError::Conflict(format!(
                "the merged extent of commit {version} does not hold exactly the rows of the \
                 extents it replaces in table '{}'",
                self.name
            )));
        }
        let merged = Extent {
            file: add.file.clone(),
            cursor: add.max_cursor,
            ingestion_time: add.max_ingestion_time,
            merged: Some(MergedRange {
                min_cursor: add.min_cursor,
                min_ingestion_time: add.min_ingestion_time,
            }),
        };
        let gone: Vec<Extent> = self.extents.splice(first..=last, [merged]).collect();
        for e in &gone {
            self.extent_ids.remove(&e.file.id);
        }
        self.extent_ids.insert(add.file.id);
        Ok(gone.into_iter().map(|e| e.file.path).collect())
    }

    /// Total number of records.
    pub fn rows(&self) -> u64 {
        self.extents.iter().map(|e| e.file.rows).sum()
    }

    /// Total size of the extents in bytes.
    pub fn size(&self) -> u64 {
        self.extents.iter().map(|e| e.file.size).sum()
    }
}

mod schema_serde {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(schema: &SchemaRef, s: S) -> Result<S::Ok, S::Error> {
        schema.as_ref().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SchemaRef, D::Error> {
        Schema::deserialize(d).map(Arc::new)
    }
}

/// The newest record of a record stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamHead {
    /// Its number.
    pub seq: u64,
    /// The commit that appended it.
    pub version: u64,
}

/// Files a commit took out of the database (a dropped table's extents). They stay
/// until the vacuum's window has passed since `time`, so that queries planned on an
/// older snapshot still read them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// The commit that removed them.
    pub version: u64,
    /// Its ingestion time.
    pub time: DateTime<Utc>,
    /// Object paths relative to the root.
    pub paths: Vec<String>,
}

/// Everything the log says, as of one version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatabaseState {
    /// The newest commit applied.
    pub version: u64,
    /// Its ingestion time (commit times never go backwards).
    pub last_ingestion_time: Option<DateTime<Utc>>,
    /// Live tables by name.
    pub tables: BTreeMap<String, TableState>,
    /// Catalog objects by kind, then name.
    #[serde(default)]
    pub objects: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    /// The head of each record stream (the records themselves are not state).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub streams: BTreeMap<String, StreamHead>,
    /// Removals the vacuum has not yet cleaned up, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Removed>,
}

impl DatabaseState {
    /// The newest committed cursor.
    pub fn cursor(&self) -> Cursor {
        Cursor::new(self.version)
    }

    /// The table named `name`.
    pub fn table(&self, name: &str) -> Result<&TableState> {
        self.tables
            .get(name)
            .ok_or_else(|| TablesError::TableNotFound(name.to_string()))
    }

    /// The table with id `id`.
    pub fn table_by_id(&self, id: Uuid) -> Option<&TableState> {
        self.tables.values().find(|t| t.id == id)
    }

    /// The catalog object `kind`/`name`.
    pub fn object(&self, kind: &str, name: &str) -> Option<&serde_json::Value> {
        self.objects.get(kind).and_then(|m| m.get(name))
    }

    /// The catalog objects of `kind`, by name.
    pub fn objects_of(&self, kind: &str) -> impl Iterator<Item = (&String, &serde_json::Value)> {
        self.objects.get(kind).into_iter().flat_map(|m| m.iter())
    }

    /// The head of record stream `stream`, if it has records.
    pub fn stream(&self, stream: &str) -> Option<StreamHead> {
        self.streams.get(stream).copied()
    }

    /// Every path of a live extent.
    pub fn live_paths(&self) -> HashSet<&str> {
        self.tables
            .values()
            .flat_map(|t| t.extents.iter().map(|e| e.file.path.as_str()))
            .collect()
    }

    /// Checks that `actions` can be committed on top of this state. Adding an extent
    /// the table already holds (or twice in one commit) is refused: that is a retried
    /// ingestion, and committing it again would store its rows twice.
    pub fn validate(&self, actions: &[Action]) -> Result<()> {
        let mut added = HashSet::new();
        for action in actions {
            if let Action::AddExtents { table_id, extents } = action {
                let table = self.table_by_id(*table_id);
                for file in extents {
                    if table.is_some_and(|t| t.has_extent(file.id)) || !added.insert(file.id) {
                        return Err(TablesError::Conflict(format!(
                            "extent {} is already in table '{}': this ingestion was already \
                             committed",
                            file.id,
                            table.map_or("?", |t| t.name.as_str())
                        )));
                    }
                }
            }
        }
        let mut probe = self.clone_shallow_for(actions);
        probe.apply_actions(actions, self.version + 1, Utc::now())
    }

    /// Applies the next commit of the log.
    pub fn apply(&mut self, commit: &Commit) -> Result<()> {
        if commit.version != self.version + 1 {
            return Err(TablesError::CorruptLog {
                path: format!("commit {}", commit.version),
                reason: format!("expected commit {}", self.version + 1),
            });
        }
        self.apply_actions(&commit.actions, commit.version, commit.ingestion_time)?;
        self.version = commit.version;
        self.last_ingestion_time = Some(commit.ingestion_time);
        Ok(())
    }

    /// A copy holding only the tables `actions` touch, enough to validate them.
    fn clone_shallow_for(&self, actions: &[Action]) -> DatabaseState {
        let mut tables = BTreeMap::new();
        let mut tables_objects: Vec<(String, String)> = Vec::new();
        for action in actions {
            let name = match action {
                Action::CreateTable { name, .. } | Action::DropTable { name, .. } => {
                    self.tables.get(name).map(|t| t.name.clone())
                }
                Action::AddExtents { table_id, .. } | Action::MergeExtents { table_id, .. } => {
                    self.table_by_id(*table_id).map(|t| t.name.clone())
                }
                Action::PutObject { .. }
                | Action::AppendRecord { .. }
                | Action::DropStream { .. }
                | Action::ForgetRemoved { .. } => None,
                Action::DropObject { kind, name } => {
                    if self.object(kind, name).is_some() {
                        tables_objects.push((kind.clone(), name.clone()));
                    }
                    None
                }
            };
            if let Some(name) = name {
                let t = &self.tables[&name];
                // A merge is checked against the extents it replaces.
                let copy = if matches!(action, Action::MergeExtents { .. }) {
                    t.clone()
                } else {
                    TableState::new(t.id, t.name.clone(), t.schema.clone())
                };
                tables.insert(name, copy);
            }
        }
        let mut objects: BTreeMap<String, BTreeMap<String, serde_json::Value>> = BTreeMap::new();
        for (kind, name) in tables_objects {
            objects
                .entry(kind.clone())
                .or_default()
                .insert(name.clone(), serde_json::Value::Null);
        }
        DatabaseState {
            version: self.version,
            last_ingestion_time: self.last_ingestion_time,
            tables,
            objects,
            streams: self.streams.clone(),
            removed: Vec::new(),
        }
    }

    fn apply_actions(
        &mut self,
        actions: &[Action],
        version: u64,
        time: DateTime<Utc>,
    ) -> Result<()> {
        for action in actions {
            match action {
                Action::CreateTable { id, name, schema } => {
                    if self.tables.contains_key(name) {
                        return Err(TablesError::TableExists(name.clone()));
                    }
                    self.tables.insert(
                        name.clone(),
                        TableState::new(*id, name.clone(), Arc::new(schema.clone())),
                    );
                }
                Action::DropTable { id, name } => match self.tables.get(name) {
                    Some(t) if t.id == *id => {
                        if let Some(t) = self.tables.remove(name) {
                            if !t.extents.is_empty() {
                                self.removed.push(Removed {
                                    version,
                                    time,
                                    paths: t.extents.into_iter().map(|e| e.file.path).collect(),
                                });
                            }
                        }
                    }
                    _ => return Err(TablesError::TableNotFound(name.clone())),
                },
                Action::MergeExtents {
                    table_id,
                    remove,
                    add,
                } => {
                    let table = self
                        .tables
                        .values_mut()
                        .find(|t| t.id == *table_id)
                        .ok_or_else(|| {
                            TablesError::Conflict(format!(
                                "the table of the extents to merge (id {table_id}) was dropped"
                            ))
                        })?;
                    let removed = table.replace_with_merged(remove, add, version)?;
                    self.removed.push(Removed {
                        version,
                        time,
                        paths: removed,
                    });
                }
                Action::AppendRecord { stream, seq, .. } => {
                    validate_stream_name(stream)?;
                    let expected = self.streams.get(stream).map_or(1, |h| h.seq + 1);
                    if *seq != expected {
                        return Err(TablesError::Conflict(format!(
                            "record {seq} of stream '{stream}' follows record {}: another \
                             writer appended to it first",
                            expected - 1
                        )));
                    }
                    self.streams
                        .insert(stream.clone(), StreamHead { seq: *seq, version });
                }
                Action::DropStream { stream } => {
                    self.streams.remove(stream);
                }
                Action::ForgetRemoved { through_version } => {
                    self.removed.retain(|r| r.version > *through_version);
                }
                Action::PutObject { kind, name, body } => {
                    self.objects
                        .entry(kind.clone())
                        .or_default()
                        .insert(name.clone(), body.clone());
                }
                Action::DropObject { kind, name } => {
                    let removed = self.objects.get_mut(kind).and_then(|m| m.remove(name));
                    if removed.is_none() {
                        return Err(TablesError::ObjectNotFound {
                            kind: kind.clone(),
                            name: name.clone(),
                        });
                    }
                    if self.objects.get(kind).is_some_and(|m| m.is_empty()) {
                        self.objects.remove(kind);
                    }
                }
                Action::AddExtents { table_id, extents } => {
                    let table = self
                        .tables
                        .values_mut()
                        .find(|t| t.id == *table_id)
                        .ok_or_else(|| {
                            TablesError::TableNotFound(format!(
                                "with id {table_id} (it was dropped)"
                            ))
                        })?;
                    for file in extents {
                        if !table.extent_ids.insert(file.id) {
                            // Logs written before extent ids were checked may add an
                            // extent again (a retried commit); it was never new data.
                            log::warn!(
                                "commit {version} adds extent {} to table '{}' again; ignored",
                                file.id,
                                table.name
                            );
                            continue;
                        }
                        table.extents.push(Extent {
                            file: file.clone(),
                            cursor: version,
                            ingestion_time: time,
                            merged: None,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// Stream names become object paths under `_records/`: segments of ASCII letters,
/// digits, `_`, `-` and `.`, separated by `/`.
pub fn validate_stream_name(stream: &str) -> Result<()> {
    let valid = !stream.is_empty()
        && stream.len() <= 256
        && stream.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        });
    if valid {
        Ok(())
    } else {
        Err(TablesError::InvalidName {
            name: stream.to_string(),
            reason: "a record stream is named by '/'-separated segments of letters, digits, \
                     '_', '-' and '.'"
                .into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field};

    fn commit(version: u64, actions: Vec<Action>) -> Commit {
        Commit {
            version,
            id: Uuid::new_v4(),
            ingestion_time: DateTime::from_timestamp(version as i64, 0).unwrap(),
            actions,
        }
    }

    fn extent(n: u64) -> ExtentFile {
        ExtentFile {
            id: Uuid::from_u128(n as u128),
            path: format!("e{n}"),
            rows: n,
            size: 10,
            original_size: None,
        }
    }

    #[test]
    fn replays_and_scopes() {
        let id = Uuid::from_u128(1);
        let schema = Schema::new(vec![Field::new("a", DataType::Int64, true)]);
        let mut state = DatabaseState::default();
        state
            .apply(&commit(
                1,
                vec![Action::CreateTable {
                    id,
                    name: "T".into(),
                    schema,
                }],
            ))
            .unwrap();
        for v in 2..=10 {
            state
                .apply(&commit(
                    v,
                    vec![Action::AddExtents {
                        table_id: id,
                        extents: vec![extent(v)],
                    }],
                ))
                .unwrap();
        }
        let t = state.table("T").unwrap();
        let cursors = |r: CursorRange| {
            t.extents_in(&r)
                .iter()
                .map(|e| e.cursor)
                .collect::<Vec<_>>()
        };
        assert_eq!(cursors(CursorRange::after(Cursor::new(7))), vec![8, 9, 10]);
        assert_eq!(
            cursors(CursorRange::at_or_before(Cursor::new(3))),
            vec![2, 3]
        );
        assert_eq!(
            cursors(CursorRange::between(Cursor::new(5), Cursor::new(4))),
            Vec::<u64>::new()
        );
        assert_eq!(t.rows(), (2..=10).sum::<u64>());

        let json = serde_json::to_string(&state).unwrap();
        let back: DatabaseState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, state);
    }

    #[test]
    fn rejects_out_of_order_and_invalid_commits() {
        let mut state = DatabaseState::default();
        assert!(state.apply(&commit(2, vec![])).is_err());
        let bad = vec![Action::AddExtents {
            table_id: Uuid::from_u128(9),
            extents: vec![],
        }];
        assert!(state.validate(&bad).is_err());
        assert_eq!(state.version, 0);
    }
}
