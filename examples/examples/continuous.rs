//! Continuous export over a fact table joined with a dimension table, run after run:
//! every order is exported exactly once, enriched with its customer's name.
//!
//! `cargo run -p examples --example continuous`

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion_export::{Engine, ExportError};

async fn run() -> datafusion_export::Result<()> {
    let dir = tempfile::tempdir().map_err(|e| ExportError::Invalid(e.to_string()))?;
    let engine = Engine::open(&dir.path().join("db").to_string_lossy()).await?;

    engine
        .execute(".create table Orders (OrderId:long, CustomerId:long, Amount:real)")
        .await?;
    engine
        .execute(".create table Customers (CustomerId:long, Name:string)")
        .await?;
    engine
        .execute_collect("INSERT INTO Customers VALUES (1, 'Ada'), (2, 'Grace')")
        .await?;

    let lake = dir.path().join("lake");
    engine
        .execute_collect(&format!(
            ".create external table EnrichedOrders (OrderId:long, Name:string, Amount:real) kind=storage dataformat=parquet ('{}')",
            lake.display()
        ))
        .await?;
    // Orders is the fact table (scoped to each run); Customers is a dimension (read whole).
    engine
        .execute_collect(
            ".create-or-alter continuous-export OrdersToLake over (Orders) to table EnrichedOrders with (intervalBetweenRuns=1m) \
             <| SELECT o.OrderId, c.Name, o.Amount FROM Orders o LEFT JOIN Customers c ON o.CustomerId = c.CustomerId",
        )
        .await?;

    for (round, values) in [
        "(10, 1, 9.5), (11, 2, 20.0)",
        "(12, 1, 3.25)",
        "(13, 2, 7.0), (14, 1, 1.0)",
    ]
    .iter()
    .enumerate()
    {
        engine
            .execute_collect(&format!("INSERT INTO Orders VALUES {values}"))
            .await?;
        let run = engine
            .execute_collect(".run continuous-export OrdersToLake")
            .await?;
        println!("run {}:\n{}", round + 1, pretty_format_batches(&run)?);
    }
    // Nothing new: the next run does nothing.
    let idle = engine
        .execute_collect(".run continuous-export OrdersToLake")
        .await?;
    println!("{}", pretty_format_batches(&idle)?);

    let artifacts = engine
        .execute_collect(".show continuous-export OrdersToLake exported-artifacts")
        .await?;
    println!("{}", pretty_format_batches(&artifacts)?);
    let exported = engine
        .execute_collect("SELECT count(*) AS n, count(DISTINCT OrderId) AS d FROM external_table('EnrichedOrders')")
        .await?;
    println!("{}", pretty_format_batches(&exported)?);
    let text = pretty_format_batches(&exported)?.to_string();
    if !text.contains("| 5 | 5 |") {
        return Err(ExportError::Invalid(format!(
            "expected 5 distinct orders exported once:\n{text}"
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
    async fn continuous_runs() {
        super::run().await.unwrap();
    }
}
