//! Arrow data between Rust and `pyarrow`.

use std::sync::Arc;

use arrow::ffi_stream::ArrowArrayStreamReader;
use arrow::pyarrow::{FromPyArrow, IntoPyArrow, Table};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::to_py_err;

/// Record batches as one `pyarrow.Table` with `schema` (used when there are no
/// batches; otherwise the first batch's schema wins, so that field metadata and
/// nullability match the data).
pub fn to_pyarrow_table<'py>(
    py: Python<'py>,
    batches: Vec<RecordBatch>,
    schema: SchemaRef,
) -> PyResult<Bound<'py, PyAny>> {
    let schema = batches.first().map(|b| b.schema()).unwrap_or(schema);
    let batches = batches
        .into_iter()
        .map(|b| {
            if b.schema() == schema {
                Ok(b)
            } else {
                RecordBatch::try_new(Arc::clone(&schema), b.columns().to_vec())
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(to_py_err)?;
    Table::try_new(batches, schema)
        .map_err(to_py_err)?
        .into_pyarrow(py)
}

/// Record batches from a `pyarrow.Table`, `pyarrow.RecordBatch`, a list or tuple of
/// record batches, a `pyarrow.RecordBatchReader`, or any object implementing the
/// Arrow PyCapsule interface (`__arrow_c_stream__` / `__arrow_c_array__`).
pub fn from_pyarrow(data: &Bound<'_, PyAny>) -> PyResult<Vec<RecordBatch>> {
    if let Ok(list) = data.cast::<PyList>() {
        return list.iter().map(|b| from_pyarrow_batch(&b)).collect();
    }
    if let Ok(tuple) = data.cast::<PyTuple>() {
        return tuple.iter().map(|b| from_pyarrow_batch(&b)).collect();
    }
    if data.hasattr("__arrow_c_array__")? && !data.hasattr("__arrow_c_stream__")? {
        return Ok(vec![RecordBatch::from_pyarrow_bound(data)?]);
    }
    if data.hasattr("__arrow_c_stream__")? || is_pyarrow(data, "RecordBatchReader")? {
        let reader = ArrowArrayStreamReader::from_pyarrow_bound(data)?;
        return reader.collect::<Result<Vec<_>, _>>().map_err(to_py_err);
    }
    if is_pyarrow(data, "RecordBatch")? {
        return Ok(vec![RecordBatch::from_pyarrow_bound(data)?]);
    }
    if is_pyarrow(data, "Table")? {
        let batches = data.call_method0("to_batches")?;
        return from_pyarrow(&batches);
    }
    Err(PyTypeError::new_err(format!(
        "expected a pyarrow.Table, a pyarrow.RecordBatch or a list of them, not {}",
        data.get_type().name()?
    )))
}

fn from_pyarrow_batch(batch: &Bound<'_, PyAny>) -> PyResult<RecordBatch> {
    RecordBatch::from_pyarrow_bound(batch).map_err(|e| {
        PyTypeError::new_err(format!(
            "expected a list of pyarrow.RecordBatch: {}",
            e.value(batch.py())
        ))
    })
}

fn is_pyarrow(data: &Bound<'_, PyAny>, class: &str) -> PyResult<bool> {
    let pyarrow = data.py().import("pyarrow")?;
    data.is_instance(&pyarrow.getattr(class)?)
}

/// A UTC `datetime.datetime` at `micros` microseconds after the Unix epoch.
pub fn utc_datetime(py: Python<'_>, micros: i64) -> PyResult<Bound<'_, PyAny>> {
    let datetime = py.import("datetime")?;
    let utc = datetime.getattr("timezone")?.getattr("utc")?;
    let epoch = datetime
        .getattr("datetime")?
        .call1((1970, 1, 1, 0, 0, 0, 0, utc))?;
    let delta = datetime.getattr("timedelta")?.call1((0, 0, micros))?;
    epoch.call_method1("__add__", (delta,))
}
