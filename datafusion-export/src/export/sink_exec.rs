//! `ExportExec`: the physical operator that writes a query's result as artifacts.
//!
//! Each input partition is streamed by its own writer task (so `distribution` is the
//! number of input partitions the planner gives it); each task keeps at most
//! `max_open_writers` artifacts open (one per partition folder), closing the least
//! recently used one when it needs another, and rolls an artifact when it reaches
//! `sizeLimit` uncompressed bytes. Every output partition emits one row per artifact
//! it completed; collecting the plan gathers the artifact list. Nothing buffers a
//! whole result: memory is bounded by batches, row groups and upload buffers.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{internal_err, DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::StreamExt;
use object_store::path::{Path, PathPart};
use uuid::Uuid;

use crate::command::DataFormat;
use crate::error::{ExportError, Result};
use crate::export::options::{Encoding, ExportOptions, IncludeHeaders};
use crate::export::partition::{PartitionValue, Partitioner};
use crate::export::path_format::{artifact_name, PathLayout};
use crate::export::progress::ExportProgress;
use crate::export::target::StorageTarget;
use crate::export::writer::{open_writer, ArtifactWriter, WriterSettings};

/// What to write and where.
#[derive(Debug, Clone)]
pub struct ExportSpec {
    /// Destinations; artifacts are spread across them.
    pub targets: Vec<StorageTarget>,
    /// The artifacts' format.
    pub format: DataFormat,
    /// Validated properties.
    pub options: ExportOptions,
    /// `partition by`, if any, with its path layout.
    pub partitioning: Option<(Partitioner, PathLayout)>,
    /// The input columns written into the files, when not all of them: a Delta
    /// table keeps its partition columns' values in its log only.
    pub data_columns: Option<Vec<usize>>,
    /// Open artifacts per writer task before the least recently used is closed.
    pub max_open_writers: usize,
    /// Advanced as rows are written (for progress displays).
    pub progress: Arc<ExportProgress>,
    /// The export (or run attempt) writing: every artifact's name carries it.
    pub attempt: Uuid,
    /// The artifacts finished so far, for [`ExportSpec::delete_written`].
    pub written: Arc<Mutex<Vec<(usize, Path)>>>,
    /// Whether the writers run in processes of their own (a cluster's executors),
    /// each executing a copy of the plan that numbers its partitions from 0. Writers
    /// then name artifacts by a random writer number, and `includeHeaders=firstFile`
    /// writes no header: with no memory shared between writers, the runner adds the
    /// one header after they finish.
    pub distributed: bool,
}

impl ExportSpec {
    /// Deletes every artifact this attempt finished: a failed attempt leaves no files
    /// behind for readers of the folder to find. Best effort: what cannot be deleted
    /// is an orphan, never reported.
    pub async fn delete_written(&self) {
        let written: Vec<(usize, Path)> =
            std::mem::take(&mut *self.written.lock().unwrap_or_else(|p| p.into_inner()));
        for (target, path) in written {
            if let Some(t) = self.targets.get(target) {
                if let Err(e) = object_store::ObjectStoreExt::delete(t.store.as_ref(), &path).await
                {
                    log::warn!(
                        "export attempt {}: orphan {path} not deleted: {e}",
                        self.attempt
                    );
                }
            }
        }
    }
}

/// The schema of `ExportExec`'s output: one row per artifact.
pub fn artifact_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("Path", DataType::Utf8, false),
        Field::new("NumRecords", DataType::Int64, false),
        Field::new("SizeInBytes", DataType::Int64, false),
        Field::new("Target", DataType::UInt32, false),
        Field::new("RelativePath", DataType::Utf8, false),
        Field::new("PartitionValues", DataType::Utf8, false),
    ]))
}

/// A completed artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    /// Where users find it (secrets removed).
    pub path: String,
    /// Records in it.
    pub num_records: u64,
    /// Bytes stored.
    pub size: u64,
    /// Index of the target it was written to.
    pub target: usize,
    /// Path relative to the target's root (object-store encoded).
    pub relative_path: String,
    /// Partition values by partition name (`None` for the default partition).
    pub partition_values: Vec<(String, Option<String>)>,
}

impl Artifact {
    /// Reads the artifacts out of `ExportExec` output batches.
    pub fn from_batches(batches: &[RecordBatch]) -> Result<Vec<Artifact>> {
        let mut out = Vec::new();
        for batch in batches {
            let col = |i: usize| batch.column(i);
            let (Some(path), Some(rows), Some(size), Some(target), Some(rel), Some(parts)) = (
                col(0).as_any().downcast_ref::<StringArray>(),
                col(1).as_any().downcast_ref::<Int64Array>(),
                col(2).as_any().downcast_ref::<Int64Array>(),
                col(3).as_any().downcast_ref::<UInt32Array>(),
                col(4).as_any().downcast_ref::<StringArray>(),
                col(5).as_any().downcast_ref::<StringArray>(),
            ) else {
                return Err(ExportError::Invalid(
                    "unexpected artifact batch layout".into(),
                ));
            };
            for i in 0..batch.num_rows() {
                let partition_values: Vec<(String, Option<String>)> =
                    serde_json::from_str(parts.value(i))
                        .map_err(|e| ExportError::Invalid(e.to_string()))?;
                out.push(Artifact {
                    path: path.value(i).to_string(),
                    num_records: rows.value(i) as u64,
                    size: size.value(i) as u64,
                    target: target.value(i) as usize,
                    relative_path: rel.value(i).to_string(),
                    partition_values,
                });
            }
        }
        Ok(out)
    }
}

/// The export operator; see the module docs.
pub struct ExportExec {
    input: Arc<dyn ExecutionPlan>,
    spec: Arc<ExportSpec>,
    header_written: Arc<AtomicBool>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl fmt::Debug for ExportExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportExec")
            .field("format", &self.spec.format)
            .finish()
    }
}

impl ExportExec {
    /// What this export writes, and where.
    pub fn spec(&self) -> &Arc<ExportSpec> {
        &self.spec
    }

    /// The query whose partitions are written.
    pub fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }

    /// Writes `input`'s partitions as artifacts described by `spec`.
    pub fn new(input: Arc<dyn ExecutionPlan>, spec: Arc<ExportSpec>) -> Self {
        let partitions = input.properties().partitioning.partition_count();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(artifact_schema()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Self {
            input,
            spec,
            header_written: Arc::new(AtomicBool::new(false)),
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for ExportExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let targets: Vec<&str> = self
            .spec
            .targets
            .iter()
            .map(|t| t.display.as_str())
            .collect();
        write!(
            f,
            "ExportExec: format={}, targets=[{}], sizeLimit={}, partitioned={}",
            self.spec.format,
            targets.join(", "),
            self.spec.options.size_limit,
            self.spec.partitioning.is_some()
        )
    }
}

impl ExecutionPlan for ExportExec {
    fn name(&self) -> &str {
        "ExportExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    // The physical optimizer re-decides partitioning under the sink (it removes and
    // re-adds repartitions), so the writer count is stated as what the sink needs:
    // one partition for `single`, the query's own for `per_shard`, and for `per_node`
    // as many as the session's target partitions.
    fn required_input_distribution(&self) -> Vec<datafusion::physical_plan::Distribution> {
        match self.spec.options.distribution {
            crate::export::options::Distribution::Single => {
                vec![datafusion::physical_plan::Distribution::SinglePartition]
            }
            _ => vec![datafusion::physical_plan::Distribution::UnspecifiedDistribution],
        }
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![self.spec.options.distribution == crate::export::options::Distribution::PerNode]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => {
                Ok(Arc::new(ExportExec::new(input, Arc::clone(&self.spec))))
            }
            _ => internal_err!("ExportExec takes exactly one child"),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let writer = PartitionWriter {
            // Every task of a cluster executes partition 0 of its own copy of the
            // plan: a random number keeps their artifact names apart.
            index: if self.spec.distributed {
                (Uuid::new_v4().as_u64_pair().0 >> 16) as usize
            } else {
                partition
            },
            spec: Arc::clone(&self.spec),
            header_written: Arc::clone(&self.header_written),
            open: HashMap::new(),
            done: Vec::new(),
            tick: 0,
            started: 0,
        };
        let rows = MetricBuilder::new(&self.metrics).output_rows(partition);
        let future = async move {
            let batch = writer.run(input).await.map_err(DataFusionError::from)?;
            rows.add(batch.num_rows());
            Ok(batch)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            artifact_schema(),
            futures::stream::once(future),
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

struct OpenArtifact {
    writer: Box<dyn ArtifactWriter>,
    target: usize,
    relative_path: String,
    values: Vec<PartitionValue>,
    last_used: u64,
}

/// The writers of one input partition.
struct PartitionWriter {
    index: usize,
    spec: Arc<ExportSpec>,
    header_written: Arc<AtomicBool>,
    open: HashMap<Vec<String>, OpenArtifact>,
    done: Vec<Artifact>,
    tick: u64,
    started: usize,
}

impl PartitionWriter {
    async fn run(mut self, input: SendableRecordBatchStream) -> Result<RecordBatch> {
        match self.write_all(input).await {
            Ok(()) => self.finish_all().await?,
            Err(e) => {
                self.abort_all().await;
                return Err(e);
            }
        }
        self.into_batch()
    }

    async fn write_all(&mut self, mut input: SendableRecordBatchStream) -> Result<()> {
        while let Some(batch) = input.next().await {
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            let spec = Arc::clone(&self.spec);
            match &spec.partitioning {
                None => self.write_group(Vec::new(), Vec::new(), &batch).await?,
                Some((partitioner, layout)) => {
                    for group in partitioner.split(&batch)? {
                        let folder = layout.folder(&group.values);
                        let data = match &spec.data_columns {
                            Some(columns) => group.batch.project(columns)?,
                            None => group.batch,
                        };
                        self.write_group(folder, group.values, &data).await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn write_group(
        &mut self,
        folder: Vec<String>,
        values: Vec<PartitionValue>,
        batch: &RecordBatch,
    ) -> Result<()> {
        if !self.open.contains_key(&folder) {
            if self.open.len() >= self.spec.max_open_writers.max(1) {
                self.close_least_recently_used().await?;
            }
            let artifact = self.start(&folder, values, batch.schema())?;
            self.open.insert(folder.clone(), artifact);
        }
        self.tick += 1;
        let tick = self.tick;
        let full = match self.open.get_mut(&folder) {
            Some(artifact) => {
                let before = artifact.writer.uncompressed_bytes();
                artifact.writer.write(batch).await?;
                self.spec.progress.wrote(
                    batch.num_rows() as u64,
                    artifact.writer.uncompressed_bytes().saturating_sub(before),
                );
                artifact.last_used = tick;
                artifact.writer.uncompressed_bytes() >= self.spec.options.size_limit
            }
            None => false,
        };
        if full {
            if let Some(artifact) = self.open.remove(&folder) {
                self.finish(artifact).await?;
            }
        }
        Ok(())
    }

    fn start(
        &mut self,
        folder: &[String],
        values: Vec<PartitionValue>,
        schema: SchemaRef,
    ) -> Result<OpenArtifact> {
        let spec = &self.spec;
        let options = &spec.options;
        let target = (self.index + self.started) % spec.targets.len().max(1);
        self.started += 1;
        let prefix = options.name_prefix.as_deref().unwrap_or("export");
        let name = artifact_name(
            prefix,
            spec.attempt,
            self.index,
            self.started - 1,
            &options.file_extension(spec.format),
        );
        let path: Path = folder
            .iter()
            .map(|s| PathPart::from(s.as_str()))
            .chain(std::iter::once(PathPart::from(name.as_str())))
            .collect();
        let text_format = matches!(spec.format, DataFormat::Csv | DataFormat::Tsv);
        let include_header = text_format
            && match options.include_headers {
                IncludeHeaders::None => false,
                IncludeHeaders::All => true,
                IncludeHeaders::FirstFile => {
                    !spec.distributed && !self.header_written.swap(true, Ordering::SeqCst)
                }
            };
        let settings = WriterSettings {
            format: spec.format,
            compression: options.compression,
            include_header,
            bom: options.encoding == Encoding::Utf8Bom && spec.format != DataFormat::Parquet,
            parquet_row_group_size: options.parquet_row_group_size,
        };
        let store = spec
            .targets
            .get(target)
            .map(|t| Arc::clone(&t.store))
            .ok_or_else(|| ExportError::Invalid("an export needs at least one URL".into()))?;
        let writer = open_writer(store, path.clone(), schema, &settings)?;
        Ok(OpenArtifact {
            writer,
            target,
            relative_path: path.to_string(),
            values,
            last_used: 0,
        })
    }

    async fn close_least_recently_used(&mut self) -> Result<()> {
        let oldest = self
            .open
            .iter()
            .min_by_key(|(_, a)| a.last_used)
            .map(|(k, _)| k.clone());
        if let Some(artifact) = oldest.and_then(|k| self.open.remove(&k)) {
            self.finish(artifact).await?;
        }
        Ok(())
    }

    async fn finish(&mut self, artifact: OpenArtifact) -> Result<()> {
        let rows = artifact.writer.rows();
        let size = artifact.writer.finish().await?;
        self.spec
            .written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((
                artifact.target,
                Path::parse(&artifact.relative_path)
                    .unwrap_or_else(|_| Path::from(artifact.relative_path.as_str())),
            ));
        self.spec.progress.finished_artifact();
        let names = self
            .spec
            .partitioning
            .as_ref()
            .map(|(p, _)| p.defs().iter().map(|d| d.name.clone()).collect::<Vec<_>>())
            .unwrap_or_default();
        let target = &self.spec.targets[artifact.target];
        self.done.push(Artifact {
            path: target.display_path(&artifact.relative_path),
            num_records: rows,
            size,
            target: artifact.target,
            relative_path: artifact.relative_path,
            partition_values: names
                .into_iter()
                .zip(artifact.values.iter().map(|v| v.as_text()))
                .collect(),
        });
        Ok(())
    }

    async fn finish_all(&mut self) -> Result<()> {
        let mut open: Vec<(Vec<String>, OpenArtifact)> = self.open.drain().collect();
        open.sort_by(|a, b| a.0.cmp(&b.0));
        let mut iter = open.into_iter();
        while let Some((_, artifact)) = iter.next() {
            if let Err(e) = self.finish(artifact).await {
                for (_, rest) in iter {
                    let _ = rest.writer.abort().await;
                }
                return Err(e);
            }
        }
        Ok(())
    }

    async fn abort_all(&mut self) {
        for (_, artifact) in self.open.drain() {
            // Best effort: an artifact that cannot be aborted is an orphan, never reported.
            let _ = artifact.writer.abort().await;
        }
    }

    fn into_batch(self) -> Result<RecordBatch> {
        let a = &self.done;
        let values: Vec<String> = a
            .iter()
            .map(|x| serde_json::to_string(&x.partition_values).unwrap_or_else(|_| "[]".into()))
            .collect();
        Ok(RecordBatch::try_new(
            artifact_schema(),
            vec![
                Arc::new(StringArray::from_iter_values(
                    a.iter().map(|x| x.path.as_str()),
                )),
                Arc::new(Int64Array::from_iter_values(
                    a.iter().map(|x| x.num_records as i64),
                )),
                Arc::new(Int64Array::from_iter_values(
                    a.iter().map(|x| x.size as i64),
                )),
                Arc::new(UInt32Array::from_iter_values(
                    a.iter().map(|x| x.target as u32),
                )),
                Arc::new(StringArray::from_iter_values(
                    a.iter().map(|x| x.relative_path.as_str()),
                )),
                Arc::new(StringArray::from_iter_values(
                    values.iter().map(String::as_str),
                )),
            ],
        )?)
    }
}
