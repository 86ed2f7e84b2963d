//! Validated `.export` properties (Kusto's `with (...)` clause of `.export`,
//! `.export to table` and continuous export).
//!
//! [`ExportOptions::parse`] checks every property once, up front, so that a bad
//! value is reported before any query runs or any artifact is written.
//!
//! Compression follows Kusto:
//! * the `compressed` keyword means gzip for text formats (`csv`, `tsv`, `json`);
//! * `compressionType` (`gzip`, `zstd`, `snappy`, `none`) overrides it;
//! * Parquet is always compressed inside the file: snappy unless
//!   `compressionType` says otherwise (`compressed` alone keeps snappy);
//! * `snappy` is refused for text formats.

use datafusion::parquet::basic::{Compression as ParquetCompression, GzipLevel, ZstdLevel};

use crate::command::{DataFormat, Property, PropertyValue};
use crate::error::{ExportError, Result};

/// Smallest allowed `sizeLimit` (1 MiB).
pub const MIN_SIZE_LIMIT: u64 = 1024 * 1024;
/// Largest allowed `sizeLimit` (4 GiB).
pub const MAX_SIZE_LIMIT: u64 = 4 * 1024 * 1024 * 1024;
/// Default `sizeLimit` (100 MiB).
pub const DEFAULT_SIZE_LIMIT: u64 = 100 * 1024 * 1024;
/// Default `parquetRowGroupSize` (100,000 rows).
pub const DEFAULT_PARQUET_ROW_GROUP_SIZE: usize = 100_000;
/// Largest allowed `parquetRowGroupSize`.
pub const MAX_PARQUET_ROW_GROUP_SIZE: usize = 10_000_000;
/// Longest allowed `namePrefix`, in bytes.
pub const MAX_NAME_PREFIX_LEN: usize = 200;
/// Longest allowed `fileExtension`, in bytes (without the leading dot).
pub const MAX_FILE_EXTENSION_LEN: usize = 50;

/// The property names [`ExportOptions::parse`] understands (as documented;
/// matching is case-insensitive). `compressed` is accepted as a property too
/// (as in external table definitions) and ORed with the keyword.
pub const PROPERTY_NAMES: &[&str] = &[
    "sizeLimit",
    "includeHeaders",
    "fileExtension",
    "namePrefix",
    "encoding",
    "compressionType",
    "compressed",
    "distribution",
    "distributed",
    "parquetRowGroupSize",
    "persistDetails",
];

/// Whether `name` is an export property understood by [`ExportOptions::parse`]
/// (ASCII case-insensitive). Callers that accept more properties (for
/// example continuous export's `intervalBetweenRuns`) can use it to split a
/// `with (...)` list.
pub fn is_export_property(name: &str) -> bool {
    PROPERTY_NAMES.iter().any(|p| p.eq_ignore_ascii_case(name))
}

/// The compression of an artifact.
///
/// For text formats it is applied to the whole stream (`.gz`, `.zst`); for
/// Parquet it is the column-chunk codec inside the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip (deflate).
    Gzip,
    /// Zstandard.
    Zstd,
    /// Snappy (Parquet only).
    Snappy,
}

impl Compression {
    /// The canonical property value (`none`, `gzip`, `zstd`, `snappy`).
    pub fn name(&self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Snappy => "snappy",
        }
    }

    /// The suffix appended to the name of a compressed text artifact
    /// (`".gz"`, `".zst"`; empty for none and snappy).
    pub fn text_suffix(&self) -> &'static str {
        match self {
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
            Compression::None | Compression::Snappy => "",
        }
    }

    /// The Parquet codec for this compression (default levels).
    pub fn parquet_codec(&self) -> ParquetCompression {
        match self {
            Compression::None => ParquetCompression::UNCOMPRESSED,
            Compression::Gzip => ParquetCompression::GZIP(GzipLevel::default()),
            Compression::Zstd => ParquetCompression::ZSTD(ZstdLevel::default()),
            Compression::Snappy => ParquetCompression::SNAPPY,
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `includeHeaders`: which CSV/TSV artifacts start with a header line.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum IncludeHeaders {
    /// No header lines (default).
    #[default]
    None,
    /// A header line in every artifact.
    All,
    /// A header line in the first artifact only.
    FirstFile,
}

impl IncludeHeaders {
    /// Whether the artifact with the given 0-based sequence number gets a
    /// header line.
    pub fn for_artifact(&self, artifact_index: usize) -> bool {
        match self {
            IncludeHeaders::None => false,
            IncludeHeaders::All => true,
            IncludeHeaders::FirstFile => artifact_index == 0,
        }
    }
}

/// `encoding` of text artifacts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum Encoding {
    /// UTF-8 without a byte order mark (default).
    #[default]
    Utf8NoBom,
    /// UTF-8 starting with the byte order mark `EF BB BF`.
    Utf8Bom,
}

/// `distribution`: how many writers work in parallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Distribution {
    /// One writer.
    Single,
    /// One writer per input partition.
    PerShard,
    /// One writer per core.
    PerNode,
}

impl Distribution {
    /// The canonical property value (`single`, `per_shard`, `per_node`).
    pub fn name(&self) -> &'static str {
        match self {
            Distribution::Single => "single",
            Distribution::PerShard => "per_shard",
            Distribution::PerNode => "per_node",
        }
    }
}

impl std::fmt::Display for Distribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Validated export properties.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExportOptions {
    /// Bytes (before compression) after which an artifact is closed and a
    /// new one started. Default 100 MiB; 1 MiB ..= 4 GiB.
    pub size_limit: u64,
    /// Header lines for CSV/TSV. Default none.
    pub include_headers: IncludeHeaders,
    /// A custom file extension, stored without the leading dot.
    pub file_extension: Option<String>,
    /// A prefix for artifact names.
    pub name_prefix: Option<String>,
    /// Text encoding. Default UTF-8 without BOM.
    pub encoding: Encoding,
    /// The effective compression (see the module docs).
    pub compression: Compression,
    /// Writer parallelism.
    pub distribution: Distribution,
    /// Rows per Parquet row group. Default 100,000; 1 ..= 10,000,000.
    pub parquet_row_group_size: usize,
    /// `persistDetails`; `None` when not given (the caller picks the default:
    /// true for async, false for sync).
    pub persist_details: Option<bool>,
}

impl ExportOptions {
    /// The defaults for `format` without any property.
    pub fn defaults(
        format: Option<DataFormat>,
        compressed: bool,
        default_distribution: Distribution,
    ) -> Self {
        ExportOptions {
            size_limit: DEFAULT_SIZE_LIMIT,
            include_headers: IncludeHeaders::None,
            file_extension: None,
            name_prefix: None,
            encoding: Encoding::Utf8NoBom,
            compression: default_compression(format, compressed),
            distribution: default_distribution,
            parquet_row_group_size: DEFAULT_PARQUET_ROW_GROUP_SIZE,
            persist_details: None,
        }
    }

    /// Validates `props` (names case-insensitive, each at most once).
    ///
    /// `format` is the artifact format (`None` when not known yet, e.g. for a
    /// Delta target: then every `compressionType` is accepted and the default
    /// is gzip when `compressed`, none otherwise). `compressed` is the
    /// `compressed` keyword of `.export`. `default_distribution` is used when
    /// neither `distribution` nor `distributed=false` is given.
    pub fn parse(
        props: &[Property],
        format: Option<DataFormat>,
        compressed: bool,
        default_distribution: Distribution,
    ) -> Result<Self> {
        let mut opts = Self::defaults(format, compressed, default_distribution);
        let mut seen: Vec<String> = Vec::with_capacity(props.len());
        let mut compression_type: Option<Compression> = None;
        let mut compressed_prop = false;
        let mut distribution: Option<Distribution> = None;
        let mut distributed: Option<bool> = None;

        for prop in props {
            let name = prop.name.as_str();
            let key = name.to_ascii_lowercase();
            if seen.contains(&key) {
                return Err(ExportError::property(name, "is specified more than once"));
            }
            seen.push(key.clone());
            let value = &prop.value;
            match key.as_str() {
                "sizelimit" => opts.size_limit = parse_size_limit(name, value)?,
                "includeheaders" => opts.include_headers = parse_include_headers(name, value)?,
                "fileextension" => opts.file_extension = Some(parse_file_extension(name, value)?),
                "nameprefix" => opts.name_prefix = Some(parse_name_prefix(name, value)?),
                "encoding" => opts.encoding = parse_encoding(name, value)?,
                "compressiontype" => compression_type = Some(parse_compression(name, value)?),
                "compressed" => compressed_prop = parse_bool(name, value)?,
                "distribution" => distribution = Some(parse_distribution(name, value)?),
                "distributed" => distributed = Some(parse_bool(name, value)?),
                "parquetrowgroupsize" => {
                    opts.parquet_row_group_size = parse_row_group_size(name, value)?
                }
                "persistdetails" => opts.persist_details = Some(parse_bool(name, value)?),
                _ => {
                    return Err(ExportError::property(
                        name,
                        format!(
                            "unknown export property; supported: {}",
                            PROPERTY_NAMES.join(", ")
                        ),
                    ))
                }
            }
        }

        opts.compression = match compression_type {
            Some(Compression::Snappy) if is_text(format) => {
                return Err(ExportError::property(
                    property_name(props, "compressionType"),
                    format!(
                        "snappy is only for parquet; for {} use gzip, zstd or none",
                        format.map(|f| f.name()).unwrap_or("text")
                    ),
                ));
            }
            Some(c) => c,
            None => default_compression(format, compressed || compressed_prop),
        };

        opts.distribution = match (distributed, distribution) {
            (Some(false), Some(d)) if d != Distribution::Single => {
                return Err(ExportError::property(
                    property_name(props, "distributed"),
                    format!(
                        "distributed=false means distribution 'single' and conflicts with \
                         distribution '{d}'"
                    ),
                ));
            }
            (Some(false), _) => Distribution::Single,
            (_, Some(d)) => d,
            (_, None) => default_distribution,
        };
        Ok(opts)
    }

    /// The artifact file extension, with its leading dot: `".csv"`,
    /// `".csv.gz"`, `".json.zst"`, `".parquet"`.
    ///
    /// A custom `fileExtension` replaces the format's name; for compressed
    /// text formats `.gz` / `.zst` is appended unless the custom extension
    /// already ends with it. Parquet compresses inside the file, so its
    /// extension never gets a compression suffix.
    pub fn file_extension(&self, format: DataFormat) -> String {
        let base = self.file_extension.as_deref().unwrap_or(format.name());
        let mut ext = String::with_capacity(base.len() + 5);
        if !base.is_empty() {
            ext.push('.');
            ext.push_str(base);
        }
        if format != DataFormat::Parquet {
            let suffix = self.compression.text_suffix();
            if !suffix.is_empty() && !ext.to_ascii_lowercase().ends_with(suffix) {
                ext.push_str(suffix);
            }
        }
        ext
    }

    /// The Parquet codec of [`Self::compression`].
    pub fn parquet_compression(&self) -> ParquetCompression {
        self.compression.parquet_codec()
    }

    /// Whether text artifacts start with a byte order mark.
    pub fn bom(&self) -> bool {
        self.encoding == Encoding::Utf8Bom
    }
}

/// Text formats compress the stream; `None` (unknown) is treated like text
/// except that snappy is accepted.
fn is_text(format: Option<DataFormat>) -> bool {
    matches!(
        format,
        Some(DataFormat::Csv | DataFormat::Tsv | DataFormat::Json)
    )
}

fn default_compression(format: Option<DataFormat>, compressed: bool) -> Compression {
    match format {
        Some(DataFormat::Parquet) => Compression::Snappy,
        _ if compressed => Compression::Gzip,
        _ => Compression::None,
    }
}

/// The property name as the user wrote it (for error messages).
fn property_name<'a>(props: &'a [Property], name: &'a str) -> &'a str {
    props
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .map(|p| p.name.as_str())
        .unwrap_or(name)
}

/// A short, secret-free rendering of a value for error messages.
fn show(value: &PropertyValue) -> String {
    match value {
        PropertyValue::String(s) if s.is_obfuscated() => s.to_string(),
        PropertyValue::String(s) => format!("'{}'", truncate(s.expose())),
        PropertyValue::Identifier(s) => truncate(s),
        PropertyValue::Bool(b) => b.to_string(),
        PropertyValue::Integer(i) => i.to_string(),
        PropertyValue::Float(f) => f.to_string(),
        PropertyValue::Timespan(d) => format!("{d:?}"),
    }
}

fn truncate(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

fn text<'a>(name: &str, value: &'a PropertyValue, expected: &str) -> Result<&'a str> {
    value.as_str().ok_or_else(|| {
        ExportError::property(name, format!("expected {expected}, got {}", show(value)))
    })
}

/// Lower case without `_`, `-` and spaces, so `per_shard`, `PerShard` and
/// `UTF-8-BOM` compare equal to their canonical forms.
fn normalized(s: &str) -> String {
    s.trim()
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn parse_bool(name: &str, value: &PropertyValue) -> Result<bool> {
    value.as_bool().ok_or_else(|| {
        ExportError::property(name, format!("expected true or false, got {}", show(value)))
    })
}

fn parse_size_limit(name: &str, value: &PropertyValue) -> Result<u64> {
    let range =
        format!("a number of bytes from {MIN_SIZE_LIMIT} (1 MiB) to {MAX_SIZE_LIMIT} (4 GiB)");
    let n = value.as_i64().ok_or_else(|| {
        ExportError::property(name, format!("expected {range}, got {}", show(value)))
    })?;
    match u64::try_from(n) {
        Ok(n) if (MIN_SIZE_LIMIT..=MAX_SIZE_LIMIT).contains(&n) => Ok(n),
        _ => Err(ExportError::property(
            name,
            format!("{} is out of range; expected {range}", show(value)),
        )),
    }
}

fn parse_row_group_size(name: &str, value: &PropertyValue) -> Result<usize> {
    let range = format!("a number of rows from 1 to {MAX_PARQUET_ROW_GROUP_SIZE}");
    let n = value.as_i64().ok_or_else(|| {
        ExportError::property(name, format!("expected {range}, got {}", show(value)))
    })?;
    match usize::try_from(n) {
        Ok(n) if (1..=MAX_PARQUET_ROW_GROUP_SIZE).contains(&n) => Ok(n),
        _ => Err(ExportError::property(
            name,
            format!("{} is out of range; expected {range}", show(value)),
        )),
    }
}

fn parse_include_headers(name: &str, value: &PropertyValue) -> Result<IncludeHeaders> {
    const EXPECTED: &str = "'none', 'all' or 'firstFile'";
    let s = text(name, value, EXPECTED)?;
    match normalized(s).as_str() {
        "none" => Ok(IncludeHeaders::None),
        "all" => Ok(IncludeHeaders::All),
        "firstfile" => Ok(IncludeHeaders::FirstFile),
        _ => Err(ExportError::property(
            name,
            format!("expected {EXPECTED}, got {}", show(value)),
        )),
    }
}

fn parse_encoding(name: &str, value: &PropertyValue) -> Result<Encoding> {
    const EXPECTED: &str = "'UTF8NoBOM' or 'UTF8BOM'";
    let s = text(name, value, EXPECTED)?;
    match normalized(s).as_str() {
        "utf8nobom" | "utf8" => Ok(Encoding::Utf8NoBom),
        "utf8bom" => Ok(Encoding::Utf8Bom),
        _ => Err(ExportError::property(
            name,
            format!("expected {EXPECTED}, got {}", show(value)),
        )),
    }
}

fn parse_compression(name: &str, value: &PropertyValue) -> Result<Compression> {
    const EXPECTED: &str = "'gzip', 'zstd', 'snappy' (parquet only) or 'none'";
    let s = text(name, value, EXPECTED)?;
    match normalized(s).as_str() {
        "gzip" | "gz" => Ok(Compression::Gzip),
        "zstd" | "zstandard" => Ok(Compression::Zstd),
        "snappy" => Ok(Compression::Snappy),
        "none" | "uncompressed" => Ok(Compression::None),
        _ => Err(ExportError::property(
            name,
            format!("expected {EXPECTED}, got {}", show(value)),
        )),
    }
}

fn parse_distribution(name: &str, value: &PropertyValue) -> Result<Distribution> {
    const EXPECTED: &str = "'single', 'per_shard' or 'per_node'";
    let s = text(name, value, EXPECTED)?;
    match normalized(s).as_str() {
        "single" => Ok(Distribution::Single),
        "pershard" => Ok(Distribution::PerShard),
        "pernode" => Ok(Distribution::PerNode),
        _ => Err(ExportError::property(
            name,
            format!("expected {EXPECTED}, got {}", show(value)),
        )),
    }
}

/// Problems shared by `namePrefix` and `fileExtension`.
fn path_problem(s: &str) -> Option<&'static str> {
    if s.contains('/') || s.contains('\\') {
        Some("must not contain path separators ('/' or '\\')")
    } else if s.contains("..") {
        Some("must not contain '..'")
    } else if s.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else {
        None
    }
}

fn parse_name_prefix(name: &str, value: &PropertyValue) -> Result<String> {
    let s = text(name, value, "a string")?;
    if s.is_empty() {
        return Err(ExportError::property(name, "must not be empty"));
    }
    if s.len() > MAX_NAME_PREFIX_LEN {
        return Err(ExportError::property(
            name,
            format!(
                "is {} bytes long; at most {MAX_NAME_PREFIX_LEN} are allowed",
                s.len()
            ),
        ));
    }
    if let Some(problem) = path_problem(s) {
        return Err(ExportError::property(
            name,
            format!("{problem}, got {}", show(value)),
        ));
    }
    Ok(s.to_string())
}

fn parse_file_extension(name: &str, value: &PropertyValue) -> Result<String> {
    let s = text(name, value, "a string such as '.csv'")?;
    let trimmed = s.strip_prefix('.').unwrap_or(s);
    if trimmed.is_empty() {
        return Err(ExportError::property(
            name,
            "must not be empty; expected an extension such as '.csv'",
        ));
    }
    if trimmed.len() > MAX_FILE_EXTENSION_LEN {
        return Err(ExportError::property(
            name,
            format!(
                "is {} bytes long; at most {MAX_FILE_EXTENSION_LEN} are allowed",
                trimmed.len()
            ),
        ));
    }
    if let Some(problem) = path_problem(trimmed) {
        return Err(ExportError::property(
            name,
            format!("{problem}, got {}", show(value)),
        ));
    }
    if trimmed.starts_with('.') || trimmed.chars().any(char::is_whitespace) {
        return Err(ExportError::property(
            name,
            format!(
                "expected an extension such as '.csv' (one leading dot, no spaces), got {}",
                show(value)
            ),
        ));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::SecretString;

    fn s(v: &str) -> PropertyValue {
        PropertyValue::String(SecretString::new(v, false))
    }

    fn id(v: &str) -> PropertyValue {
        PropertyValue::Identifier(v.to_string())
    }

    fn p(name: &str, value: PropertyValue) -> Property {
        Property {
            name: name.to_string(),
            value,
        }
    }

    fn parse(props: Vec<Property>, format: DataFormat) -> Result<ExportOptions> {
        ExportOptions::parse(&props, Some(format), false, Distribution::PerShard)
    }

    fn err(props: Vec<Property>, format: DataFormat) -> String {
        parse(props, format).unwrap_err().to_string()
    }

    #[test]
    fn defaults() {
        let o = parse(vec![], DataFormat::Csv).unwrap();
        assert_eq!(o.size_limit, 104_857_600);
        assert_eq!(o.include_headers, IncludeHeaders::None);
        assert_eq!(o.file_extension, None);
        assert_eq!(o.name_prefix, None);
        assert_eq!(o.encoding, Encoding::Utf8NoBom);
        assert_eq!(o.compression, Compression::None);
        assert_eq!(o.distribution, Distribution::PerShard);
        assert_eq!(o.parquet_row_group_size, 100_000);
        assert_eq!(o.persist_details, None);
        assert!(!o.bom());
        assert_eq!(o.file_extension(DataFormat::Csv), ".csv");
        assert_eq!(
            o,
            ExportOptions::defaults(Some(DataFormat::Csv), false, Distribution::PerShard)
        );

        let o = ExportOptions::parse(&[], None, false, Distribution::PerNode).unwrap();
        assert_eq!(o.distribution, Distribution::PerNode);
        assert_eq!(o.compression, Compression::None);
    }

    #[test]
    fn size_limit() {
        let o = parse(
            vec![p("sizeLimit", PropertyValue::Integer(1_048_576))],
            DataFormat::Csv,
        )
        .unwrap();
        assert_eq!(o.size_limit, 1_048_576);
        let o = parse(vec![p("SIZELIMIT", s("4294967296"))], DataFormat::Csv).unwrap();
        assert_eq!(o.size_limit, 4_294_967_296);
        for bad in [1_048_575i64, 4_294_967_297, 0, -5] {
            let e = err(
                vec![p("sizeLimit", PropertyValue::Integer(bad))],
                DataFormat::Csv,
            );
            assert!(e.contains("sizeLimit"), "{e}");
            assert!(e.contains("out of range"), "{e}");
            assert!(e.contains("1048576 (1 MiB) to 4294967296 (4 GiB)"), "{e}");
        }
        let e = err(vec![p("sizeLimit", s("big"))], DataFormat::Csv);
        assert!(e.contains("expected a number of bytes"), "{e}");
        let e = err(
            vec![p("sizeLimit", PropertyValue::Float(1e7))],
            DataFormat::Csv,
        );
        assert!(e.contains("expected a number of bytes"), "{e}");
    }

    #[test]
    fn include_headers() {
        for (v, expected) in [
            ("none", IncludeHeaders::None),
            ("all", IncludeHeaders::All),
            ("firstFile", IncludeHeaders::FirstFile),
            ("FIRSTFILE", IncludeHeaders::FirstFile),
        ] {
            let o = parse(vec![p("includeHeaders", s(v))], DataFormat::Csv).unwrap();
            assert_eq!(o.include_headers, expected, "{v}");
            let o = parse(vec![p("includeheaders", id(v))], DataFormat::Tsv).unwrap();
            assert_eq!(o.include_headers, expected, "{v}");
        }
        let e = err(vec![p("includeHeaders", s("some"))], DataFormat::Csv);
        assert!(e.contains("'none', 'all' or 'firstFile'"), "{e}");
        assert!(e.contains("'some'"), "{e}");
        let e = err(
            vec![p("includeHeaders", PropertyValue::Bool(true))],
            DataFormat::Csv,
        );
        assert!(e.contains("'none', 'all' or 'firstFile'"), "{e}");

        assert!(!IncludeHeaders::None.for_artifact(0));
        assert!(IncludeHeaders::All.for_artifact(0));
        assert!(IncludeHeaders::All.for_artifact(7));
        assert!(IncludeHeaders::FirstFile.for_artifact(0));
        assert!(!IncludeHeaders::FirstFile.for_artifact(1));
    }

    #[test]
    fn file_extension() {
        let o = parse(vec![p("fileExtension", s(".txt"))], DataFormat::Csv).unwrap();
        assert_eq!(o.file_extension.as_deref(), Some("txt"));
        assert_eq!(o.file_extension(DataFormat::Csv), ".txt");
        let o = parse(vec![p("FileExtension", s("dat"))], DataFormat::Csv).unwrap();
        assert_eq!(o.file_extension.as_deref(), Some("dat"));
        assert_eq!(o.file_extension(DataFormat::Csv), ".dat");

        let o = ExportOptions::parse(
            &[p("fileExtension", s(".txt"))],
            Some(DataFormat::Csv),
            true,
            Distribution::PerShard,
        )
        .unwrap();
        assert_eq!(o.file_extension(DataFormat::Csv), ".txt.gz");
        let o = ExportOptions::parse(
            &[p("fileExtension", s(".csv.gz"))],
            Some(DataFormat::Csv),
            true,
            Distribution::PerShard,
        )
        .unwrap();
        assert_eq!(
            o.file_extension(DataFormat::Csv),
            ".csv.gz",
            "no double suffix"
        );
        let o = parse(
            vec![
                p("fileExtension", s(".pq")),
                p("compressionType", s("gzip")),
            ],
            DataFormat::Parquet,
        )
        .unwrap();
        assert_eq!(o.file_extension(DataFormat::Parquet), ".pq");

        for bad in [
            "a/b", "a\\b", "..", "x..y", "", ".", "..csv", "c sv", "a\tb",
        ] {
            let e = err(vec![p("fileExtension", s(bad))], DataFormat::Csv);
            assert!(e.contains("fileExtension"), "{bad}: {e}");
        }
        let e = err(vec![p("fileExtension", s("a/b"))], DataFormat::Csv);
        assert!(e.contains("path separators"), "{e}");
        let e = err(
            vec![p("fileExtension", s(&"x".repeat(51)))],
            DataFormat::Csv,
        );
        assert!(e.contains("at most 50"), "{e}");
    }

    #[test]
    fn default_extensions() {
        let cases = [
            (DataFormat::Csv, false, None, ".csv"),
            (DataFormat::Csv, true, None, ".csv.gz"),
            (DataFormat::Tsv, true, None, ".tsv.gz"),
            (DataFormat::Json, false, Some("zstd"), ".json.zst"),
            (DataFormat::Json, true, Some("zstd"), ".json.zst"),
            (DataFormat::Csv, true, Some("none"), ".csv"),
            (DataFormat::Parquet, false, None, ".parquet"),
            (DataFormat::Parquet, true, None, ".parquet"),
            (DataFormat::Parquet, true, Some("gzip"), ".parquet"),
            (DataFormat::Parquet, false, Some("zstd"), ".parquet"),
        ];
        for (format, compressed, ctype, expected) in cases {
            let props: Vec<Property> = ctype
                .map(|c| vec![p("compressionType", s(c))])
                .unwrap_or_default();
            let o = ExportOptions::parse(&props, Some(format), compressed, Distribution::Single)
                .unwrap();
            assert_eq!(
                o.file_extension(format),
                expected,
                "{format} {compressed} {ctype:?}"
            );
        }
    }

    #[test]
    fn name_prefix() {
        let o = parse(vec![p("namePrefix", s("export"))], DataFormat::Csv).unwrap();
        assert_eq!(o.name_prefix.as_deref(), Some("export"));
        let o = parse(vec![p("NamePrefix", id("daily_2026.11"))], DataFormat::Csv).unwrap();
        assert_eq!(o.name_prefix.as_deref(), Some("daily_2026.11"));
        let ok = "x".repeat(200);
        assert!(parse(vec![p("namePrefix", s(&ok))], DataFormat::Csv).is_ok());

        let cases = [
            ("", "must not be empty"),
            ("a/b", "path separators"),
            ("a\\b", "path separators"),
            ("..", "'..'"),
            ("a..b", "'..'"),
            ("a\nb", "control characters"),
            ("a\u{0}b", "control characters"),
        ];
        for (bad, why) in cases {
            let e = err(vec![p("namePrefix", s(bad))], DataFormat::Csv);
            assert!(e.contains("namePrefix"), "{bad:?}: {e}");
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        let e = err(vec![p("namePrefix", s(&"x".repeat(201)))], DataFormat::Csv);
        assert!(e.contains("at most 200"), "{e}");
        let e = err(
            vec![p("namePrefix", PropertyValue::Integer(5))],
            DataFormat::Csv,
        );
        assert!(e.contains("expected a string"), "{e}");
    }

    #[test]
    fn encoding() {
        for (v, expected) in [
            ("UTF8NoBOM", Encoding::Utf8NoBom),
            ("utf8nobom", Encoding::Utf8NoBom),
            ("UTF8BOM", Encoding::Utf8Bom),
            ("utf-8-bom", Encoding::Utf8Bom),
        ] {
            let o = parse(vec![p("encoding", s(v))], DataFormat::Csv).unwrap();
            assert_eq!(o.encoding, expected, "{v}");
        }
        assert!(parse(vec![p("encoding", s("UTF8BOM"))], DataFormat::Csv)
            .unwrap()
            .bom());
        let e = err(vec![p("encoding", s("latin1"))], DataFormat::Csv);
        assert!(e.contains("'UTF8NoBOM' or 'UTF8BOM'"), "{e}");
    }

    #[test]
    fn compression_rules() {
        let case = |format, compressed, ctype: Option<&str>| {
            let props: Vec<Property> = ctype
                .map(|c| vec![p("compressionType", s(c))])
                .unwrap_or_default();
            ExportOptions::parse(&props, Some(format), compressed, Distribution::Single)
                .map(|o| o.compression)
        };
        use Compression as C;
        use DataFormat as F;
        assert_eq!(case(F::Csv, false, None).unwrap(), C::None);
        assert_eq!(case(F::Csv, true, None).unwrap(), C::Gzip);
        assert_eq!(case(F::Json, true, None).unwrap(), C::Gzip);
        assert_eq!(case(F::Tsv, false, Some("gzip")).unwrap(), C::Gzip);
        assert_eq!(case(F::Csv, true, Some("zstd")).unwrap(), C::Zstd);
        assert_eq!(case(F::Csv, true, Some("none")).unwrap(), C::None);
        assert_eq!(case(F::Csv, false, Some("GZIP")).unwrap(), C::Gzip);
        assert_eq!(case(F::Parquet, false, None).unwrap(), C::Snappy);
        assert_eq!(case(F::Parquet, true, None).unwrap(), C::Snappy);
        assert_eq!(case(F::Parquet, true, Some("gzip")).unwrap(), C::Gzip);
        assert_eq!(case(F::Parquet, false, Some("zstd")).unwrap(), C::Zstd);
        assert_eq!(case(F::Parquet, false, Some("none")).unwrap(), C::None);
        assert_eq!(case(F::Parquet, false, Some("snappy")).unwrap(), C::Snappy);
        for f in [F::Csv, F::Tsv, F::Json] {
            let e = case(f, true, Some("snappy")).unwrap_err().to_string();
            assert!(e.contains("snappy is only for parquet"), "{e}");
            assert!(e.contains("compressionType"), "{e}");
        }
        let e = case(F::Csv, false, Some("lz4")).unwrap_err().to_string();
        assert!(
            e.contains("'gzip', 'zstd', 'snappy' (parquet only) or 'none'"),
            "{e}"
        );

        // `compressed` as a property (as in external table definitions).
        let o = parse(vec![p("compressed", PropertyValue::Bool(true))], F::Csv).unwrap();
        assert_eq!(o.compression, C::Gzip);

        // Unknown format (e.g. a Delta target): snappy accepted.
        let o = ExportOptions::parse(
            &[p("compressionType", s("snappy"))],
            None,
            false,
            Distribution::PerNode,
        )
        .unwrap();
        assert_eq!(o.compression, C::Snappy);
        let o = ExportOptions::parse(&[], None, true, Distribution::PerNode).unwrap();
        assert_eq!(o.compression, C::Gzip);
    }

    #[test]
    fn parquet_codecs() {
        let codec = |ctype: Option<&str>| {
            let props: Vec<Property> = ctype
                .map(|c| vec![p("compressionType", s(c))])
                .unwrap_or_default();
            parse(props, DataFormat::Parquet)
                .unwrap()
                .parquet_compression()
        };
        assert_eq!(codec(None), ParquetCompression::SNAPPY);
        assert_eq!(codec(Some("none")), ParquetCompression::UNCOMPRESSED);
        assert!(matches!(codec(Some("gzip")), ParquetCompression::GZIP(_)));
        assert!(matches!(codec(Some("zstd")), ParquetCompression::ZSTD(_)));
    }

    #[test]
    fn distribution() {
        for (v, expected) in [
            ("single", Distribution::Single),
            ("per_shard", Distribution::PerShard),
            ("PER_NODE", Distribution::PerNode),
            ("perNode", Distribution::PerNode),
        ] {
            let o = ExportOptions::parse(
                &[p("distribution", s(v))],
                Some(DataFormat::Csv),
                false,
                Distribution::PerShard,
            )
            .unwrap();
            assert_eq!(o.distribution, expected, "{v}");
        }
        let e = err(vec![p("distribution", s("everywhere"))], DataFormat::Csv);
        assert!(e.contains("'single', 'per_shard' or 'per_node'"), "{e}");

        let o = parse(
            vec![p("distributed", PropertyValue::Bool(false))],
            DataFormat::Csv,
        )
        .unwrap();
        assert_eq!(o.distribution, Distribution::Single);
        let o = parse(vec![p("distributed", s("true"))], DataFormat::Csv).unwrap();
        assert_eq!(o.distribution, Distribution::PerShard);
        let o = parse(
            vec![
                p("distributed", PropertyValue::Bool(true)),
                p("distribution", s("per_node")),
            ],
            DataFormat::Csv,
        )
        .unwrap();
        assert_eq!(o.distribution, Distribution::PerNode);
        let o = parse(
            vec![
                p("distributed", PropertyValue::Bool(false)),
                p("distribution", s("single")),
            ],
            DataFormat::Csv,
        )
        .unwrap();
        assert_eq!(o.distribution, Distribution::Single);
        let e = err(
            vec![
                p("distribution", s("per_node")),
                p("Distributed", PropertyValue::Bool(false)),
            ],
            DataFormat::Csv,
        );
        assert!(e.contains("Distributed"), "{e}");
        assert!(e.contains("conflicts"), "{e}");
        let e = err(vec![p("distributed", s("maybe"))], DataFormat::Csv);
        assert!(e.contains("expected true or false"), "{e}");
    }

    #[test]
    fn parquet_row_group_size() {
        let o = parse(
            vec![p("parquetRowGroupSize", PropertyValue::Integer(5000))],
            DataFormat::Parquet,
        )
        .unwrap();
        assert_eq!(o.parquet_row_group_size, 5000);
        for ok in [1i64, 10_000_000] {
            assert!(parse(
                vec![p("parquetRowGroupSize", PropertyValue::Integer(ok))],
                DataFormat::Parquet
            )
            .is_ok());
        }
        for bad in [0i64, -1, 10_000_001] {
            let e = err(
                vec![p("parquetRowGroupSize", PropertyValue::Integer(bad))],
                DataFormat::Parquet,
            );
            assert!(e.contains("from 1 to 10000000"), "{e}");
        }
        let e = err(
            vec![p("parquetRowGroupSize", s("many"))],
            DataFormat::Parquet,
        );
        assert!(e.contains("expected a number of rows"), "{e}");
    }

    #[test]
    fn persist_details() {
        let o = parse(
            vec![p("persistDetails", PropertyValue::Bool(true))],
            DataFormat::Csv,
        )
        .unwrap();
        assert_eq!(o.persist_details, Some(true));
        let o = parse(vec![p("PERSISTDETAILS", s("false"))], DataFormat::Csv).unwrap();
        assert_eq!(o.persist_details, Some(false));
        let e = err(
            vec![p("persistDetails", PropertyValue::Integer(1))],
            DataFormat::Csv,
        );
        assert!(e.contains("expected true or false"), "{e}");
    }

    #[test]
    fn unknown_and_duplicate_properties() {
        let e = err(
            vec![p("sizeLimitt", PropertyValue::Integer(5))],
            DataFormat::Csv,
        );
        assert!(e.contains("property 'sizeLimitt'"), "{e}");
        assert!(
            e.contains("unknown export property; supported: sizeLimit"),
            "{e}"
        );
        assert!(e.contains("parquetRowGroupSize"), "{e}");
        let e = err(
            vec![
                p("sizeLimit", PropertyValue::Integer(2_000_000)),
                p("SizeLimit", PropertyValue::Integer(3_000_000)),
            ],
            DataFormat::Csv,
        );
        assert!(e.contains("more than once"), "{e}");
        assert!(is_export_property("SIZELIMIT"));
        assert!(!is_export_property("intervalBetweenRuns"));
    }

    #[test]
    fn errors_never_show_obfuscated_values() {
        let secret = PropertyValue::String(SecretString::new("TOP/SECRET..", true));
        for name in ["namePrefix", "encoding", "sizeLimit", "distribution"] {
            let e = err(vec![p(name, secret.clone())], DataFormat::Csv);
            assert!(!e.contains("SECRET"), "{e}");
        }
        // Numbers out of range in an obfuscated literal do not show either.
        let secret = PropertyValue::String(SecretString::new("987654321987", true));
        for name in ["sizeLimit", "parquetRowGroupSize"] {
            let e = err(vec![p(name, secret.clone())], DataFormat::Parquet);
            assert!(!e.contains("987654321987"), "{e}");
            assert!(e.contains("out of range"), "{e}");
        }
    }

    #[test]
    fn all_properties_together() {
        let o = ExportOptions::parse(
            &[
                p("sizeLimit", PropertyValue::Integer(2_000_000)),
                p("includeHeaders", s("all")),
                p("fileExtension", s(".txt")),
                p("namePrefix", s("export")),
                p("encoding", s("UTF8BOM")),
                p("compressionType", s("zstd")),
                p("distribution", s("per_node")),
                p("distributed", PropertyValue::Bool(true)),
                p("parquetRowGroupSize", PropertyValue::Integer(10)),
                p("persistDetails", PropertyValue::Bool(true)),
            ],
            Some(DataFormat::Tsv),
            true,
            Distribution::PerShard,
        )
        .unwrap();
        assert_eq!(
            o,
            ExportOptions {
                size_limit: 2_000_000,
                include_headers: IncludeHeaders::All,
                file_extension: Some("txt".into()),
                name_prefix: Some("export".into()),
                encoding: Encoding::Utf8Bom,
                compression: Compression::Zstd,
                distribution: Distribution::PerNode,
                parquet_row_group_size: 10,
                persist_details: Some(true),
            }
        );
        assert_eq!(o.file_extension(DataFormat::Tsv), ".txt.zst");
    }
}
