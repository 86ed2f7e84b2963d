//! Parsing of user text into management commands.
//!
//! Users type either plain DataFusion SQL or a Kusto-style management command
//! that starts with a `.` (for example `.show tables` or
//! `.append T <| select * from source`). This module turns such text into a
//! [`Command`] AST. Supported families (full grammar in [`parser`]):
//!
//! * tables: `.create table`, `.drop table`, `.show tables`, `.show table`;
//! * ingestion: `.append`, `.set-or-append`, `.ingest into table`;
//! * export: `.export [async] [compressed] to <format> (urls) ... <| query` and
//!   `.export ... to table <external table> ... <| query` ([`ExportCommand`]);
//! * external tables: `.create` / `.create-or-alter` / `.create or alter` /
//!   `.alter external table` with `kind = storage` (partitions, path format,
//!   data format) or `kind = delta` ([`ExternalTableDef`]), `.drop external
//!   table`, `.show external tables`, `.show external table`;
//! * operations: `.show operations`, `.show operation <guid> [details]`;
//! * continuous export: `.create-or-alter continuous-export`, `.show
//!   continuous-exports`, `.show continuous-export <name> [exported-artifacts
//!   | failures]`, `.enable` / `.disable` / `.run` / `.drop continuous-export`.
//!
//! Entry points:
//!
//! * [`parse_command`] parses one statement,
//! * [`split_statements`] splits a script into statements separated by `;` or
//!   blank lines,
//! * [`SecretString`] carries string literals that may contain credentials
//!   (Kusto obfuscated `h'...'` literals) and never prints them.

pub mod ast;
mod error;
pub mod kql;
mod lexer;
pub mod parser;
pub mod script;
mod secret;
mod timespan;

pub use ast::*;
pub use error::ParseError;
pub use parser::parse_command;
pub use script::split_statements;
pub use secret::*;
pub use timespan::*;
