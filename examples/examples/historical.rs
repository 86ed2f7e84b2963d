//! Backfilling history: a continuous export starts at its `StartCursor`; export what
//! came before with `cursor_before_or_at('<StartCursor>')` — no gap, no overlap.
//!
//! `cargo run -p examples --example historical`

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion_export::{Engine, ExportError};

async fn run() -> datafusion_export::Result<()> {
    let dir = tempfile::tempdir().map_err(|e| ExportError::Invalid(e.to_string()))?;
    let engine = Engine::open(&dir.path().join("db").to_string_lossy()).await?;
    engine
        .execute(".create table Logs (Id:long, Level:string)")
        .await?;
    // History that exists before the continuous export.
    engine
        .execute_collect("INSERT INTO Logs VALUES (1, 'info'), (2, 'warn'), (3, 'error')")
        .await?;

    engine
        .execute_collect(&format!(
            ".create external table Archive (Id:long, Level:string) kind=storage dataformat=csv ('{}') with (includeHeaders='all')",
            dir.path().join("archive").display()
        ))
        .await?;
    let created = engine
        .execute_collect(".create-or-alter continuous-export LogsOut to table Archive <| SELECT Id, Level FROM Logs")
        .await?;
    let start = created[0]
        .column_by_name("StartCursor")
        .and_then(|c| {
            c.as_any()
                .downcast_ref::<StringArray>()
                .map(|s| s.value(0).to_string())
        })
        .ok_or_else(|| ExportError::Invalid("no StartCursor".into()))?;
    println!("StartCursor = {start}");

    // New data goes through the continuous export…
    engine
        .execute_collect("INSERT INTO Logs VALUES (4, 'info')")
        .await?;
    engine
        .execute_collect(".run continuous-export LogsOut")
        .await?;

    // …and history through a one-shot export scoped to the StartCursor.
    let backfill = engine
        .execute_collect(&format!(
            ".export to table Archive <| SELECT Id, Level FROM Logs WHERE cursor_before_or_at('{start}')"
        ))
        .await?;
    println!("{}", pretty_format_batches(&backfill)?);

    let all = engine
        .execute_collect("SELECT Id FROM external_table('Archive') ORDER BY Id")
        .await?;
    println!("{}", pretty_format_batches(&all)?);
    let rows: usize = all.iter().map(|b| b.num_rows()).sum();
    if rows != 4 {
        return Err(ExportError::Invalid(format!(
            "expected each of 4 rows once, got {rows}"
        )));
    }
    let _ = all.first().map(|b| b.column(0).len());
    Ok(())
}

#[tokio::main]
async fn main() -> datafusion_export::Result<()> {
    run().await
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn historical_runs() {
        super::run().await.unwrap();
    }
}
