//! `includeHeaders=firstFile` on a cluster. Writers share no memory there, so none
//! writes the header: after they finish, the client puts it in one artifact (the
//! smallest, so the rewrite moves the fewest bytes) before anything is committed.

use std::io::{Read, Write};

use bytes::Bytes;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion_export::command::DataFormat;
use datafusion_export::export::options::{Compression, Encoding, IncludeHeaders};
use datafusion_export::export::sink_exec::{Artifact, ExportSpec};
use datafusion_export::export::writer::{open_writer, WriterSettings};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::sync::Arc;

use crate::error::{ClusterError, Result};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Whether `spec`'s artifacts need the header added after writing.
pub fn needs_first_file_header(spec: &ExportSpec) -> bool {
    matches!(spec.format, DataFormat::Csv | DataFormat::Tsv)
        && spec.options.include_headers == IncludeHeaders::FirstFile
}

/// The bytes an artifact of `spec` starts with when it has the header: the BOM if
/// asked for, then the header line, exactly as the writers write them.
async fn prologue(spec: &ExportSpec, schema: SchemaRef) -> Result<Vec<u8>> {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let settings = WriterSettings {
        format: spec.format,
        compression: Compression::None,
        include_header: true,
        bom: spec.options.encoding == Encoding::Utf8Bom,
        parquet_row_group_size: spec.options.parquet_row_group_size,
    };
    let path = Path::from("header");
    let writer = open_writer(Arc::clone(&store), path.clone(), schema, &settings)?;
    writer.finish().await?;
    Ok(store.get(&path).await?.bytes().await?.to_vec())
}

fn decompress(compression: Compression, data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    match compression {
        Compression::Gzip => {
            flate2::read::MultiGzDecoder::new(data)
                .read_to_end(&mut out)
                .map_err(|e| ClusterError::Codec(format!("gzip artifact: {e}")))?;
        }
        Compression::Zstd => {
            out = zstd::decode_all(data)
                .map_err(|e| ClusterError::Codec(format!("zstd artifact: {e}")))?;
        }
        _ => out.extend_from_slice(data),
    }
    Ok(out)
}

fn compress(compression: Compression, data: &[u8]) -> Result<Vec<u8>> {
    let io = |e: std::io::Error| ClusterError::Codec(format!("recompressing an artifact: {e}"));
    Ok(match compression {
        Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(data).map_err(io)?;
            encoder.finish().map_err(io)?
        }
        Compression::Zstd => zstd::encode_all(data, 0).map_err(io)?,
        _ => data.to_vec(),
    })
}

/// Puts the header into the smallest of `artifacts` (rewriting it in place) and
/// lists that one first. `schema` is the written columns'.
pub async fn add_first_file_header(
    spec: &ExportSpec,
    schema: SchemaRef,
    artifacts: &mut [Artifact],
) -> Result<()> {
    let Some(smallest) = (0..artifacts.len()).min_by_key(|&i| artifacts[i].size) else {
        return Ok(());
    };
    artifacts.swap(0, smallest);
    let artifact = &mut artifacts[0];
    let target = spec.targets.get(artifact.target).ok_or_else(|| {
        ClusterError::Codec(format!("artifact {} names no target", artifact.path))
    })?;
    let path = Path::parse(&artifact.relative_path)
        .map_err(|e| ClusterError::Codec(format!("artifact {}: {e}", artifact.path)))?;
    let stored = target.store.get(&path).await?.bytes().await?;
    let compression = spec.options.compression;
    let mut body = decompress(compression, &stored)?;
    if spec.options.encoding == Encoding::Utf8Bom && body.starts_with(BOM) {
        body.drain(..BOM.len());
    }
    let mut text = prologue(spec, schema).await?;
    text.extend_from_slice(&body);
    let rewritten = compress(compression, &text)?;
    artifact.size = rewritten.len() as u64;
    target
        .store
        .put(&path, PutPayload::from(Bytes::from(rewritten)))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_round_trips() {
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let data = b"a,b\n1,2\n".repeat(100);
            assert_eq!(decompress(c, &compress(c, &data).unwrap()).unwrap(), data);
        }
    }
}
