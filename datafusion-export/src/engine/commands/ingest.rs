//! Ingestion commands: `.append`, `.set-or-append` and `.ingest into table … (urls)`.

use datafusion::arrow::array::RecordBatch;
use datafusion::datasource::file_format::options::{
    CsvReadOptions, JsonReadOptions, ParquetReadOptions,
};
use datafusion::execution::context::SessionContext;
use datafusion::execution::SendableRecordBatchStream;
use datafusion_export_tables::{scrub_secrets, Database, IngestReceipt};
use url::Url;

use crate::command::{Property, SecretString};
use crate::error::{ExportError, Result};
use crate::results::ResultBuilder;

/// The result row of an ingestion.
fn receipt_table(table: &str, receipt: &IngestReceipt) -> Result<RecordBatch> {
    ResultBuilder::new()
        .strings("TableName", [Some(table)])
        .strings("Cursor", [receipt.commit.map(|c| c.cursor.to_string())])
        .times("IngestionTime", [receipt.commit.map(|c| c.ingestion_time)])
        .longs("RowCount", [Some(receipt.rows as i64)])
        .longs("ExtentCount", [Some(receipt.extents as i64)])
        .build()
}

/// `.append` / `.set-or-append` accept no properties yet; say so rather than
/// silently ignoring one.
pub fn check_append_properties(properties: &[Property]) -> Result<()> {
    match properties.first() {
        None => Ok(()),
        Some(p) => Err(ExportError::property(
            &p.name,
            "unknown property for .append / .set-or-append (none are supported)",
        )),
    }
}

/// `.append T <| query` / `.set-or-append T <| query`: one commit.
pub async fn append(
    db: &Database,
    table: &str,
    stream: SendableRecordBatchStream,
    create_if_missing: bool,
) -> Result<RecordBatch> {
    let receipt = db.ingest_stream(table, stream, create_if_missing).await?;
    receipt_table(table, &receipt)
}

/// The data formats `.ingest` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceFormat {
    Csv,
    Tsv,
    Json,
    Parquet,
}

impl SourceFormat {
    fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "tsv" | "tsve" => Some(Self::Tsv),
            "json" | "multijson" | "ndjson" | "jsonl" => Some(Self::Json),
            "parquet" => Some(Self::Parquet),
            _ => None,
        }
    }

    fn from_path(path: &str) -> Option<Self> {
        let path = path
            .split(['?', ';'])
            .next()
            .unwrap_or(path)
            .to_ascii_lowercase();
        let ext = path.rsplit('.').next()?;
        Self::parse(ext)
    }
}

/// `.ingest into table T ('url', …) with (format=…, ignoreFirstRecord=…)`: reads the
/// files with DataFusion's readers against the table's schema and ingests them as
/// one commit; a file that does not parse fails the whole ingestion.
pub async fn ingest_from_storage(
    db: &Database,
    ctx: &SessionContext,
    table: &str,
    sources: &[SecretString],
    properties: &[Property],
) -> Result<RecordBatch> {
    let mut format = None;
    let mut ignore_first_record = false;
    for p in properties {
        match p.name.to_ascii_lowercase().as_str() {
            "format" => {
                let name = p
                    .value
                    .as_str()
                    .ok_or_else(|| ExportError::property(&p.name, "expected a format name"))?;
                format = Some(SourceFormat::parse(name).ok_or_else(|| {
                    ExportError::property(
                        &p.name,
                        format!("unknown format '{name}'; expected csv, tsv, json or parquet"),
                    )
                })?);
            }
            "ignorefirstrecord" => {
                ignore_first_record = p
                    .value
                    .as_bool()
                    .ok_or_else(|| ExportError::property(&p.name, "expected true or false"))?;
            }
            _ => {
                return Err(ExportError::property(
                    &p.name,
                    "unknown property for .ingest; supported: format, ignoreFirstRecord",
                ))
            }
        }
    }
    let Some(first) = sources.first() else {
        return Err(ExportError::Invalid(
            ".ingest needs at least one source URL".into(),
        ));
    };
    let format = match format.or_else(|| SourceFormat::from_path(first.expose())) {
        Some(f) => f,
        None => {
            return Err(ExportError::Invalid(format!(
                "cannot tell the format of '{}': add with (format='csv'|'tsv'|'json'|'parquet')",
                first.redacted()
            )))
        }
    };

    let schema = db.table_schema(table).await?;
    let paths = sources
        .iter()
        .map(|s| register_source(ctx, s))
        .collect::<Result<Vec<String>>>()?;

    let frame = match format {
        SourceFormat::Csv | SourceFormat::Tsv => {
            let options = CsvReadOptions::new()
                .schema(&schema)
                .has_header(ignore_first_record)
                .newlines_in_values(true)
                .file_extension("")
                .delimiter(if format == SourceFormat::Tsv {
                    b'\t'
                } else {
                    b','
                });
            ctx.read_csv(paths, options).await?
        }
        SourceFormat::Json => {
            let options = JsonReadOptions::default()
                .schema(&schema)
                .file_extension("");
            ctx.read_json(paths, options).await?
        }
        SourceFormat::Parquet => {
            let options = ParquetReadOptions::default().file_extension("");
            ctx.read_parquet(paths, options).await?
        }
    };
    let stream = frame.execute_stream().await?;
    let receipt = db.ingest_stream(table, stream, false).await?;
    receipt_table(table, &receipt)
}

/// Makes a source URL readable by the session and returns the path to read: local
/// paths become absolute, cloud URLs get their object store registered.
fn register_source(ctx: &SessionContext, source: &SecretString) -> Result<String> {
    let text = source.expose().trim();
    let bad = |reason: &str| {
        ExportError::Invalid(format!("bad source URL '{}': {reason}", source.redacted()))
    };
    if text.is_empty() {
        return Err(bad("it is empty"));
    }
    match Url::parse(text) {
        Ok(url) if url.scheme().len() > 1 && url.scheme() != "file" => {
            let base = Url::parse(&format!("{}://{}", url.scheme(), url.authority()))
                .map_err(|e| bad(&e.to_string()))?;
            // A store the session already holds for the bucket (registered by the user,
            // or `memory://`) is used as is; otherwise it is built as every other URL
            // is: the environment (`AWS_*`, `AZURE_*`, `GOOGLE_*`), then the session's
            // storage options.
            let registered = datafusion::execution::object_store::ObjectStoreUrl::parse(&base)
                .is_ok_and(|u| ctx.runtime_env().object_store(&u).is_ok());
            if !registered {
                let options = datafusion_export_tables::StorageOptions::of(&ctx.copied_config());
                let (store, _) = datafusion_export_tables::cloud_store(&url, &options)
                    .map_err(|e| bad(&scrub_secrets(&e.to_string())))?;
                ctx.register_object_store(&base, store);
            }
            Ok(text.to_string())
        }
        Ok(url) if url.scheme() == "file" => Ok(text.to_string()),
        _ => {
            let path = std::path::absolute(text).map_err(|e| bad(&e.to_string()))?;
            if !path.exists() {
                return Err(bad("no such file"));
            }
            Ok(path.display().to_string())
        }
    }
}
