//! Continuous export (DESIGN §6): definitions in the catalog, exactly-once runs over
//! cursor ranges, and the scheduler that runs them.

pub mod definition;
pub mod run;
pub mod scheduler;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::execution::context::SessionContext;
use datafusion_export_tables::Database;
use datafusion_export_udfs::CursorRange;

use crate::error::{ExportError, Result};
use crate::export::external_table::ExternalTableFunction;
use crate::export::progress::ExportProgress;

/// What continuous-export runs need from the process that runs them: the database, a
/// base session (its runtime holds the registered object stores), progress counters,
/// and which runs are in flight. [`crate::Engine`] hands one out; this layer never
/// sees the engine or a command module.
#[derive(Clone)]
pub struct Exporter {
    db: Database,
    ctx: SessionContext,
    state: ContinuousState,
    progress: Arc<ExportProgress>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("db", &self.db.root())
            .finish()
    }
}

impl Exporter {
    /// Runs of `db`'s exports, planned in sessions that share `ctx`'s runtime.
    pub fn new(
        db: Database,
        ctx: SessionContext,
        state: ContinuousState,
        progress: Arc<ExportProgress>,
    ) -> Self {
        Self {
            db,
            ctx,
            state,
            progress,
        }
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The base session.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Settings and runs in flight.
    pub fn continuous_state(&self) -> &ContinuousState {
        &self.state
    }

    /// Totals of what exports have written so far.
    pub fn progress(&self) -> Arc<ExportProgress> {
        Arc::clone(&self.progress)
    }

    /// A new session in which the tables named in `scopes` are read only in their
    /// cursor range (how runs scope fact tables), sharing the base session's runtime.
    pub fn scoped_context(&self, scopes: HashMap<String, CursorRange>) -> SessionContext {
        let ctx = self
            .db
            .scoped_session_context(scopes, Some(self.ctx.runtime_env()));
        ctx.register_udtf(
            "external_table",
            Arc::new(ExternalTableFunction::new(self.db.clone())),
        );
        let ctx = crate::export::planner::with_export_planner(ctx);
        // A run's writers go where the engine's exports go (e.g. a cluster).
        match crate::export::runner::export_runner(self.ctx.state().config()) {
            Some(runner) => crate::export::runner::with_export_runner_in(ctx, runner),
            None => ctx,
        }
    }
}

/// Engine-wide continuous-export settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ContinuousSettings {
    /// Runs at most this many exports at once.
    pub max_concurrent_exports: usize,
    /// A job failing permanently for longer than this disables itself.
    pub permanent_failure_window: Duration,
}

impl Default for ContinuousSettings {
    fn default() -> Self {
        Self {
            max_concurrent_exports: 4,
            permanent_failure_window: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// What this process knows about its continuous exports: settings, and which
/// runs are in flight (`IsRunning`).
#[derive(Debug, Clone, Default)]
pub struct ContinuousState {
    settings: ContinuousSettings,
    running: Arc<Mutex<HashSet<String>>>,
}

/// Marks a run in flight until dropped.
#[derive(Debug)]
pub struct Running {
    name: String,
    running: Arc<Mutex<HashSet<String>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.name);
    }
}

impl ContinuousState {
    /// State with `settings`.
    pub fn new(settings: ContinuousSettings) -> Self {
        Self {
            settings,
            running: Arc::default(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &ContinuousSettings {
        &self.settings
    }

    /// Whether a run of `name` is in flight in this process.
    pub fn is_running(&self, name: &str) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(name)
    }

    /// Marks a run of `name` in flight; one at a time per export per process.
    pub fn start_running(&self, name: &str) -> Result<Running> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if !running.insert(name.to_string()) {
            return Err(ExportError::Invalid(format!(
                "a run of continuous export '{name}' is already in progress"
            )));
        }
        Ok(Running {
            name: name.to_string(),
            running: Arc::clone(&self.running),
        })
    }
}
