//! The database as a DataFusion schema: its tables appear by name in SQL.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::{plan_err, DataFusionError, Result};
use datafusion_export_udfs::CursorRange;

use crate::database::Database;
use crate::provider::IngestionTable;

/// A `SchemaProvider` over a [`Database`]'s tables.
///
/// Session-local objects that DataFusion registers in the default schema (views
/// from `CREATE VIEW`, tables registered from Rust) live beside the durable tables
/// for the life of the session. Durable tables are created and dropped through the
/// database (`.create table`, SQL `CREATE TABLE` / `DROP TABLE` run through the
/// command layer), never by registering providers.
#[derive(Debug)]
pub struct DatabaseSchema {
    db: Database,
    session_tables: RwLock<HashMap<String, Arc<dyn TableProvider>>>,
    scopes: HashMap<String, CursorRange>,
}

impl DatabaseSchema {
    /// The schema of `db`.
    pub fn new(db: Database) -> Self {
        Self::with_scopes(db, HashMap::new())
    }

    /// The schema of `db` in which the tables named in `scopes` are read only in
    /// their cursor range — how a continuous export scopes its fact tables without
    /// rewriting its query.
    pub fn with_scopes(db: Database, scopes: HashMap<String, CursorRange>) -> Self {
        Self {
            db,
            session_tables: RwLock::new(HashMap::new()),
            scopes,
        }
    }

    fn session_tables(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<dyn TableProvider>>> {
        self.session_tables
            .read()
            .unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl SchemaProvider for DatabaseSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.db.state().tables.keys().cloned().collect();
        names.extend(self.session_tables().keys().cloned());
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.db.refresh().await.map_err(DataFusionError::from)?;
        let durable = self
            .db
            .state()
            .tables
            .get(name)
            .map(|t| (t.id, Arc::clone(&t.schema)));
        if let Some((id, schema)) = durable {
            let table = IngestionTable::new(self.db.clone(), id, name, schema);
            let table = match self.scopes.get(name) {
                Some(range) => table.scoped(*range),
                None => table,
            };
            return Ok(Some(Arc::new(table)));
        }
        Ok(self.session_tables().get(name).cloned())
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        if self.db.state().tables.contains_key(&name) {
            return plan_err!("table '{name}' already exists in the database");
        }
        let mut tables = self
            .session_tables
            .write()
            .unwrap_or_else(|p| p.into_inner());
        Ok(tables.insert(name, table))
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if self.db.state().tables.contains_key(name) {
            return plan_err!(
                "'{name}' is a durable table: drop it with `.drop table {name}` or SQL DROP TABLE through the command layer"
            );
        }
        let mut tables = self
            .session_tables
            .write()
            .unwrap_or_else(|p| p.into_inner());
        Ok(tables.remove(name))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.db.state().tables.contains_key(name) || self.session_tables().contains_key(name)
    }
}
