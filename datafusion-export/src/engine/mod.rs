//! `Engine`: one entry point that runs management commands and SQL against a
//! database. [`session`] holds the engine's state; this module parses a statement and
//! dispatches it to the handler of its family in [`commands`].

pub mod commands;
pub mod session;

use datafusion::arrow::array::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};

use crate::command::{parse_command, Command, SecretString};
use crate::error::{ExportError, Result};
pub use session::Engine;

impl Engine {
    /// Runs one command or SQL statement. Commands run to completion before this
    /// returns; SQL queries return a lazy `DataFrame`, as `SessionContext::sql` does.
    /// `EXPLAIN [ANALYZE] [VERBOSE] .export …` shows the export's plan.
    pub async fn execute(&self, text: &str) -> Result<DataFrame> {
        if let Some((rest, verbose, analyze)) = explained_command(text) {
            let command = parse_command(rest)?;
            let secrets = secrets_of(&command);
            let Command::Export(export) = command else {
                return Err(ExportError::Invalid(
                    "EXPLAIN applies to SQL queries and to `.export`; other management \
                     commands have no query plan"
                        .into(),
                ));
            };
            return commands::export::explain(self, export, verbose, analyze)
                .await
                .map_err(|e| scrub(e, &secrets));
        }
        let command = parse_command(text)?;
        let secrets = secrets_of(&command);
        let shown = scrub_text(text, &secrets);
        self.run(command, shown)
            .await
            .map_err(|e| scrub(e, &secrets))
    }

    /// Runs one command or SQL statement and collects its result.
    pub async fn execute_collect(&self, text: &str) -> Result<Vec<RecordBatch>> {
        if explained_command(text).is_some() {
            return Ok(self.execute(text).await?.collect().await?);
        }
        let command = parse_command(text)?;
        let secrets = secrets_of(&command);
        let shown = scrub_text(text, &secrets);
        let result = async { Ok(self.run(command, shown).await?.collect().await?) };
        result.await.map_err(|e| scrub(e, &secrets))
    }

    async fn run(&self, command: Command, shown: String) -> Result<DataFrame> {
        let batch = match command {
            Command::Sql(sql) => return self.sql(&sql).await,
            Command::Piped { command, pipeline } => {
                let frame = Box::pin(self.run(*command, shown)).await?;
                let plan = crate::query::plan_pipeline(
                    &self.ctx.state(),
                    frame.into_unoptimized_plan(),
                    &pipeline,
                )
                .await?;
                return Ok(self.ctx.execute_logical_plan(plan).await?);
            }
            Command::CreateTable { name, columns } => {
                commands::tables::create_table(&self.db, &name, &columns).await?
            }
            Command::DropTable { name, if_exists } => {
                commands::tables::drop_table(&self.db, &name, if_exists).await?
            }
            Command::ShowTables => commands::tables::show_tables(&self.db).await?,
            Command::ShowTableExtents { name } => {
                commands::tables::show_extents(&self.db, &name).await?
            }
            Command::AlterMergePolicy { table, policy } => {
                commands::tables::alter_merge_policy(&self.db, table.as_deref(), &policy).await?
            }
            Command::ShowMergePolicy { table } => {
                commands::tables::show_merge_policy(&self.db, table.as_deref()).await?
            }
            Command::MergeExtents {
                table,
                ids,
                is_async,
            } => commands::tables::merge_command(self, &table, ids, is_async, &shown).await?,
            Command::ShowTableSchema { name } => {
                commands::tables::show_schema(&self.db, &name).await?
            }
            Command::Append {
                table,
                query,
                create_if_missing,
                properties,
            } => {
                commands::ingest::check_append_properties(&properties)?;
                let stream = self.query_stream(&query).await?;
                commands::ingest::append(&self.db, &table, stream, create_if_missing).await?
            }
            Command::Ingest {
                table,
                sources,
                properties,
            } => {
                commands::ingest::ingest_from_storage(
                    &self.db,
                    &self.ctx,
                    &table,
                    &sources,
                    &properties,
                )
                .await?
            }
            Command::Export(export) => commands::export::export(self, export, shown).await?,
            Command::CreateExternalTable(def) => {
                commands::export::create_external_table(self, def).await?
            }
            Command::DropExternalTable { name, if_exists } => {
                commands::export::drop_external_table(self, &name, if_exists).await?
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
                log::info!(
                    "clean database: {}",
                    commands::maintenance::summary(&report)
                );
                commands::maintenance::report_batch(&report)?
            }
            Command::ShowExternalTables => commands::export::show_external_tables(self).await?,
            Command::ShowExternalTable { name } => {
                commands::export::show_external_table(self, &name).await?
            }
            Command::ShowOperations => commands::export::show_operations(self).await?,
            Command::ShowOperation { id, details } => {
                commands::export::show_operation(self, &id, details).await?
            }
            other => return self.run_continuous_export_command(other).await,
        };
        Ok(self.ctx.read_batch(batch)?)
    }

    /// `.clean database older than <older_than>`: the database's vacuum, plus the
    /// files of export attempts that can never finish (see
    /// [`commands::export::clean_dead_attempts`]).
    pub async fn clean_database(
        &self,
        older_than: std::time::Duration,
    ) -> Result<datafusion_export_tables::VacuumReport> {
        let mut report = commands::maintenance::clean(&self.db, older_than).await?;
        let cutoff = report.cutoff;
        for (path, size) in commands::export::clean_dead_attempts(self, cutoff).await? {
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

    async fn run_continuous_export_command(&self, command: Command) -> Result<DataFrame> {
        let batch = commands::continuous::execute(self, command).await?;
        Ok(self.ctx.read_batch(batch)?)
    }

    /// Plans a statement, SQL or KQL ([`crate::query::plan_query`]); SQL `CREATE
    /// TABLE` and `DROP TABLE` of durable tables go to the database.
    async fn sql(&self, sql: &str) -> Result<DataFrame> {
        let plan = crate::query::plan_query(&self.ctx.state(), sql).await?;
        match plan {
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) => {
                commands::tables::create_table_from_sql(self, create).await?;
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

/// `EXPLAIN [ANALYZE] [VERBOSE] <management command>`: the command's text, and
/// whether `VERBOSE` and `ANALYZE` were given. `None` for anything else (SQL
/// `EXPLAIN SELECT …` goes to DataFusion as it is).
fn explained_command(text: &str) -> Option<(&str, bool, bool)> {
    let mut rest = text.trim_start();
    let mut word = |name: &str| -> bool {
        // `get`, not slicing: user text may have a multi-byte character there.
        let matched = rest
            .get(..name.len())
            .is_some_and(|word| word.eq_ignore_ascii_case(name))
            && rest
                .get(name.len()..)
                .is_some_and(|after| after.starts_with(char::is_whitespace));
        if matched {
            rest = rest[name.len()..].trim_start();
        }
        matched
    };
    if !word("explain") {
        return None;
    }
    let analyze = word("analyze");
    let verbose = word("verbose");
    rest.starts_with('.').then_some((rest, verbose, analyze))
}

/// `text` with the given secrets and well-known URL secrets replaced by `*****`.
fn scrub_text(text: &str, secrets: &[String]) -> String {
    let mut scrubbed = text.to_string();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        scrubbed = scrubbed.replace(secret.as_str(), "*****");
    }
    crate::command::scrub_secrets(&scrubbed)
}

/// Removes secrets from an error's message.
fn scrub(error: ExportError, secrets: &[String]) -> ExportError {
    error.scrubbed(secrets)
}

/// Removes well-known URL secrets from an error's message.
pub fn scrub_error(error: ExportError) -> ExportError {
    error.scrubbed(&[])
}
