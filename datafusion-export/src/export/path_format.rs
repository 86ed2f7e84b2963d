//! Where an artifact goes: partition folders (hive style or a `pathformat`), and
//! artifact names that are unique per export.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::command::PathFormatPart;
use crate::error::{ExportError, Result};
use crate::export::partition::PartitionValue;

/// The folder name of a null or empty partition value.
pub const DEFAULT_PARTITION: &str = "__DEFAULT_PARTITION__";

/// Converts a .NET-style `datetime_pattern` (`yyyy/MM/dd`, `HH`, `mm`, `ss`, `fff`,
/// quoted literals) to a chrono format string.
pub fn dotnet_to_chrono(pattern: &str) -> Result<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&d| d == c).count();
        let spec: Option<&str> = match (c, run) {
            ('y', 4) => Some("%Y"),
            ('y', 2) => Some("%y"),
            ('M', 2) => Some("%m"),
            ('M', 1) => Some("%-m"),
            ('d', 2) => Some("%d"),
            ('d', 1) => Some("%-d"),
            ('H', 2) => Some("%H"),
            ('H', 1) => Some("%-H"),
            ('h', 2) => Some("%I"),
            ('m', 2) => Some("%M"),
            ('m', 1) => Some("%-M"),
            ('s', 2) => Some("%S"),
            ('s', 1) => Some("%-S"),
            ('f', 1..=9) => None,
            ('y' | 'M' | 'd' | 'H' | 'h' | 'm' | 's', _) => {
                return Err(ExportError::Invalid(format!(
                    "datetime_pattern '{pattern}': '{}' is not a supported specifier (use yyyy, yy, MM, M, dd, d, HH, H, hh, mm, m, ss, s, f…)",
                    c.to_string().repeat(run)
                )))
            }
            _ => {
                if c == '\'' || c == '"' {
                    let end = chars[i + 1..].iter().position(|&d| d == c).ok_or_else(|| {
                        ExportError::Invalid(format!("datetime_pattern '{pattern}': unterminated quoted text"))
                    })?;
                    for &lit in &chars[i + 1..i + 1 + end] {
                        push_literal(&mut out, lit);
                    }
                    i += end + 2;
                    continue;
                }
                push_literal(&mut out, c);
                i += 1;
                continue;
            }
        };
        match spec {
            Some(s) => out.push_str(s),
            None => out.push_str(&format!("%{run}f")),
        }
        i += run;
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

/// A compiled path layout for partitioned artifacts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum PathLayout {
    /// `Name=value/` per partition.
    Hive(Vec<String>),
    /// A `pathformat`, with datetime patterns converted to chrono formats.
    Format(Vec<CompiledPart>),
}

/// One compiled piece of a `pathformat`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum CompiledPart {
    /// Fixed text.
    Literal(String),
    /// A partition's value (its index), default-formatted.
    Value(usize),
    /// A partition's datetime value (its index), formatted with a chrono format.
    Datetime(usize, String),
}

impl PathLayout {
    /// The layout for partitions `names` and an optional `pathformat`.
    pub fn try_new(names: &[String], path_format: &[PathFormatPart]) -> Result<Self> {
        if path_format.is_empty() {
            return Ok(PathLayout::Hive(names.to_vec()));
        }
        let index = |name: &str| {
            names.iter().position(|n| n == name).ok_or_else(|| {
                ExportError::Invalid(format!(
                    "pathformat refers to '{name}', which is not a partition"
                ))
            })
        };
        let parts = path_format
            .iter()
            .map(|p| {
                Ok(match p {
                    PathFormatPart::Literal(s) => CompiledPart::Literal(s.clone()),
                    PathFormatPart::Partition(name) => CompiledPart::Value(index(name)?),
                    PathFormatPart::DatetimePattern { pattern, partition } => {
                        CompiledPart::Datetime(index(partition)?, dotnet_to_chrono(pattern)?)
                    }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PathLayout::Format(parts))
    }

    /// The folder of a partition, as raw path segments. Values are kept raw: the
    /// object store path encodes what a segment cannot hold (a `/` in a value
    /// becomes `%2F`), while `/` in a `pathformat`'s literals and datetime patterns
    /// separates folders.
    pub fn folder(&self, values: &[PartitionValue]) -> Vec<String> {
        let text =
            |v: &PartitionValue| v.as_text().unwrap_or_else(|| DEFAULT_PARTITION.to_string());
        match self {
            PathLayout::Hive(names) => names
                .iter()
                .zip(values)
                .map(|(name, value)| format!("{name}={}", text(value)))
                .collect(),
            PathLayout::Format(parts) => {
                let mut segments = vec![String::new()];
                let push_structural = |segments: &mut Vec<String>, s: &str| {
                    let mut pieces = s.split('/');
                    if let (Some(first), Some(last)) = (pieces.next(), segments.last_mut()) {
                        last.push_str(first);
                    }
                    for piece in pieces {
                        segments.push(piece.to_string());
                    }
                };
                for part in parts {
                    match part {
                        CompiledPart::Literal(s) => push_structural(&mut segments, s),
                        CompiledPart::Value(i) => {
                            if let (Some(v), Some(last)) = (values.get(*i), segments.last_mut()) {
                                last.push_str(&text(v));
                            }
                        }
                        CompiledPart::Datetime(i, format) => match values.get(*i) {
                            Some(PartitionValue::Datetime(t)) => {
                                push_structural(&mut segments, &format_datetime(t, format))
                            }
                            Some(other) => {
                                if let Some(last) = segments.last_mut() {
                                    last.push_str(&text(other));
                                }
                            }
                            None => {}
                        },
                    }
                }
                segments.retain(|s| !s.is_empty());
                segments
            }
        }
    }
}

fn format_datetime(t: &DateTime<Utc>, format: &str) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    if write!(s, "{}", t.format(format)).is_err() {
        return t.to_rfc3339();
    }
    s
}

/// The file name of an artifact: `<prefix>_<attempt>_<writer>_<n><extension>`. The
/// attempt is the export (or continuous-export run attempt) that wrote it, so that its
/// files can be found and deleted when it fails; writer and sequence number make names
/// unique within it.
pub fn artifact_name(
    prefix: &str,
    attempt: Uuid,
    writer: usize,
    sequence: usize,
    extension: &str,
) -> String {
    format!(
        "{prefix}_{}_{writer}_{sequence}{extension}",
        attempt.simple()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn hive_folders_escape_and_default() {
        let layout = PathLayout::try_new(&["Region".into(), "Day".into()], &[]).unwrap();
        let day = Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap();
        let segments = layout.folder(&[
            PartitionValue::Text("E/U".into()),
            PartitionValue::Datetime(day),
        ]);
        assert_eq!(segments, vec!["Region=E/U", "Day=2026-11-21"]);
        let path: object_store::path::Path = segments
            .iter()
            .map(|s| object_store::path::PathPart::from(s.as_str()))
            .collect();
        assert_eq!(path.as_ref(), "Region=E%2FU/Day=2026-11-21");
        assert_eq!(
            layout.folder(&[PartitionValue::Default, PartitionValue::Datetime(day)]),
            vec!["Region=__DEFAULT_PARTITION__", "Day=2026-11-21"]
        );
    }

    #[test]
    fn path_formats_with_datetime_patterns() {
        let parts = vec![
            PathFormatPart::Literal("region=".into()),
            PathFormatPart::Partition("Region".into()),
            PathFormatPart::Literal("/".into()),
            PathFormatPart::DatetimePattern {
                pattern: "yyyy/MM/dd".into(),
                partition: "Day".into(),
            },
        ];
        let layout = PathLayout::try_new(&["Region".into(), "Day".into()], &parts).unwrap();
        let day = Utc.with_ymd_and_hms(2026, 3, 7, 0, 0, 0).unwrap();
        assert_eq!(
            layout.folder(&[
                PartitionValue::Text("EU".into()),
                PartitionValue::Datetime(day)
            ]),
            vec!["region=EU", "2026", "03", "07"]
        );
        assert_eq!(dotnet_to_chrono("yyyyMMdd'T'HH").unwrap(), "%Y%m%dT%H");
        assert!(dotnet_to_chrono("yyy").is_err());
        assert!(
            PathLayout::try_new(&["A".into()], &[PathFormatPart::Partition("B".into())]).is_err()
        );
    }

    #[test]
    fn names_carry_the_attempt_and_are_unique() {
        let attempt = Uuid::from_u128(0xabc);
        let a = artifact_name("export", attempt, 1, 0, ".csv");
        assert_eq!(a, format!("export_{}_1_0.csv", attempt.simple()));
        assert_ne!(a, artifact_name("export", attempt, 1, 1, ".csv"));
        assert_ne!(a, artifact_name("export", attempt, 2, 0, ".csv"));
        assert_ne!(a, artifact_name("export", Uuid::new_v4(), 1, 0, ".csv"));
    }
}
