//! Partitioned export: `partition by` with a column and a daily bin, laid out with a
//! `pathformat` and a `datetime_pattern`, then read back with its partition columns.
//!
//! `cargo run -p examples --example partitioned`

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion_export::{Engine, ExportError};

async fn run() -> datafusion_export::Result<()> {
    let dir = tempfile::tempdir().map_err(|e| ExportError::Invalid(e.to_string()))?;
    let engine = Engine::open(&dir.path().join("db").to_string_lossy()).await?;
    engine
        .execute(".create table Sales (Region:string, Amount:real, At:datetime)")
        .await?;
    engine
        .execute_collect(
            "INSERT INTO Sales VALUES \
             ('EU', 10.0, '2026-11-20T08:00:00Z'), ('EU', 5.0, '2026-11-21T09:30:00Z'), \
             ('US', 7.5, '2026-11-20T23:59:59Z'), (NULL, 1.0, '2026-11-21T00:00:00Z')",
        )
        .await?;

    let out = dir.path().join("sales");
    engine
        .execute_collect(&format!(
            ".create external table SalesByDay (Region:string, Amount:real, At:datetime) kind=storage \
             partition by (Reg:string = Region, Day:datetime = bin(At, 1d)) \
             pathformat = (\"region=\" Reg \"/\" datetime_pattern(\"yyyy/MM/dd\", Day)) \
             dataformat=parquet ('{}')",
            out.display()
        ))
        .await?;
    let artifacts = engine
        .execute_collect(".export to table SalesByDay <| SELECT Region, Amount, At FROM Sales")
        .await?;
    println!("{}", pretty_format_batches(&artifacts)?);
    let text = pretty_format_batches(&artifacts)?.to_string();
    for folder in [
        "region=EU/2026/11/20",
        "region=EU/2026/11/21",
        "region=US/2026/11/20",
        "region=__DEFAULT_PARTITION__/2026/11/21",
    ] {
        if !text.contains(folder) {
            return Err(ExportError::Invalid(format!(
                "missing folder {folder}:\n{text}"
            )));
        }
    }

    let back = engine
        .execute_collect("SELECT Reg, Day, sum(Amount) AS Total FROM external_table('SalesByDay') GROUP BY Reg, Day ORDER BY Reg, Day")
        .await?;
    println!("{}", pretty_format_batches(&back)?);
    Ok(())
}

#[tokio::main]
async fn main() -> datafusion_export::Result<()> {
    run().await
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn partitioned_runs() {
        super::run().await.unwrap();
    }
}
