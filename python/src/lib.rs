use pyo3::prelude::*;

#[pymodule]
fn datafusion_export(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
