//! `Engine`: one entry point that runs management commands and SQL against a
//! database.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SessionContext;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion_export_tables::{Database, DatabaseOptions};

use crate::command::{parse_command, scrub_secrets, Command, SecretString};
use crate::continuous::{ContinuousSettings, ContinuousState};
use crate::error::{ExportError, Result};
use crate::export::external_table::ExternalTableFunction;
use crate::export::operations::Operations;
use crate::export::progress::ExportProgress;
use crate::{continuous_commands, export_commands, ingest_commands, table_commands};

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
    db: Database,
    ctx: SessionContext,
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
        let operations = Operations::new(db.clone());
        Self {
            db,
            ctx,
            operations,
            continuous: ContinuousState::new(settings),
            progress: Arc::default(),
        }
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
        let ctx = self
            .db
            .scoped_session_context(scopes, Some(self.ctx.runtime_env()));
        ctx.register_udtf(
            "external_table",
            Arc::new(ExternalTableFunction::new(self.db.clone())),
        );
        ctx
    }

    /// Continuous-export settings and runs in flight.
    pub fn continuous_state(&self) -> &ContinuousState {
        &self.continuous
    }

    async fn run_continuous_export_command(&self, command: Command) -> Result<DataFrame> {
        let batch = continuous_commands::execute(self, command).await?;
        Ok(self.ctx.read_batch(batch)?)
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

    /// Runs one command or SQL statement. Commands run to completion before this
    /// returns; SQL queries return a lazy `DataFrame`, as `SessionContext::sql` does.
    pub async fn execute(&self, text: &str) -> Result<DataFrame> {
        let command = parse_command(text)?;
        let secrets = secrets_of(&command);
        let shown = scrub_text(text, &secrets);
        self.run(command, shown)
            .await
            .map_err(|e| scrub(e, &secrets))
    }

    /// Runs one command or SQL statement and collects its result.
    pub async fn execute_collect(&self, text: &str) -> Result<Vec<RecordBatch>> {
        let command = parse_command(text)?;
        let secrets = secrets_of(&command);
        let shown = scrub_text(text, &secrets);
        let result = async { Ok(self.run(command, shown).await?.collect().await?) };
        result.await.map_err(|e| scrub(e, &secrets))
    }

    async fn run(&self, command: Command, shown: String) -> Result<DataFrame> {
        let batch = match command {
            Command::Sql(sql) => return self.sql(&sql).await,
            Command::CreateTable { name, columns } => {
                table_commands::create_table(&self.db, &name, &columns).await?
            }
            Command::DropTable { name, if_exists } => {
                table_commands::drop_table(&self.db, &name, if_exists).await?
            }
            Command::ShowTables => table_commands::show_tables(&self.db).await?,
            Command::ShowTableExtents { name } => {
                table_commands::show_extents(&self.db, &name).await?
            }
            Command::ShowTableSchema { name } => {
                table_commands::show_schema(&self.db, &name).await?
            }
            Command::Append {
                table,
                query,
                create_if_missing,
                properties,
            } => {
                ingest_commands::check_append_properties(&properties)?;
                let stream = self.query_stream(&query).await?;
                ingest_commands::append(&self.db, &table, stream, create_if_missing).await?
            }
            Command::Ingest {
                table,
                sources,
                properties,
            } => {
                ingest_commands::ingest_from_storage(
                    &self.db,
                    &self.ctx,
                    &table,
                    &sources,
                    &properties,
                )
                .await?
            }
            Command::Export(export) => export_commands::export(self, export, shown).await?,
            Command::CreateExternalTable(def) => {
                export_commands::create_external_table(self, def).await?
            }
            Command::DropExternalTable { name, if_exists } => {
                export_commands::drop_external_table(self, &name, if_exists).await?
            }
            Command::AlterSecretKey => {
                let resealed = crate::export::external_table::reseal_all(&self.db).await?;
                crate::results::ResultBuilder::new()
                    .strings(
                        "ExternalTableName",
                        resealed.iter().map(|(n, _)| Some(n.as_str())),
                    )
                    .strings(
                        "SecretKeyId",
                        resealed.iter().map(|(_, k)| Some(k.as_str())),
                    )
                    .build()?
            }
            Command::CleanDatabase { older_than } => {
                let window = older_than.unwrap_or(datafusion_export_tables::DEFAULT_VACUUM_WINDOW);
                let report = self.clean_database(window).await?;
                log::info!("clean database: {}", crate::maintenance::summary(&report));
                crate::maintenance::report_batch(&report)?
            }
            Command::ShowExternalTables => export_commands::show_external_tables(self).await?,
            Command::ShowExternalTable { name } => {
                export_commands::show_external_table(self, &name).await?
            }
            Command::ShowOperations => export_commands::show_operations(self).await?,
            Command::ShowOperation { id, details } => {
                export_commands::show_operation(self, &id, details).await?
            }
            other => return self.run_continuous_export_command(other).await,
        };
        Ok(self.ctx.read_batch(batch)?)
    }

    /// `.clean database older than <older_than>`: the database's vacuum, plus the
    /// files of export attempts that can never finish (see
    /// [`export_commands::clean_dead_attempts`]).
    pub async fn clean_database(
        &self,
        older_than: std::time::Duration,
    ) -> Result<datafusion_export_tables::VacuumReport> {
        let cutoff = self.db.vacuum_cutoff(older_than)?;
        let mut report = crate::maintenance::clean(&self.db, older_than).await?;
        for (path, size) in export_commands::clean_dead_attempts(self, cutoff).await? {
            report.deleted.push(datafusion_export_tables::Deleted {
                path,
                size,
                kind: datafusion_export_tables::DeletedKind::Other(
                    "artifact of an export that never finished",
                ),
            });
        }
        Ok(report)
    }

    /// Runs the query after `<|` of a command; it must be SQL, not a command.
    pub async fn query_stream(&self, query: &str) -> Result<SendableRecordBatchStream> {
        Ok(self.query_frame(query).await?.execute_stream().await?)
    }

    /// Plans the query after `<|` of a command; it must be SQL, not a command.
    pub async fn query_frame(&self, query: &str) -> Result<DataFrame> {
        if query.trim_start().starts_with('.') {
            return Err(ExportError::Invalid(
                "the query after '<|' must be SQL, not a management command".into(),
            ));
        }
        self.sql(query).await
    }

    /// Plans SQL; `CREATE TABLE` and `DROP TABLE` of durable tables go to the database.
    async fn sql(&self, sql: &str) -> Result<DataFrame> {
        let plan = self.ctx.state().create_logical_plan(sql).await?;
        match plan {
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) => {
                table_commands::create_table_from_sql(self, create).await?;
                Ok(self.ctx.read_batch(crate::results::empty())?)
            }
            LogicalPlan::Ddl(DdlStatement::DropTable(drop))
                if self.db.state().tables.contains_key(drop.name.table()) =>
            {
                self.db
                    .drop_table(drop.name.table(), drop.if_exists)
                    .await?;
                Ok(self.ctx.read_batch(crate::results::empty())?)
            }
            plan => Ok(self.ctx.execute_logical_plan(plan).await?),
        }
    }
}

fn secrets_of(command: &Command) -> Vec<String> {
    let from = |s: &SecretString| s.is_obfuscated().then(|| s.expose().to_string());
    let from_properties = |properties: &[crate::command::Property]| -> Vec<String> {
        properties
            .iter()
            .filter_map(|p| match &p.value {
                crate::command::PropertyValue::String(s) => from(s),
                _ => None,
            })
            .collect()
    };
    match command {
        Command::Export(export) => {
            let mut out = from_properties(&export.properties);
            if let crate::command::ExportTarget::Storage { urls, .. } = &export.target {
                out.extend(urls.iter().filter_map(from));
            }
            out
        }
        Command::CreateExternalTable(def) => {
            let mut out = from_properties(&def.properties);
            out.extend(def.urls.iter().filter_map(from));
            out
        }
        Command::Ingest {
            sources,
            properties,
            ..
        } => sources
            .iter()
            .filter_map(from)
            .chain(properties.iter().filter_map(|p| match &p.value {
                crate::command::PropertyValue::String(s) => from(s),
                _ => None,
            }))
            .collect(),
        Command::Append { properties, .. } => from_properties(properties),
        _ => Vec::new(),
    }
}

/// `text` with the given secrets and well-known URL secrets replaced by `*****`.
fn scrub_text(text: &str, secrets: &[String]) -> String {
    let mut scrubbed = text.to_string();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        scrubbed = scrubbed.replace(secret.as_str(), "*****");
    }
    scrub_secrets(&scrubbed)
}

/// Removes secrets from an error's message.
fn scrub(error: ExportError, secrets: &[String]) -> ExportError {
    let message = error.to_string();
    let scrubbed = scrub_text(&message, secrets);
    if scrubbed == message {
        error
    } else {
        ExportError::Invalid(scrubbed)
    }
}

/// Removes well-known URL secrets from an error's message.
pub fn scrub_error(error: ExportError) -> ExportError {
    scrub(error, &[])
}
