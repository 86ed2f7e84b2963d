//! A fuzz harness for every text surface users type into (issue 9, item 9): the
//! command lexer and parser, the script splitter, property values, timespans, path
//! formats (`pathformat`, `datetime_pattern`, partition expressions) and cursor
//! strings.
//!
//! Inputs are random and mutated text seeded from the command examples of the
//! README and DESIGN ([`CORPUS`]). [`check`] runs one input through every surface and
//! fails when any of them panics, or rejects it with an empty message, or accepts a
//! value outside its documented range. [`run`] drives it with proptest from a fixed
//! seed, so a run is deterministic: CI runs a few thousand cases
//! (`tests/tests/fuzz.rs`), `cargo run --release -p datafusion-export-benches --bin
//! fuzz_commands -- CASES` runs as many as asked.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use datafusion::arrow::array::{
    ArrayRef, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion_export::command::{
    format_timespan, parse_command, split_statements, try_parse_timespan, Command,
    ExternalTableDef, ParseError, Property, PropertyValue, SecretString, MAX_TIMESPAN,
};
use datafusion_export::continuous::definition::{
    ContinuousProperties, MAX_FORCED_LATENCY, MAX_INTERVAL, MIN_INTERVAL,
};
use datafusion_export::export::options::{
    Distribution, ExportOptions, MAX_PARQUET_ROW_GROUP_SIZE, MAX_SIZE_LIMIT, MIN_SIZE_LIMIT,
};
use datafusion_export::export::partition::{PartitionValue, Partitioner};
use datafusion_export::export::path_format::{dotnet_to_chrono, PathLayout};
use datafusion_export::udfs::Cursor;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

/// The command examples of the README and DESIGN (placeholders filled in), and a few
/// more forms of each command family.
pub const CORPUS: &[&str] = &[
    ".create table T (a:long, s:string, ts:datetime)",
    ".create table Events (Id:long, Region:string)",
    ".create table T (b:bool, i:int, l:long, r:real, d:decimal, s:string, t:datetime, ts:timespan, g:guid, j:dynamic)",
    "INSERT INTO T VALUES (1, 'x', now())",
    ".show table T extents",
    ".show table T schema",
    ".show tables",
    "SELECT *, ingestion_time() FROM T WHERE cursor_after('1')",
    "SELECT * FROM Events WHERE cursor_after('41')",
    "SELECT * FROM T WHERE cursor_before_or_at('5') AND cursor_after('')",
    "SELECT cursor_current()",
    "CREATE TABLE T (a BIGINT, s VARCHAR)",
    "CREATE TABLE T2 AS SELECT * FROM T",
    "DROP TABLE T",
    ".drop table T ifexists",
    ".append T <| SELECT * FROM src",
    ".set-or-append T <| SELECT 1 AS a, 'x' AS s",
    ".ingest into table T ('data/a.csv', 'file:///tmp/b.csv') with (format=csv, ignoreFirstRecord=true)",
    ".ingest into table T ('s3://bucket/x.parquet') with (format='parquet')",
    ".ingest into table T (h'https://acct.blob.core.windows.net/c/x.json;KEY') with (format=json)",
    ".export to csv ('/tmp/out') <| SELECT * FROM T",
    ".export async compressed to csv (h@'https://acct.blob.core.windows.net/c;key', 'x') with (sizeLimit=100000000, namePrefix=export, includeHeaders=all, encoding=UTF8NoBOM) <| SELECT * FROM T",
    ".export to parquet ('s3://bucket/p') with (parquetRowGroupSize=100000, compressionType=zstd, distribution='per_node') <| SELECT * FROM T",
    ".export to tsv ('az://c/x', 'gs://b/y') with (fileExtension='.txt', persistDetails=true, distributed=false) <| SELECT a FROM T",
    ".export to json ('memory://out') with (compressionType=gzip) <| SELECT * FROM T WHERE cursor_after('3')",
    ".export async to table X with (sizeLimit=1048576) <| SELECT * FROM T",
    ".export to table X <| SELECT * FROM T WHERE cursor_before_or_at('7')",
    ".create external table X (a:long, s:string, ts:datetime) kind=storage partition by (Region:string = s, Day:datetime = bin(ts, 1d), Bucket:long = hash(a, 16)) pathformat = (\"region=\" Region \"/\" datetime_pattern(\"yyyy/MM/dd\", Day) \"/\" Bucket) dataformat=parquet ('/tmp/x') with (fileExtension='.p', includeHeaders='none', compressed=true, namePrefix='n', encoding='UTF8BOM')",
    ".create or alter external table X (a:long, s:string, ts:datetime) kind=storage partition by (M:datetime = startofmonth(ts), W:datetime = startofweek(ts), Y:datetime = startofyear(ts), D:datetime = startofday(ts), N:long = bin(a, 10)) dataformat=csv ('u1', h@'u2')",
    ".create-or-alter external table X (a:long, ts:datetime) kind=storage partition by (H:datetime = bin(ts, 1h)) pathformat = (datetime_pattern(\"yyyyMMdd'T'HH\", H) \"/\" 'x') dataformat=json ('/x')",
    ".alter external table ['my table'] (a:long) kind=storage dataformat=tsv ('u')",
    ".create external table D (a:long, Region:string) kind=delta partition by (Region:string) ('/tmp/delta')",
    ".create external table D kind=delta ('s3://bucket/delta')",
    ".drop external table X ifexists",
    ".show external tables",
    ".show external table X",
    "SELECT * FROM external_table('X')",
    ".show operations",
    ".show operation f008dc1e-2710-47d8-8d34-0d562f5f8615",
    ".show operation f008dc1e-2710-47d8-8d34-0d562f5f8615 details",
    ".create-or-alter continuous-export E over (T1, T2) to table X with (intervalBetweenRuns=1h, forcedLatency=10m, sizeLimit=104857600, distributed=true, distribution='per_node', parquetRowGroupSize=1000, isDisabled=false) <| SELECT * FROM T1 JOIN T2 ON T1.a = T2.a",
    ".create-or-alter continuous-export E to table X with (forcedLatency='00:10:00', intervalBetweenRuns='1.02:00:00') <| SELECT * FROM T",
    ".create-or-alter continuous-export E to table X with (forcedLatency=1.5h, intervalBetweenRuns=100ms) <| SELECT * FROM T",
    ".show continuous-exports",
    ".show continuous-export E",
    ".show continuous-export E exported-artifacts",
    ".show continuous-export E failures",
    ".enable continuous-export E",
    ".disable continuous-export E",
    ".drop continuous-export E ifexists",
    ".run continuous-export E",
    "// a comment\n.show tables; SELECT 1;\n\n.show operations",
    "/* block */ .show tables -- trailing",
];

/// Pieces that mutations insert: keywords, punctuation, quotes, numbers at and past
/// every limit, timespans, patterns and odd characters.
pub const PIECES: &[&str] = &[
    ".",
    "<|",
    "|",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "=",
    ";",
    "'",
    "\"",
    "`",
    "@",
    "h'",
    "h@'",
    "@'",
    "--",
    "//",
    "/*",
    "*/",
    "/*!",
    "\n",
    "\r\n",
    "\t",
    " ",
    "-",
    "+",
    "\\",
    "$$",
    "%",
    "{",
    "}",
    "é",
    "日本",
    "😀",
    "\u{0}",
    "\u{feff}",
    "\u{2028}",
    "\u{301}",
    "１２",
    "with",
    "to",
    "table",
    "tables",
    "external",
    "kind",
    "storage",
    "delta",
    "partition",
    "by",
    "pathformat",
    "dataformat",
    "datetime_pattern(",
    "bin(",
    "hash(",
    "startofday(",
    "startofweek(",
    "startofmonth(",
    "startofyear(",
    "over",
    "async",
    "compressed",
    "csv",
    "tsv",
    "json",
    "parquet",
    "continuous-export",
    "operation",
    "details",
    "ifexists",
    "cursor_after('",
    "cursor_before_or_at('",
    "forcedLatency=",
    "intervalBetweenRuns=",
    "sizeLimit=",
    "parquetRowGroupSize=",
    "namePrefix=",
    "fileExtension=",
    "0",
    "1",
    "-1",
    "1.5",
    "1e3",
    "1e309",
    "NaN",
    "inf",
    "0x10",
    "2147483647",
    "2147483648",
    "4294967296",
    "4294967297",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999",
    "99999999999999999999999999999999999999999",
    "10s",
    "1m",
    "1h",
    "1d",
    "100ms",
    "5microseconds",
    "365d",
    "366d",
    "36500d",
    "36501d",
    "10675199d",
    "10675200d",
    "100000000d",
    "99999999999999999999s",
    "00:10:00",
    "1.02:00:00",
    "-1.00:00:00",
    "10675199.02:48:05.4775807",
    "10675199.02:48:05.4775808",
    "99:59",
    "00:60",
    "00:00:00.0000000001",
    "yyyy",
    "yyy",
    "yy",
    "MM",
    "M",
    "dd",
    "d",
    "HH",
    "hh",
    "H",
    "mm",
    "ss",
    "fffffff",
    "ffffffffff",
    "'T'",
    "''",
    "\"\"",
    "%Y",
    "%",
    "f008dc1e-2710-47d8-8d34-0d562f5f8615",
];

/// Every partition layout the fuzzed external tables are checked against: their
/// columns' data, with values at the ends of every type's range.
fn partition_batch() -> RecordBatch {
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            true,
        ),
        Field::new("s", DataType::Utf8, true),
        Field::new("a", DataType::Int64, true),
    ]));
    let ts = TimestampNanosecondArray::from(vec![
        Some(i64::MIN),
        Some(i64::MIN + 1),
        Some(-1),
        Some(0),
        Some(1_763_683_200_000_000_000),
        Some(i64::MAX),
        None,
    ])
    .with_timezone("UTC");
    let s = StringArray::from(vec![
        Some(""),
        Some("EU"),
        Some("a/b"),
        Some(".."),
        Some("é😀"),
        None,
        Some("%2F"),
    ]);
    let a = Int64Array::from(vec![
        Some(i64::MIN),
        Some(i64::MIN + 1),
        Some(-1),
        Some(0),
        Some(7),
        Some(i64::MAX),
        None,
    ]);
    let columns: Vec<ArrayRef> = vec![Arc::new(ts), Arc::new(s), Arc::new(a)];
    RecordBatch::try_new(schema, columns).expect("a valid batch")
}

/// Datetimes that path formats are rendered with.
fn datetimes() -> [DateTime<Utc>; 4] {
    [
        Utc.timestamp_nanos(i64::MIN),
        Utc.timestamp_nanos(0),
        Utc.timestamp_nanos(1_763_690_400_123_456_789),
        Utc.timestamp_nanos(i64::MAX),
    ]
}

/// Which surfaces accepted or rejected an input.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Surface name → (accepted, rejected).
    pub by_surface: BTreeMap<&'static str, (u64, u64)>,
}

impl Outcome {
    fn note(&mut self, surface: &'static str, accepted: bool) {
        let entry = self.by_surface.entry(surface).or_default();
        if accepted {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &Outcome) {
        for (k, (a, r)) in &other.by_surface {
            let entry = self.by_surface.entry(k).or_default();
            entry.0 += a;
            entry.1 += r;
        }
    }
}

fn parse_error_ok(surface: &str, text: &str, e: &ParseError) -> Result<(), String> {
    if e.message.trim().is_empty() || e.line == 0 || e.column == 0 || e.to_string().is_empty() {
        return Err(format!("{surface}: unclear error {e:?} for {text:?}"));
    }
    Ok(())
}

fn message_ok(surface: &str, text: &str, message: String) -> Result<(), String> {
    if message.trim().is_empty() {
        return Err(format!("{surface}: empty error message for {text:?}"));
    }
    Ok(())
}

/// Runs `text` through every surface; `Err` says which one panicked, gave an empty
/// error or accepted a value out of range.
pub fn check(text: &str) -> Result<Outcome, String> {
    match catch_unwind(AssertUnwindSafe(|| check_unguarded(text))) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into());
            Err(format!("panic on {text:?}: {message}"))
        }
    }
}

fn check_unguarded(text: &str) -> Result<Outcome, String> {
    let mut outcome = Outcome::default();
    // The parser, on the text itself.
    check_command(text, "command", &mut outcome)?;
    // The script splitter, then each statement.
    match split_statements(text) {
        Ok(statements) => {
            outcome.note("script", true);
            for s in statements {
                check_command(&s, "script statement", &mut outcome)?;
            }
        }
        Err(e) => {
            outcome.note("script", false);
            parse_error_ok("script", text, &e)?;
        }
    }
    check_timespan(text, &mut outcome)?;
    check_cursor(text, &mut outcome)?;
    check_datetime_pattern(text, &mut outcome)?;
    check_property_values(text, &mut outcome)?;
    check_kql(text, &mut outcome)?;
    // The text where each clause of a command takes a value.
    let templated = [
        format!(".create-or-alter continuous-export E to table X with (forcedLatency={text}) <| SELECT 1"),
        format!(".create-or-alter continuous-export E to table X with (intervalBetweenRuns={text}, isDisabled=true) <| SELECT 1"),
        format!(".export to csv ('/o') with (sizeLimit={text}) <| SELECT 1"),
        format!(".export to parquet ('/o') with (parquetRowGroupSize={text}, namePrefix={text}) <| SELECT 1"),
        format!(".create external table X (ts:datetime, s:string, a:long) kind=storage partition by (D:datetime = bin(ts, {text})) dataformat=csv ('u')"),
        format!(".create external table X (ts:datetime, s:string, a:long) kind=storage partition by (N:long = bin(a, {text}), H:long = hash(s, {text})) dataformat=csv ('u')"),
        format!(".create external table X (ts:datetime, s:string, a:long) kind=storage partition by (D:datetime = bin(ts, 1d), S:string = s, A:long = a) pathformat = ({text}) dataformat=csv ('u')"),
        format!(".create external table X (ts:datetime, s:string, a:long) kind=storage partition by (D:datetime = startofweek(ts)) pathformat = (datetime_pattern(\"{text}\", D)) dataformat=csv ('u')"),
        format!(".create external table X (ts:datetime, s:string, a:long) kind=storage partition by ({text}) dataformat=parquet ('u')"),
        format!(".show operation {text}"),
        format!("SELECT * FROM T WHERE cursor_after('{text}')"),
    ];
    for command in &templated {
        check_command(command, "templated command", &mut outcome)?;
    }
    Ok(outcome)
}

/// The KQL parser: the text as a query, as an operator pipeline, and where a query
/// takes an expression.
fn check_kql(text: &str, outcome: &mut Outcome) -> Result<(), String> {
    use datafusion_export::command::kql::{parse_pipeline, parse_query};
    let templated = format!("let x = {text}; T | where a == {text} | project b = {text}");
    for (surface, candidate) in [("kql", text), ("kql templated", templated.as_str())] {
        match parse_query(candidate) {
            Ok(_) => outcome.note(surface, true),
            Err(e) => {
                outcome.note(surface, false);
                parse_error_ok(surface, candidate, &e)?;
            }
        }
    }
    match parse_pipeline(text) {
        Ok(_) => outcome.note("kql pipeline", true),
        Err(e) => {
            outcome.note("kql pipeline", false);
            parse_error_ok("kql pipeline", text, &e)?;
        }
    }
    Ok(())
}

fn check_command(text: &str, surface: &'static str, outcome: &mut Outcome) -> Result<(), String> {
    let command = match parse_command(text) {
        Ok(c) => c,
        Err(e) => {
            outcome.note(surface, false);
            return parse_error_ok(surface, text, &e);
        }
    };
    outcome.note(surface, true);
    match command {
        Command::Export(export) => {
            check_export_properties(text, &export.properties, outcome)?;
        }
        Command::CreateOrAlterContinuousExport { properties, .. } => {
            check_continuous_properties(text, &properties, outcome)?;
        }
        Command::CreateExternalTable(def) => check_external_table(text, &def, outcome)?,
        _ => {}
    }
    Ok(())
}

fn check_timespan(text: &str, outcome: &mut Outcome) -> Result<(), String> {
    match try_parse_timespan(text) {
        Ok(d) => {
            outcome.note("timespan", true);
            if d > MAX_TIMESPAN {
                return Err(format!("timespan {text:?} = {d:?} is beyond the maximum"));
            }
            let chrono = chrono::Duration::from_std(d)
                .map_err(|e| format!("timespan {text:?} does not convert to chrono: {e}"))?;
            for t in datetimes() {
                let _ = t.checked_sub_signed(chrono);
            }
            let _ = Utc::now().checked_sub_signed(chrono);
            let shown = format_timespan(d);
            if try_parse_timespan(&shown) != Ok(d) {
                return Err(format!(
                    "timespan {text:?} = {d:?} shows as {shown:?}, which does not read back"
                ));
            }
        }
        Err(e) => {
            outcome.note("timespan", false);
            message_ok("timespan", text, e.describe(text))?;
        }
    }
    Ok(())
}

fn check_cursor(text: &str, outcome: &mut Outcome) -> Result<(), String> {
    for parsed in [text.parse::<Cursor>(), Cursor::parse_optional(Some(text))] {
        match parsed {
            Ok(c) => {
                outcome.note("cursor", true);
                if c.to_string().parse::<Cursor>().ok() != Some(c) {
                    return Err(format!("cursor {text:?} does not read back"));
                }
                let _ = c.next();
            }
            Err(e) => {
                outcome.note("cursor", false);
                message_ok("cursor", text, e.to_string())?;
            }
        }
    }
    Ok(())
}

fn check_datetime_pattern(text: &str, outcome: &mut Outcome) -> Result<(), String> {
    match dotnet_to_chrono(text) {
        Ok(_) => outcome.note("datetime_pattern", true),
        Err(e) => {
            outcome.note("datetime_pattern", false);
            message_ok("datetime_pattern", text, e.to_string())?;
        }
    }
    let parts = vec![
        datafusion_export::command::PathFormatPart::Literal(text.to_string()),
        datafusion_export::command::PathFormatPart::Partition("S".into()),
        datafusion_export::command::PathFormatPart::DatetimePattern {
            pattern: text.to_string(),
            partition: "D".into(),
        },
    ];
    match PathLayout::try_new(&["D".into(), "S".into()], &parts) {
        Ok(layout) => {
            outcome.note("path_format", true);
            for t in datetimes() {
                let segments = layout.folder(&[
                    PartitionValue::Datetime(t),
                    PartitionValue::Text(text.to_string()),
                ]);
                if segments.iter().any(|s| s.is_empty()) {
                    return Err(format!("path format {text:?} made an empty folder name"));
                }
            }
        }
        Err(e) => {
            outcome.note("path_format", false);
            message_ok("path_format", text, e.to_string())?;
        }
    }
    Ok(())
}

/// `text` as the value of every timespan and size property, quoted and bare.
fn check_property_values(text: &str, outcome: &mut Outcome) -> Result<(), String> {
    let values = [
        PropertyValue::String(SecretString::new(text, false)),
        PropertyValue::String(SecretString::new(text, true)),
        PropertyValue::Identifier(text.to_string()),
    ];
    for value in values {
        for name in [
            "forcedLatency",
            "intervalBetweenRuns",
            "isDisabled",
            "sizeLimit",
        ] {
            let props = [Property {
                name: name.into(),
                value: value.clone(),
            }];
            check_continuous_properties(text, &props, outcome)?;
        }
        for name in [
            "sizeLimit",
            "parquetRowGroupSize",
            "namePrefix",
            "fileExtension",
            "compressionType",
            "includeHeaders",
            "encoding",
            "distribution",
            "distributed",
            "persistDetails",
        ] {
            let props = [Property {
                name: name.into(),
                value: value.clone(),
            }];
            check_export_properties(text, &props, outcome)?;
        }
    }
    Ok(())
}

fn check_continuous_properties(
    text: &str,
    props: &[Property],
    outcome: &mut Outcome,
) -> Result<(), String> {
    match ContinuousProperties::parse(props) {
        Ok(p) => {
            outcome.note("continuous properties", true);
            if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&p.interval) {
                return Err(format!(
                    "{text:?}: intervalBetweenRuns {:?} accepted",
                    p.interval
                ));
            }
            if p.forced_latency.is_some_and(|d| d > MAX_FORCED_LATENCY) {
                return Err(format!(
                    "{text:?}: forcedLatency {:?} accepted",
                    p.forced_latency
                ));
            }
            check_export_properties(text, &p.export_properties, outcome)?;
        }
        Err(e) => {
            outcome.note("continuous properties", false);
            message_ok("continuous properties", text, e.to_string())?;
            check_no_secret(props, &e.to_string(), |props| {
                ContinuousProperties::parse(props)
                    .err()
                    .map(|e| e.to_string())
            })?;
        }
    }
    Ok(())
}

fn check_export_properties(
    text: &str,
    props: &[Property],
    outcome: &mut Outcome,
) -> Result<(), String> {
    for format in [
        Some(datafusion_export::command::DataFormat::Csv),
        Some(datafusion_export::command::DataFormat::Parquet),
        None,
    ] {
        match ExportOptions::parse(props, format, false, Distribution::PerShard) {
            Ok(o) => {
                outcome.note("export properties", true);
                if !(MIN_SIZE_LIMIT..=MAX_SIZE_LIMIT).contains(&o.size_limit)
                    || !(1..=MAX_PARQUET_ROW_GROUP_SIZE).contains(&o.parquet_row_group_size)
                {
                    return Err(format!(
                        "{text:?}: out-of-range export options {o:?} accepted"
                    ));
                }
                if let Some(f) = format {
                    let _ = o.file_extension(f);
                }
            }
            Err(e) => {
                outcome.note("export properties", false);
                message_ok("export properties", text, e.to_string())?;
                check_no_secret(props, &e.to_string(), |props| {
                    ExportOptions::parse(props, format, false, Distribution::PerShard)
                        .err()
                        .map(|e| e.to_string())
                })?;
            }
        }
    }
    Ok(())
}

/// Errors never show an obfuscated (`h'…'`) value. A secret that the message would
/// hold whatever the value (a property name, a range such as `365d`, an example such
/// as `'.csv'`) is a coincidence: `again` gives the message with the obfuscated
/// values replaced by others, valid and invalid in different ways.
fn check_no_secret(
    props: &[Property],
    message: &str,
    again: impl Fn(&[Property]) -> Option<String>,
) -> Result<(), String> {
    let secrets: Vec<&str> = props
        .iter()
        .filter_map(|p| match &p.value {
            PropertyValue::String(s) if s.is_obfuscated() => Some(s.expose().trim()),
            _ => None,
        })
        .filter(|s| s.len() >= 3 && message.contains(s))
        .collect();
    if secrets.is_empty() {
        return Ok(());
    }
    let baselines: Vec<String> = [
        "q",
        "q q",
        "-1",
        "1",
        "99999999999999999999",
        "true",
        "x/y",
        "..",
        "10s",
    ]
    .iter()
    .filter_map(|other| {
        let replaced: Vec<Property> = props
            .iter()
            .map(|p| match &p.value {
                PropertyValue::String(s) if s.is_obfuscated() => Property {
                    name: p.name.clone(),
                    value: PropertyValue::String(SecretString::new(*other, true)),
                },
                _ => p.clone(),
            })
            .collect();
        again(&replaced)
    })
    .collect();
    for secret in secrets {
        if !baselines.iter().any(|b| b.contains(secret)) {
            return Err(format!(
                "an error shows the secret value {secret:?}: {message}"
            ));
        }
    }
    Ok(())
}

fn check_external_table(
    text: &str,
    def: &ExternalTableDef,
    outcome: &mut Outcome,
) -> Result<(), String> {
    check_export_properties(text, &def.properties, outcome)?;
    let names: Vec<String> = def.partitions.iter().map(|p| p.name.clone()).collect();
    let layout = match PathLayout::try_new(&names, &def.path_format) {
        Ok(l) => {
            outcome.note("external table layout", true);
            l
        }
        Err(e) => {
            outcome.note("external table layout", false);
            return message_ok("external table layout", text, e.to_string());
        }
    };
    let batch = partition_batch();
    let partitioner = match Partitioner::try_new(&def.partitions, &batch.schema()) {
        Ok(p) => p,
        Err(e) => {
            outcome.note("partitioner", false);
            return message_ok("partitioner", text, e.to_string());
        }
    };
    match partitioner.split(&batch) {
        Ok(groups) => {
            outcome.note("partitioner", true);
            for g in groups {
                let _ = layout.folder(&g.values);
            }
        }
        Err(e) => {
            outcome.note("partitioner", false);
            message_ok("partitioner", text, e.to_string())?;
        }
    }
    Ok(())
}

/// One edit of a text.
#[derive(Debug, Clone)]
enum Mutation {
    /// Insert `PIECES[piece]` at a position.
    Insert(usize, usize),
    /// Insert one arbitrary character at a position.
    InsertChar(usize, char),
    /// Remove up to `n` characters at a position.
    Delete(usize, usize),
    /// Repeat up to `n` characters at a position.
    Duplicate(usize, usize),
    /// Keep only the text before a position.
    Truncate(usize),
    /// Replace the rest of the text, from a position, with another corpus entry's
    /// tail.
    Splice(usize, usize, usize),
}

/// The character boundary nearest below `at % (len + 1)`.
fn boundary(text: &str, at: usize) -> usize {
    let mut i = at % (text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &mut String, mutation: &Mutation) {
    match *mutation {
        Mutation::Insert(at, piece) => {
            let at = boundary(text, at);
            text.insert_str(at, PIECES[piece % PIECES.len()]);
        }
        Mutation::InsertChar(at, c) => {
            let at = boundary(text, at);
            text.insert(at, c);
        }
        Mutation::Delete(at, n) => {
            let start = boundary(text, at);
            let end = boundary(text, start + n.min(text.len() - start));
            text.replace_range(start..end.max(start), "");
        }
        Mutation::Duplicate(at, n) => {
            let start = boundary(text, at);
            let end = boundary(text, start + n.min(text.len() - start)).max(start);
            let copy = text[start..end].to_string();
            text.insert_str(end, &copy);
        }
        Mutation::Truncate(at) => {
            let at = boundary(text, at);
            text.truncate(at);
        }
        Mutation::Splice(at, other, from) => {
            let at = boundary(text, at);
            let other = CORPUS[other % CORPUS.len()];
            let from = boundary(other, from);
            text.truncate(at);
            text.push_str(&other[from..]);
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<usize>()).prop_map(|(a, p)| Mutation::Insert(a, p)),
        2 => (any::<usize>(), any::<char>()).prop_map(|(a, c)| Mutation::InsertChar(a, c)),
        2 => (any::<usize>(), 1..12usize).prop_map(|(a, n)| Mutation::Delete(a, n)),
        1 => (any::<usize>(), 1..24usize).prop_map(|(a, n)| Mutation::Duplicate(a, n)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(a, o, f)| Mutation::Splice(a, o, f)),
    ]
}

/// A corpus entry with 1 to 8 mutations.
pub fn mutated_corpus() -> impl Strategy<Value = String> {
    (0..CORPUS.len(), prop::collection::vec(mutation(), 1..8)).prop_map(|(i, mutations)| {
        let mut text = CORPUS[i].to_string();
        for m in &mutations {
            apply(&mut text, m);
        }
        text
    })
}

/// Up to 16 pieces, glued or spaced, optionally after a `.`.
pub fn pieces() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop::collection::vec((0..PIECES.len(), any::<bool>()), 0..16),
    )
        .prop_map(|(dot, parts)| {
            let mut text = if dot { ".".to_string() } else { String::new() };
            for (i, space) in parts {
                text.push_str(PIECES[i]);
                if space {
                    text.push(' ');
                }
            }
            text
        })
}

/// Text that looks like a timespan: digits (up to 45), fractions, units, clock
/// forms, signs and spaces.
pub fn timespan_like() -> impl Strategy<Value = String> {
    let unit = prop::sample::select(vec![
        "",
        "d",
        "h",
        "m",
        "s",
        "ms",
        "min",
        "hours",
        "microseconds",
        "ticks",
        "D",
        "Sec",
        "e3s",
        "s ",
        " s",
        ".",
        ":",
    ]);
    let sign = prop::sample::select(vec!["", "", "", "-", "+", " ", "\t"]);
    prop_oneof![
        (
            sign.clone(),
            prop_oneof![3 => "[0-9]{1,6}", 1 => "0{0,30}[0-9]{1,45}"],
            prop::option::of("\\.[0-9]{0,25}"),
            unit
        )
            .prop_map(|(s, n, f, u)| format!("{s}{n}{}{u}", f.unwrap_or_default())),
        (
            sign,
            prop::option::of(prop_oneof!["[0-9]{1,3}\\.", "[0-9]{1,25}\\."]),
            prop_oneof!["[0-9]{1,2}", "[0-9]{1,12}"],
            prop_oneof![3 => "[0-9]{2}", 1 => "[0-9]{1,3}"],
            prop::option::of(":[0-9]{1,3}(\\.[0-9]{0,12})?"),
        )
            .prop_map(|(s, d, h, m, rest)| format!(
                "{s}{}{h}:{m}{}",
                d.unwrap_or_default(),
                rest.unwrap_or_default()
            )),
        "[0-9.:dhms -]{0,24}",
    ]
}

/// Text that looks like a cursor.
pub fn cursor_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{0,25}",
        "[ +\\-]?[0-9]{1,22}[ ]?",
        "[0-9a-fx.e_, ]{0,12}",
        "\\PC{0,8}",
    ]
}

/// Text that looks like a `datetime_pattern` or a `pathformat` body.
pub fn path_format_like() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "yyyy",
        "yy",
        "y",
        "yyyyy",
        "MM",
        "M",
        "MMM",
        "dd",
        "d",
        "ddd",
        "HH",
        "H",
        "hh",
        "h",
        "mm",
        "m",
        "ss",
        "s",
        "f",
        "fff",
        "fffffff",
        "fffffffff",
        "ffffffffff",
        "'",
        "\"",
        "'T'",
        "/",
        "-",
        "_",
        "%",
        "%Y",
        "%%",
        "é",
        "\\",
        " ",
        "{",
        "}",
        "D",
        "S",
        "A",
        "datetime_pattern(\"",
        "\", D)",
        "\"/\"",
        "\"x=\"",
    ]);
    prop::collection::vec(token, 0..12).prop_map(|parts| parts.concat())
}

/// Arbitrary short text.
pub fn arbitrary_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        ".{0,40}",
        prop::collection::vec(any::<u8>(), 0..48)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

/// The named input generators, with their share of the cases.
pub fn generators() -> Vec<(&'static str, u32, BoxedStrategy<String>)> {
    vec![
        ("mutated corpus", 10, mutated_corpus().boxed()),
        ("pieces", 3, pieces().boxed()),
        ("timespans", 3, timespan_like().boxed()),
        ("cursors", 1, cursor_like().boxed()),
        ("path formats", 2, path_format_like().boxed()),
        ("arbitrary text", 1, arbitrary_text().boxed()),
    ]
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    /// Inputs generated (shrinking not counted).
    pub cases: u64,
    /// Per generator: cases run.
    pub by_generator: BTreeMap<&'static str, u64>,
    /// Per surface: (accepted, rejected).
    pub outcome: Outcome,
    /// Every failure: the generator and the smallest failing input proptest found.
    pub failures: Vec<String>,
}

/// Runs `cases` inputs (split between the generators by their share) from `seed`.
/// Deterministic for a given seed and case count; failures are shrunk.
pub fn run(cases: u32, seed: u64) -> Report {
    let generators = generators();
    let total_share: u32 = generators.iter().map(|g| g.1).sum();
    let mut report = Report::default();
    for (index, (name, share, strategy)) in generators.into_iter().enumerate() {
        let n = (u64::from(cases) * u64::from(share) / u64::from(total_share)).max(1) as u32;
        let mut seed_bytes = [0u8; 32];
        seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
        seed_bytes[8] = index as u8;
        let config = Config {
            cases: n,
            failure_persistence: None,
            max_shrink_iters: 2_000,
            ..Config::default()
        };
        let mut runner = TestRunner::new_with_rng(
            config,
            TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
        );
        let outcome = std::cell::RefCell::new(Outcome::default());
        let result = runner.run(&strategy, |text| {
            let o = check(&text).map_err(TestCaseError::fail)?;
            outcome.borrow_mut().add(&o);
            Ok(())
        });
        report.cases += u64::from(n);
        *report.by_generator.entry(name).or_default() += u64::from(n);
        report.outcome.add(&outcome.borrow());
        match result {
            Ok(()) => {}
            Err(TestError::Fail(reason, input)) => report
                .failures
                .push(format!("{name}: {reason} (smallest input {input:?})")),
            Err(TestError::Abort(reason)) => {
                report.failures.push(format!("{name}: aborted: {reason}"))
            }
        }
    }
    report
}
