//! Kusto-style ingestion-time tracking and exactly-once export for Apache DataFusion.
//!
//! [`Engine`] runs management commands (`.create table`, `.append`, `.ingest`,
//! `.show table T extents`, …) and plain DataFusion SQL or KQL queries against a
//! [`Database`](datafusion_export_tables::Database); queries can scope themselves
//! with `cursor_after`, `cursor_before_or_at`, `cursor_current` and
//! `ingestion_time`.
//!
//! Layers, each using only those before it (see ARCHITECTURE.md): [`command`] parses
//! text into commands (and KQL query bodies, [`command::kql`]); [`query`] plans SQL or
//! KQL text into a `LogicalPlan`; [`export`] plans and writes exports (the node, the sink,
//! writers, targets, Delta); [`continuous`] runs continuous exports; [`engine`] holds
//! the session and dispatches each command to its family's handler in
//! [`engine::commands`]; [`cli`] is the `dfexport` surface. Commits happen in
//! `datafusion_export_tables`.

pub mod catalog_objects;
pub mod cli;
pub mod command;
pub mod continuous;
pub mod engine;
pub mod error;
pub mod export;
pub mod kusto_types;
pub mod output;
pub mod query;
pub mod results;
pub mod stable_hash;

pub use datafusion_export_tables as tables;
pub use datafusion_export_udfs as udfs;
pub use engine::Engine;
pub use error::{ExportError, Result};

#[cfg(test)]
mod layering;
