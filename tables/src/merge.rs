//! Extent merging: consecutive small extents of a table rewritten as one, in one
//! commit, without any row changing its cursor or ingestion time.
//!
//! A merged extent holds every row of its sources, in cursor order, plus two hidden
//! columns: each row's cursor ([`CURSOR_COLUMN`]) and ingestion time
//! ([`INGESTION_TIME_COLUMN_STORED`]). The log records the extent's cursor and time
//! range; scans prune merged extents by that range like any other, and filter the rows
//! of one that a scope covers only partly by the hidden cursor column (Parquet
//! statistics skip the row groups and pages outside it). The sources are removed in
//! the merge's commit and stay on storage until the vacuum's window has passed, so
//! queries planned before the merge still read them.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, TimestampNanosecondArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::{
    DefaultParquetFileReaderFactory, ParquetFileReaderFactory,
};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::ParquetRecordBatchStreamBuilder;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::ObjectStoreExt;
use uuid::Uuid;

use crate::database::{CommitInfo, Database};
use crate::error::{Result, TablesError};
use crate::extent_writer::ExtentWriter;
use crate::log::action::Action;
pub use crate::log::action::MergedFile;
use crate::log::state::Extent;

/// The hidden column of a merged extent that holds each row's cursor.
pub const CURSOR_COLUMN: &str = "__dfx_cursor";
/// The hidden column of a merged extent that holds each row's ingestion time.
pub const INGESTION_TIME_COLUMN_STORED: &str = "__dfx_ingestion_time";

/// Rows per row group of a merged extent, at most: as many as an extent ingested at
/// once holds (Parquet's default), so that a full scan makes as few requests to the
/// store as it would there — on S3 each row group is another ranged GET. Its rows are
/// in cursor order, so a scope that covers part of it still reads only the pages it
/// overlaps (the page index, pages of at most 20,000 rows). The extent writer closes a
/// row group earlier when its encoded size calls for it.
pub const MERGED_ROW_GROUP_ROWS: usize = 1 << 20;

/// The Parquet settings of merged extents: those of every extent, with row groups of
/// [`MERGED_ROW_GROUP_ROWS`] and the page index written.
fn merged_writer_properties() -> WriterProperties {
    crate::extent_writer::extent_writer_properties()
        .into_builder()
        .set_max_row_group_row_count(Some(MERGED_ROW_GROUP_ROWS))
        .build()
}

/// The file schema of a merged extent of a table with `columns`.
pub fn merged_schema(columns: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = columns
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(CURSOR_COLUMN, DataType::UInt64, false));
    fields.push(Field::new(
        INGESTION_TIME_COLUMN_STORED,
        datafusion_export_udfs::ingestion_time_type(),
        false,
    ));
    Arc::new(Schema::new(fields))
}

/// Which extents merge, with Kusto's merge-policy property names; the defaults are
/// Kusto's. Merges are tiered: extents merge only with extents of their own size tier
/// (a factor of `MaxExtentsToMerge` apart), `MaxExtentsToMerge` at a time, so each
/// merge multiplies a row's extent size by that factor and, in steady state, a row is
/// rewritten at most log_MaxExtentsToMerge(rows) times (3 for a day of one row a
/// second at the default 100) — never again and again with each new small extent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MergePolicy {
    /// Extents with at least this many rows are not merged, and a merge produces at
    /// most this many rows (16,777,216).
    #[serde(rename = "RowCountUpperBoundForMerge")]
    pub row_count_upper_bound: u64,
    /// A merge's sources hold at most this many MB (0: no bound).
    #[serde(rename = "OriginalSizeMBUpperBoundForMerge")]
    pub size_mb_upper_bound: u64,
    /// A merge takes this many extents of one tier (100); also the tier factor.
    #[serde(rename = "MaxExtentsToMerge")]
    pub max_extents: usize,
    /// Extents whose ingestion times are further apart than this many hours are not
    /// merged together (24).
    #[serde(rename = "MaxRangeInHours")]
    pub max_range_hours: u64,
    /// How often `serve` merges the table in the background, as a timespan
    /// (`01:00:00`).
    #[serde(rename = "LoopPeriod")]
    pub loop_period: String,
    /// Whether the table's extents are merged at all.
    #[serde(rename = "AllowMerge")]
    pub allow_merge: bool,
}

impl Default for MergePolicy {
    fn default() -> Self {
        Self {
            row_count_upper_bound: 16 * 1024 * 1024,
            size_mb_upper_bound: 0,
            max_extents: 100,
            max_range_hours: 24,
            loop_period: "01:00:00".into(),
            allow_merge: true,
        }
    }
}

impl MergePolicy {
    /// The tier factor (at least 2).
    fn factor(&self) -> u64 {
        (self.max_extents as u64).max(2)
    }

    /// `OriginalSizeMBUpperBoundForMerge` in bytes, if set.
    fn size_bound(&self) -> Option<u64> {
        (self.size_mb_upper_bound > 0).then_some(self.size_mb_upper_bound << 20)
    }

    /// `MaxRangeInHours` as a duration.
    fn range(&self) -> chrono::Duration {
        chrono::Duration::hours(
            i64::try_from(self.max_range_hours).unwrap_or(i64::MAX / 4_000_000_000),
        )
    }

    /// Whether `extent` is under the row and size bounds, so may be merged at all.
    fn is_small(&self, extent: &Extent) -> bool {
        extent.file.rows < self.row_count_upper_bound
            && self
                .size_bound()
                .is_none_or(|b| extent.file.original_bytes() < b)
    }

    /// The size tier of an extent of `rows` rows: ⌊log_factor(rows)⌋.
    pub fn tier(&self, rows: u64) -> u32 {
        let factor = self.factor();
        let (mut tier, mut bound) = (0, factor);
        while rows >= bound {
            tier += 1;
            bound = bound.saturating_mul(factor);
        }
        tier
    }

    /// The merges the policy allows over `extents` (a table's, in cursor order):
    /// `MaxExtentsToMerge` consecutive extents of one size tier, or fewer (two or
    /// more) when together they reach a row or size bound.
    pub fn plan(&self, extents: &[Extent]) -> Vec<Vec<Uuid>> {
        let mut merges = Vec::new();
        if !self.allow_merge {
            return merges;
        }
        let full = self.factor() as usize;
        let (size_bound, range) = (self.size_bound(), self.range());
        let mut group: Vec<&Extent> = Vec::new();
        let (mut rows, mut bytes) = (0u64, 0u64);
        for extent in extents {
            let small = self.is_small(extent);
            let joins = group.first().is_some_and(|first| {
                self.tier(first.file.rows) == self.tier(extent.file.rows)
                    && extent
                        .ingestion_time
                        .signed_duration_since(first.min_ingestion_time())
                        <= range
            });
            let fits = rows + extent.file.rows <= self.row_count_upper_bound
                && size_bound.is_none_or(|b| bytes + extent.file.original_bytes() <= b);
            if !small || !joins || !fits {
                // A group that reached a bound merges as it is; otherwise it waits
                // for more extents of its tier.
                if small && joins && !fits && group.len() >= 2 {
                    merges.push(group.iter().map(|e| e.file.id).collect());
                }
                group.clear();
                rows = 0;
                bytes = 0;
            }
            if small {
                group.push(extent);
                rows += extent.file.rows;
                bytes += extent.file.original_bytes();
                if group.len() == full {
                    merges.push(group.iter().map(|e| e.file.id).collect());
                    group.clear();
                    rows = 0;
                    bytes = 0;
                }
            }
        }
        merges
    }

    /// Compaction, as `.merge T` asks for it (Delta's `OPTIMIZE`): every run of
    /// consecutive small extents, whatever their tiers, packed in cursor order into as
    /// few merges as the bounds allow — rows, original size, `MaxExtentsToMerge`
    /// sources a merge, `MaxRangeInHours`. Planned again after the merges, until one
    /// extent is left of each run or nothing more fits. Unlike [`MergePolicy::plan`]
    /// it rewrites extents that are already big, so the background loop keeps to
    /// tiers and this runs when asked.
    pub fn plan_compaction(&self, extents: &[Extent]) -> Vec<Vec<Uuid>> {
        let mut merges = Vec::new();
        if !self.allow_merge {
            return merges;
        }
        let most = self.factor() as usize;
        let (size_bound, range) = (self.size_bound(), self.range());
        let mut group: Vec<&Extent> = Vec::new();
        let (mut rows, mut bytes) = (0u64, 0u64);
        let mut flush = |group: &mut Vec<&Extent>, rows: &mut u64, bytes: &mut u64| {
            if group.len() >= 2 {
                merges.push(group.iter().map(|e| e.file.id).collect());
            }
            group.clear();
            *rows = 0;
            *bytes = 0;
        };
        for extent in extents {
            if !self.is_small(extent) {
                flush(&mut group, &mut rows, &mut bytes);
                continue;
            }
            let fits = group.len() < most
                && rows + extent.file.rows <= self.row_count_upper_bound
                && size_bound.is_none_or(|b| bytes + extent.file.original_bytes() <= b)
                && group.first().is_none_or(|first| {
                    extent
                        .ingestion_time
                        .signed_duration_since(first.min_ingestion_time())
                        <= range
                });
            if !fits {
                flush(&mut group, &mut rows, &mut bytes);
            }
            group.push(extent);
            rows += extent.file.rows;
            bytes += extent.file.original_bytes();
        }
        flush(&mut group, &mut rows, &mut bytes);
        merges
    }
}

/// The catalog kind of merge policies, named by table id, or [`DATABASE_POLICY`].
pub const POLICY_KIND: &str = "merge_policy";
/// The catalog name of the database's default merge policy.
pub const DATABASE_POLICY: &str = "database";

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeReceipt {
    /// The merge's commit.
    pub commit: CommitInfo,
    /// The extents merged.
    pub sources: Vec<Uuid>,
    /// The new extent.
    pub merged: MergedFile,
}

impl Database {
    /// Merges the extents `ids` of table `table` — consecutive in cursor order, two or
    /// more — into one, as one commit. Refused (and nothing is left behind but a file
    /// the vacuum deletes) if any of them is gone when it commits: dropped, merged by
    /// another process, or the table re-created.
    pub async fn merge_extents(&self, table: &str, ids: &[Uuid]) -> Result<MergeReceipt> {
        self.refresh().await?;
        let state = self.read_state();
        let t = state.table(table)?;
        let table_id = t.id;
        let sources = consecutive(&t.extents, ids, table)?;
        let columns = Arc::clone(&t.schema);
        let schema = merged_schema(&columns);
        let mut writer =
            ExtentWriter::new(self.object_store(), table, Arc::clone(&schema), usize::MAX)
                .with_properties(merged_writer_properties());
        let written = async {
            // Sources are opened (and small ones read whole) a few at a time ahead of
            // the one being written, so that a merge of many tiny extents is not one
            // store round trip after another; they are written strictly in order.
            let mut opened = futures::stream::iter(sources.clone())
                .map(|source| self.open_source(source))
                .buffered(MERGE_READ_AHEAD);
            while let Some(source) = opened.try_next().await? {
                source.copy_into(&columns, &schema, &mut writer).await?;
            }
            Ok::<_, TablesError>(())
        }
        .await;
        if let Err(e) = written {
            writer.abort().await;
            return Err(e);
        }
        let mut files = writer.finish().await?;
        let file = match (files.pop(), files.is_empty()) {
            (Some(file), true) => file,
            _ => {
                return Err(TablesError::Internal(
                    "a merge must write exactly one extent".into(),
                ))
            }
        };
        let merged = MergedFile {
            file,
            min_cursor: sources.iter().map(|e| e.min_cursor()).min().unwrap_or(0),
            max_cursor: sources.iter().map(|e| e.cursor).max().unwrap_or(0),
            min_ingestion_time: sources
                .iter()
                .map(|e| e.min_ingestion_time())
                .min()
                .unwrap_or_default(),
            max_ingestion_time: sources
                .iter()
                .map(|e| e.ingestion_time)
                .max()
                .unwrap_or_default(),
        };
        let remove: Vec<Uuid> = sources.iter().map(|e| e.file.id).collect();
        let committed = self
            .commit(|_| {
                Ok(vec![Action::MergeExtents {
                    table_id,
                    remove: remove.clone(),
                    add: merged.clone(),
                }])
            })
            .await;
        match committed {
            Ok(commit) => Ok(MergeReceipt {
                commit,
                sources: remove,
                merged,
            }),
            Err(e) => {
                // Only a refused merge is known not to have landed.
                if matches!(e, TablesError::Conflict(_)) {
                    let _ = self
                        .object_store()
                        .delete(&Path::from(merged.file.path.as_str()))
                        .await;
                }
                Err(e)
            }
        }
    }

    /// The merge policy of `table` (`None`: the database's default): the one set on it,
    /// else the database's, else Kusto's defaults.
    pub async fn merge_policy(&self, table: Option<&str>) -> Result<MergePolicy> {
        self.refresh().await?;
        let state = self.read_state();
        let own = match table {
            Some(name) => {
                let id = state.table(name)?.id.to_string();
                state.object(POLICY_KIND, &id).cloned()
            }
            None => None,
        };
        match own.or_else(|| state.object(POLICY_KIND, DATABASE_POLICY).cloned()) {
            Some(body) => serde_json::from_value(body).map_err(|e| TablesError::CorruptLog {
                path: format!("{POLICY_KIND} of {}", table.unwrap_or(DATABASE_POLICY)),
                reason: e.to_string(),
            }),
            None => Ok(MergePolicy::default()),
        }
    }

    /// Sets the merge policy of `table` (`None`: the database's default).
    pub async fn set_merge_policy(
        &self,
        table: Option<&str>,
        policy: &MergePolicy,
    ) -> Result<CommitInfo> {
        let body = serde_json::to_value(policy)?;
        self.commit(|state| {
            let name = match table {
                Some(t) => state.table(t)?.id.to_string(),
                None => DATABASE_POLICY.to_string(),
            };
            Ok(vec![Action::PutObject {
                kind: POLICY_KIND.into(),
                name,
                body: body.clone(),
            }])
        })
        .await
    }

    /// Merges every run of extents of `table` that `policy` allows, keeping to size
    /// tiers ([`MergePolicy::plan`]), one commit each; returns what each merge did.
    /// This is the background loop's merge: bounded rewriting in steady state.
    pub async fn merge_table(
        &self,
        table: &str,
        policy: &MergePolicy,
    ) -> Result<Vec<MergeReceipt>> {
        self.merge_planned(table, |extents| policy.plan(extents))
            .await
    }

    /// Compacts `table` as `.merge T` does ([`MergePolicy::plan_compaction`]): every
    /// run of small extents into as few as `policy`'s bounds allow, whatever their
    /// tiers; one commit per merge.
    pub async fn compact_table(
        &self,
        table: &str,
        policy: &MergePolicy,
    ) -> Result<Vec<MergeReceipt>> {
        self.merge_planned(table, |extents| policy.plan_compaction(extents))
            .await
    }

    async fn merge_planned(
        &self,
        table: &str,
        plan: impl Fn(&[Extent]) -> Vec<Vec<Uuid>>,
    ) -> Result<Vec<MergeReceipt>> {
        let mut receipts = Vec::new();
        // Merged extents may fill the next tier, or fit together: plan again until
        // nothing is left. Each merge leaves fewer extents, so this ends.
        loop {
            self.refresh().await?;
            let plans = plan(&self.read_state().table(table)?.extents);
            if plans.is_empty() {
                return Ok(receipts);
            }
            for ids in plans {
                receipts.push(self.merge_extents(table, &ids).await?);
            }
        }
    }

    /// Opens one source extent. One of at most [`SMALL_SOURCE_BYTES`] is read whole, in
    /// one GET (a ranged reader would make three: footer length, footer, data), and
    /// decoded at once; a bigger one is streamed by DataFusion's own Parquet reader.
    async fn open_source(&self, source: Extent) -> Result<OpenSource> {
        if source.file.size <= SMALL_SOURCE_BYTES {
            let bytes = self
                .object_store()
                .get(&Path::from(source.file.path.as_str()))
                .await?
                .bytes()
                .await?;
            let batches = ParquetRecordBatchReaderBuilder::try_new(bytes)?
                .build()?
                .collect::<std::result::Result<Vec<_>, _>>()?;
            return Ok(OpenSource {
                source,
                rows: SourceRows::Read(batches),
            });
        }
        let reader = DefaultParquetFileReaderFactory::new(self.object_store()).create_reader(
            0,
            PartitionedFile::new(source.file.path.clone(), source.file.size),
            None,
            &ExecutionPlanMetricsSet::new(),
        )?;
        let reader: Box<dyn datafusion::parquet::arrow::async_reader::AsyncFileReader> = reader;
        let stream = ParquetRecordBatchStreamBuilder::new(reader)
            .await?
            .build()?;
        Ok(OpenSource {
            source,
            rows: SourceRows::Stream(stream),
        })
    }
}

/// Sources opened ahead of the one being written.
const MERGE_READ_AHEAD: usize = 16;

/// Sources up to this size are read whole when opened (so at most
/// [`MERGE_READ_AHEAD`] of them are held at once); bigger ones are streamed.
const SMALL_SOURCE_BYTES: u64 = 1 << 20;

/// A source extent of a merge, opened.
struct OpenSource {
    source: Extent,
    rows: SourceRows,
}

enum SourceRows {
    Read(Vec<RecordBatch>),
    Stream(
        datafusion::parquet::arrow::async_reader::ParquetRecordBatchStream<
            Box<dyn datafusion::parquet::arrow::async_reader::AsyncFileReader>,
        >,
    ),
}

impl OpenSource {
    /// Writes the source's rows into `writer`, with their cursors and times.
    async fn copy_into(
        self,
        columns: &SchemaRef,
        schema: &SchemaRef,
        writer: &mut ExtentWriter,
    ) -> Result<()> {
        match self.rows {
            SourceRows::Read(batches) => {
                for batch in &batches {
                    write_with_hidden(&self.source, batch, columns, schema, writer).await?;
                }
            }
            SourceRows::Stream(mut stream) => {
                while let Some(batch) = stream.try_next().await? {
                    write_with_hidden(&self.source, &batch, columns, schema, writer).await?;
                }
            }
        }
        Ok(())
    }
}

/// Writes `batch` of `source` into `writer` with each row's cursor and ingestion time.
async fn write_with_hidden(
    source: &Extent,
    batch: &RecordBatch,
    columns: &SchemaRef,
    schema: &SchemaRef,
    writer: &mut ExtentWriter,
) -> Result<()> {
    let rows = batch.num_rows();
    if rows == 0 {
        return Ok(());
    }
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in columns.fields() {
        let column = batch
            .column_by_name(field.name())
            .ok_or_else(|| TablesError::CorruptLog {
                path: source.file.path.clone(),
                reason: format!("the extent has no column '{}'", field.name()),
            })?;
        arrays.push(Arc::clone(column));
    }
    match source.merged {
        // A merged source carries its rows' cursors and times.
        Some(_) => {
            for name in [CURSOR_COLUMN, INGESTION_TIME_COLUMN_STORED] {
                let column = batch
                    .column_by_name(name)
                    .ok_or_else(|| TablesError::CorruptLog {
                        path: source.file.path.clone(),
                        reason: format!("the merged extent has no column '{name}'"),
                    })?;
                arrays.push(Arc::clone(column));
            }
        }
        None => {
            let nanos = source.ingestion_time.timestamp_nanos_opt().ok_or_else(|| {
                TablesError::Invalid(format!(
                    "ingestion time {} cannot be stored in nanoseconds",
                    source.ingestion_time
                ))
            })?;
            arrays.push(Arc::new(UInt64Array::from_value(source.cursor, rows)));
            arrays.push(Arc::new(
                TimestampNanosecondArray::from_value(nanos, rows).with_timezone("UTC"),
            ));
        }
    }
    let batch = RecordBatch::try_new(Arc::clone(schema), arrays)?;
    writer.write(&batch).await
}

/// The extents `ids` of `extents`, in order, if they are two or more and consecutive.
fn consecutive(extents: &[Extent], ids: &[Uuid], table: &str) -> Result<Vec<Extent>> {
    let mut positions = Vec::with_capacity(ids.len());
    for id in ids {
        let position = extents
            .iter()
            .position(|e| e.file.id == *id)
            .ok_or_else(|| {
                TablesError::Conflict(format!(
                    "extent {id} is not in table '{table}' (dropped, or merged already)"
                ))
            })?;
        positions.push(position);
    }
    positions.sort_unstable();
    positions.dedup();
    if positions.len() < 2 {
        return Err(TablesError::Invalid(
            "a merge needs two or more distinct extents".into(),
        ));
    }
    if positions.windows(2).any(|w| w[1] != w[0] + 1) {
        return Err(TablesError::Invalid(format!(
            "the extents to merge must be consecutive in table '{table}' (in cursor order), so \
             that the merged extent's cursor range overlaps no other"
        )));
    }
    Ok(positions.iter().map(|p| extents[*p].clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::action::ExtentFile;
    use chrono::{DateTime, Utc};

    fn extent(n: u128, rows: u64) -> Extent {
        Extent {
            file: ExtentFile {
                id: Uuid::from_u128(n),
                path: format!("e{n}"),
                rows,
                size: rows * 10,
                original_size: None,
            },
            cursor: n as u64,
            ingestion_time: DateTime::<Utc>::default(),
            merged: None,
        }
    }

    #[test]
    fn plans_full_groups_of_one_tier_within_bounds() {
        let policy = MergePolicy {
            row_count_upper_bound: 100,
            max_extents: 3,
            ..Default::default()
        };
        let ids = |v: &[u128]| v.iter().map(|n| Uuid::from_u128(*n)).collect::<Vec<_>>();
        assert_eq!(
            (
                policy.tier(1),
                policy.tier(2),
                policy.tier(3),
                policy.tier(9)
            ),
            (0, 0, 1, 2)
        );
        // A big extent breaks runs; a tier changes them; three of a tier merge; a
        // group that reaches the row bound merges as it is; two of a tier wait.
        let extents = [
            extent(1, 1),
            extent(2, 1),
            extent(3, 500),
            extent(4, 1),
            extent(5, 2),
            extent(6, 1),
            extent(7, 4),
            extent(8, 40),
            extent(9, 40),
            extent(10, 40),
            extent(11, 1),
            extent(12, 1),
        ];
        assert_eq!(policy.plan(&extents), vec![ids(&[4, 5, 6]), ids(&[8, 9])]);
        let off = MergePolicy {
            allow_merge: false,
            ..Default::default()
        };
        assert!(off.plan(&extents).is_empty());
        let policy: MergePolicy =
            serde_json::from_str(r#"{"RowCountUpperBoundForMerge": 5, "MaxExtentsToMerge": 2}"#)
                .unwrap();
        assert_eq!(policy.row_count_upper_bound, 5);
        assert_eq!(policy.max_extents, 2);
        assert!(policy.allow_merge);
        assert!(serde_json::from_str::<MergePolicy>(r#"{"Frob": 1}"#).is_err());
    }

    /// `OriginalSizeMBUpperBoundForMerge` bounds the data before compression, as in
    /// Kusto: extents of 400 KB stored in 40 KB merge two at a time under 1 MB.
    #[test]
    fn compaction_packs_runs_whatever_their_tiers_within_bounds() {
        let policy = MergePolicy {
            row_count_upper_bound: 100,
            max_extents: 3,
            ..Default::default()
        };
        let ids = |v: &[u128]| v.iter().map(|n| Uuid::from_u128(*n)).collect::<Vec<_>>();
        let extents = [
            extent(1, 1),
            extent(2, 1),
            extent(3, 500),
            extent(4, 1),
            extent(5, 2),
            extent(6, 1),
            extent(7, 4),
            extent(8, 40),
            extent(9, 40),
            extent(10, 40),
            extent(11, 1),
            extent(12, 1),
        ];
        // A big extent breaks runs; at most three sources a merge; the row bound
        // starts a new merge; a lone small extent is left alone.
        assert_eq!(
            policy.plan_compaction(&extents),
            vec![
                ids(&[1, 2]),
                ids(&[4, 5, 6]),
                ids(&[7, 8, 9]),
                ids(&[10, 11, 12])
            ]
        );
        // The next round packs what the first made, until nothing fits.
        let merged = [
            extent(20, 2),
            extent(3, 500),
            extent(21, 4),
            extent(22, 84),
            extent(23, 42),
        ];
        assert_eq!(policy.plan_compaction(&merged), vec![ids(&[21, 22])]);
        let last = [
            extent(20, 2),
            extent(3, 500),
            extent(24, 88),
            extent(23, 42),
        ];
        assert!(policy.plan_compaction(&last).is_empty());
        let off = MergePolicy {
            allow_merge: false,
            ..Default::default()
        };
        assert!(off.plan_compaction(&extents).is_empty());
    }

    #[test]
    fn the_size_bound_is_on_original_size() {
        let policy = MergePolicy {
            size_mb_upper_bound: 1,
            max_extents: 10,
            ..Default::default()
        };
        let extents: Vec<Extent> = (1..=5)
            .map(|n| {
                let mut e = extent(n, 1);
                e.file.size = 40_000;
                e.file.original_size = Some(400_000);
                e
            })
            .collect();
        let ids = |v: &[u128]| v.iter().map(|n| Uuid::from_u128(*n)).collect::<Vec<_>>();
        assert_eq!(policy.plan(&extents), vec![ids(&[1, 2]), ids(&[3, 4])]);
    }

    /// A day of one-row ingestions, merged as they come: each row is rewritten at
    /// most three times.
    #[test]
    fn a_day_of_one_row_extents_rewrites_each_row_at_most_three_times() {
        let policy = MergePolicy::default();
        let mut extents: Vec<(Extent, u32)> = Vec::new(); // (extent, times its rows were rewritten)
        let mut next = 0u128;
        let mut rewritten_rows = 0u64;
        for second in 0..86_400u64 {
            next += 1;
            extents.push((extent(next, 1), 0));
            if second % 600 != 599 {
                continue; // the background loop runs every 10 minutes
            }
            loop {
                let plain: Vec<Extent> = extents.iter().map(|(e, _)| e.clone()).collect();
                let plans = policy.plan(&plain);
                if plans.is_empty() {
                    break;
                }
                for ids in plans {
                    let first = extents
                        .iter()
                        .position(|(e, _)| e.file.id == ids[0])
                        .unwrap();
                    let merged: Vec<(Extent, u32)> =
                        extents.drain(first..first + ids.len()).collect();
                    let rows: u64 = merged.iter().map(|(e, _)| e.file.rows).sum();
                    let depth = merged.iter().map(|(_, d)| *d).max().unwrap() + 1;
                    rewritten_rows += rows;
                    next += 1;
                    extents.insert(first, (extent(next, rows), depth));
                }
            }
        }
        let depth = extents.iter().map(|(_, d)| *d).max().unwrap();
        assert!(depth <= 3, "a row was rewritten {depth} times");
        // Write amplification: rows written by merges per row ingested.
        let amplification = rewritten_rows as f64 / 86_400.0;
        assert!(amplification <= 3.0, "{amplification}");
        assert!(extents.len() < 300, "{} extents left", extents.len());
    }
}
