//! The one error type of this crate.

use datafusion::error::DataFusionError;

/// Errors raised while parsing cursors or rewriting cursor predicates.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CursorError {
    /// The text is not a cursor: cursors are non-negative decimal integers.
    #[error("malformed cursor '{0}': a cursor is the decimal string returned by cursor_current() (for example '42'), or '' for the beginning")]
    Malformed(String),
    /// The text is a number too large to be a cursor.
    #[error("cursor '{0}' is out of range: cursors are at most {max}", max = u64::MAX)]
    OutOfRange(String),
    /// A cursor function was used where it cannot be turned into a scan scope.
    #[error("{0}")]
    Misuse(String),
}

impl From<CursorError> for DataFusionError {
    fn from(e: CursorError) -> Self {
        DataFusionError::Plan(e.to_string())
    }
}
