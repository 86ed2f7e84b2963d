//! Parsing of user text into management commands.
//!
//! Users type either plain DataFusion SQL or a Kusto-style management command
//! that starts with a `.` (for example `.show tables` or
//! `.append T <| select * from source`). This module turns such text into a
//! [`Command`] AST:
//!
//! * [`parse_command`] parses one statement,
//! * [`split_statements`] splits a script into statements separated by `;` or
//!   blank lines,
//! * [`SecretString`] carries string literals that may contain credentials
//!   (Kusto obfuscated `h'...'` literals) and never prints them.

pub mod ast;
mod error;
mod lexer;
pub mod parser;
pub mod script;

pub use ast::*;
pub use error::ParseError;
pub use parser::parse_command;
pub use script::split_statements;
