//! Catalog metadata as Flight SQL clients ask for it (`GetCatalogs`, `GetDbSchemas`,
//! `GetTables`, `GetTableTypes`): what ADBC's `GetObjects`, `GetTableSchema` and
//! `GetTableTypes`, and the JDBC/ODBC drivers' database browsers, read.
//!
//! The answer walks the engine's session catalog, so it lists exactly what a query
//! can name: the database's durable tables, session tables and views, and
//! `information_schema` where it is on. The builders from `arrow-flight` apply the
//! client's filters (catalog, `%`/`_` patterns, table types) and give the exact
//! schema the protocol requires, which `FlightInfo` announces and `DoGet` sends.

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::compute::kernels::comparison::like;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::TableType;
use datafusion::prelude::SessionContext;

use arrow_flight::sql::metadata::{GetDbSchemasBuilder, GetTablesBuilder};
use arrow_flight::sql::{
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetTableTypes, CommandGetTables,
};

use crate::error::Result;

/// The table types this server reports, in the names JDBC and ADBC use.
const TABLE_TYPES: [&str; 3] = ["TABLE", "VIEW", "LOCAL TEMPORARY"];

fn table_type_name(table_type: TableType) -> &'static str {
    match table_type {
        TableType::Base => TABLE_TYPES[0],
        TableType::View => TABLE_TYPES[1],
        TableType::Temporary => TABLE_TYPES[2],
    }
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

/// The schema of the answer to `command`.
pub(crate) fn catalogs_schema(command: &CommandGetCatalogs) -> SchemaRef {
    (*command).into_builder().schema()
}

/// The catalogs a query can name.
pub(crate) fn catalogs(
    context: &SessionContext,
    command: CommandGetCatalogs,
) -> Result<RecordBatch> {
    let mut builder = command.into_builder();
    for catalog in sorted(context.catalog_names()) {
        builder.append(catalog);
    }
    Ok(builder.build()?)
}

/// The schema of the answer to `command`.
pub(crate) fn schemas_schema(command: &CommandGetDbSchemas) -> SchemaRef {
    command.clone().into_builder().schema()
}

/// The schemas of each catalog, filtered as `command` asks.
pub(crate) fn schemas(
    context: &SessionContext,
    command: CommandGetDbSchemas,
) -> Result<RecordBatch> {
    let mut builder: GetDbSchemasBuilder = command.into_builder();
    for catalog_name in sorted(context.catalog_names()) {
        let Some(catalog) = context.catalog(&catalog_name) else {
            continue;
        };
        for schema in sorted(catalog.schema_names()) {
            builder.append(&catalog_name, schema);
        }
    }
    Ok(builder.build()?)
}

/// The schema of the answer to `command` (with a `table_schema` column when it asks
/// for the tables' schemas).
pub(crate) fn tables_schema(command: &CommandGetTables) -> SchemaRef {
    command.clone().into_builder().schema()
}

/// The tables of each schema, with their Arrow schema when `command` asks for it.
pub(crate) async fn tables(
    context: &SessionContext,
    command: CommandGetTables,
) -> Result<RecordBatch> {
    let wanted_catalog = command.catalog.clone();
    let name_pattern = command.table_name_filter_pattern.clone();
    let mut builder: GetTablesBuilder = command.into_builder();
    for catalog_name in sorted(context.catalog_names()) {
        if wanted_catalog.as_ref().is_some_and(|c| *c != catalog_name) {
            continue;
        }
        let Some(catalog) = context.catalog(&catalog_name) else {
            continue;
        };
        for schema_name in sorted(catalog.schema_names()) {
            let Some(schema) = catalog.schema(&schema_name) else {
                continue;
            };
            // Only the tables the name pattern keeps are opened (for a database
            // table, opening reads the log); the builder applies every filter again.
            for table_name in matching(sorted(schema.table_names()), name_pattern.as_deref())? {
                // A table dropped since the names were listed is simply not listed.
                let Some(table) = schema.table(&table_name).await? else {
                    continue;
                };
                builder.append(
                    &catalog_name,
                    &schema_name,
                    &table_name,
                    table_type_name(table.table_type()),
                    table.schema().as_ref(),
                )?;
            }
        }
    }
    Ok(builder.build()?)
}

/// The `names` that SQL `LIKE` `pattern` matches (all without a pattern), with the
/// same kernel the builder filters by.
fn matching(names: Vec<String>, pattern: Option<&str>) -> Result<Vec<String>> {
    let Some(pattern) = pattern else {
        return Ok(names);
    };
    let array = StringArray::from(names);
    let keep = like(&array, &StringArray::new_scalar(pattern))?;
    Ok(array
        .iter()
        .zip(keep.iter())
        .filter(|(_, keep)| keep.unwrap_or(false))
        .filter_map(|(name, _)| name.map(str::to_string))
        .collect())
}

/// The schema of the answer to `command`.
pub(crate) fn table_types_schema(command: &CommandGetTableTypes) -> SchemaRef {
    (*command).into_builder().schema()
}

/// The table types [`tables`] reports.
pub(crate) fn table_types(command: CommandGetTableTypes) -> Result<RecordBatch> {
    let mut builder = command.into_builder();
    for table_type in TABLE_TYPES {
        builder.append(table_type);
    }
    Ok(builder.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{AsArray, BinaryArray};
    use datafusion::arrow::ipc::convert::try_schema_from_ipc_buffer;

    async fn context() -> SessionContext {
        let context = SessionContext::new();
        for sql in [
            "CREATE TABLE orders (id BIGINT, name VARCHAR)",
            "CREATE VIEW big AS SELECT id FROM orders WHERE id > 10",
        ] {
            context.sql(sql).await.unwrap().collect().await.unwrap();
        }
        context
    }

    fn strings(batch: &RecordBatch, column: &str) -> Vec<String> {
        batch
            .column_by_name(column)
            .unwrap()
            .as_string::<i32>()
            .iter()
            .map(|s| s.unwrap().to_string())
            .collect()
    }

    #[tokio::test]
    async fn tables_are_listed_with_type_and_schema_and_filtered_by_pattern() {
        let context = context().await;
        let command = CommandGetTables {
            catalog: None,
            db_schema_filter_pattern: Some("pub%".into()),
            table_name_filter_pattern: None,
            table_types: vec![],
            include_schema: true,
        };
        let schema = tables_schema(&command);
        let batch = tables(&context, command).await.unwrap();
        assert_eq!(batch.schema(), schema);
        assert_eq!(strings(&batch, "table_name"), ["big", "orders"]);
        assert_eq!(strings(&batch, "table_type"), ["VIEW", "TABLE"]);
        let ipc = batch
            .column_by_name("table_schema")
            .unwrap()
            .as_any()
            .downcast_ref::<BinaryArray>()
            .unwrap()
            .value(1)
            .to_vec();
        let orders = try_schema_from_ipc_buffer(&ipc).unwrap();
        let names: Vec<_> = orders.fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["id", "name"]);

        let only_tables = CommandGetTables {
            catalog: Some("datafusion".into()),
            db_schema_filter_pattern: None,
            table_name_filter_pattern: Some("o_d%".into()),
            table_types: vec!["TABLE".into()],
            include_schema: false,
        };
        let schema = tables_schema(&only_tables);
        let batch = tables(&context, only_tables).await.unwrap();
        assert_eq!(batch.schema(), schema);
        assert_eq!(strings(&batch, "table_name"), ["orders"]);

        let elsewhere = CommandGetTables {
            catalog: Some("nowhere".into()),
            ..Default::default()
        };
        assert_eq!(tables(&context, elsewhere).await.unwrap().num_rows(), 0);
    }

    #[tokio::test]
    async fn catalogs_schemas_and_types_are_listed() {
        let context = context().await;
        let batch = catalogs(&context, CommandGetCatalogs {}).unwrap();
        assert_eq!(strings(&batch, "catalog_name"), ["datafusion"]);
        let batch = schemas(&context, CommandGetDbSchemas::default()).unwrap();
        assert_eq!(strings(&batch, "db_schema_name"), ["public"]);
        let batch = table_types(CommandGetTableTypes {}).unwrap();
        assert_eq!(batch.schema(), table_types_schema(&CommandGetTableTypes {}));
        // Sorted, as the protocol asks.
        assert_eq!(
            strings(&batch, "table_type"),
            ["LOCAL TEMPORARY", "TABLE", "VIEW"]
        );
    }
}
