//! [`BallistaRunner`]: submits export plans to a Ballista cluster and gathers what
//! its executors wrote, so that the caller makes the one commit.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ballista_core::execution_plans::execute_physical_plan;
use ballista_core::extension::SessionConfigExt;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::placeholder_row::PlaceholderRowExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use datafusion_export::export::attempts::ExportAttempt;
use datafusion_export::export::runner::ExportRunner;
use datafusion_export::export::sink_exec::{Artifact, ExportExec, ExportSpec};
use datafusion_proto::protobuf::PhysicalPlanNode;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;

use crate::codec::DfxPhysicalCodec;
use crate::env::{ClusterOptions, StoreBindingWire};
use crate::error::{ClusterError, Result};
use crate::header::{add_first_file_header, needs_first_file_header};
use crate::wire::public_options;

/// Runs exports' plans on a Ballista cluster; see the crate docs.
#[derive(Debug)]
pub struct BallistaRunner {
    scheduler: String,
    codec: Arc<DfxPhysicalCodec>,
    task_slots: Option<usize>,
}

/// `df://host:port`, `http://host:port` or `host:port` as the scheduler's
/// `http://host:port`.
pub fn scheduler_url(url: &str) -> Result<String> {
    let url = url.trim();
    let rest = url
        .strip_prefix("df://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    let bad = |reason: &str| ClusterError::Unreachable {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    if url.starts_with("https://") {
        return Err(bad(
            "TLS to the scheduler is not supported: use df://host:port",
        ));
    }
    let authority = rest.trim_end_matches('/');
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| bad("expected df://HOST:PORT (the scheduler's port, 50050 by default)"))?;
    if host.is_empty() || authority.contains('/') || port.parse::<u16>().is_err() {
        return Err(bad(
            "expected df://HOST:PORT (the scheduler's port, 50050 by default)",
        ));
    }
    Ok(format!("http://{host}:{port}"))
}

impl BallistaRunner {
    /// A runner for the cluster whose scheduler is at `url` (`df://host:port`).
    /// Fails when the scheduler cannot be reached.
    pub async fn connect(url: &str) -> Result<Self> {
        let scheduler = scheduler_url(url)?;
        let authority = scheduler.trim_start_matches("http://").to_string();
        match tokio::time::timeout(
            Duration::from_secs(10),
            tokio::net::TcpStream::connect(&authority),
        )
        .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(ClusterError::Unreachable {
                    url: url.to_string(),
                    reason: format!("cannot connect to the scheduler: {e}"),
                })
            }
            Err(_) => {
                return Err(ClusterError::Unreachable {
                    url: url.to_string(),
                    reason: "the scheduler did not answer within 10 s".into(),
                })
            }
        }
        let task_slots = task_slots(&scheduler).await;
        Ok(Self {
            scheduler,
            codec: Arc::new(DfxPhysicalCodec::default()),
            task_slots,
        })
    }

    /// The task slots of the executors registered when this runner connected.
    pub fn task_slots(&self) -> Option<usize> {
        self.task_slots
    }

    /// The scheduler's URL (`http://host:port`).
    pub fn scheduler(&self) -> &str {
        &self.scheduler
    }

    async fn run_plan(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        spec: &ExportSpec,
        task: Arc<TaskContext>,
    ) -> Result<Vec<Artifact>> {
        let bindings = store_bindings(&plan, task.session_config())?;
        let distributed = Arc::new(ExportSpec {
            distributed: true,
            ..spec.clone()
        });
        let mut written_schema = None;
        let plan = plan
            .transform_up(|node| {
                let Some(export) = node.downcast_ref::<ExportExec>() else {
                    return Ok(Transformed::no(node));
                };
                let input = Arc::clone(export.input());
                let schema = input.schema();
                written_schema = Some(match &spec.data_columns {
                    Some(columns) => Arc::new(schema.project(columns)?),
                    None => schema,
                });
                Ok(Transformed::yes(
                    Arc::new(ExportExec::new(input, Arc::clone(&distributed)))
                        as Arc<dyn ExecutionPlan>,
                ))
            })?
            .data;
        let Some(written_schema) = written_schema else {
            return Err(ClusterError::Unsupported(
                "the plan has no export in it".into(),
            ));
        };
        let config = cluster_config(task.session_config(), &bindings)?;
        let session_id = uuid::Uuid::new_v4().to_string();
        let submitted = async {
            let stream = execute_physical_plan::<PhysicalPlanNode>(
                self.scheduler.clone(),
                &config.ballista_config(),
                plan,
                self.codec.as_ref(),
                session_id,
                config.clone(),
            )
            .await?;
            let batches: Vec<_> = stream.try_collect().await?;
            Ok::<_, ClusterError>(Artifact::from_batches(&batches)?)
        };
        let mut artifacts = match submitted.await {
            Ok(artifacts) => artifacts,
            Err(e) => {
                sweep(spec, &[]).await;
                return Err(e);
            }
        };
        // Tasks that failed half-way and were retried wrote files no one reported.
        sweep(spec, &artifacts).await;
        if needs_first_file_header(spec) {
            if let Err(e) = add_first_file_header(spec, written_schema, &mut artifacts).await {
                sweep(spec, &[]).await;
                return Err(e);
            }
        }
        // As a local run would have: the caller deletes them if its commit is refused.
        let mut written = spec.written.lock().unwrap_or_else(|p| p.into_inner());
        for artifact in &artifacts {
            spec.progress.wrote(artifact.num_records, artifact.size);
            spec.progress.finished_artifact();
            if let Ok(path) = object_store::path::Path::parse(&artifact.relative_path) {
                written.push((artifact.target, path));
            }
        }
        drop(written);
        Ok(artifacts)
    }
}

#[async_trait]
impl ExportRunner for BallistaRunner {
    async fn run(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        spec: &ExportSpec,
        task: Arc<TaskContext>,
    ) -> datafusion_export::Result<Vec<Artifact>> {
        Ok(self.run_plan(plan, spec, task).await?)
    }

    // A scan planned into fewer partitions than the cluster has task slots would
    // leave executors idle: exports are planned into one partition per slot.
    fn target_partitions(&self) -> Option<usize> {
        self.task_slots
    }
}

/// The sum of the registered executors' vcores, from the scheduler's REST API;
/// `None` when it cannot tell (no executor yet, or the API is off).
async fn task_slots(scheduler: &str) -> Option<usize> {
    #[derive(serde::Deserialize)]
    struct Spec {
        vcores: usize,
    }
    #[derive(serde::Deserialize)]
    struct Executor {
        specification: Spec,
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .ok()?;
    let body = client
        .get(format!("{scheduler}/api/executors"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let executors: Vec<Executor> = serde_json::from_str(&body).ok()?;
    let slots: usize = executors.iter().map(|e| e.specification.vcores).sum();
    (slots > 0).then_some(slots)
}

/// The job settings: the session's own (partitions, batch size, …) made fit for
/// Ballista, plus where each store the plan reads stands.
fn cluster_config(session: &SessionConfig, bindings: &[StoreBindingWire]) -> Result<SessionConfig> {
    let mut config = SessionConfig::new_with_ballista()
        .with_target_partitions(session.target_partitions())
        .with_batch_size(session.batch_size())
        .with_option_extension(ClusterOptions::default());
    let json = serde_json::to_string(bindings).map_err(|e| ClusterError::Codec(e.to_string()))?;
    config.options_mut().set("dfexport.store_bindings", &json)?;
    Ok(config)
}

/// What each object store the plan reads stands for, for the executors. A store
/// of the session that has no location another process could open (in memory, or
/// handed in directly) is refused here, with the reason, rather than failing on an
/// executor. So is a leaf Ballista cannot split among tasks.
fn store_bindings(
    plan: &Arc<dyn ExecutionPlan>,
    session: &SessionConfig,
) -> Result<Vec<StoreBindingWire>> {
    let session_options = session
        .get_extension::<datafusion_export_tables::StorageOptions>()
        .map(|o| o.0.clone())
        .unwrap_or_default();
    let mut urls = BTreeMap::new();
    let mut problem = None;
    plan.apply(|node| {
        if !node.children().is_empty() {
            return Ok(TreeNodeRecursion::Continue);
        }
        if let Some(source) = node.downcast_ref::<DataSourceExec>() {
            if let Some(files) = source.data_source().downcast_ref::<FileScanConfig>() {
                let url = files.object_store_url.as_str().trim_end_matches('/').to_string();
                urls.insert(url, ());
                return Ok(TreeNodeRecursion::Continue);
            }
            if source.data_source().downcast_ref::<MemorySourceConfig>().is_some() {
                return Ok(TreeNodeRecursion::Continue);
            }
        }
        if node.downcast_ref::<EmptyExec>().is_some()
            || node.downcast_ref::<PlaceholderRowExec>().is_some()
        {
            return Ok(TreeNodeRecursion::Continue);
        }
        problem = Some(format!(
            "the query reads through {}, which a Ballista cluster cannot split among its tasks; run this export without --cluster",
            node.name()
        ));
        Ok(TreeNodeRecursion::Stop)
    })?;
    if let Some(problem) = problem {
        return Err(ClusterError::Unsupported(problem));
    }
    let mut bindings = Vec::new();
    for url in urls.into_keys() {
        let scheme = url.split("://").next().unwrap_or_default();
        if scheme == "file" {
            continue;
        }
        match StoreBindingWire::of(&url) {
            Some(binding) => bindings.push(binding),
            None if scheme.starts_with("dfexport") => {
                return Err(ClusterError::Unsupported(format!(
                    "the query reads a store only this process has ({url}: an in-memory database, or one opened over a store handed in directly); a cluster needs the database at a URL its executors can reach"
                )))
            }
            None => bindings.push(StoreBindingWire {
                url: url.clone(),
                location: url.clone(),
                storage_options: public_options(&session_options),
            }),
        }
    }
    Ok(bindings)
}

/// Deletes every file of `spec`'s attempt under its targets that is not in `keep`:
/// what failed or retried tasks wrote and no one reported. Best effort: what cannot
/// be listed or deleted stays an orphan, which the attempt's id in its name lets
/// `.clean database` and read-back tell apart.
async fn sweep(spec: &ExportSpec, keep: &[Artifact]) {
    let kept: HashSet<(usize, &str)> = keep
        .iter()
        .map(|a| (a.target, a.relative_path.as_str()))
        .collect();
    for (index, target) in spec.targets.iter().enumerate() {
        let listed: Vec<_> = match target.store.list(None).try_collect().await {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!(target = %target.display, error = %e, "cannot list the target to remove a failed attempt's files");
                continue;
            }
        };
        for meta in listed {
            let location = meta.location;
            if ExportAttempt::wrote(spec.attempt, &location)
                && !kept.contains(&(index, location.as_ref()))
            {
                if let Err(e) = target.store.delete(&location).await {
                    tracing::warn!(path = %location, error = %e, "orphan of a failed task not deleted");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_urls() {
        assert_eq!(scheduler_url("df://h:50050").unwrap(), "http://h:50050");
        assert_eq!(
            scheduler_url("http://10.0.0.1:1/").unwrap(),
            "http://10.0.0.1:1"
        );
        assert_eq!(scheduler_url("h:7").unwrap(), "http://h:7");
        assert!(scheduler_url("df://h").is_err());
        assert!(scheduler_url("df://h:x").is_err());
        assert!(scheduler_url("https://h:1").is_err());
        assert!(scheduler_url("df://h:1/path").is_err());
    }
}
