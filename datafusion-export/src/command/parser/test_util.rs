//! Helpers shared by the unit tests of the parser modules.

use super::parse_command;
use crate::command::ast::{
    ColumnDef, Command, ExportCommand, ExternalTableDef, KustoType, PartitionDef, PartitionExpr,
    Property, PropertyValue, SecretString,
};
use crate::command::error::ParseError;

pub(super) fn parse(text: &str) -> Command {
    parse_command(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

pub(super) fn parse_err(text: &str) -> ParseError {
    match parse_command(text) {
        Ok(c) => panic!("{text:?} parsed as {c:?}"),
        Err(e) => e,
    }
}

pub(super) fn col(name: &str, kusto_type: KustoType) -> ColumnDef {
    ColumnDef {
        name: name.to_string(),
        kusto_type,
    }
}

pub(super) fn prop(name: &str, value: PropertyValue) -> Property {
    Property {
        name: name.to_string(),
        value,
    }
}

pub(super) fn plain(s: &str) -> SecretString {
    SecretString::new(s, false)
}

pub(super) fn secret(s: &str) -> SecretString {
    SecretString::new(s, true)
}

pub(super) fn export(text: &str) -> ExportCommand {
    match parse(text) {
        Command::Export(e) => e,
        other => panic!("{text:?} parsed as {other:?}"),
    }
}

pub(super) fn external(text: &str) -> ExternalTableDef {
    match parse(text) {
        Command::CreateExternalTable(d) => d,
        other => panic!("{text:?} parsed as {other:?}"),
    }
}

pub(super) fn part(name: &str, kusto_type: KustoType, expr: PartitionExpr) -> PartitionDef {
    PartitionDef {
        name: name.to_string(),
        kusto_type,
        expr,
    }
}

/// Byte offset of the `n`-th (0-based) occurrence of `needle` as a
/// 1-based character column on a one-line text.
pub(super) fn column_of(text: &str, needle: &str, n: usize) -> u64 {
    let offset = text
        .match_indices(needle)
        .nth(n)
        .unwrap_or_else(|| panic!("{needle:?} not in {text:?}"))
        .0;
    text[..offset].chars().count() as u64 + 1
}

pub(super) const STORAGE_EXAMPLE: &str = ".create external table X (a:long, s:string, ts:datetime)
  kind = storage
  partition by (Region:string = s, Day:datetime = bin(ts, 1d), Hour:datetime = startofday(ts), Bucket:long = hash(a, 16), P:string)
  pathformat = (\"region=\" Region \"/\" datetime_pattern(\"yyyy/MM/dd\", Day) \"/\" Hour \"/b=\" Bucket \"/\" P)
  dataformat = parquet
  ( 'https://acct.blob.core.windows.net/c/x', h@'https://acct.blob.core.windows.net/c/y;KEY' )
  with (fileExtension='.parquet', includeHeaders='none')";
