//! Planning an export as DataFusion plans `COPY TO`: the query's logical plan under an
//! [`ExportNode`], planned by [`ExportPlanner`] (an `ExtensionPlanner`) into the
//! query's physical plan, shaped to the requested number of writers, under an
//! [`ExportExec`].

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::Result as DfResult;
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::{QueryPlanner, SessionContext, SessionState};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{LogicalPlan, UserDefinedLogicalNode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{collect, ExecutionPlan, ExecutionPlanProperties, Partitioning};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

use crate::error::Result;
use crate::export::node::ExportNode;
use crate::export::options::Distribution;
use crate::export::sink_exec::{Artifact, ExportExec, ExportSpec};

/// Plans an [`ExportNode`] into an [`ExportExec`] over its input's physical plan,
/// with one input partition per writer.
#[derive(Debug, Default)]
pub struct ExportPlanner;

#[async_trait]
impl ExtensionPlanner for ExportPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn datafusion::catalog::Session,
        _planning_ctx: &datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext,
    ) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
        let Some(export) = node.as_any().downcast_ref::<ExportNode>() else {
            return Ok(None);
        };
        let [query] = physical_inputs else {
            return Err(datafusion::error::DataFusionError::Internal(
                "Export takes one input".into(),
            ));
        };
        let target_partitions = session.config().target_partitions();
        let input = shape_for_writers(Arc::clone(query), export.distribution, target_partitions)?;
        Ok(Some(Arc::new(ExportExec::new(
            input,
            Arc::clone(&export.spec),
        ))))
    }
}

/// A query planner that knows [`ExportNode`] (and everything DataFusion plans).
#[derive(Debug, Default)]
pub struct ExportQueryPlanner;

#[async_trait]
impl QueryPlanner for ExportQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn datafusion::catalog::Session,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(ExportPlanner)])
            .create_physical_plan(logical_plan, session)
            .await
    }
}

/// `ctx` with [`ExportQueryPlanner`] as its query planner, so that exports planned in
/// it (and `EXPLAIN` of them) need no session of their own.
pub fn with_export_planner(ctx: SessionContext) -> SessionContext {
    if knows_exports(&ctx.state()) {
        return ctx;
    }
    let state = SessionStateBuilder::new_from_existing(ctx.state())
        .with_query_planner(Arc::new(ExportQueryPlanner))
        .build();
    SessionContext::new_with_state(state)
}

fn knows_exports(state: &SessionState) -> bool {
    state.query_planner().as_ref().type_id() == std::any::TypeId::of::<ExportQueryPlanner>()
}

/// `frame`'s query under an [`ExportNode`], in a session whose planner knows it (the
/// frame's own when it was made by [`with_export_planner`], else a copy of it).
pub fn export_frame(
    frame: DataFrame,
    spec: Arc<ExportSpec>,
    distribution: Distribution,
) -> DataFrame {
    let (state, plan) = frame.into_parts();
    let state = if knows_exports(&state) {
        state
    } else {
        SessionStateBuilder::new_from_existing(state)
            .with_query_planner(Arc::new(ExportQueryPlanner))
            .build()
    };
    DataFrame::new(state, ExportNode::plan(plan, spec, distribution))
}

fn shape_for_writers(
    query: Arc<dyn ExecutionPlan>,
    distribution: Distribution,
    target_partitions: usize,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    let partitions = query.output_partitioning().partition_count();
    let writers = writer_count(distribution, partitions, target_partitions);
    Ok(if writers == partitions {
        query
    } else if writers == 1 {
        Arc::new(CoalescePartitionsExec::new(query))
    } else {
        Arc::new(RepartitionExec::try_new(
            query,
            Partitioning::RoundRobinBatch(writers),
        )?)
    })
}

/// How many writers a distribution asks for, given the query's partitions and the
/// session's target partitions (one per core by default).
pub fn writer_count(
    distribution: Distribution,
    query_partitions: usize,
    target_partitions: usize,
) -> usize {
    match distribution {
        Distribution::Single => 1,
        Distribution::PerShard => query_partitions.max(1),
        Distribution::PerNode => target_partitions.max(1),
    }
}

/// The export plan of `frame`: its query under an [`ExportNode`], planned into an
/// `ExportExec` over the query with one input partition per writer.
pub async fn plan_export(
    frame: DataFrame,
    spec: Arc<ExportSpec>,
    distribution: Distribution,
) -> Result<Arc<dyn ExecutionPlan>> {
    Ok(export_frame(frame, spec, distribution)
        .create_physical_plan()
        .await?)
}

/// Runs an export plan of `spec` to completion and returns the artifacts it wrote. If
/// it fails, the artifacts it had finished are deleted. A session with an
/// [`ExportRunner`](crate::export::runner::ExportRunner) runs it there instead.
pub async fn run_export(
    plan: Arc<dyn ExecutionPlan>,
    spec: &ExportSpec,
    task: Arc<TaskContext>,
) -> Result<Vec<Artifact>> {
    if let Some(runner) = crate::export::runner::export_runner(task.session_config()) {
        return runner.run(plan, spec, task).await;
    }
    match collect(plan, task).await {
        Ok(batches) => Artifact::from_batches(&batches),
        Err(e) => {
            spec.delete_written().await;
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_planner_is_installed_once() {
        let plain = SessionContext::new();
        assert!(!knows_exports(&plain.state()));
        let ctx = with_export_planner(plain);
        assert!(knows_exports(&ctx.state()));
        assert!(knows_exports(&with_export_planner(ctx).state()));
    }
}
