//! Quickstart: create a table, ingest from Rust and SQL, read only what is new, export
//! it to Parquet and read the files back.
//!
//! `cargo run -p examples --example quickstart`

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion_export::{Engine, ExportError};

async fn run() -> datafusion_export::Result<()> {
    // A database in a temporary folder; Engine::open("./mydb") keeps one.
    let dir = tempfile::tempdir().map_err(|e| ExportError::Invalid(e.to_string()))?;
    let root = dir.path().join("db");
    let engine = Engine::open(&root.to_string_lossy()).await?;

    engine
        .execute(".create table Events (Id:long, Region:string)")
        .await?;

    // Ingest Arrow record batches from Rust: one commit, one cursor.
    let batch = RecordBatch::try_from_iter(vec![
        ("Id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        (
            "Region",
            Arc::new(StringArray::from(vec!["EU", "US"])) as ArrayRef,
        ),
    ])?;
    let first = engine.database().ingest("Events", vec![batch]).await?;
    let first_cursor = first
        .commit
        .map(|c| c.cursor.to_string())
        .unwrap_or_default();

    // Ingest with SQL: another commit.
    engine
        .execute_collect("INSERT INTO Events VALUES (3, 'APAC'), (4, 'EU')")
        .await?;

    // Only what arrived after the first ingestion, with its ingestion time.
    let newer = engine
        .execute_collect(&format!(
            "SELECT Id, Region, ingestion_time() AS IngestedAt FROM Events WHERE cursor_after('{first_cursor}')"
        ))
        .await?;
    println!("{}", pretty_format_batches(&newer)?);

    // Export it: one row per artifact written.
    let out = dir.path().join("out");
    let artifacts = engine
        .execute_collect(&format!(
            ".export to parquet ('{}') with (namePrefix='events') <| SELECT Id, Region FROM Events WHERE cursor_after('{first_cursor}')",
            out.display()
        ))
        .await?;
    println!("{}", pretty_format_batches(&artifacts)?);

    // Read the files back with plain DataFusion.
    let back = datafusion::prelude::SessionContext::new()
        .read_parquet(out.to_string_lossy().as_ref(), Default::default())
        .await?
        .collect()
        .await?;
    let rows: usize = back.iter().map(|b| b.num_rows()).sum();
    println!("read back {rows} rows");
    if rows != 2 {
        return Err(ExportError::Invalid(format!(
            "expected 2 rows, read {rows}"
        )));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> datafusion_export::Result<()> {
    run().await
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn quickstart_runs() {
        super::run().await.unwrap();
    }
}
