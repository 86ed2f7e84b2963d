//! What schedulers and executors need to run our plans: the session settings that
//! carry store bindings, the runtime that opens those stores, and the functions our
//! plans call.

use std::sync::Arc;

use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::{ConfigProducer, RuntimeProducer};
use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionConfig;
use datafusion_export::export::partition::PartitionHashUdf;
use datafusion_export::query::kql::functions::KqlHashUdf;
use serde::{Deserialize, Serialize};

use crate::wire::{public_location, public_options};

/// Job settings of ours (`dfexport.*`). Schedulers and executors must know them,
/// or Ballista drops them on the way to tasks.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// JSON list of [`StoreBindingWire`]: which location each session-private
    /// store URL of the plan (`dfexport://db-…`) stands for.
    pub store_bindings: String,
}

const STORE_BINDINGS: &str = "store_bindings";

impl ConfigExtension for ClusterOptions {
    const PREFIX: &'static str = "dfexport";
}

// By hand rather than with `extensions_options!`: Ballista sends a job's settings
// as `ConfigOptions::entries()`, which takes extensions' keys as they give them, so
// they must carry the prefix themselves (as Ballista's own `ballista.*` do).
impl ExtensionOptions for ClusterOptions {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> datafusion::error::Result<()> {
        match key.strip_prefix("dfexport.").unwrap_or(key) {
            STORE_BINDINGS => {
                self.store_bindings = value.to_string();
                Ok(())
            }
            other => Err(DataFusionError::Configuration(format!(
                "unknown setting dfexport.{other}"
            ))),
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![ConfigEntry {
            key: format!("{}.{STORE_BINDINGS}", Self::PREFIX),
            value: Some(self.store_bindings.clone()),
            description: "where the session-private store URLs of a job's plan point (JSON)",
        }]
    }
}

/// One session-private store URL and where it points, as it travels (no secrets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreBindingWire {
    /// The URL scans name (`scheme://host`).
    pub url: String,
    /// The location, without secrets.
    pub location: String,
    /// Object-store options that are not credentials.
    pub storage_options: Vec<(String, String)>,
}

impl StoreBindingWire {
    /// The travelling form of what this process recorded for `url`, if anything.
    pub fn of(url: &str) -> Option<Self> {
        let binding = datafusion_export_tables::bindings::lookup(url)?;
        Some(Self {
            url: url.to_string(),
            location: public_location(&binding.location),
            storage_options: public_options(&binding.storage_options),
        })
    }
}

/// The session config of schedulers and executors: Ballista's, plus our settings.
pub fn config_producer() -> ConfigProducer {
    Arc::new(|| SessionConfig::new_with_ballista().with_option_extension(ClusterOptions::default()))
}

/// An executor's runtime for a session: temporary files under `work_dir`, and the
/// session's store bindings registered, each opened with `local_options` (this
/// executor's credentials and settings) after the travelling options.
pub fn runtime_producer(work_dir: String, local_options: Vec<(String, String)>) -> RuntimeProducer {
    Arc::new(move |config: &SessionConfig| {
        let runtime = RuntimeEnvBuilder::new()
            .with_temp_file_path(work_dir.clone())
            .build()?;
        let bindings = config
            .options()
            .extensions
            .get::<ClusterOptions>()
            .map(|o| o.store_bindings.clone())
            .unwrap_or_default();
        if !bindings.is_empty() {
            let bindings: Vec<StoreBindingWire> = serde_json::from_str(&bindings).map_err(|e| {
                DataFusionError::Configuration(format!("dfexport.store_bindings: {e}"))
            })?;
            for binding in bindings {
                let mut options = binding.storage_options.clone();
                options.extend(local_options.iter().cloned());
                let (store, _) = datafusion_export_tables::open_root(&binding.location, &options)
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                let url = url::Url::parse(&binding.url).map_err(|e| {
                    DataFusionError::Configuration(format!("store URL {}: {e}", binding.url))
                })?;
                runtime.register_object_store(&url, store);
            }
        }
        Ok(Arc::new(runtime))
    })
}

/// The scalar functions our plans may call beyond DataFusion's own.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(KqlHashUdf::default())),
        Arc::new(ScalarUDF::new_from_impl(PartitionHashUdf::default())),
    ]
}

/// Ballista's function registry plus [`scalar_functions`].
pub fn function_registry() -> Arc<BallistaFunctionRegistry> {
    let mut registry = BallistaFunctionRegistry::default();
    for udf in scalar_functions() {
        registry
            .scalar_functions
            .insert(udf.name().to_string(), udf);
    }
    Arc::new(registry)
}

/// The scheduler's session for a job: Ballista's, with a runtime that knows the
/// job's store bindings (decoding a file scan looks its store up) and our
/// functions.
pub fn session_builder(local_options: Vec<(String, String)>) -> ballista_scheduler::SessionBuilder {
    let work_dir = std::env::temp_dir().display().to_string();
    let runtime = runtime_producer(work_dir, local_options);
    Arc::new(move |config: SessionConfig| {
        let runtime = runtime(&config)?;
        let state = ballista_core::utils::default_session_builder(config)?;
        let mut functions: Vec<Arc<ScalarUDF>> =
            state.scalar_functions().values().cloned().collect();
        functions.extend(scalar_functions());
        Ok(SessionStateBuilder::new_from_existing(state)
            .with_runtime_env(runtime)
            .with_scalar_functions(functions)
            .build())
    })
}
