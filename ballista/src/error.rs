//! The crate's error type.

use datafusion::error::DataFusionError;

/// What can go wrong running exports on a cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The plan or the command cannot run on a cluster, and why.
    #[error("{0}")]
    Unsupported(String),
    /// The scheduler could not be reached or refused the job.
    #[error("cluster at {url}: {reason}")]
    Unreachable {
        /// The scheduler's URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A plan node could not be encoded or decoded.
    #[error("plan codec: {0}")]
    Codec(String),
    /// From DataFusion (planning, execution on the cluster).
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    /// From the export layer.
    #[error(transparent)]
    Export(#[from] datafusion_export::ExportError),
    /// From object storage (the header rewrite, the sweep).
    #[error(transparent)]
    Storage(#[from] object_store::Error),
}

/// The crate's result type.
pub type Result<T, E = ClusterError> = std::result::Result<T, E>;

impl From<ClusterError> for DataFusionError {
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::DataFusion(e) => e,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

impl From<ClusterError> for datafusion_export::ExportError {
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::Export(e) => e,
            ClusterError::DataFusion(e) => datafusion_export::ExportError::from(e),
            other => datafusion_export::ExportError::Invalid(other.to_string()),
        }
    }
}
