//! Continuous export to a Delta table: each run is one Delta commit carrying an
//! application transaction, read back here through deltalake's DataFusion provider.
//!
//! `cargo run -p examples --example delta`

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion_export::{Engine, ExportError};

async fn run() -> datafusion_export::Result<()> {
    let dir = tempfile::tempdir().map_err(|e| ExportError::Invalid(e.to_string()))?;
    let engine = Engine::open(&dir.path().join("db").to_string_lossy()).await?;
    engine
        .execute(".create table Sensor (DeviceId:long, Reading:real, At:datetime)")
        .await?;

    let table = dir.path().join("delta").join("readings");
    engine
        .execute_collect(&format!(
            ".create external table Readings (DeviceId:long, Reading:real, At:datetime) kind=delta ('{}')",
            table.display()
        ))
        .await?;
    engine
        .execute_collect(".create-or-alter continuous-export SensorToDelta to table Readings <| SELECT DeviceId, Reading, At FROM Sensor")
        .await?;

    for batch in ["(1, 20.5, now()), (2, 19.0, now())", "(1, 21.0, now())"] {
        engine
            .execute_collect(&format!("INSERT INTO Sensor VALUES {batch}"))
            .await?;
        engine
            .execute_collect(".run continuous-export SensorToDelta")
            .await?;
    }

    let back = engine
        .execute_collect("SELECT DeviceId, count(*) AS n FROM external_table('Readings') GROUP BY DeviceId ORDER BY DeviceId")
        .await?;
    println!("{}", pretty_format_batches(&back)?);
    let text = pretty_format_batches(&back)?.to_string();
    if !(text.contains("| 1        | 2 |") && text.contains("| 2        | 1 |")) {
        return Err(ExportError::Invalid(format!(
            "unexpected Delta contents:\n{text}"
        )));
    }
    println!(
        "Delta table at {} (readable by Spark, delta-rs, DuckDB)",
        table.display()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> datafusion_export::Result<()> {
    run().await
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delta_runs() {
        super::run().await.unwrap();
    }
}
