//! `Engine`: one entry point that runs management commands and SQL against a
//! database.

use datafusion::arrow::array::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SessionContext;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion_export_tables::{Database, DatabaseOptions};

use crate::command::{parse_command, scrub_secrets, Command, SecretString};
use crate::error::{ExportError, Result};
use crate::{ingest_commands, table_commands};

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
        let ctx = db.session_context();
        Self { db, ctx }
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
        self.run(command).await.map_err(|e| scrub(e, &secrets))
    }

    /// Runs one command or SQL statement and collects its result.
    pub async fn execute_collect(&self, text: &str) -> Result<Vec<RecordBatch>> {
        let command = parse_command(text)?;
        let secrets = secrets_of(&command);
        let result = async { Ok(self.run(command).await?.collect().await?) };
        result.await.map_err(|e| scrub(e, &secrets))
    }

    async fn run(&self, command: Command) -> Result<DataFrame> {
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
        };
        Ok(self.ctx.read_batch(batch)?)
    }

    /// Runs the query after `<|` of a command; it must be SQL, not a command.
    pub async fn query_stream(&self, query: &str) -> Result<SendableRecordBatchStream> {
        if query.trim_start().starts_with('.') {
            return Err(ExportError::Invalid(
                "the query after '<|' must be SQL, not a management command".into(),
            ));
        }
        Ok(self.sql(query).await?.execute_stream().await?)
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
    match command {
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
        Command::Append { properties, .. } => properties
            .iter()
            .filter_map(|p| match &p.value {
                crate::command::PropertyValue::String(s) => from(s),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Removes secrets from an error's message.
fn scrub(error: ExportError, secrets: &[String]) -> ExportError {
    let message = error.to_string();
    let mut scrubbed = scrub_secrets(&message);
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        scrubbed = scrubbed.replace(secret.as_str(), "*****");
    }
    if scrubbed == message {
        error
    } else {
        ExportError::Invalid(scrubbed)
    }
}
