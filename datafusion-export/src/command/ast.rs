//! The AST produced by [`parse_command`](super::parse_command): the [`Command`]
//! enum and the types it is made of.
//!
//! [`SecretString`] (in `secret.rs`) and the Kusto timespan helpers (in
//! `timespan.rs`) are re-exported here, so they stay reachable as
//! `crate::command::ast::…`.

use std::fmt;
use std::time::Duration;

pub use super::secret::{scrub_secrets, SecretString, REDACTED};
pub use super::timespan::{
    format_timespan, parse_timespan, try_parse_timespan, TimespanError, MAX_TIMESPAN,
};

/// A point in time as a command gives it: `since 1h` (an hour before now) or
/// `since '2026-12-01T00:00:00Z'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// That long before the command runs.
    Ago(Duration),
    /// That instant.
    At(chrono::DateTime<chrono::Utc>),
}

/// A parsed unit of user text.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Plain SQL, passed to DataFusion unchanged (text trimmed, without
    /// trailing `;` or trailing comments).
    Sql(String),
    /// `<management command> | <KQL operators>`, e.g. `.show operations | where
    /// State == "Failed"`: the operators applied to the command's result.
    Piped {
        /// The management command.
        command: Box<Command>,
        /// The text after the first `|` (a KQL operator pipeline, already checked to
        /// parse; see [`crate::command::kql::parse_pipeline`]).
        pipeline: String,
    },
    /// `.create table T (a:long, s:string)`
    CreateTable {
        /// Table name.
        name: String,
        /// Columns in declaration order (at least one, names unique).
        columns: Vec<ColumnDef>,
    },
    /// `.drop table T [ifexists]`
    DropTable {
        /// Table name.
        name: String,
        /// `true` when `ifexists` was given: dropping a missing table is not
        /// an error.
        if_exists: bool,
    },
    /// `.show tables`
    ShowTables,
    /// `.show table T extents`
    ShowTableExtents {
        /// Table name.
        name: String,
    },
    /// `.show table T` or `.show table T schema`: column names and types.
    ShowTableSchema {
        /// Table name.
        name: String,
    },
    /// `.append T [with (props)] <| query` and
    /// `.set-or-append T [with (props)] <| query`.
    Append {
        /// Target table.
        table: String,
        /// The query text after `<|`, trimmed, without trailing `;`.
        query: String,
        /// `true` for `.set-or-append`: create the table from the query
        /// schema when it does not exist.
        create_if_missing: bool,
        /// Properties from the optional `with (...)` clause.
        properties: Vec<Property>,
    },
    /// `.ingest into table T ('url' [, 'url'...]) [with (props)]`
    Ingest {
        /// Target table.
        table: String,
        /// Source locations (at least one). May carry credentials.
        sources: Vec<SecretString>,
        /// Properties from the optional `with (...)` clause.
        properties: Vec<Property>,
    },
    /// `.export [async] [compressed] to <format> ('url', ...) [with (props)] <| query`
    /// and `.export [async] [compressed] to table <name> [with (props)] <| query`.
    Export(ExportCommand),
    /// `.create [or alter] external table ...`, `.create-or-alter external
    /// table ...` and `.alter external table ...`.
    CreateExternalTable(ExternalTableDef),
    /// `.drop external table T [ifexists]`
    DropExternalTable {
        /// External table name.
        name: String,
        /// `true` when `ifexists` was given.
        if_exists: bool,
    },
    /// `.alter database secret key`: re-encrypts the secrets of every external table
    /// under the first configured secret key (key rotation).
    AlterSecretKey,
    /// `.merge [async] T [(ExtentId, …)]`: merges the given consecutive extents of
    /// `T`, or without ids every run of small extents the merge policy allows.
    MergeExtents {
        /// With `async`: runs as an operation; the command returns its id.
        is_async: bool,
        /// Table name.
        table: String,
        /// Extent ids (GUIDs, lower-case), or `None` for the policy's choice.
        ids: Option<Vec<String>>,
    },
    /// `.alter table T policy merge '{…}'` or `.alter database policy merge '{…}'`.
    AlterMergePolicy {
        /// The table, or `None` for the database's default.
        table: Option<String>,
        /// The policy as JSON, with Kusto's property names.
        policy: String,
    },
    /// `.show table T policy merge` or `.show database policy merge`.
    ShowMergePolicy {
        /// The table, or `None` for the database's default.
        table: Option<String>,
    },
    /// `.clean database [older than <timespan>]`: the vacuum.
    CleanDatabase {
        /// The window: only what is older goes (default 7 days, at least 1 hour).
        older_than: Option<Duration>,
    },
    /// `.show external tables`
    ShowExternalTables,
    /// `.show external table T [schema | cslschema]`
    ShowExternalTable {
        /// External table name.
        name: String,
    },
    /// `.show operations`
    ShowOperations,
    /// `.show operation <id> [details]` (also `.show operations <id>`).
    ShowOperation {
        /// The operation id: a GUID in lowercase `8-4-4-4-12` form.
        id: String,
        /// `true` for `.show operation <id> details`.
        details: bool,
    },
    /// `.create-or-alter continuous-export Name [over (T1, ...)] to table X
    /// [with (props)] <| query` (also spelled `.create or alter`).
    CreateOrAlterContinuousExport {
        /// Continuous export name.
        name: String,
        /// Tables of the `over (...)` clause (non-empty), `None` without it.
        over: Option<Vec<String>>,
        /// Target external table.
        external_table: String,
        /// Properties from the optional `with (...)` clause.
        properties: Vec<Property>,
        /// The query text after `<|`, trimmed, without trailing `;`.
        query: String,
    },
    /// `.show continuous-exports`
    ShowContinuousExports,
    /// `.show continuous-export Name`
    ShowContinuousExport {
        /// Continuous export name.
        name: String,
    },
    /// `.show continuous-export Name exported-artifacts [since S] [| take N]`
    ShowExportedArtifacts {
        /// Continuous export name.
        name: String,
        /// Only artifacts of runs committed since then.
        since: Option<Since>,
        /// Only the newest this many artifacts.
        take: Option<u64>,
    },
    /// `.show continuous-export Name failures`
    ShowContinuousExportFailures {
        /// Continuous export name.
        name: String,
    },
    /// `.enable continuous-export Name`
    EnableContinuousExport {
        /// Continuous export name.
        name: String,
    },
    /// `.disable continuous-export Name`
    DisableContinuousExport {
        /// Continuous export name.
        name: String,
    },
    /// `.drop continuous-export Name [ifexists]`
    DropContinuousExport {
        /// Continuous export name.
        name: String,
        /// `true` when `ifexists` was given.
        if_exists: bool,
    },
    /// `.run continuous-export Name`
    RunContinuousExport {
        /// Continuous export name.
        name: String,
    },
}

/// The `.export` command.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExportCommand {
    /// `async` was given: run in the background and return an operation id.
    pub is_async: bool,
    /// `compressed` was given: compress the artifacts.
    pub compressed: bool,
    /// Where the data goes.
    pub target: ExportTarget,
    /// Properties from the optional `with (...)` clause.
    pub properties: Vec<Property>,
    /// The query text after `<|`, trimmed, without trailing `;`.
    pub query: String,
}

/// The destination of an `.export`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportTarget {
    /// `to csv|tsv|json|parquet ('url', ...)`
    Storage {
        /// Artifact format.
        format: DataFormat,
        /// Storage locations (at least one, none empty). May carry credentials.
        urls: Vec<SecretString>,
    },
    /// `to table <name>`: an external table.
    Table {
        /// External table name.
        name: String,
    },
}

/// How a `.create ... external table` treats an existing table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreateMode {
    /// `.create`: the table must not exist.
    Create,
    /// `.create-or-alter` / `.create or alter`: create or replace.
    CreateOrAlter,
    /// `.alter`: the table must exist.
    Alter,
}

/// The kind of an external table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExternalTableKind {
    /// `kind = storage` (deprecated aliases `blob`, `adl`): files under
    /// one or more storage URLs.
    Storage,
    /// `kind = delta`: a Delta Lake table at one URL.
    Delta,
}

/// The definition of an external table, as parsed from
/// `.create external table`.
///
/// Invariants guaranteed by the parser:
/// * `columns` is non-empty for [`ExternalTableKind::Storage`] (it may be
///   empty for [`ExternalTableKind::Delta`]: infer the schema), names unique;
/// * `partitions`, `path_format` and `data_format` are empty/`None` for
///   Delta; `data_format` is `Some` for Storage;
/// * partition names are unique; when `path_format` is non-empty it refers
///   only to declared partitions, every partition appears in it, and two
///   partition references are always separated by a literal;
/// * `urls` is non-empty (exactly one for Delta) and no URL is blank.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExternalTableDef {
    /// External table name.
    pub name: String,
    /// `.create`, `.create-or-alter` or `.alter`.
    pub mode: CreateMode,
    /// Declared columns (may be empty for Delta).
    pub columns: Vec<ColumnDef>,
    /// `kind = storage | delta`.
    pub kind: ExternalTableKind,
    /// `partition by (...)`, in declaration order.
    pub partitions: Vec<PartitionDef>,
    /// `pathformat = (...)`; empty when not given.
    pub path_format: Vec<PathFormatPart>,
    /// `dataformat = ...` (Storage only).
    pub data_format: Option<DataFormat>,
    /// Storage locations. May carry credentials.
    pub urls: Vec<SecretString>,
    /// Properties from the optional `with (...)` clause.
    pub properties: Vec<Property>,
}

/// One partition of `partition by (...)`: `Name:type [= expr]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PartitionDef {
    /// Partition (virtual column) name.
    pub name: String,
    /// Declared type of the partition value.
    pub kusto_type: KustoType,
    /// How the value is computed from a data column.
    pub expr: PartitionExpr,
}

/// How a partition value is computed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionExpr {
    /// `= Column`, or nothing (`P:string` means `P:string = P`).
    Column(String),
    /// `= bin(Column, 1d)` or `= bin(Column, 1000)`.
    Bin {
        /// Source column.
        column: String,
        /// Bin size (greater than zero).
        step: BinStep,
    },
    /// `= startofday(Column)` (also `startofweek`, `startofmonth`,
    /// `startofyear`).
    StartOf {
        /// Source column.
        column: String,
        /// Truncation unit.
        unit: StartOfUnit,
    },
    /// `= hash(Column, Modulo)`.
    Hash {
        /// Source column.
        column: String,
        /// Number of buckets, between 1 and 2^31-1.
        modulo: u32,
    },
}

/// The bin size of a `bin(...)` partition; always greater than zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinStep {
    /// A timespan such as `1d` or `01:00:00` (for datetime columns).
    Timespan(Duration),
    /// A positive integer (for numeric columns).
    Number(i64),
}

/// The unit of a `startof...()` partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartOfUnit {
    /// `startofday`
    Day,
    /// `startofweek` (weeks start on Sunday, as in Kusto)
    Week,
    /// `startofmonth`
    Month,
    /// `startofyear`
    Year,
}

impl StartOfUnit {
    /// The Kusto function name (`"startofday"`, ...).
    pub fn function_name(&self) -> &'static str {
        match self {
            StartOfUnit::Day => "startofday",
            StartOfUnit::Week => "startofweek",
            StartOfUnit::Month => "startofmonth",
            StartOfUnit::Year => "startofyear",
        }
    }

    /// Parses a function name (case-insensitive).
    pub fn from_function_name(name: &str) -> Option<StartOfUnit> {
        match name.to_ascii_lowercase().as_str() {
            "startofday" => Some(StartOfUnit::Day),
            "startofweek" => Some(StartOfUnit::Week),
            "startofmonth" => Some(StartOfUnit::Month),
            "startofyear" => Some(StartOfUnit::Year),
            _ => None,
        }
    }
}

/// One element of `pathformat = (...)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathFormatPart {
    /// A string literal such as `"region="` or `"/"`.
    Literal(String),
    /// A partition name: its value in its default text form.
    Partition(String),
    /// `datetime_pattern("yyyy/MM/dd", Partition)`: a datetime partition
    /// formatted with a .NET-style pattern.
    DatetimePattern {
        /// The format pattern (non-empty).
        pattern: String,
        /// The (datetime) partition formatted.
        partition: String,
    },
}

/// A column of `.create table` or `.create external table`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ColumnDef {
    /// Column name as written (quotes removed).
    pub name: String,
    /// Declared Kusto scalar type.
    pub kusto_type: KustoType,
}

/// Kusto scalar data types (serialized as their canonical lowercase names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KustoType {
    /// `bool` (alias `boolean`)
    Bool,
    /// `int` (alias `int32`): 32-bit signed integer
    Int,
    /// `long` (alias `int64`): 64-bit signed integer
    Long,
    /// `real` (alias `double`): 64-bit float
    Real,
    /// `decimal`: 128-bit decimal
    Decimal,
    /// `string`
    String,
    /// `datetime` (alias `date`)
    Datetime,
    /// `timespan` (alias `time`)
    Timespan,
    /// `guid` (aliases `uuid`, `uniqueid`)
    Guid,
    /// `dynamic`: JSON-like value
    Dynamic,
}

impl KustoType {
    /// Every type, in the canonical order used in error messages.
    pub const ALL: [KustoType; 10] = [
        KustoType::Bool,
        KustoType::Int,
        KustoType::Long,
        KustoType::Real,
        KustoType::Decimal,
        KustoType::String,
        KustoType::Datetime,
        KustoType::Timespan,
        KustoType::Guid,
        KustoType::Dynamic,
    ];

    /// The canonical Kusto name of the type (`"long"`, `"datetime"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            KustoType::Bool => "bool",
            KustoType::Int => "int",
            KustoType::Long => "long",
            KustoType::Real => "real",
            KustoType::Decimal => "decimal",
            KustoType::String => "string",
            KustoType::Datetime => "datetime",
            KustoType::Timespan => "timespan",
            KustoType::Guid => "guid",
            KustoType::Dynamic => "dynamic",
        }
    }

    /// Parses a type name case-insensitively, accepting the canonical names
    /// and the aliases `boolean`, `int32`, `int64`, `double`, `date`, `time`,
    /// `uuid` and `uniqueid`.
    pub fn from_name(name: &str) -> Option<KustoType> {
        let lower = name.to_ascii_lowercase();
        Some(match lower.as_str() {
            "bool" | "boolean" => KustoType::Bool,
            "int" | "int32" => KustoType::Int,
            "long" | "int64" => KustoType::Long,
            "real" | "double" => KustoType::Real,
            "decimal" => KustoType::Decimal,
            "string" => KustoType::String,
            "datetime" | "date" => KustoType::Datetime,
            "timespan" | "time" => KustoType::Timespan,
            "guid" | "uuid" | "uniqueid" => KustoType::Guid,
            "dynamic" => KustoType::Dynamic,
            _ => return None,
        })
    }

    /// Comma-separated list of the canonical names, for error messages.
    pub fn expected_list() -> String {
        Self::ALL
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for KustoType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `name = value` entry of a `with (...)` clause.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Property {
    /// Property name as written (compare case-insensitively).
    pub name: String,
    /// Property value.
    pub value: PropertyValue,
}

/// Returns the value of the first property whose name equals `name`
/// (ASCII case-insensitively).
pub fn find_property<'a>(properties: &'a [Property], name: &str) -> Option<&'a PropertyValue> {
    properties
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .map(|p| &p.value)
}

/// The value of a [`Property`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropertyValue {
    /// A string literal (`'x'`, `"x"`, `@'x'`, `h'x'`, ...).
    String(SecretString),
    /// `true` / `false` (unquoted, case-insensitive).
    Bool(bool),
    /// An integer literal, optionally negative.
    Integer(i64),
    /// A number with a fraction or exponent.
    Float(f64),
    /// An unquoted timespan such as `10m`, `1.5h` or `00:10:00`.
    Timespan(Duration),
    /// Any other bare word, e.g. `csv` in `format=csv`.
    Identifier(String),
}

impl PropertyValue {
    /// The text of a string (exposed, even if obfuscated) or identifier.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PropertyValue::String(s) => Some(s.expose()),
            PropertyValue::Identifier(s) => Some(s),
            _ => None,
        }
    }

    /// A boolean, or a string/identifier equal to `true`/`false`
    /// (case-insensitive).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            PropertyValue::Bool(b) => Some(*b),
            PropertyValue::String(_) | PropertyValue::Identifier(_) => {
                let s = self.as_str()?.trim();
                if s.eq_ignore_ascii_case("true") {
                    Some(true)
                } else if s.eq_ignore_ascii_case("false") {
                    Some(false)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// An integer, or a string/identifier holding one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            PropertyValue::Integer(i) => Some(*i),
            PropertyValue::String(_) | PropertyValue::Identifier(_) => {
                self.as_str()?.trim().parse().ok()
            }
            _ => None,
        }
    }

    /// A timespan, or a string/identifier accepted by [`parse_timespan`].
    pub fn as_duration(&self) -> Option<Duration> {
        match self {
            PropertyValue::Timespan(d) => Some(*d),
            PropertyValue::String(_) | PropertyValue::Identifier(_) => {
                parse_timespan(self.as_str()?)
            }
            _ => None,
        }
    }
}

/// The data format of exported artifacts and of storage external tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// Comma-separated values (RFC 4180).
    Csv,
    /// Tab-separated values.
    Tsv,
    /// JSON lines: one object per record.
    Json,
    /// Apache Parquet.
    Parquet,
}

impl DataFormat {
    /// Parses a format name (case-insensitive).
    pub fn from_name(name: &str) -> Option<DataFormat> {
        match name.to_ascii_lowercase().as_str() {
            "csv" => Some(DataFormat::Csv),
            "tsv" => Some(DataFormat::Tsv),
            "json" | "multijson" => Some(DataFormat::Json),
            "parquet" => Some(DataFormat::Parquet),
            _ => None,
        }
    }

    /// The canonical name, also the default file extension (without the dot).
    pub fn name(&self) -> &'static str {
        match self {
            DataFormat::Csv => "csv",
            DataFormat::Tsv => "tsv",
            DataFormat::Json => "json",
            DataFormat::Parquet => "parquet",
        }
    }
}

impl fmt::Display for DataFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kusto_type_names_and_aliases() {
        for t in KustoType::ALL {
            assert_eq!(KustoType::from_name(t.name()), Some(t));
            assert_eq!(KustoType::from_name(&t.name().to_uppercase()), Some(t));
            assert_eq!(t.to_string(), t.name());
        }
        let aliases = [
            ("boolean", KustoType::Bool),
            ("Int32", KustoType::Int),
            ("INT64", KustoType::Long),
            ("double", KustoType::Real),
            ("date", KustoType::Datetime),
            ("time", KustoType::Timespan),
            ("uuid", KustoType::Guid),
            ("UniqueId", KustoType::Guid),
            ("DateTime", KustoType::Datetime),
        ];
        for (name, t) in aliases {
            assert_eq!(KustoType::from_name(name), Some(t), "{name}");
        }
        assert_eq!(KustoType::from_name("lng"), None);
        assert_eq!(KustoType::from_name(""), None);
        assert_eq!(
            KustoType::expected_list(),
            "bool, int, long, real, decimal, string, datetime, timespan, guid, dynamic"
        );
    }

    #[test]
    fn secret_string_never_prints_obfuscated_value() {
        let s = SecretString::new("https://a.blob.core.windows.net/c?sv=1&sig=TOPSECRET", true);
        assert_eq!(format!("{s:?}"), "h'*****'");
        assert_eq!(format!("{s}"), "h'*****'");
        assert_eq!(s.redacted(), "h'*****'");
        assert!(!format!("{:?}", vec![s.clone()]).contains("TOPSECRET"));
        assert!(s.is_obfuscated());
        assert!(s.expose().contains("TOPSECRET"));
        let v = PropertyValue::String(s);
        assert!(!format!("{v:?}").contains("TOPSECRET"));
        let p = Property {
            name: "x".into(),
            value: v,
        };
        assert!(!format!("{p:?}").contains("TOPSECRET"));
    }

    #[test]
    fn serde_names() {
        for t in KustoType::ALL {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.name()));
            assert_eq!(serde_json::from_str::<KustoType>(&json).unwrap(), t);
        }
        let column = ColumnDef {
            name: "a".into(),
            kusto_type: KustoType::Datetime,
        };
        let json = serde_json::to_string(&column).unwrap();
        assert_eq!(json, r#"{"name":"a","kusto_type":"datetime"}"#);
        assert_eq!(serde_json::from_str::<ColumnDef>(&json).unwrap(), column);
        let props = vec![
            Property {
                name: "a".into(),
                value: PropertyValue::Timespan(Duration::from_millis(1500)),
            },
            Property {
                name: "b".into(),
                value: PropertyValue::String(SecretString::new("s", true)),
            },
            Property {
                name: "c".into(),
                value: PropertyValue::Float(-2.5),
            },
        ];
        let json = serde_json::to_string(&props).unwrap();
        assert_eq!(
            json,
            r#"[{"name":"a","value":{"timespan":{"secs":1,"nanos":500000000}}},{"name":"b","value":{"string":{"value":"s","obfuscated":true}}},{"name":"c","value":{"float":-2.5}}]"#
        );
        assert_eq!(serde_json::from_str::<Vec<Property>>(&json).unwrap(), props);
        assert_eq!(
            serde_json::to_string(&CreateMode::CreateOrAlter).unwrap(),
            r#""create_or_alter""#
        );
        assert_eq!(
            serde_json::to_string(&BinStep::Number(5)).unwrap(),
            r#"{"number":5}"#
        );
    }

    #[test]
    fn start_of_unit_names() {
        for unit in [
            StartOfUnit::Day,
            StartOfUnit::Week,
            StartOfUnit::Month,
            StartOfUnit::Year,
        ] {
            assert_eq!(
                StartOfUnit::from_function_name(unit.function_name()),
                Some(unit)
            );
            assert_eq!(
                StartOfUnit::from_function_name(&unit.function_name().to_uppercase()),
                Some(unit)
            );
        }
        assert_eq!(StartOfUnit::from_function_name("startofhour"), None);
    }

    #[test]
    fn property_value_accessors() {
        let s = |v: &str| PropertyValue::String(SecretString::new(v, false));
        let id = |v: &str| PropertyValue::Identifier(v.to_string());
        assert_eq!(s("x").as_str(), Some("x"));
        assert_eq!(
            PropertyValue::String(SecretString::new("sec", true)).as_str(),
            Some("sec")
        );
        assert_eq!(id("csv").as_str(), Some("csv"));
        assert_eq!(PropertyValue::Integer(1).as_str(), None);

        assert_eq!(PropertyValue::Bool(true).as_bool(), Some(true));
        assert_eq!(s("FALSE").as_bool(), Some(false));
        assert_eq!(id("True").as_bool(), Some(true));
        assert_eq!(id("yes").as_bool(), None);
        assert_eq!(PropertyValue::Integer(1).as_bool(), None);

        assert_eq!(PropertyValue::Integer(-5).as_i64(), Some(-5));
        assert_eq!(s("42").as_i64(), Some(42));
        assert_eq!(PropertyValue::Float(1.0).as_i64(), None);

        let ten_min = Duration::from_secs(600);
        assert_eq!(
            PropertyValue::Timespan(ten_min).as_duration(),
            Some(ten_min)
        );
        assert_eq!(s("00:10:00").as_duration(), Some(ten_min));
        assert_eq!(id("10m").as_duration(), Some(ten_min));
        assert_eq!(s("soon").as_duration(), None);
        assert_eq!(PropertyValue::Integer(10).as_duration(), None);

        let props = vec![Property {
            name: "Format".into(),
            value: id("csv"),
        }];
        assert_eq!(find_property(&props, "format"), Some(&id("csv")));
        assert_eq!(find_property(&props, "other"), None);
    }
}
