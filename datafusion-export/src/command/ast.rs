//! The AST produced by [`parse_command`](super::parse_command), plus helpers
//! for Kusto timespans and for scrubbing secrets out of text.

use std::fmt;
use std::time::Duration;

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

pub use datafusion_export_tables::{scrub_secrets, REDACTED};

/// A string literal that may carry a secret.
///
/// Kusto obfuscated literals (`h'..'`, `h"..."`, `h@'..'`, `H@"..."`) are
/// marked as obfuscated: their value is never shown by [`fmt::Debug`] or
/// [`fmt::Display`], which print `h'*****'` instead. Plain literals are shown
/// with well-known secrets scrubbed (see [`scrub_secrets`]). Use
/// [`SecretString::expose`] to get the real value.
///
/// A stored definition holds its secrets sealed (encrypted, see
/// [`datafusion_export_tables::secrets`]): [`SecretString::seal`] makes a sealed copy
/// whose value is only the redacted form and [`SecretString::unseal`] restores it.
#[derive(Clone, PartialEq)]
pub struct SecretString {
    /// The value; for a sealed string, its redacted form only.
    value: String,
    obfuscated: bool,
    /// `v1:<key id>:<ciphertext>` when sealed.
    sealed: Option<String>,
}

impl SecretString {
    /// Wraps `value`; `obfuscated` marks it as secret.
    pub fn new(value: impl Into<String>, obfuscated: bool) -> Self {
        Self {
            value: value.into(),
            obfuscated,
            sealed: None,
        }
    }

    /// Whether the value holds a secret: an obfuscated literal, or text from which
    /// [`scrub_secrets`] removes something (a `;KEY`, a SAS token, a password).
    pub fn has_secret(&self) -> bool {
        self.sealed.is_some() || self.obfuscated || scrub_secrets(&self.value) != self.value
    }

    /// Whether this is a sealed (encrypted) value that has not been unsealed: its
    /// [`SecretString::expose`] is the redacted form, not usable.
    pub fn is_sealed(&self) -> bool {
        self.sealed.is_some()
    }

    /// The id of the key a sealed value was sealed with.
    pub fn sealed_key_id(&self) -> Option<&str> {
        self.sealed
            .as_deref()
            .and_then(|s| datafusion_export_tables::secrets::sealed_key_id(s).ok())
    }

    /// A copy to store: a value with a secret is encrypted under `keys`' first key
    /// (only its redacted form stays readable); one without a secret is kept as is.
    /// A secret and no key is refused, with how to configure one.
    pub fn seal(
        &self,
        keys: Option<&datafusion_export_tables::SecretKeys>,
    ) -> Result<Self, datafusion_export_tables::SecretError> {
        if self.sealed.is_some() || !self.has_secret() {
            return Ok(self.clone());
        }
        let keys = keys.ok_or_else(|| {
            datafusion_export_tables::SecretError(format!(
                "'{}' holds a secret, and secrets are stored only encrypted: no secret key \
                 is configured ({}); or leave the secret out of the URL and give the \
                 credentials in the environment (AZURE_*, AWS_*, GOOGLE_*) or as \
                 --storage-option",
                self.redacted(),
                datafusion_export_tables::secrets::SECRET_KEY_HOWTO
            ))
        })?;
        Ok(Self {
            value: self.redacted(),
            obfuscated: self.obfuscated,
            sealed: Some(keys.seal(&self.value)),
        })
    }

    /// The usable value of a sealed string (a copy of an unsealed one).
    pub fn unseal(
        &self,
        keys: Option<&datafusion_export_tables::SecretKeys>,
    ) -> Result<Self, datafusion_export_tables::SecretError> {
        let Some(sealed) = &self.sealed else {
            return Ok(self.clone());
        };
        let keys = keys.ok_or_else(|| {
            datafusion_export_tables::SecretError(format!(
                "'{}' holds a secret encrypted with secret key {}, and no secret key is \
                 configured ({})",
                self.value,
                self.sealed_key_id().unwrap_or("?"),
                datafusion_export_tables::secrets::SECRET_KEY_HOWTO
            ))
        })?;
        let value = keys
            .open(sealed)
            .map_err(|e| datafusion_export_tables::SecretError(format!("'{}': {e}", self.value)))?;
        Ok(Self {
            value,
            obfuscated: self.obfuscated,
            sealed: None,
        })
    }

    /// The real value. Do not log it.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Whether the literal was written as an obfuscated (`h'...'`) literal.
    pub fn is_obfuscated(&self) -> bool {
        self.obfuscated
    }

    /// A form that is safe to show: `h'*****'` for obfuscated values,
    /// otherwise the value with URL credentials, SAS signatures and
    /// connection-string keys replaced by `*****`.
    pub fn redacted(&self) -> String {
        if self.sealed.is_some() {
            self.value.clone()
        } else if self.obfuscated {
            format!("h'{REDACTED}'")
        } else {
            scrub_secrets(&self.value)
        }
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sealed.is_some() {
            fmt::Debug::fmt(&self.value, f)
        } else if self.obfuscated {
            write!(f, "h'{REDACTED}'")
        } else {
            fmt::Debug::fmt(&scrub_secrets(&self.value), f)
        }
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The serialized form of a [`SecretString`]: `{"value": ..., "obfuscated": ...}`, or
/// `{"value": <redacted>, "obfuscated": ..., "encrypted": "v1:<key id>:<ciphertext>"}`
/// once sealed.
///
/// Serializing an unsealed string exposes the real value: definitions are sealed
/// ([`SecretString::seal`]) before they are stored, and this is never used for output.
#[derive(serde::Serialize)]
#[serde(rename = "SecretString")]
struct SecretStringRef<'a> {
    value: &'a str,
    obfuscated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    encrypted: Option<&'a str>,
}

#[derive(serde::Deserialize)]
#[serde(rename = "SecretString")]
struct SecretStringOwned {
    value: String,
    #[serde(default)]
    obfuscated: bool,
    #[serde(default)]
    encrypted: Option<String>,
}

impl serde::Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SecretStringRef {
            value: &self.value,
            obfuscated: self.obfuscated,
            encrypted: self.sealed.as_deref(),
        }
        .serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let SecretStringOwned {
            value,
            obfuscated,
            encrypted,
        } = SecretStringOwned::deserialize(deserializer)?;
        Ok(SecretString {
            value,
            obfuscated,
            sealed: encrypted,
        })
    }
}

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// The longest timespan: .NET's `TimeSpan.MaxValue`, `10675199.02:48:05.4775807`
/// (2^63 - 1 ticks of 100 ns, about 29,227 years), as in Kusto. Any timespan this
/// crate accepts converts to a `chrono::Duration` and can be subtracted from any
/// date of this era without overflow.
pub const MAX_TIMESPAN: Duration = Duration::new(922_337_203_685, 477_580_700);

/// Why a text is not a timespan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimespanError {
    /// It is not written as a timespan (`10m`, `1.5h`, `00:10:00`, …).
    Invalid,
    /// It is written as one but is longer than [`MAX_TIMESPAN`].
    OutOfRange,
}

impl TimespanError {
    /// What is wrong with `text`, for an error message (`text` is shortened).
    pub fn describe(&self, text: &str) -> String {
        match self {
            TimespanError::Invalid => format!(
                "'{}' is not a timespan; write one such as 10s, 5m, 1.5h, 100ms, 1d or \
                 '00:10:00'",
                truncate_for_message(text)
            ),
            TimespanError::OutOfRange => format!(
                "timespan '{}' is out of range: timespans are at most 10675199 days \
                 (10675199.02:48:05.4775807)",
                truncate_for_message(text),
            ),
        }
    }
}

fn truncate_for_message(s: &str) -> String {
    const MAX: usize = 40;
    let s = s.trim();
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

/// A timespan as users write it: `365d`, `5m`, `10s`, `100ms`, or
/// `d.hh:mm:ss.fffffffff` when no single unit fits.
pub fn format_timespan(d: Duration) -> String {
    const UNITS: [(u128, &str); 6] = [
        (86_400 * NANOS_PER_SECOND, "d"),
        (3_600 * NANOS_PER_SECOND, "h"),
        (60 * NANOS_PER_SECOND, "m"),
        (NANOS_PER_SECOND, "s"),
        (1_000_000, "ms"),
        (1_000, "microseconds"),
    ];
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    for (unit, name) in UNITS {
        if nanos.is_multiple_of(unit) {
            return format!("{}{name}", nanos / unit);
        }
    }
    let secs = d.as_secs();
    format!(
        "{}.{:02}:{:02}:{:02}.{:09}",
        secs / 86_400,
        (secs / 3_600) % 24,
        (secs / 60) % 60,
        secs % 60,
        d.subsec_nanos()
    )
}

/// Parses a Kusto timespan (see [`try_parse_timespan`]); `None` when it is not one
/// or is out of range.
pub fn parse_timespan(s: &str) -> Option<Duration> {
    try_parse_timespan(s).ok()
}

/// Parses a Kusto timespan.
///
/// Accepted forms:
/// * a number with a unit: `1d`, `2h`, `30m`, `10s`, `100ms`, `1.5h`, with
///   units `d`/`day(s)`, `h`/`hr(s)`/`hour(s)`, `m`/`min(s)`/`minute(s)`,
///   `s`/`sec(s)`/`second(s)`, `ms`/`milli(s)`/`millisecond(s)`,
///   `microsecond(s)` (units are case-insensitive);
/// * a clock form: `hh:mm`, `hh:mm:ss`, `hh:mm:ss.fffffff` and
///   `d.hh:mm:ss[.fffffff]` (minutes and seconds below 60; hours below 24
///   when days are given).
///
/// Leading/trailing whitespace is ignored. Negative values, bare numbers and
/// `time(...)` are not accepted. Timespans longer than [`MAX_TIMESPAN`] are
/// [`TimespanError::OutOfRange`]. Never panics, never overflows.
pub fn try_parse_timespan(s: &str) -> Result<Duration, TimespanError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(TimespanError::Invalid);
    }
    let nanos = if s.contains(':') {
        parse_clock_nanos(s)?
    } else {
        let unit_start = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or(TimespanError::Invalid)?;
        let number = s.get(..unit_start).ok_or(TimespanError::Invalid)?;
        let unit = s
            .get(unit_start..)
            .ok_or(TimespanError::Invalid)?
            .to_ascii_lowercase();
        let unit_nanos: u128 = match unit.as_str() {
            "d" | "day" | "days" => 86_400 * NANOS_PER_SECOND,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3_600 * NANOS_PER_SECOND,
            "m" | "min" | "mins" | "minute" | "minutes" => 60 * NANOS_PER_SECOND,
            "s" | "sec" | "secs" | "second" | "seconds" => NANOS_PER_SECOND,
            "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1_000_000,
            "microsecond" | "microseconds" => 1_000,
            _ => return Err(TimespanError::Invalid),
        };
        scaled_decimal(number, unit_nanos)?
    };
    if nanos > MAX_TIMESPAN.as_nanos() {
        return Err(TimespanError::OutOfRange);
    }
    let secs = u64::try_from(nanos / NANOS_PER_SECOND).map_err(|_| TimespanError::OutOfRange)?;
    let sub = u32::try_from(nanos % NANOS_PER_SECOND).map_err(|_| TimespanError::OutOfRange)?;
    Ok(Duration::new(secs, sub))
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A string of ASCII digits as a number, or `OutOfRange` when it has more than
/// `max_digits` significant digits.
fn digits_value(s: &str, max_digits: usize) -> Result<u128, TimespanError> {
    if !all_digits(s) {
        return Err(TimespanError::Invalid);
    }
    let significant = s.trim_start_matches('0');
    if significant.len() > max_digits {
        return Err(TimespanError::OutOfRange);
    }
    if significant.is_empty() {
        return Ok(0);
    }
    significant.parse().map_err(|_| TimespanError::OutOfRange)
}

/// `number * unit` for a decimal `number` like `1`, `1.5` (no sign).
fn scaled_decimal(number: &str, unit: u128) -> Result<u128, TimespanError> {
    let (int, frac) = match number.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (number, None),
    };
    // 20 digits and a unit of at most a day in nanoseconds stay far below u128::MAX.
    let mut total = digits_value(int, 20)?
        .checked_mul(unit)
        .ok_or(TimespanError::OutOfRange)?;
    if let Some(frac) = frac {
        if !all_digits(frac) {
            return Err(TimespanError::Invalid);
        }
        // Digits beyond 1e-18 of a unit cannot matter at nanosecond precision.
        let frac = frac
            .get(..frac.len().min(18))
            .ok_or(TimespanError::Invalid)?;
        let value: u128 = frac.parse().map_err(|_| TimespanError::Invalid)?;
        let scale = 10u128
            .checked_pow(u32::try_from(frac.len()).map_err(|_| TimespanError::Invalid)?)
            .ok_or(TimespanError::Invalid)?;
        let part = value.checked_mul(unit).ok_or(TimespanError::OutOfRange)? / scale;
        total = total.checked_add(part).ok_or(TimespanError::OutOfRange)?;
    }
    Ok(total)
}

/// `[d.]hh:mm[:ss[.f...]]` in nanoseconds.
fn parse_clock_nanos(s: &str) -> Result<u128, TimespanError> {
    use TimespanError::Invalid;
    let colon = s.find(':').ok_or(Invalid)?;
    let (days, clock) = match s.find('.') {
        Some(dot) if dot < colon => (
            Some(s.get(..dot).ok_or(Invalid)?),
            s.get(dot + 1..).ok_or(Invalid)?,
        ),
        _ => (None, s),
    };
    let mut parts = clock.split(':');
    let hours = parts.next().ok_or(Invalid)?;
    let minutes = parts.next().ok_or(Invalid)?;
    let seconds = parts.next();
    if parts.next().is_some() {
        return Err(Invalid);
    }
    // A field with a fixed width (minutes, seconds, hours after days).
    let fixed = |t: &str, max_len: usize| -> Result<u128, TimespanError> {
        if !all_digits(t) || t.len() > max_len {
            return Err(Invalid);
        }
        t.parse().map_err(|_| Invalid)
    };
    let days = match days {
        Some(d) => Some(digits_value(d, 20)?),
        None => None,
    };
    let hours = if days.is_some() {
        fixed(hours, 2)?
    } else {
        digits_value(hours, 20)?
    };
    if days.is_some() && hours >= 24 {
        return Err(Invalid);
    }
    let minutes = fixed(minutes, 2)?;
    if minutes >= 60 {
        return Err(Invalid);
    }
    let (seconds, frac_nanos) = match seconds {
        None => (0, 0),
        Some(sec) => {
            let (whole, frac) = match sec.split_once('.') {
                Some((w, f)) => (w, Some(f)),
                None => (sec, None),
            };
            let whole = fixed(whole, 2)?;
            if whole >= 60 {
                return Err(Invalid);
            }
            let frac_nanos = match frac {
                None => 0,
                Some(f) => {
                    if !all_digits(f) || f.len() > 9 {
                        return Err(Invalid);
                    }
                    let scale = 10u128.pow(9 - u32::try_from(f.len()).map_err(|_| Invalid)?);
                    f.parse::<u128>().map_err(|_| Invalid)? * scale
                }
            };
            (whole, frac_nanos)
        }
    };
    // At most 20 digits each: no u128 overflow below.
    let total_seconds = days.unwrap_or(0) * 86_400 + hours * 3_600 + minutes * 60 + seconds;
    Ok(total_seconds * NANOS_PER_SECOND + frac_nanos)
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
    fn timespans_with_units() {
        let cases = [
            ("1d", Duration::from_secs(86_400)),
            ("2h", Duration::from_secs(7_200)),
            ("30m", Duration::from_secs(1_800)),
            ("10s", Duration::from_secs(10)),
            ("100ms", Duration::from_millis(100)),
            ("1.5h", Duration::from_secs(5_400)),
            ("0.5s", Duration::from_millis(500)),
            ("3microseconds", Duration::from_micros(3)),
            ("5min", Duration::from_secs(300)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_timespan(text), Some(expected), "{text}");
        }
        assert_eq!(parse_timespan(" 10M "), Some(Duration::from_secs(600)));
        assert_eq!(parse_timespan("1Hours"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_timespan("1.0000000001s"),
            Some(Duration::new(1, 0)),
            "sub-nanosecond digits are truncated"
        );
    }

    #[test]
    fn timespans_clock_form() {
        let cases = [
            ("00:10:00", Duration::from_secs(600)),
            ("01:00", Duration::from_secs(3600)),
            (
                "1.02:03:04",
                Duration::from_secs(86_400 + 2 * 3600 + 3 * 60 + 4),
            ),
            ("00:00:01.5", Duration::from_millis(1500)),
            ("00:00:00.0000001", Duration::from_nanos(100)),
            ("48:00:00", Duration::from_secs(48 * 3600)),
            (
                "2.00:00:00.250",
                Duration::from_millis(2 * 86_400_000 + 250),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_timespan(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn invalid_timespans() {
        for text in [
            "",
            " ",
            "10",
            "m",
            "-1h",
            "1x",
            "10tick",
            "1.h",
            ".5h",
            "1..5h",
            "00:60:00",
            "00:00:60",
            "1.24:00:00",
            "1:2:3:4",
            "aa:bb",
            "00:10:00.",
            "00:10:00.1234567890",
            "1 h",
            "time(1h)",
            "1e3s",
            "99999999999999999999999d",
            "00:10:",
            ":10",
            "１h",
        ] {
            assert_eq!(parse_timespan(text), None, "{text:?}");
        }
    }

    #[test]
    fn timespan_overflow_is_none() {
        assert_eq!(parse_timespan("99999999999999999999d"), None);
        assert!(parse_timespan("10675199d").is_some());
        assert_eq!(parse_timespan("10675200d"), None);
        assert!(parse_timespan("9999999999d").is_none());
    }

    #[test]
    fn timespan_errors_say_why() {
        use TimespanError::*;
        for (text, want) in [
            ("100000000d", OutOfRange),
            ("99999999999999999999s", OutOfRange),
            ("99999999999999999999999999999999999999999999d", OutOfRange),
            ("10675199.02:48:05.477580800", OutOfRange),
            ("256204778:48:05.4775808", OutOfRange),
            ("99999999999999999999999999.00:00:00", OutOfRange),
            ("-1.00:00:00", Invalid),
            ("-1d", Invalid),
            ("NaN", Invalid),
            ("NaNs", Invalid),
            ("infs", Invalid),
            ("1e309s", Invalid),
            ("1.5.5h", Invalid),
            ("0x10s", Invalid),
        ] {
            assert_eq!(try_parse_timespan(text), Err(want), "{text:?}");
            let message = want.describe(text);
            let shown: String = text.chars().take(40).collect();
            assert!(message.contains(&shown), "{message}");
        }
        assert_eq!(
            try_parse_timespan("10675199.02:48:05.4775807"),
            Ok(MAX_TIMESPAN)
        );
        assert_eq!(
            try_parse_timespan("0000000000000000000000000001d"),
            Ok(Duration::from_secs(86_400))
        );
        assert!(OutOfRange.describe("100000000d").contains("10675199"));
        // Whatever parses converts to chrono and subtracts from now without panicking.
        let max = chrono::Duration::from_std(MAX_TIMESPAN).unwrap();
        assert!(chrono::Utc::now().checked_sub_signed(max).is_some());
    }

    #[test]
    fn formats_timespans() {
        for (d, want) in [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(365 * 86_400), "365d"),
            (Duration::from_secs(7_200), "2h"),
            (Duration::from_secs(300), "5m"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_millis(1_500), "1500ms"),
            (Duration::from_micros(3), "3microseconds"),
            (Duration::from_nanos(100), "0.00:00:00.000000100"),
            (MAX_TIMESPAN, "10675199.02:48:05.477580700"),
        ] {
            assert_eq!(format_timespan(d), want);
            if d >= Duration::from_micros(1) {
                assert_eq!(parse_timespan(&format_timespan(d)), Some(d), "{want}");
            }
        }
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
    fn secret_string_plain_values_are_scrubbed() {
        let s = SecretString::new(
            "https://a.blob.core.windows.net/c/f.csv?sv=2020&se=x&sp=r&sig=ABC%2Fdef",
            false,
        );
        assert_eq!(
            s.redacted(),
            "https://a.blob.core.windows.net/c/f.csv?*****"
        );
        assert_eq!(s.to_string(), s.redacted());
        assert_eq!(
            format!("{s:?}"),
            "\"https://a.blob.core.windows.net/c/f.csv?*****\""
        );
        let s = SecretString::new(
            "https://acct.blob.core.windows.net/container;SECRETKEY==",
            false,
        );
        assert_eq!(
            s.redacted(),
            "https://acct.blob.core.windows.net/container;*****"
        );
        let s = SecretString::new("/data/file.csv", false);
        assert_eq!(s.redacted(), "/data/file.csv");
        assert_eq!(format!("{s:?}"), "\"/data/file.csv\"");
        assert!(!s.is_obfuscated());
    }

    #[test]
    fn scrub_urls() {
        let cases = [
            (
                "https://user:hunter2@example.com/path?x=1",
                "https://user:*****@example.com/path?x=1",
            ),
            (
                "abfss://container@account.dfs.core.windows.net/dir/file.parquet",
                "abfss://container@account.dfs.core.windows.net/dir/file.parquet",
            ),
            (
                "s3://bucket/key.csv?X-Amz-Signature=abc&X-Amz-Date=1",
                "s3://bucket/key.csv?*****",
            ),
            (
                "https://example.com/a?page=2&q=x",
                "https://example.com/a?page=2&q=x",
            ),
            (
                "https://example.com/a?SIG=abc",
                "https://example.com/a?*****",
            ),
            ("file:///tmp/x.csv", "file:///tmp/x.csv"),
        ];
        for (input, expected) in cases {
            assert_eq!(scrub_secrets(input), expected, "{input}");
        }
    }

    #[test]
    fn scrub_free_text() {
        let text = "failed to read 'https://a.blob.core.windows.net/c/f.csv?sv=1&sig=S3CR3T' \
                    and (https://b.blob.core.windows.net/c;K3Y) and ftp://u:p4ss@h/x, \
                    also DefaultEndpointsProtocol=https;AccountName=a;AccountKey=K3Y2==;EndpointSuffix=x \
                    and Password=pw1 and key=value";
        let scrubbed = scrub_secrets(text);
        for secret in ["S3CR3T", "K3Y", "p4ss", "K3Y2", "pw1"] {
            assert!(!scrubbed.contains(secret), "{secret} in {scrubbed}");
        }
        assert!(scrubbed.contains("https://a.blob.core.windows.net/c/f.csv?*****'"));
        assert!(scrubbed.contains("(https://b.blob.core.windows.net/c;*****)"));
        assert!(scrubbed.contains("AccountName=a;AccountKey=*****;EndpointSuffix=x"));
        assert!(
            scrubbed.contains("key=value"),
            "non-secret key kept: {scrubbed}"
        );
        assert_eq!(
            scrub_secrets("no secrets here: a://"),
            "no secrets here: a://"
        );
        assert_eq!(scrub_secrets("://x"), "://x");
        assert_eq!(scrub_secrets("é://ü é"), "é://ü é");
        assert_eq!(scrub_secrets(""), "");
    }

    #[test]
    fn secret_string_serde_is_value_and_flag() {
        let s = SecretString::new("https://a/b;KEY", true);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"value":"https://a/b;KEY","obfuscated":true}"#);
        let back: SecretString = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert!(back.is_obfuscated());
        assert_eq!(format!("{back:?}"), "h'*****'");
        let plain: SecretString = serde_json::from_str(r#"{"value":"/x"}"#).unwrap();
        assert_eq!(plain, SecretString::new("/x", false));
        assert!(serde_json::from_str::<SecretString>(r#""/x""#).is_err());
        assert!(serde_json::from_str::<SecretString>(r#"{"obfuscated":true}"#).is_err());
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
