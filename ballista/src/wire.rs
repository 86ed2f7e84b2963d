//! The serialized forms of our plan nodes, and what travels with them.
//!
//! Secrets never travel: a target's URL goes without its key or SAS token, and only
//! object-store options that are not credentials go along. Executors authenticate
//! with their own credentials (their environment, `--storage-option`), so nothing
//! secret sits in plan bytes, job settings or the logs that print them.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion_export::command::{DataFormat, PartitionDef, SecretString};
use datafusion_export::export::options::ExportOptions;
use datafusion_export::export::partition::Partitioner;
use datafusion_export::export::path_format::PathLayout;
use datafusion_export::export::sink_exec::ExportSpec;
use datafusion_export::export::target::{resolve_target, StorageTarget, TargetSource};
use datafusion_export_tables::ScanScope;
use datafusion_export_udfs::{Cursor, CursorRange};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ClusterError, Result};

/// Whether an object-store option's value is a credential (kept off the wire).
pub fn is_secret_option(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["key", "secret", "token", "password", "sas", "credential"]
        .iter()
        .any(|word| key.contains(word))
}

/// The options of `options` that may travel.
pub fn public_options(options: &[(String, String)]) -> Vec<(String, String)> {
    options
        .iter()
        .filter(|(k, _)| !is_secret_option(k))
        .cloned()
        .collect()
}

/// `location` without the secrets a URL may carry: Azure's `;KEY` suffix, a query
/// with a SAS token or signature (as [`datafusion_export_tables::scrub_secrets`]
/// tells them), a password. Local paths are kept as they are.
pub fn public_location(location: &str) -> String {
    let Ok(parsed) = url::Url::parse(location) else {
        return location.to_string();
    };
    if parsed.scheme().len() <= 1 || parsed.scheme() == "file" {
        return location.to_string();
    }
    let bare = location.split_once(';').map_or(location, |(l, _)| l);
    let Ok(mut url) = url::Url::parse(bare) else {
        return datafusion_export_tables::scrub_secrets(bare);
    };
    if url
        .query()
        .is_some_and(datafusion_export_tables::query_has_secret)
    {
        url.set_query(None);
    }
    let _ = url.set_password(None);
    url.to_string()
}

/// One export target, as it travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetWire {
    /// Where, without secrets.
    pub location: String,
    /// Object-store options that are not credentials.
    pub storage_options: Vec<(String, String)>,
    /// What users see.
    pub display: String,
}

/// `ExportExec`'s spec, as it travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportWire {
    /// Destinations.
    pub targets: Vec<TargetWire>,
    /// Artifact format.
    pub format: DataFormat,
    /// Validated properties.
    pub options: ExportOptions,
    /// `partition by`, recompiled against the input's schema on decode.
    pub partition_defs: Option<Vec<PartitionDef>>,
    /// The partitions' path layout.
    pub layout: Option<PathLayout>,
    /// The input columns written into files, when not all.
    pub data_columns: Option<Vec<usize>>,
    /// Open artifacts per writer.
    pub max_open_writers: usize,
    /// The attempt every artifact name carries.
    pub attempt: Uuid,
}

impl ExportWire {
    /// The travelling form of `spec`; fails for a target that another process
    /// cannot open (an in-memory store, or a store handed in directly).
    pub fn from_spec(spec: &ExportSpec) -> Result<Self> {
        let targets = spec
            .targets
            .iter()
            .map(|t| {
                let source = t.source.as_ref().ok_or_else(|| {
                    ClusterError::Unsupported(format!(
                        "export target '{}' was not given as a URL, so a cluster's executors cannot open it",
                        t.display
                    ))
                })?;
                let location = source.url.expose().trim();
                if location.starts_with("memory:") {
                    return Err(ClusterError::Unsupported(format!(
                        "export target '{}' is in memory: a cluster's executors are other processes; use a shared store (s3://, az://, gs://) or a shared folder",
                        t.display
                    )));
                }
                Ok(TargetWire {
                    location: public_location(location),
                    storage_options: public_options(&source.storage_options),
                    display: t.display.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let (partition_defs, layout) = match &spec.partitioning {
            Some((partitioner, layout)) => {
                (Some(partitioner.defs().to_vec()), Some(layout.clone()))
            }
            None => (None, None),
        };
        Ok(Self {
            targets,
            format: spec.format,
            options: spec.options.clone(),
            partition_defs,
            layout,
            data_columns: spec.data_columns.clone(),
            max_open_writers: spec.max_open_writers,
            attempt: spec.attempt,
        })
    }

    /// The spec again, in the decoding process: targets are opened with `runtime`'s
    /// registered stores or from their URL, with `local_options` (this process's
    /// credentials and settings) after the travelling ones.
    pub fn into_spec(
        self,
        input_schema: &SchemaRef,
        runtime: &RuntimeEnv,
        local_options: &[(String, String)],
    ) -> Result<ExportSpec> {
        let targets = self
            .targets
            .into_iter()
            .map(|t| {
                let mut options = t.storage_options.clone();
                options.extend(local_options.iter().cloned());
                let url = SecretString::new(t.location.clone(), false);
                let resolved = resolve_target(&url, Some(runtime), &options)?;
                Ok(StorageTarget {
                    store: resolved.store,
                    display: t.display,
                    source: Some(TargetSource {
                        url,
                        storage_options: t.storage_options,
                    }),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let partitioning = match (self.partition_defs, self.layout) {
            (Some(defs), Some(layout)) => {
                Some((Partitioner::try_new(&defs, input_schema)?, layout))
            }
            (None, None) => None,
            _ => {
                return Err(ClusterError::Codec(
                    "an export's partitions came without their layout".into(),
                ))
            }
        };
        Ok(ExportSpec {
            targets,
            format: self.format,
            options: self.options,
            partitioning,
            data_columns: self.data_columns,
            max_open_writers: self.max_open_writers,
            progress: Arc::default(),
            attempt: self.attempt,
            written: Arc::default(),
            distributed: true,
        })
    }
}

/// `ExtentScanExec`'s scope, as it travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtentScanWire {
    /// Table name.
    pub table: String,
    /// Exclusive lower cursor.
    pub after: String,
    /// Inclusive upper cursor, if bounded.
    pub at_or_before: Option<String>,
    /// Extents read.
    pub extents_scanned: usize,
    /// Extents in all.
    pub extents_total: usize,
    /// Bytes read.
    pub bytes_scanned: u64,
}

impl From<&ScanScope> for ExtentScanWire {
    fn from(scope: &ScanScope) -> Self {
        Self {
            table: scope.table.clone(),
            after: scope.range.after.to_string(),
            at_or_before: scope.range.at_or_before.map(|c| c.to_string()),
            extents_scanned: scope.extents_scanned,
            extents_total: scope.extents_total,
            bytes_scanned: scope.bytes_scanned,
        }
    }
}

impl ExtentScanWire {
    /// The scope again.
    pub fn into_scope(self) -> Result<ScanScope> {
        let cursor = |text: &str| {
            text.parse::<Cursor>()
                .map_err(|e| ClusterError::Codec(format!("cursor '{text}': {e}")))
        };
        Ok(ScanScope {
            range: CursorRange {
                after: cursor(&self.after)?,
                at_or_before: self.at_or_before.as_deref().map(cursor).transpose()?,
            },
            table: self.table,
            extents_scanned: self.extents_scanned,
            extents_total: self.extents_total,
            bytes_scanned: self.bytes_scanned,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_home() {
        assert_eq!(
            public_location("https://acct.blob.core.windows.net/c/x;SECRETKEY=="),
            "https://acct.blob.core.windows.net/c/x"
        );
        assert_eq!(
            public_location("https://acct.blob.core.windows.net/c/x?sv=1&sig=SIGNATURE"),
            "https://acct.blob.core.windows.net/c/x"
        );
        assert_eq!(public_location("s3://bucket/out"), "s3://bucket/out");
        assert_eq!(public_location("/tmp/out;x"), "/tmp/out;x");
        let kept = public_options(&[
            ("aws_endpoint".into(), "http://127.0.0.1:1".into()),
            ("aws_secret_access_key".into(), "S".into()),
            ("azure_storage_account_key".into(), "K".into()),
            ("aws_session_token".into(), "T".into()),
            ("aws_region".into(), "r".into()),
        ]);
        assert_eq!(
            kept,
            vec![
                ("aws_endpoint".to_string(), "http://127.0.0.1:1".to_string()),
                ("aws_region".to_string(), "r".to_string())
            ]
        );
    }
}
