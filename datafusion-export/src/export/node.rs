//! `ExportNode`: an export as a DataFusion logical plan node — the query's plan as
//! input, and where and how its result is written. The [`ExportPlanner`] plans it into
//! [`ExportExec`](super::sink_exec::ExportExec), so that `EXPLAIN .export …` shows the
//! whole path: the scan with its cursor scope, the shaping to the writers, the sink.
//!
//! [`ExportPlanner`]: super::planner::ExportPlanner

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};

use datafusion::common::{DFSchema, DFSchemaRef, Result as DfResult};
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};

use crate::export::options::Distribution;
use crate::export::sink_exec::{artifact_schema, ExportSpec};

static ARTIFACT_DFSCHEMA: LazyLock<DFSchemaRef> = LazyLock::new(|| {
    Arc::new(DFSchema::try_from(artifact_schema().as_ref().clone()).expect("artifact schema"))
});

/// Writes its input's rows as artifacts (see the module documentation).
#[derive(Clone)]
pub struct ExportNode {
    /// The query.
    pub input: LogicalPlan,
    /// Targets, format, options and partitioning.
    pub spec: Arc<ExportSpec>,
    /// How many writers: one, one per query partition, or one per core.
    pub distribution: Distribution,
}

impl ExportNode {
    /// The node over `input`, as a logical plan.
    pub fn plan(
        input: LogicalPlan,
        spec: Arc<ExportSpec>,
        distribution: Distribution,
    ) -> LogicalPlan {
        LogicalPlan::Extension(Extension {
            node: Arc::new(ExportNode {
                input,
                spec,
                distribution,
            }),
        })
    }
}

impl fmt::Debug for ExportNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_for_explain(f)
    }
}

// One node is one export: equal only to itself (its spec), over an equal input.
impl PartialEq for ExportNode {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.spec, &other.spec)
            && self.distribution == other.distribution
            && self.input == other.input
    }
}

impl Eq for ExportNode {}

impl PartialOrd for ExportNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self == other).then_some(Ordering::Equal)
    }
}

impl Hash for ExportNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.spec) as usize).hash(state);
        self.input.hash(state);
    }
}

impl UserDefinedLogicalNodeCore for ExportNode {
    fn name(&self) -> &str {
        "Export"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &ARTIFACT_DFSCHEMA
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let targets: Vec<&str> = self
            .spec
            .targets
            .iter()
            .map(|t| t.display.as_str())
            .collect();
        write!(
            f,
            "Export: format={}, targets=[{}], distribution={}, sizeLimit={}, partitioned={}",
            self.spec.format,
            targets.join(", "),
            self.distribution.name(),
            self.spec.options.size_limit,
            self.spec.partitioning.is_some()
        )
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> DfResult<Self> {
        let input = inputs.pop().ok_or_else(|| {
            datafusion::error::DataFusionError::Internal("Export takes one input".into())
        })?;
        Ok(ExportNode {
            input,
            spec: Arc::clone(&self.spec),
            distribution: self.distribution,
        })
    }

    // The sink writes every column it is given: no projection may be pushed below it
    // that drops one, and nothing above it reads its input's columns.
    fn necessary_children_exprs(&self, _output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        None
    }
}
