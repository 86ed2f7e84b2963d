//! Kusto-style ingestion-time tracking and exactly-once export for Apache DataFusion.
//!
//! [`Engine`] runs management commands (`.create table`, `.append`, `.ingest`,
//! `.show table T extents`, …) and plain DataFusion SQL against a
//! [`Database`](datafusion_export_tables::Database); queries can scope themselves
//! with `cursor_after`, `cursor_before_or_at`, `cursor_current` and
//! `ingestion_time`.
//!
//! Where each command lives: [`command`] parses, [`engine`] dispatches,
//! [`table_commands`] and [`ingest_commands`] execute; commits happen in
//! `datafusion_export_tables`.

pub mod catalog_objects;
pub mod cli;
pub mod command;
pub mod continuous;
pub mod continuous_commands;
pub mod engine;
pub mod error;
pub mod export;
pub mod export_commands;
pub mod ingest_commands;
pub mod kusto_types;
pub mod maintenance;
pub mod output;
pub mod results;
pub mod table_commands;

pub use datafusion_export_tables as tables;
pub use datafusion_export_udfs as udfs;
pub use engine::Engine;
pub use error::{ExportError, Result};
