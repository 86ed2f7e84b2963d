//! `ExtentScanExec`: the physical scan of a cursor-scoped table.
//!
//! It wraps the Parquet `DataSourceExec` over the extents in range and makes the
//! scope visible: `EXPLAIN` shows `cursor=(5, 9], extents=4 of 1000`, and the
//! metrics `extents_scanned` / `extents_pruned` count the pruning.

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::Result;
use datafusion::config::ConfigOptions;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::filter_pushdown::{FilterDescription, FilterPushdownPhase};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion_export_udfs::CursorRange;

/// What a scan was scoped to.
#[derive(Debug, Clone)]
pub struct ScanScope {
    /// Table name.
    pub table: String,
    /// The resolved cursor range.
    pub range: CursorRange,
    /// Extents read.
    pub extents_scanned: usize,
    /// Extents of the table in all.
    pub extents_total: usize,
    /// Bytes in the extents read.
    pub bytes_scanned: u64,
}

/// The physical scan of an ingestion-tracked table; see the module docs.
#[derive(Debug)]
pub struct ExtentScanExec {
    input: Arc<dyn ExecutionPlan>,
    scope: ScanScope,
    metrics: ExecutionPlanMetricsSet,
}

impl ExtentScanExec {
    /// Wraps `input`, the scan of the extents in `scope`.
    pub fn new(input: Arc<dyn ExecutionPlan>, scope: ScanScope) -> Self {
        let metrics = ExecutionPlanMetricsSet::new();
        MetricBuilder::new(&metrics)
            .global_counter("extents_scanned")
            .add(scope.extents_scanned);
        MetricBuilder::new(&metrics)
            .global_counter("extents_pruned")
            .add(scope.extents_total - scope.extents_scanned.min(scope.extents_total));
        MetricBuilder::new(&metrics)
            .global_counter("extent_bytes_scanned")
            .add(scope.bytes_scanned as usize);
        Self {
            input,
            scope,
            metrics,
        }
    }

    /// The scope of this scan.
    pub fn scope(&self) -> &ScanScope {
        &self.scope
    }

    fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self {
        Self {
            input,
            scope: self.scope.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl DisplayAs for ExtentScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "ExtentScanExec: table={}, cursor={}, extents={} of {}",
            self.scope.table,
            self.scope.range,
            self.scope.extents_scanned,
            self.scope.extents_total
        )
    }
}

impl ExecutionPlan for ExtentScanExec {
    fn name(&self) -> &str {
        "ExtentScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => Ok(Arc::new(self.with_input(input))),
            _ => datafusion::common::internal_err!("ExtentScanExec takes exactly one child"),
        }
    }

    fn repartitioned(
        &self,
        target_partitions: usize,
        config: &ConfigOptions,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        Ok(self
            .input
            .repartitioned(target_partitions, config)?
            .map(|input| Arc::new(self.with_input(input)) as Arc<dyn ExecutionPlan>))
    }

    fn gather_filters_for_pushdown(
        &self,
        _phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> Result<FilterDescription> {
        FilterDescription::from_children(parent_filters, &self.children())
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn supports_limit_pushdown(&self) -> bool {
        true
    }
}
