//! The table provider handed to a foreign `datafusion.SessionContext` through the
//! `datafusion_table_provider` capsule.
//!
//! The host session has no `CursorScopeRule`, so `cursor_after('5')` reaches the
//! provider as a filter. [`FfiIngestionTable`] accepts such filters as `Exact` and
//! turns them into a cursor scope of the [`IngestionTable`]: only extents in range
//! are read, as in the database's own sessions.
//!
//! The host's task context carries a default `RuntimeEnv`, which does not know the
//! database's object store: [`ForeignScanExec`] runs the scan with the database's
//! own `RuntimeEnv`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Statistics;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{internal_err, DataFusionError, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{
    BinaryExpr, Expr, Operator, TableProviderFilterPushDown, TableType,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion_export_tables::{ExtentScanExec, IngestionTable, ScanScope};
use datafusion_export_udfs::{
    as_cursor_current, as_cursor_predicate, Cursor, CursorPredicateKind, CursorRange,
    CursorScopedTable,
};
use datafusion_ffi::proto::logical_extension_codec::FFI_LogicalExtensionCodec;
use datafusion_ffi::table_provider::FFI_TableProvider;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};

use crate::runtime;

/// What the last scan of a table read.
#[derive(Debug, Clone)]
struct LastScan {
    scope: ScanScope,
}

/// An [`IngestionTable`] for a foreign session; see the module docs.
#[derive(Debug)]
pub struct FfiIngestionTable {
    table: IngestionTable,
    runtime_env: Arc<RuntimeEnv>,
    last_scan: Arc<Mutex<Option<LastScan>>>,
}

impl FfiIngestionTable {
    /// `table`, whose scans run with `runtime_env` (where the database's object
    /// store is registered).
    pub fn new(table: IngestionTable, runtime_env: Arc<RuntimeEnv>) -> Self {
        Self {
            table,
            runtime_env,
            last_scan: Arc::new(Mutex::new(None)),
        }
    }

    fn last_scan(&self) -> Option<LastScan> {
        self.last_scan
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The cursor range `filter` puts on the scan, if it is a cursor predicate
    /// (or an AND of them). The inner `Result` fails for malformed cursors.
    fn cursor_range(&self, filter: &Expr) -> Option<Result<CursorRange>> {
        match filter {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::And,
                right,
            }) => {
                let left = self.cursor_range(left)?;
                let right = self.cursor_range(right)?;
                Some(left.and_then(|l| right.map(|r| l.intersect(&r))))
            }
            Expr::Alias(alias) => self.cursor_range(&alias.expr),
            Expr::ScalarFunction(f) => {
                let kind = match as_cursor_predicate(filter) {
                    Some((kind, _)) => kind,
                    // After an FFI round trip the function may be a foreign UDF:
                    // recognise it by name.
                    None => match f.func.name() {
                        "cursor_after" => CursorPredicateKind::After,
                        "cursor_before_or_at" => CursorPredicateKind::BeforeOrAt,
                        _ => return None,
                    },
                };
                let [arg] = f.args.as_slice() else {
                    return None;
                };
                let text = self.literal_text(arg)?;
                let name = kind.function_name();
                Some(
                    Cursor::parse_optional(text.as_deref())
                        .map_err(|e| DataFusionError::Plan(format!("{name}(): {e}")))
                        .map(|bound| match kind {
                            CursorPredicateKind::After => CursorRange::after(bound),
                            CursorPredicateKind::BeforeOrAt => CursorRange::at_or_before(bound),
                        }),
                )
            }
            _ => None,
        }
    }

    /// `Some(text)` of a string or NULL literal (possibly cast) or of
    /// `cursor_current()`.
    fn literal_text(&self, expr: &Expr) -> Option<Option<String>> {
        let current =
            |db: &datafusion_export_tables::Database| Some(Some(db.current_cursor().to_string()));
        if as_cursor_current(expr).is_some() {
            return current(self.table.database());
        }
        match expr {
            Expr::Literal(value, _) => match value {
                ScalarValue::Utf8(s) | ScalarValue::Utf8View(s) | ScalarValue::LargeUtf8(s) => {
                    Some(s.clone())
                }
                v if v.is_null() => Some(None),
                _ => None,
            },
            Expr::ScalarFunction(f) if f.func.name() == "cursor_current" && f.args.is_empty() => {
                current(self.table.database())
            }
            Expr::Cast(c) => self.literal_text(&c.expr),
            Expr::TryCast(c) => self.literal_text(&c.expr),
            Expr::Alias(a) => self.literal_text(&a.expr),
            _ => None,
        }
    }
}

#[async_trait]
impl TableProvider for FfiIngestionTable {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match self.cursor_range(f) {
                Some(_) => TableProviderFilterPushDown::Exact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Filters we did not accept are evaluated by the host above the scan.
        let mut range = self.table.cursor_scope();
        for filter in filters {
            if let Some(r) = self.cursor_range(filter) {
                range = range.intersect(&r?);
            }
        }
        let scoped = self
            .table
            .with_cursor_scope(range, self.table.includes_ingestion_time());
        // Runs with our runtime entered: object-store I/O and anything spawned go to
        // our tokio, not to the host's (which this library cannot see).
        let plan = InRuntime::new(scoped.scan(state, projection, &[], limit)).await?;
        let Some(scan) = plan.downcast_ref::<ExtentScanExec>() else {
            return internal_err!("the scan of {} is not an ExtentScanExec", self.table.name());
        };
        let scope = scan.scope().clone();
        *self.last_scan.lock().unwrap_or_else(|p| p.into_inner()) = Some(LastScan {
            scope: scope.clone(),
        });
        Ok(Arc::new(ForeignScanExec::new(
            plan,
            &scope,
            Arc::clone(&self.runtime_env),
        )))
    }

    async fn insert_into(
        &self,
        state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        InRuntime::new(self.table.insert_into(state, input, insert_op)).await
    }
}

/// Polls `F` with our tokio runtime entered.
struct InRuntime<F> {
    inner: Pin<Box<F>>,
}

impl<F> InRuntime<F> {
    fn new(inner: F) -> Self {
        Self {
            inner: Box::pin(inner),
        }
    }
}

impl<F: Future> Future for InRuntime<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let _guard = runtime().enter();
        self.inner.as_mut().poll(cx)
    }
}

/// The scan of an ingestion-tracked table, as a foreign session sees it: one leaf
/// whose name is the scan's scope (`ExtentScanExec: table=T, cursor=(5, 9],
/// extents=4 of 1000`), so that the host's `EXPLAIN` shows the pruning. It runs
/// the scan with the database's `RuntimeEnv` and reports the metrics of the whole
/// scan (`extents_scanned`, `extents_pruned`, the Parquet scan's).
#[derive(Debug)]
pub struct ForeignScanExec {
    input: Arc<dyn ExecutionPlan>,
    name: String,
    runtime_env: Arc<RuntimeEnv>,
}

impl ForeignScanExec {
    fn new(input: Arc<dyn ExecutionPlan>, scope: &ScanScope, runtime_env: Arc<RuntimeEnv>) -> Self {
        let name = format!(
            "ExtentScanExec: table={}, cursor={}, extents={} of {}",
            scope.table, scope.range, scope.extents_scanned, scope.extents_total
        );
        Self {
            input,
            name,
            runtime_env,
        }
    }

    fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self {
        Self {
            input,
            name: self.name.clone(),
            runtime_env: Arc::clone(&self.runtime_env),
        }
    }
}

impl DisplayAs for ForeignScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.name)
    }
}

fn collect_metrics(plan: &Arc<dyn ExecutionPlan>, out: &mut MetricsSet) {
    if let Some(metrics) = plan.metrics() {
        for metric in metrics.iter() {
            out.push(Arc::clone(metric));
        }
    }
    for child in plan.children() {
        collect_metrics(child, out);
    }
}

impl ExecutionPlan for ForeignScanExec {
    fn name(&self) -> &str {
        &self.name
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            internal_err!("ForeignScanExec is a leaf")
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

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let context = TaskContext::new(
            context.task_id(),
            context.session_id(),
            context.session_config().clone(),
            context.scalar_functions().clone(),
            context.higher_order_functions().clone(),
            context.aggregate_functions().clone(),
            context.window_functions().clone(),
            Arc::clone(&self.runtime_env),
        );
        let _guard = runtime().enter();
        self.input.execute(partition, Arc::new(context))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        let mut out = MetricsSet::new();
        collect_metrics(&self.input, &mut out);
        Some(out)
    }

    #[allow(deprecated)]
    fn partition_statistics(&self, partition: Option<usize>) -> Result<Arc<Statistics>> {
        self.input.partition_statistics(partition)
    }
}

/// The host's logical extension codec, from the `session` argument of
/// `__datafusion_table_provider__`: a session (anything with
/// `__datafusion_logical_extension_codec__`) or the codec capsule itself.
fn host_codec(session: &Bound<'_, PyAny>) -> PyResult<FFI_LogicalExtensionCodec> {
    let attr = "__datafusion_logical_extension_codec__";
    let capsule = if session.hasattr(attr)? {
        session.getattr(attr)?.call0()?
    } else {
        session.clone()
    };
    let capsule = capsule.cast::<PyCapsule>().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(
            "__datafusion_table_provider__ needs the host session (or its datafusion_logical_extension_codec capsule)",
        )
    })?;
    let data: NonNull<FFI_LogicalExtensionCodec> = capsule
        .pointer_checked(Some(c"datafusion_logical_extension_codec"))?
        .cast();
    // SAFETY: the capsule named `datafusion_logical_extension_codec` holds an
    // `FFI_LogicalExtensionCodec` and outlives this borrow; we clone it.
    let codec = unsafe { data.as_ref() };
    Ok(codec.clone())
}

/// A table of a datafusion-export database, for
/// `datafusion.SessionContext.register_table(name, table)`.
///
/// Queries of the host scoped with `cursor_after(c)` / `cursor_before_or_at(c)`
/// (register `Database.udfs()` first) read only the extents in range.
#[pyclass(frozen, name = "Table", module = "datafusion_export")]
pub struct PyTable {
    provider: Arc<FfiIngestionTable>,
}

impl PyTable {
    pub fn new(provider: FfiIngestionTable) -> Self {
        Self {
            provider: Arc::new(provider),
        }
    }
}

#[pymethods]
impl PyTable {
    /// The table's name.
    #[getter]
    fn name(&self) -> String {
        self.provider.table.name().to_string()
    }

    /// The table's columns as a `pyarrow.Schema`.
    #[getter]
    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        use arrow::pyarrow::ToPyArrow;
        self.provider.table.schema().as_ref().to_pyarrow(py)
    }

    /// What the last scan planned through this object read, as a dict:
    /// `table`, `cursor_range` (`"(5, 9]"`), `extents_scanned`, `extents_total`,
    /// `bytes_scanned`; `None` before the first scan.
    fn last_scan<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(last) = self.provider.last_scan() else {
            return Ok(None);
        };
        let out = PyDict::new(py);
        out.set_item("table", &last.scope.table)?;
        out.set_item("cursor_range", last.scope.range.to_string())?;
        out.set_item("extents_scanned", last.scope.extents_scanned)?;
        out.set_item("extents_total", last.scope.extents_total)?;
        out.set_item("bytes_scanned", last.scope.bytes_scanned)?;
        Ok(Some(out))
    }

    /// The `datafusion_table_provider` capsule (DataFusion 55 FFI), bound to the
    /// host `session`'s logical extension codec.
    fn __datafusion_table_provider__<'py>(
        &self,
        py: Python<'py>,
        session: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let codec = host_codec(session)?;
        let provider = Arc::clone(&self.provider) as Arc<dyn TableProvider>;
        let ffi = FFI_TableProvider::new_with_ffi_codec(
            provider,
            true,
            Some(runtime().handle().clone()),
            codec,
        );
        PyCapsule::new_with_value(py, ffi, c"datafusion_table_provider")
    }

    fn __repr__(&self) -> String {
        format!("Table({:?})", self.provider.table.name())
    }
}
