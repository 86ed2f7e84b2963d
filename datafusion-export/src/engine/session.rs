//! The engine's session: a database, a DataFusion session with the database, its
//! cursor functions and `external_table` installed, and the state its commands share
//! (async operations, continuous-export runs, progress counters). Command handlers in
//! [`super::commands`] take it; the dispatch in [`super`] runs them.

use std::sync::Arc;

use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SessionContext;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion_export_tables::{Database, DatabaseOptions};

use crate::continuous::{ContinuousSettings, ContinuousState, Exporter};
use crate::error::{ExportError, Result};
use crate::export::external_table::ExternalTableFunction;
use crate::export::operations::Operations;
use crate::export::progress::ExportProgress;

/// A database with a DataFusion session in which its tables, cursor functions
/// and commands are available.
///
/// ```no_run
/// # async fn demo() -> datafusion_export::Result<()> {
/// use datafusion_export::Engine;
/// let engine = Engine::open("./mydb").await?;
/// engine.execute(".create table T (a:long, s:string)").await?;
/// engine.execute("INSERT INTO T VALUES (1, 'x')").await?;
/// let batches = engine.execute_collect("SELECT * FROM T WHERE cursor_after('')").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Engine {
    pub(super) db: Database,
    pub(super) ctx: SessionContext,
    operations: Operations,
    continuous: ContinuousState,
    progress: Arc<ExportProgress>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("db", &self.db.root())
            .finish()
    }
}

impl Engine {
    /// Opens the database at `root` (a local folder or object store URL).
    pub async fn open(root: &str) -> Result<Self> {
        Ok(Self::new(Database::open(root).await?))
    }

    /// Opens the database at `root` with options.
    pub async fn open_with(root: &str, options: DatabaseOptions) -> Result<Self> {
        Ok(Self::new(Database::open_with(root, options).await?))
    }

    /// An engine over an in-memory database.
    pub async fn in_memory() -> Result<Self> {
        Ok(Self::new(Database::in_memory().await?))
    }

    /// An engine over `db`, with a new session.
    pub fn new(db: Database) -> Self {
        Self::with_settings(db, ContinuousSettings::default())
    }

    /// An engine over `db` with continuous-export settings.
    pub fn with_settings(db: Database, settings: ContinuousSettings) -> Self {
        let ctx = db.session_context();
        ctx.register_udtf(
            "external_table",
            Arc::new(ExternalTableFunction::new(db.clone())),
        );
        let ctx = crate::export::planner::with_export_planner(ctx);
        let operations = Operations::new(db.clone());
        Self {
            db,
            ctx,
            operations,
            continuous: ContinuousState::new(settings),
            progress: Arc::default(),
        }
    }

    /// This engine, with `runner` running its exports' writers (`.export`, `.export
    /// to table` and continuous-export runs) instead of this process, e.g. on a
    /// Ballista cluster. Queries and commits stay here.
    pub fn with_export_runner(
        mut self,
        runner: Arc<dyn crate::export::runner::ExportRunner>,
    ) -> Self {
        self.ctx = crate::export::runner::with_export_runner_in(self.ctx, runner);
        self
    }

    /// Totals of what this engine's exports have written so far (for progress bars).
    pub fn progress(&self) -> Arc<ExportProgress> {
        Arc::clone(&self.progress)
    }

    /// A new session in which the tables named in `scopes` are read only in their
    /// cursor range (how continuous-export runs scope fact tables).
    pub fn scoped_context(
        &self,
        scopes: std::collections::HashMap<String, datafusion_export_udfs::CursorRange>,
    ) -> SessionContext {
        self.exporter().scoped_context(scopes)
    }

    /// What continuous-export runs of this engine need (its database, session runtime,
    /// settings, runs in flight and progress counters).
    pub fn exporter(&self) -> Exporter {
        Exporter::new(
            self.db.clone(),
            self.ctx.clone(),
            self.continuous.clone(),
            Arc::clone(&self.progress),
        )
    }

    /// Continuous-export settings and runs in flight.
    pub fn continuous_state(&self) -> &ContinuousState {
        &self.continuous
    }

    /// The asynchronous operations this engine started.
    pub fn operations(&self) -> &Operations {
        &self.operations
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The session: plain DataFusion, with the database installed.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs the query after `<|` of a command; it must be a SQL or KQL query, not a
    /// command.
    pub async fn query_stream(&self, query: &str) -> Result<SendableRecordBatchStream> {
        Ok(self.query_frame(query).await?.execute_stream().await?)
    }

    /// Plans the query after `<|` of a command: SQL that reads (a `SELECT`, `WITH`
    /// or `VALUES`) or a KQL query ([`crate::query::plan_query_body`]), not a
    /// management command or a statement that changes something.
    pub async fn query_frame(&self, query: &str) -> Result<DataFrame> {
        if query.trim_start().starts_with('.') {
            return Err(ExportError::Invalid(
                "the query after '<|' must be a SQL or KQL query, not a management command".into(),
            ));
        }
        let plan = crate::query::plan_query_body(&self.ctx.state(), query).await?;
        if matches!(
            plan,
            LogicalPlan::Ddl(_)
                | LogicalPlan::Dml(_)
                | LogicalPlan::Statement(_)
                | LogicalPlan::Copy(_)
        ) {
            return Err(ExportError::Invalid(
                "the query after '<|' must be a query (SELECT, WITH or VALUES), not a statement \
                 that changes something"
                    .into(),
            ));
        }
        Ok(self.ctx.execute_logical_plan(plan).await?)
    }
}

impl From<&Engine> for Exporter {
    fn from(engine: &Engine) -> Self {
        engine.exporter()
    }
}

impl From<Engine> for Exporter {
    fn from(engine: Engine) -> Self {
        engine.exporter()
    }
}
