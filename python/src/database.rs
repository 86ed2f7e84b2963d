//! `datafusion_export.Database`.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::error::ArrowError;
use datafusion_export::Engine;
use datafusion_export_tables::{DatabaseOptions, IngestionTable, TablesError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::convert::{from_pyarrow, to_pyarrow_table, utc_datetime};
use crate::ffi_table::{FfiIngestionTable, PyTable};
use crate::udfs::{ffi_cursor_functions, PyScalarUdf};
use crate::{to_py_err, wait_for};

/// `name` as the command grammar reads it: bracketed and quoted when it is not a
/// plain identifier.
fn quote_name(name: &str) -> String {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        name.to_string()
    } else {
        format!("['{}']", name.replace('\'', "\\'"))
    }
}

/// A datafusion-export database: run commands and SQL with `execute`, ingest
/// `pyarrow` data with `ingest`, and hand its tables (`table`) and cursor
/// functions (`udfs`) to a `datafusion.SessionContext`.
#[pyclass(frozen, name = "Database", module = "datafusion_export")]
pub struct PyDatabase {
    engine: Engine,
}

impl PyDatabase {
    /// Runs `text` and collects its result.
    fn collect(&self, py: Python<'_>, text: &str) -> PyResult<(Vec<RecordBatch>, SchemaRef)> {
        let engine = self.engine.clone();
        let text = text.to_string();
        wait_for(py, async move {
            let frame = engine.execute(&text).await?;
            let schema = Arc::new(frame.schema().as_arrow().clone());
            let batches = frame
                .collect()
                .await
                .map_err(|e| datafusion_export::engine::scrub_error(e.into()))?;
            Ok::<_, datafusion_export::ExportError>((batches, schema))
        })?
        .map_err(to_py_err)
    }

    /// Runs `text` and returns its result as a `pyarrow.Table`.
    fn run<'py>(&self, py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
        let (batches, schema) = self.collect(py, text)?;
        to_pyarrow_table(py, batches, schema)
    }

    /// The first row of `text`'s result as a dict (`None` if it has no rows).
    /// Nanosecond timestamps become microsecond ones, which Python's `datetime`
    /// can hold.
    fn run_row<'py>(&self, py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
        let (batches, schema) = self.collect(py, text)?;
        let (batches, schema) = micros(batches, schema).map_err(to_py_err)?;
        let table = to_pyarrow_table(py, batches, schema)?;
        let rows = table.call_method0("to_pylist")?;
        let rows = rows.cast::<PyList>()?;
        match rows.len() {
            0 => Ok(py.None().into_bound(py)),
            _ => rows.get_item(0),
        }
    }
}

/// `batches` with nanosecond timestamp columns cast to microseconds.
fn micros(
    batches: Vec<RecordBatch>,
    schema: SchemaRef,
) -> Result<(Vec<RecordBatch>, SchemaRef), ArrowError> {
    let to_micros = |t: &DataType| match t {
        DataType::Timestamp(TimeUnit::Nanosecond, tz) => {
            Some(DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))
        }
        _ => None,
    };
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match to_micros(f.data_type()) {
            Some(t) => f.as_ref().clone().with_data_type(t),
            None => f.as_ref().clone(),
        })
        .collect();
    let schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let batches = batches
        .into_iter()
        .map(|b| {
            let columns = b
                .columns()
                .iter()
                .map(|c| match to_micros(c.data_type()) {
                    Some(t) => cast(c, &t),
                    None => Ok(Arc::clone(c)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            RecordBatch::try_new(Arc::clone(&schema), columns)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((batches, schema))
}

#[pymethods]
impl PyDatabase {
    /// Opens (creating if needed) the database at `url`: a local folder, `file://`,
    /// `memory://`, `s3://`, `az://`, `gs://`…; `storage_options` are passed to the
    /// object store (keys as `object_store` names them). `secret_key_file` holds the
    /// key that encrypts secrets inside stored definitions; without it,
    /// `DFEXPORT_SECRET_KEY` is read (see the README, "Secrets in definitions").
    #[staticmethod]
    #[pyo3(signature = (url, storage_options = None, secret_key_file = None))]
    fn open(
        py: Python<'_>,
        url: &str,
        storage_options: Option<HashMap<String, String>>,
        secret_key_file: Option<std::path::PathBuf>,
    ) -> PyResult<Self> {
        let secret_keys = match secret_key_file {
            Some(path) => datafusion_export_tables::SecretKeys::from_file(path).map(Some),
            None => datafusion_export_tables::SecretKeys::from_env(),
        }
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        let options = DatabaseOptions {
            storage_options: storage_options.unwrap_or_default().into_iter().collect(),
            secret_keys,
            ..DatabaseOptions::default()
        };
        let url = url.to_string();
        let engine = wait_for(py, async move { Engine::open_with(&url, options).await })?
            .map_err(to_py_err)?;
        Ok(Self { engine })
    }

    /// A database that lives in memory only (for tests and scratch work).
    #[staticmethod]
    fn in_memory(py: Python<'_>) -> PyResult<Self> {
        let engine = wait_for(py, Engine::in_memory())?.map_err(to_py_err)?;
        Ok(Self { engine })
    }

    /// The database's root URL (secrets removed).
    #[getter]
    fn root(&self) -> String {
        self.engine.database().root().to_string()
    }

    /// Runs one management command or SQL statement; returns its result as a
    /// `pyarrow.Table` (an empty table for DDL).
    fn execute<'py>(&self, py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
        self.run(py, text)
    }

    /// Ingests a `pyarrow.Table`, `pyarrow.RecordBatch`, list of record batches or
    /// `pyarrow.RecordBatchReader` into `table` as one commit. Returns
    /// `{"cursor", "ingestion_time", "rows", "extents"}` (`cursor` and
    /// `ingestion_time` are `None` when there was nothing to ingest).
    fn ingest<'py>(
        &self,
        py: Python<'py>,
        table: &str,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let batches = from_pyarrow(data)?;
        let db = self.engine.database().clone();
        let name = table.to_string();
        let receipt =
            wait_for(py, async move { db.ingest(&name, batches).await })?.map_err(to_py_err)?;
        let out = PyDict::new(py);
        match receipt.commit {
            Some(commit) => {
                out.set_item("cursor", commit.cursor.to_string())?;
                out.set_item(
                    "ingestion_time",
                    utc_datetime(py, commit.ingestion_time.timestamp_micros())?,
                )?;
            }
            None => {
                out.set_item("cursor", py.None())?;
                out.set_item("ingestion_time", py.None())?;
            }
        }
        out.set_item("rows", receipt.rows)?;
        out.set_item("extents", receipt.extents)?;
        Ok(out)
    }

    /// The database's current cursor (after catching up with other writers).
    fn cursor(&self, py: Python<'_>) -> PyResult<String> {
        let db = self.engine.database().clone();
        let cursor = wait_for(py, async move { db.refresh().await })?.map_err(to_py_err)?;
        Ok(cursor.to_string())
    }

    /// The names of the database's tables.
    fn tables(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let db = self.engine.database().clone();
        let tables = wait_for(py, async move { db.tables().await })?.map_err(to_py_err)?;
        let mut names: Vec<String> = tables.into_iter().map(|t| t.name).collect();
        names.sort();
        Ok(names)
    }

    /// The table `name`, for `datafusion.SessionContext.register_table(name, db.table(name))`.
    fn table(&self, py: Python<'_>, name: &str) -> PyResult<PyTable> {
        let db = self.engine.database().clone();
        let table_name = name.to_string();
        let (id, schema) = wait_for(py, async move {
            db.refresh().await?;
            let state = db.state();
            let table = state
                .tables
                .get(&table_name)
                .ok_or_else(|| TablesError::TableNotFound(table_name.clone()))?;
            Ok::<_, TablesError>((table.id, Arc::clone(&table.schema)))
        })?
        .map_err(to_py_err)?;
        let table = IngestionTable::new(self.engine.database().clone(), id, name, schema);
        let runtime_env = self.engine.context().runtime_env();
        Ok(PyTable::new(FfiIngestionTable::new(table, runtime_env)))
    }

    /// The cursor functions `cursor_after`, `cursor_before_or_at`, `cursor_current`
    /// and `ingestion_time`, for
    /// `datafusion.SessionContext.register_udf(datafusion.udf(f))`.
    fn udfs(&self) -> Vec<PyScalarUdf> {
        ffi_cursor_functions(self.engine.database())
            .into_iter()
            .map(PyScalarUdf::new)
            .collect()
    }

    /// `.show continuous-exports` as a `pyarrow.Table`.
    fn continuous_exports<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.run(py, ".show continuous-exports")
    }

    /// `.show continuous-export NAME` as a dict (`None` if it has no row).
    fn continuous_export<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        self.run_row(py, &format!(".show continuous-export {name}"))
    }

    /// `.show continuous-export NAME exported-artifacts` as a `pyarrow.Table`, oldest
    /// first. `since`: only artifacts of runs committed since then — a timespan
    /// before now (`"1h"`, `"7d"`) or an ISO 8601 time (`"2026-12-01T00:00:00Z"`);
    /// `take`: only the newest this many.
    #[pyo3(signature = (name, since = None, take = None))]
    fn exported_artifacts<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        since: Option<&str>,
        take: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut text = format!(".show continuous-export {name} exported-artifacts");
        if let Some(since) = since {
            if datafusion_export::command::try_parse_timespan(since).is_ok() {
                text.push_str(&format!(" since {since}"));
            } else {
                text.push_str(&format!(" since '{}'", since.replace('\'', "''")));
            }
        }
        if let Some(take) = take {
            text.push_str(&format!(" | take {take}"));
        }
        self.run(py, &text)
    }

    /// `.merge TABLE [(EXTENT_IDS)]`: merges the given extents of `table` (consecutive
    /// in cursor order), or without ids compacts it: every run of small extents into as
    /// few as its merge policy's bounds allow (as Delta's `OPTIMIZE`). Every row keeps
    /// its cursor and ingestion time. Returns one row per merge (`ExtentId`,
    /// `SourceExtents`, `RowCount`, …) as a `pyarrow.Table`.
    #[pyo3(signature = (table, extent_ids = None))]
    fn merge<'py>(
        &self,
        py: Python<'py>,
        table: &str,
        extent_ids: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut text = format!(".merge {}", quote_name(table));
        if let Some(ids) = extent_ids {
            let ids: Vec<String> = ids.iter().map(|id| format!("'{}'", id.replace('\'', ""))).collect();
            text.push_str(&format!(" ({})", ids.join(", ")));
        }
        self.run(py, &text)
    }

    /// Sets the merge policy of `table` (`None`: the database's default) from a dict
    /// with Kusto's property names, e.g. `{"MaxExtentsToMerge": 10}`; returns the
    /// policy in effect as a `pyarrow.Table` (`.show table T policy merge`).
    #[pyo3(signature = (policy, table = None))]
    fn set_merge_policy<'py>(
        &self,
        py: Python<'py>,
        policy: &Bound<'py, PyAny>,
        table: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let json = py.import("json")?.call_method1("dumps", (policy,))?;
        let json: String = json.extract()?;
        let target = match table {
            Some(t) => format!("table {}", quote_name(t)),
            None => "database".to_string(),
        };
        self.run(
            py,
            &format!(".alter {target} policy merge '{}'", json.replace('\'', "\\'")),
        )
    }

    /// `.clean database older than OLDER_THAN` (default 7 days, at least 1 hour):
    /// deletes what the database no longer needs and is older than that — extents of
    /// dropped tables and of ingestions that never committed, dropped exports' run
    /// history, log commits before the checkpoint kept, unfinished uploads. Returns
    /// what it deleted (`Path`, `SizeInBytes`, `What`) as a `pyarrow.Table`.
    #[pyo3(signature = (older_than = "7d"))]
    fn clean<'py>(&self, py: Python<'py>, older_than: &str) -> PyResult<Bound<'py, PyAny>> {
        if datafusion_export::command::try_parse_timespan(older_than).is_err() {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "older_than: '{older_than}' is not a timespan such as 7d or 12h"
            )));
        }
        self.run(py, &format!(".clean database older than {older_than}"))
    }

    /// `.show continuous-export NAME failures` as a `pyarrow.Table`.
    fn continuous_export_failures<'py>(
        &self,
        py: Python<'py>,
        name: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.run(py, &format!(".show continuous-export {name} failures"))
    }

    /// Runs the continuous export `name` once (`.run continuous-export NAME`);
    /// returns the outcome as a dict: `Name`, `Run`, `FromCursor`, `ToCursor`,
    /// `Result` (`Completed` or `NoNewData`), `NumArtifacts`, `NumRecords`.
    fn run_continuous_export<'py>(
        &self,
        py: Python<'py>,
        name: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.run_row(py, &format!(".run continuous-export {name}"))
    }

    fn __repr__(&self) -> String {
        format!("Database({:?})", self.engine.database().root())
    }
}
