//! Printing result tables as aligned text, CSV or JSON lines.

use std::io::Write;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::error::Result;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned text tables.
    #[default]
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object per line.
    Json,
}

/// Writes `batches` to `out`. Results without columns (DDL, for instance) print nothing.
pub fn write_batches(
    out: &mut dyn Write,
    batches: &[RecordBatch],
    format: OutputFormat,
) -> Result<()> {
    let Some(first) = batches.first() else {
        return Ok(());
    };
    if first.num_columns() == 0 {
        return Ok(());
    }
    match format {
        OutputFormat::Table => {
            writeln!(out, "{}", pretty_format_batches(batches)?).map_err(io)?;
        }
        OutputFormat::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
        }
        OutputFormat::Json => {
            let mut writer = datafusion::arrow::json::LineDelimitedWriter::new(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
    }
    Ok(())
}

fn io(e: std::io::Error) -> crate::error::ExportError {
    crate::error::ExportError::DataFusion(e.into())
}
