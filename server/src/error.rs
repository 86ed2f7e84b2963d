//! The server's one error type, turned into a gRPC [`Status`] at the boundary.

use datafusion::error::DataFusionError;
use datafusion_export::ExportError;
use tonic::{Code, Status};

use crate::roles::Role;

/// Result alias for this crate.
pub type Result<T, E = ServerError> = std::result::Result<T, E>;

/// The message of every authentication failure: the same whether the user is unknown,
/// the password wrong or the token expired, so that a caller learns nothing about
/// which users exist.
pub const UNAUTHENTICATED: &str =
    "authentication failed: invalid credentials or an expired or unknown token";

/// What went wrong, on the way in (authentication, roles, limits, tickets) or in the
/// engine.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Missing, wrong or expired credentials ([`UNAUTHENTICATED`]).
    #[error("{UNAUTHENTICATED}")]
    Unauthenticated,
    /// The caller's role may not run the statement.
    #[error("permission denied: {what} needs the '{needed}' role (the caller has '{have}')")]
    PermissionDenied {
        /// What was refused (a command or statement kind, never its text).
        what: String,
        /// The least role that may run it.
        needed: Role,
        /// The caller's role.
        have: Role,
    },
    /// The request is malformed (empty or oversized statement, bad ticket, …).
    #[error("{0}")]
    InvalidArgument(String),
    /// A ticket or prepared statement that does not exist (any more).
    #[error("{0}")]
    NotFound(String),
    /// A limit was reached (pending results, concurrent statements).
    #[error("{0}")]
    ResourceExhausted(String),
    /// The configuration is unusable (users file, listen address, TLS files).
    #[error("{0}")]
    Config(String),
    /// Binding or serving failed.
    #[error("{0}")]
    Transport(String),
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(#[from] ExportError),
    /// DataFusion or Arrow failed outside the engine (planning checks, encoding).
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
}

impl From<datafusion::arrow::error::ArrowError> for ServerError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        ServerError::DataFusion(e.into())
    }
}

impl From<arrow_flight::error::FlightError> for ServerError {
    fn from(e: arrow_flight::error::FlightError) -> Self {
        match e {
            arrow_flight::error::FlightError::Arrow(e) => e.into(),
            e => ServerError::Transport(e.to_string()),
        }
    }
}

impl ServerError {
    /// The gRPC code of this error.
    pub fn code(&self) -> Code {
        match self {
            ServerError::Unauthenticated => Code::Unauthenticated,
            ServerError::PermissionDenied { .. } => Code::PermissionDenied,
            ServerError::InvalidArgument(_) => Code::InvalidArgument,
            ServerError::NotFound(_) => Code::NotFound,
            ServerError::ResourceExhausted(_) => Code::ResourceExhausted,
            ServerError::Config(_) | ServerError::Transport(_) => Code::Internal,
            ServerError::Engine(e) => engine_code(e),
            ServerError::DataFusion(e) => datafusion_code(e),
        }
    }
}

fn engine_code(e: &ExportError) -> Code {
    match e {
        ExportError::Parse(_) | ExportError::Property { .. } | ExportError::Invalid(_) => {
            Code::InvalidArgument
        }
        ExportError::DataFusion(e) => datafusion_code(e),
        ExportError::Tables(_) => Code::Internal,
    }
}

fn datafusion_code(e: &DataFusionError) -> Code {
    match e.find_root() {
        DataFusionError::Plan(_)
        | DataFusionError::SQL(..)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_) => Code::InvalidArgument,
        DataFusionError::ResourcesExhausted(_) => Code::ResourceExhausted,
        _ => Code::Internal,
    }
}

impl From<ServerError> for Status {
    fn from(e: ServerError) -> Self {
        // Engine errors are already scrubbed of the secrets their command held; the
        // scrubber runs once more for well-known forms (SAS tokens, account keys) in
        // errors raised below the engine.
        let message = datafusion_export::tables::scrub_secrets(&e.to_string());
        Status::new(e.code(), message)
    }
}
