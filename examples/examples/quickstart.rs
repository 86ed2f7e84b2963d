//! Quickstart: create a table, ingest from Rust and SQL, and read only what is new.
//!
//! `cargo run -p examples --example quickstart`

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion_export::Engine;

#[tokio::main]
async fn main() -> datafusion_export::Result<()> {
    // A database in a temporary folder; use Engine::open("./mydb") to keep it.
    let dir =
        tempfile::tempdir().map_err(|e| datafusion_export::ExportError::Invalid(e.to_string()))?;
    let engine = Engine::open(dir.path().to_str().unwrap_or(".")).await?;

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
        .execute_collect("INSERT INTO Events VALUES (3, 'APAC')")
        .await?;

    // Only what arrived after the first ingestion, with its ingestion time.
    let newer = engine
        .execute_collect(&format!(
            "SELECT Id, Region, ingestion_time() AS IngestedAt FROM Events WHERE cursor_after('{first_cursor}')"
        ))
        .await?;
    println!("{}", pretty_format_batches(&newer)?);
    let rows: usize = newer.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 1, "only the SQL insert is after the first cursor");
    Ok(())
}
