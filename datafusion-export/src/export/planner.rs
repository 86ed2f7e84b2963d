//! Planning an export: the query's physical plan, shaped to the requested number of
//! writers, under an [`ExportExec`].

use std::sync::Arc;

use datafusion::dataframe::DataFrame;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{collect, ExecutionPlan, ExecutionPlanProperties, Partitioning};

use crate::error::Result;
use crate::export::options::Distribution;
use crate::export::sink_exec::{Artifact, ExportExec, ExportSpec};

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

/// The export plan of `frame`: `ExportExec` over the query with one input partition
/// per writer.
pub async fn plan_export(
    frame: DataFrame,
    spec: Arc<ExportSpec>,
    distribution: Distribution,
) -> Result<Arc<dyn ExecutionPlan>> {
    let target_partitions = frame.task_ctx().session_config().target_partitions();
    let query = frame.create_physical_plan().await?;
    let partitions = query.output_partitioning().partition_count();
    let writers = writer_count(distribution, partitions, target_partitions);
    let input: Arc<dyn ExecutionPlan> = if writers == partitions {
        query
    } else if writers == 1 {
        Arc::new(CoalescePartitionsExec::new(query))
    } else {
        Arc::new(RepartitionExec::try_new(
            query,
            Partitioning::RoundRobinBatch(writers),
        )?)
    };
    Ok(Arc::new(ExportExec::new(input, spec)))
}

/// Runs an export plan of `spec` to completion and returns the artifacts it wrote. If
/// it fails, the artifacts it had finished are deleted.
pub async fn run_export(
    plan: Arc<dyn ExecutionPlan>,
    spec: &ExportSpec,
    task: Arc<TaskContext>,
) -> Result<Vec<Artifact>> {
    match collect(plan, task).await {
        Ok(batches) => Artifact::from_batches(&batches),
        Err(e) => {
            spec.delete_written().await;
            Err(e.into())
        }
    }
}
