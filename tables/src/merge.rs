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

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{ArrayRef, RecordBatch, TimestampNanosecondArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::{
    DefaultParquetFileReaderFactory, ParquetFileReaderFactory,
};
use datafusion::parquet::arrow::ParquetRecordBatchStreamBuilder;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::ObjectStoreExt;
use uuid::Uuid;

use crate::database::{CommitInfo, Database};
use crate::error::{Result, TablesError};
use crate::extent_writer::ExtentWriter;
use crate::log::action::{Action, ExtentFile};
use crate::log::state::Extent;

/// The hidden column of a merged extent that holds each row's cursor.
pub const CURSOR_COLUMN: &str = "__dfx_cursor";
/// The hidden column of a merged extent that holds each row's ingestion time.
pub const INGESTION_TIME_COLUMN_STORED: &str = "__dfx_ingestion_time";

/// The type of [`INGESTION_TIME_COLUMN_STORED`].
fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// The file schema of a merged extent of a table with `columns`.
pub fn merged_schema(columns: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = columns
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(CURSOR_COLUMN, DataType::UInt64, false));
    fields.push(Field::new(INGESTION_TIME_COLUMN_STORED, time_type(), false));
    Arc::new(Schema::new(fields))
}

/// A merged extent as its commit records it.
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

/// Which extents merge, with Kusto's merge-policy property names; the defaults are
/// Kusto's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MergePolicy {
    /// Extents with at least this many rows are not merged, and a merge produces at
    /// most this many rows (16,777,216).
    #[serde(rename = "RowCountUpperBoundForMerge")]
    pub row_count_upper_bound: u64,
    /// A merge's sources hold at most this many MB (0: no bound).
    #[serde(rename = "OriginalSizeMBUpperBoundForMerge")]
    pub size_mb_upper_bound: u64,
    /// A merge takes at most this many extents (100).
    #[serde(rename = "MaxExtentsToMerge")]
    pub max_extents: usize,
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
            allow_merge: true,
        }
    }
}

impl MergePolicy {
    /// The merges the policy allows over `extents` (a table's, in cursor order): runs
    /// of consecutive small extents, each within the bounds, two or more.
    pub fn plan(&self, extents: &[Extent]) -> Vec<Vec<Uuid>> {
        let mut merges = Vec::new();
        if !self.allow_merge {
            return merges;
        }
        let size_bound = (self.size_mb_upper_bound > 0).then(|| self.size_mb_upper_bound << 20);
        let mut group: Vec<&Extent> = Vec::new();
        let (mut rows, mut bytes) = (0u64, 0u64);
        let close = |group: &mut Vec<&Extent>, merges: &mut Vec<Vec<Uuid>>| {
            if group.len() >= 2 {
                merges.push(group.iter().map(|e| e.file.id).collect());
            }
            group.clear();
        };
        for extent in extents {
            let small = extent.file.rows < self.row_count_upper_bound
                && size_bound.is_none_or(|b| extent.file.size < b);
            let fits = group.len() < self.max_extents.max(2)
                && rows + extent.file.rows <= self.row_count_upper_bound
                && size_bound.is_none_or(|b| bytes + extent.file.size <= b);
            if !small || !fits {
                close(&mut group, &mut merges);
                rows = 0;
                bytes = 0;
            }
            if small {
                group.push(extent);
                rows += extent.file.rows;
                bytes += extent.file.size;
            }
        }
        close(&mut group, &mut merges);
        merges
    }
}

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
            ExtentWriter::new(self.object_store(), table, Arc::clone(&schema), usize::MAX);
        let written = async {
            for source in &sources {
                self.copy_extent(source, &columns, &schema, &mut writer)
                    .await?;
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

    /// Merges every run of extents of `table` that `policy` allows, one commit each;
    /// returns what each merge did.
    pub async fn merge_table(
        &self,
        table: &str,
        policy: &MergePolicy,
    ) -> Result<Vec<MergeReceipt>> {
        self.refresh().await?;
        let plans = policy.plan(&self.read_state().table(table)?.extents);
        let mut receipts = Vec::with_capacity(plans.len());
        for ids in plans {
            receipts.push(self.merge_extents(table, &ids).await?);
        }
        Ok(receipts)
    }

    /// Streams one source extent into `writer`, with its rows' cursors and times.
    async fn copy_extent(
        &self,
        source: &Extent,
        columns: &SchemaRef,
        schema: &SchemaRef,
        writer: &mut ExtentWriter,
    ) -> Result<()> {
        // DataFusion's own reader of a Parquet file on an object store.
        let reader = DefaultParquetFileReaderFactory::new(self.object_store()).create_reader(
            0,
            PartitionedFile::new(source.file.path.clone(), source.file.size),
            None,
            &ExecutionPlanMetricsSet::new(),
        )?;
        let reader: Box<dyn datafusion::parquet::arrow::async_reader::AsyncFileReader> = reader;
        let mut stream = ParquetRecordBatchStreamBuilder::new(reader)
            .await?
            .build()?;
        while let Some(batch) = stream.try_next().await? {
            let rows = batch.num_rows();
            if rows == 0 {
                continue;
            }
            let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
            for field in columns.fields() {
                let column =
                    batch
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
                        let column =
                            batch
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
            writer.write(&batch).await?;
        }
        Ok(())
    }
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

    fn extent(n: u128, rows: u64) -> Extent {
        Extent {
            file: ExtentFile {
                id: Uuid::from_u128(n),
                path: format!("e{n}"),
                rows,
                size: rows * 10,
            },
            cursor: n as u64,
            ingestion_time: DateTime::<Utc>::default(),
            merged: None,
        }
    }

    #[test]
    fn plans_runs_of_small_extents_within_bounds() {
        let policy = MergePolicy {
            row_count_upper_bound: 100,
            max_extents: 3,
            ..Default::default()
        };
        let ids = |v: &[u128]| v.iter().map(|n| Uuid::from_u128(*n)).collect::<Vec<_>>();
        // A big extent breaks runs; a run closes at 3 extents or 100 rows.
        let extents = [
            extent(1, 10),
            extent(2, 10),
            extent(3, 500),
            extent(4, 10),
            extent(5, 10),
            extent(6, 10),
            extent(7, 10),
            extent(8, 60),
            extent(9, 50),
            extent(10, 1),
        ];
        assert_eq!(
            policy.plan(&extents),
            vec![ids(&[1, 2]), ids(&[4, 5, 6]), ids(&[7, 8]), ids(&[9, 10])]
        );
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
    }
}
