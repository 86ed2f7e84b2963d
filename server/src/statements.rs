//! Statement text → what to do with it: a query to stream at `DoGet`, or a
//! statement to run once now (management commands, SQL that changes something),
//! after checking the caller's role and the limits on the text.

use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch, UInt64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::dataframe::DataFrame;
use datafusion_export::command::{parse_command, Command};
use datafusion_export::Engine;

use crate::auth::Principal;
use crate::error::{Result, ServerError};
use crate::roles::{command_name, command_role, plan_role, Role};

/// A checked statement.
pub(crate) enum Statement {
    /// A query that only reads, planned: it runs when its result is fetched.
    Query(DataFrame),
    /// Anything else: runs once, when the caller asks for it.
    Run {
        /// The text, for the engine.
        text: String,
        /// The parsed command (`Command::Sql` for SQL that changes something).
        command: Command,
    },
}

/// Checks `text` (size, emptiness, role) and plans it if it is a query.
pub(crate) async fn classify(
    engine: &Engine,
    principal: &Principal,
    text: &str,
    max_bytes: usize,
) -> Result<Statement> {
    if text.len() > max_bytes {
        return Err(ServerError::InvalidArgument(format!(
            "the statement is {} bytes; the limit is {max_bytes}",
            text.len()
        )));
    }
    if text.trim().is_empty() {
        return Err(ServerError::InvalidArgument(
            "empty statement: send a SQL or KQL query or a management command".into(),
        ));
    }
    // `EXPLAIN [ANALYZE] [VERBOSE] .export …` is the engine's own form: it needs the
    // role of the command it explains (ANALYZE runs it).
    if let Some(rest) = explained_command(text) {
        let command = parse_command(rest).map_err(datafusion_export::ExportError::from)?;
        check(
            principal,
            &command,
            command_role(&command).unwrap_or(Role::Viewer),
        )?;
        return Ok(Statement::Run {
            text: text.to_string(),
            command,
        });
    }
    let command = parse_command(text).map_err(datafusion_export::ExportError::from)?;
    let Command::Sql(sql) = &command else {
        let needed = command_role(&command).unwrap_or(Role::Admin);
        check(principal, &command, needed)?;
        return Ok(Statement::Run {
            text: text.to_string(),
            command,
        });
    };
    let state = engine.context().state();
    let plan = datafusion_export::query::plan_query(&state, sql).await?;
    let needed = plan_role(&plan);
    if !principal.role.allows(needed) {
        return Err(ServerError::PermissionDenied {
            what: format!("SQL that {}", plan_kind(needed)),
            needed,
            have: principal.role,
        });
    }
    if needed == Role::Viewer {
        // The same as `Engine::execute` does with a query's plan, without planning
        // it twice.
        return Ok(Statement::Query(
            engine.context().execute_logical_plan(plan).await?,
        ));
    }
    Ok(Statement::Run {
        text: text.to_string(),
        command,
    })
}

fn plan_kind(role: Role) -> &'static str {
    match role {
        Role::Viewer => "reads",
        Role::Ingestor => "inserts",
        Role::Admin => "changes the catalog or the session",
    }
}

fn check(principal: &Principal, command: &Command, needed: Role) -> Result<()> {
    if principal.role.allows(needed) {
        Ok(())
    } else {
        Err(ServerError::PermissionDenied {
            what: command_name(command).to_string(),
            needed,
            have: principal.role,
        })
    }
}

/// `EXPLAIN [ANALYZE] [VERBOSE] <management command>`: the command's text.
fn explained_command(text: &str) -> Option<&str> {
    let mut rest = strip_word(text.trim_start(), "explain")?;
    if let Some(r) = strip_word(rest, "analyze") {
        rest = r;
    }
    if let Some(r) = strip_word(rest, "verbose") {
        rest = r;
    }
    rest.starts_with('.').then_some(rest)
}

fn strip_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let head = text.get(..word.len())?;
    let tail = &text[word.len()..];
    (head.eq_ignore_ascii_case(word) && tail.starts_with(char::is_whitespace))
        .then(|| tail.trim_start())
}

/// Runs a [`Statement::Run`] once and collects its result, shaped to the schema the
/// engine's plan declares (the schema `FlightInfo` promises).
pub(crate) async fn run(engine: &Engine, text: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let frame = engine.execute(text).await?;
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame
        .collect()
        .await
        .map_err(datafusion_export::ExportError::from)
        // `Engine::execute` scrubs the errors of running the command; this scrubs those
        // of collecting it (a piped command's operators) the same way.
        .map_err(|e| e.scrubbed(&[]))?;
    let batches = batches
        .into_iter()
        .map(|b| conform(b, &schema))
        .collect::<Result<_>>()?;
    Ok((schema, batches))
}

/// `batch` under `schema`: the physical plan may mark a column nullable where the
/// logical plan does not (or use a different metadata), and ADBC refuses a `DoGet`
/// stream whose schema is not exactly the one `FlightInfo` announced. Columns of
/// another type are cast; a null in a column declared non-nullable is an error.
pub(crate) fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema_ref() == schema {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(Arc::clone(column))
            } else {
                cast(column, field.data_type())
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// What `DoPut` statement update reports: DataFusion's `count` for DML, otherwise the
/// rows of the result.
pub(crate) fn affected_rows(batches: &[RecordBatch]) -> i64 {
    if let [batch] = batches {
        if batch.num_columns() == 1
            && batch.num_rows() == 1
            && batch.schema().field(0).name() == "count"
        {
            if let Some(count) = batch.column(0).as_any().downcast_ref::<UInt64Array>() {
                if count.is_valid(0) {
                    return i64::try_from(count.value(0)).unwrap_or(i64::MAX);
                }
            }
        }
    }
    batches.iter().map(|b| b.num_rows() as i64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explained_commands_are_recognised() {
        assert_eq!(
            explained_command("EXPLAIN .export to csv ('x') <| T"),
            Some(".export to csv ('x') <| T")
        );
        assert_eq!(
            explained_command("explain analyze verbose .show tables"),
            Some(".show tables")
        );
        assert_eq!(explained_command("EXPLAIN SELECT 1"), None);
        assert_eq!(explained_command("EXPLAINED .x"), None);
        assert_eq!(explained_command(".show tables"), None);
    }

    #[tokio::test]
    async fn roles_are_checked_before_anything_runs() {
        let engine = Engine::in_memory().await.unwrap();
        let viewer = Principal {
            name: "v".into(),
            role: Role::Viewer,
        };
        let ingestor = Principal {
            name: "i".into(),
            role: Role::Ingestor,
        };
        let admin = Principal {
            name: "a".into(),
            role: Role::Admin,
        };
        engine.execute(".create table T (a:long)").await.unwrap();
        let denied = |r: Result<Statement>| match r {
            Err(ServerError::PermissionDenied { needed, .. }) => Some(needed),
            _ => None,
        };
        assert!(matches!(
            classify(&engine, &viewer, "SELECT * FROM T", 1000).await,
            Ok(Statement::Query(_))
        ));
        assert!(matches!(
            classify(&engine, &viewer, "T | take 1", 1000).await,
            Ok(Statement::Query(_))
        ));
        assert_eq!(
            denied(classify(&engine, &viewer, "INSERT INTO T VALUES (1)", 1000).await),
            Some(Role::Ingestor)
        );
        assert!(matches!(
            classify(&engine, &ingestor, "INSERT INTO T VALUES (1)", 1000).await,
            Ok(Statement::Run { .. })
        ));
        assert_eq!(
            denied(
                classify(
                    &engine,
                    &ingestor,
                    "SET datafusion.execution.batch_size = 1",
                    1000
                )
                .await
            ),
            Some(Role::Admin)
        );
        assert_eq!(
            denied(classify(&engine, &ingestor, "CREATE TABLE U (a BIGINT)", 1000).await),
            Some(Role::Admin)
        );
        assert_eq!(
            denied(
                classify(
                    &engine,
                    &viewer,
                    "EXPLAIN ANALYZE INSERT INTO T VALUES (1)",
                    1000
                )
                .await
            ),
            Some(Role::Ingestor)
        );
        assert_eq!(
            denied(classify(&engine, &viewer, ".drop table T", 1000).await),
            Some(Role::Admin)
        );
        assert!(classify(&engine, &admin, ".drop table T", 1000)
            .await
            .is_ok());
        assert!(matches!(
            classify(&engine, &admin, "  ", 1000).await,
            Err(ServerError::InvalidArgument(_))
        ));
        assert!(matches!(
            classify(&engine, &admin, "SELECT 1", 3).await,
            Err(ServerError::InvalidArgument(_))
        ));
    }
}
