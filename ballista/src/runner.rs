//! [`BallistaRunner`]: submits export plans to a Ballista cluster and gathers what
//! its executors wrote, so that the caller makes the one commit.

use std::collections::{BTreeMap, BTreeSet, HashSet};
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
use object_store::path::Path;
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
            if let Ok(path) = Path::parse(&artifact.relative_path) {
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
///
/// A retried task reads the same rows as the one that failed, so its files land in
/// the folders the reported artifacts are in (on any target: writers pick targets at
/// random on a cluster): only those folders are listed, one level each, so the cost
/// follows the export and not the size of the lake. With nothing to keep (the job
/// failed) every target is listed in full.
async fn sweep(spec: &ExportSpec, keep: &[Artifact]) {
    let kept: HashSet<(usize, &str)> = keep
        .iter()
        .map(|a| (a.target, a.relative_path.as_str()))
        .collect();
    let folders = folders_of(keep);
    for (index, target) in spec.targets.iter().enumerate() {
        let listed = if keep.is_empty() {
            target.store.list(None).try_collect::<Vec<_>>().await
        } else {
            let mut all = Vec::new();
            let mut failed = None;
            for folder in &folders {
                match target.store.list_with_delimiter(folder.as_ref()).await {
                    Ok(listing) => all.extend(listing.objects),
                    Err(e) => failed = Some(e),
                }
            }
            match failed {
                Some(e) => Err(e),
                None => Ok(all),
            }
        };
        let listed = match listed {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!(target = %target.display, error = %e, "cannot list the target to remove a failed task's files");
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

/// The folders (relative to their target) `artifacts` are in; `None` is the root.
fn folders_of(artifacts: &[Artifact]) -> BTreeSet<Option<Path>> {
    artifacts
        .iter()
        .filter_map(|a| Path::parse(&a.relative_path).ok())
        .map(|path| {
            let parts: Vec<_> = path.parts().collect();
            match parts.split_last() {
                Some((_, folder)) if !folder.is_empty() => {
                    Some(folder.iter().cloned().collect::<Path>())
                }
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(relative_path: &str) -> Artifact {
        Artifact {
            path: relative_path.into(),
            num_records: 1,
            size: 1,
            target: 0,
            relative_path: relative_path.into(),
            partition_values: Vec::new(),
        }
    }

    #[test]
    fn the_sweep_lists_the_folders_artifacts_are_in() {
        let folders = folders_of(&[
            artifact("export_x_1_0.csv"),
            artifact("Region=a/Day=1/export_x_1_0.csv"),
            artifact("Region=a/Day=1/export_x_2_0.csv"),
            artifact("Region=b%2Fc/export_x_1_0.csv"),
        ]);
        let shown: Vec<String> = folders
            .iter()
            .map(|f| f.as_ref().map(|p| p.to_string()).unwrap_or_default())
            .collect();
        assert_eq!(shown, vec!["", "Region=a/Day=1", "Region=b%2Fc"]);
    }

    #[tokio::test]
    async fn the_sweep_removes_only_the_attempts_unreported_files() {
        use datafusion_export::command::{DataFormat, SecretString};
        use datafusion_export::export::options::{Distribution, ExportOptions};
        use datafusion_export::export::target::resolve_target;
        let dir = tempfile::tempdir().unwrap();
        let url = SecretString::new(dir.path().display().to_string(), false);
        let target = resolve_target(&url, None, &[]).unwrap();
        let attempt = uuid::Uuid::new_v4();
        let other = uuid::Uuid::new_v4();
        let name = |a: uuid::Uuid, w: u32| format!("export_{}_{w}_0.csv", a.simple());
        let files = [
            format!("R=a/{}", name(attempt, 1)), // reported
            format!("R=a/{}", name(attempt, 2)), // a failed task's: goes
            format!("R=a/{}", name(other, 1)),   // another attempt's: stays
            "R=a/mine.csv".to_string(),          // not an artifact: stays
            format!("R=z/{}", name(attempt, 3)), // a folder no artifact is in
        ];
        for f in &files {
            let path = Path::parse(f).unwrap();
            target
                .store
                .put(&path, bytes::Bytes::from_static(b"x").into())
                .await
                .unwrap();
        }
        let spec = ExportSpec {
            targets: vec![target.clone()],
            format: DataFormat::Csv,
            options: ExportOptions::defaults(Some(DataFormat::Csv), false, Distribution::PerShard),
            partitioning: None,
            data_columns: None,
            max_open_writers: 1,
            progress: Arc::default(),
            attempt,
            written: Arc::default(),
            distributed: true,
        };
        let exists = |f: &str| dir.path().join(f).exists();
        sweep(&spec, &[artifact(&files[0])]).await;
        assert!(exists(&files[0]) && !exists(&files[1]) && exists(&files[2]) && exists(&files[3]));
        assert!(
            exists(&files[4]),
            "only the reported artifacts' folders are listed"
        );
        // A failed job keeps nothing: every file of the attempt goes, wherever it is.
        sweep(&spec, &[]).await;
        assert!(!exists(&files[0]) && !exists(&files[4]) && exists(&files[2]) && exists(&files[3]));
    }

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
