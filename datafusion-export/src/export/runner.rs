//! Where an export plan runs. By default in this process; a session may carry an
//! [`ExportRunner`] (as a `SessionConfig` extension) that runs it elsewhere, e.g. on
//! a Ballista cluster (the `datafusion-export-ballista` crate). Either way the
//! runner returns the artifact list and the caller makes the one commit, so
//! exactly-once holds wherever the writers ran.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::Result;
use crate::export::sink_exec::{Artifact, ExportSpec};

/// Runs export plans (an `ExportExec` at the root) somewhere other than this
/// process, and gathers what they wrote.
#[async_trait]
pub trait ExportRunner: Send + Sync + Debug {
    /// Runs `plan`, which writes what `spec` says, and returns every artifact it
    /// wrote. On error, no artifact of the attempt may be left for readers to find
    /// (as far as the store allows): the caller commits nothing.
    async fn run(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        spec: &ExportSpec,
        task: Arc<TaskContext>,
    ) -> Result<Vec<Artifact>>;

    /// How many partitions plans made for this runner should have (a cluster's task
    /// slots), when it knows; the session's own otherwise.
    fn target_partitions(&self) -> Option<usize> {
        None
    }
}

/// The [`ExportRunner`] of a session, kept as a `SessionConfig` extension.
#[derive(Debug, Clone)]
pub struct SessionExportRunner(pub Arc<dyn ExportRunner>);

/// `config` with `runner` running its exports, planned into as many partitions as
/// the runner asks for.
pub fn with_export_runner(config: SessionConfig, runner: Arc<dyn ExportRunner>) -> SessionConfig {
    let config = match runner.target_partitions() {
        Some(n) if n > 0 => config.with_target_partitions(n),
        _ => config,
    };
    config.with_extension(Arc::new(SessionExportRunner(runner)))
}

/// `ctx`'s session, with `runner` running its exports.
pub fn with_export_runner_in(ctx: SessionContext, runner: Arc<dyn ExportRunner>) -> SessionContext {
    let state = ctx.state();
    let config = with_export_runner(state.config().clone(), runner);
    SessionContext::new_with_state(
        SessionStateBuilder::new_from_existing(state)
            .with_config(config)
            .build(),
    )
}

/// The runner `config` carries, if any.
pub fn export_runner(config: &SessionConfig) -> Option<Arc<dyn ExportRunner>> {
    config
        .get_extension::<SessionExportRunner>()
        .map(|r| Arc::clone(&r.0))
}
