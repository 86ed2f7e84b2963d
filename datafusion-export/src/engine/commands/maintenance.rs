//! Keeping a database small over years: `.clean database`, which `serve` also runs
//! on a schedule. The database's own vacuum
//! ([`Database::vacuum`](datafusion_export_tables::Database::vacuum)) plus the files
//! this crate keeps beside it.

use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion_export_tables::{Database, VacuumReport};

use crate::error::Result;
use crate::export::operations;
use crate::results::ResultBuilder;

/// Deletes what `db` no longer needs and is older than `older_than` (at least
/// [`MIN_VACUUM_WINDOW`](datafusion_export_tables::MIN_VACUUM_WINDOW)).
pub async fn clean(db: &Database, older_than: Duration) -> Result<VacuumReport> {
    let mut report = db.vacuum(older_than).await?;
    let doomed = operations::stale_files(db, report.cutoff).await?;
    db.delete_all(doomed, &mut report).await?;
    Ok(report)
}

/// The result table of `.clean database`: one row per deleted object.
pub fn report_batch(report: &VacuumReport) -> Result<RecordBatch> {
    let d = &report.deleted;
    ResultBuilder::new()
        .strings("Path", d.iter().map(|x| Some(x.path.as_str())))
        .longs("SizeInBytes", d.iter().map(|x| Some(x.size as i64)))
        .strings("What", d.iter().map(|x| Some(x.kind.describe())))
        .build()
}

/// One line for logs and the CLI: how much a clean deleted.
pub fn summary(report: &VacuumReport) -> String {
    let mut line = format!(
        "deleted {} objects, {} bytes",
        report.deleted.len(),
        report.bytes()
    );
    if let Some(version) = report.kept_checkpoint {
        line.push_str(&format!("; the log now starts at checkpoint {version}"));
    }
    line
}
