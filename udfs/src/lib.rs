//! Database cursors for DataFusion: the [`Cursor`] type, the SQL functions
//! `cursor_after`, `cursor_before_or_at`, `cursor_current` and `ingestion_time`, and
//! the [`CursorScopeRule`] analyzer rule that turns them into scan scopes.
//!
//! The tables themselves live in `datafusion-export-tables`; this crate only knows
//! them through the [`CursorScopedTable`] trait.

mod cursor;
mod error;
mod functions;
mod range;
mod scope_rule;

pub use cursor::Cursor;
pub use error::CursorError;
pub use functions::{
    as_cursor_current, as_cursor_predicate, cursor_functions, ingestion_time_type,
    is_ingestion_time, CurrentCursor, CursorCurrent, CursorPredicate, CursorPredicateKind,
    IngestionTime, INGESTION_TIME_COLUMN,
};
pub use range::CursorRange;
pub use scope_rule::{CursorScopeRule, CursorScopedTable, ScopedTableResolver};
