//! Installing a database into a DataFusion `SessionContext`.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion_export_udfs::{
    cursor_functions, CurrentCursor, Cursor, CursorRange, CursorScopeRule,
};

use crate::catalog::DatabaseSchema;
use crate::database::Database;
use crate::provider::IngestionTable;

impl CurrentCursor for Database {
    fn current_cursor(&self) -> Result<Cursor> {
        Ok(Database::current_cursor(self))
    }
}

impl Database {
    /// A new `SessionContext` with this database installed (see [`Database::install`]).
    ///
    /// Identifiers are case-sensitive, as in Kusto: `T` and `t` are different tables.
    pub fn session_context(&self) -> SessionContext {
        self.scoped_session_context(HashMap::new(), None)
    }

    /// A new `SessionContext` like [`Database::session_context`] in which the tables
    /// named in `scopes` are read only in their cursor range; `runtime` shares
    /// object stores (and memory limits) with another session.
    pub fn scoped_session_context(
        &self,
        scopes: HashMap<String, CursorRange>,
        runtime: Option<Arc<RuntimeEnv>>,
    ) -> SessionContext {
        let mut config = SessionConfig::new().with_information_schema(true);
        config.options_mut().sql_parser.enable_ident_normalization = false;
        // Export layouts (`pathformat`) put files in folders that are not `key=value`.
        config
            .options_mut()
            .execution
            .listing_table_ignore_subdirectory = false;
        let ctx = match runtime {
            Some(runtime) => SessionContext::new_with_config_rt(config, runtime),
            None => SessionContext::new_with_config(config),
        };
        self.install_scoped(&ctx, scopes);
        ctx
    }

    /// Installs this database into `ctx`: its tables become the default schema
    /// (`datafusion.public`), the cursor functions are registered, the
    /// [`CursorScopeRule`] is added to the analyzer, and the database's object
    /// store is registered for scans. Plain DataFusion SQL keeps working unchanged.
    pub fn install(&self, ctx: &SessionContext) {
        self.install_scoped(ctx, HashMap::new())
    }

    fn install_scoped(&self, ctx: &SessionContext, scopes: HashMap<String, CursorRange>) {
        for udf in cursor_functions(Arc::new(self.clone())) {
            ctx.register_udf(udf);
        }
        ctx.add_analyzer_rule(Arc::new(CursorScopeRule::new(IngestionTable::resolve)));
        ctx.register_object_store(self.object_store_url().as_ref(), self.object_store());
        ctx.state_ref()
            .write()
            .config_mut()
            .set_extension(Arc::new(crate::root::StorageOptions(
                self.options().storage_options.clone(),
            )));
        let state = ctx.state();
        let options = &state.config().options().catalog;
        if let Some(catalog) = ctx.catalog(&options.default_catalog) {
            // Replaces the default in-memory schema; nothing was registered in it yet
            // by us, and a fresh context has nothing in it.
            let _ = catalog.register_schema(
                &options.default_schema,
                Arc::new(DatabaseSchema::with_scopes(self.clone(), scopes)),
            );
        }
    }
}
