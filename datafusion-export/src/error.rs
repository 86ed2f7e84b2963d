//! The one error type of this crate.

use datafusion::error::DataFusionError;
use datafusion_export_tables::TablesError;

use crate::command::ParseError;

/// Result alias for this crate.
pub type Result<T, E = ExportError> = std::result::Result<T, E>;

/// Errors of commands and of the engine that runs them.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The command text does not parse.
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// A property is unknown or has a bad value.
    #[error("property '{name}': {reason}")]
    Property {
        /// The property.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The command is well-formed but cannot run as asked.
    #[error("{0}")]
    Invalid(String),
    /// The database refused.
    #[error(transparent)]
    Tables(#[from] TablesError),
    /// The query engine refused.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
}

impl From<datafusion::arrow::error::ArrowError> for ExportError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        ExportError::DataFusion(e.into())
    }
}

impl ExportError {
    /// The error with `secrets` and well-known URL secrets (SAS tokens, keys in
    /// query strings) removed from its message.
    pub fn scrubbed(self, secrets: &[String]) -> Self {
        let message = self.to_string();
        let mut scrubbed = message.clone();
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            scrubbed = scrubbed.replace(secret.as_str(), "*****");
        }
        let scrubbed = datafusion_export_tables::scrub_secrets(&scrubbed);
        if scrubbed == message {
            self
        } else {
            ExportError::Invalid(scrubbed)
        }
    }

    /// A property error.
    pub fn property(name: &str, reason: impl Into<String>) -> Self {
        ExportError::Property {
            name: name.to_string(),
            reason: reason.into(),
        }
    }
}

impl From<ExportError> for DataFusionError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::DataFusion(e) => e,
            ExportError::Tables(e) => e.into(),
            other => DataFusionError::Plan(other.to_string()),
        }
    }
}
