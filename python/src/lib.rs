//! Python bindings of datafusion-export (`import datafusion_export`).
//!
//! A [`database::PyDatabase`] runs commands and SQL and returns `pyarrow` tables;
//! its tables and cursor functions register into a `datafusion.SessionContext`
//! (PyPI `datafusion` 55) through the DataFusion FFI capsules
//! (`__datafusion_table_provider__`, `__datafusion_scalar_udf__`).

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::prelude::*;

mod convert;
mod database;
mod ffi_table;
mod udfs;

pyo3::create_exception!(
    datafusion_export,
    DataFusionExportError,
    pyo3::exceptions::PyException,
    "An error of datafusion-export; the message is the Rust error's."
);

/// Our own tokio runtime. The host (`datafusion` from PyPI) links its own tokio:
/// everything of ours runs here, and FFI objects carry this runtime's handle.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("datafusion-export")
            .build()
            .expect("the datafusion-export tokio runtime could not start")
    })
}

/// A Rust error as a `DataFusionExportError` carrying its message.
pub(crate) fn to_py_err(e: impl std::fmt::Display) -> PyErr {
    DataFusionExportError::new_err(e.to_string())
}

/// Runs `fut` on our runtime with the GIL released; Ctrl-C (a pending Python
/// signal) abandons it and raises `KeyboardInterrupt`.
pub(crate) fn wait_for<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    py.check_signals()?;
    py.detach(|| {
        runtime().block_on(async {
            tokio::pin!(fut);
            loop {
                tokio::select! {
                    out = &mut fut => return Ok(out),
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {
                        Python::attach(|py| py.check_signals())?;
                    }
                }
            }
        })
    })
}

#[pymodule]
fn datafusion_export(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add(
        "DataFusionExportError",
        m.py().get_type::<DataFusionExportError>(),
    )?;
    m.add_class::<database::PyDatabase>()?;
    m.add_class::<ffi_table::PyTable>()?;
    m.add_class::<udfs::PyScalarUdf>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
