//! The cursor functions for a foreign `datafusion.SessionContext`, through the
//! `datafusion_scalar_udf` capsule.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{plan_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_export_tables::Database;
use datafusion_export_udfs::{cursor_functions, CursorPredicateKind};
use datafusion_ffi::udf::FFI_ScalarUDF;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

/// `cursor_after(c)` / `cursor_before_or_at(c)` for a foreign session.
///
/// In the database's own sessions these are volatile markers that the analyzer
/// rule removes. A foreign session has no such rule: there the predicate must reach
/// the table provider as a pushed-down filter, and DataFusion never pushes volatile
/// filters into scans, so this variant is `Stable`. The provider accepts it as an
/// `Exact` filter, so it is never evaluated when it scopes a table of the database.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FfiCursorPredicate {
    kind: CursorPredicateKind,
    signature: Signature,
}

impl FfiCursorPredicate {
    fn new(kind: CursorPredicateKind) -> Self {
        Self {
            kind,
            signature: Signature::any(1, Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for FfiCursorPredicate {
    fn name(&self) -> &str {
        self.kind.function_name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        plan_err!(
            "{}() can only be used as a condition of a WHERE clause (alone or AND-ed with other conditions) directly over a table of a datafusion-export database, with a cursor string literal",
            self.name()
        )
    }
}

/// `cursor_after`, `cursor_before_or_at`, `cursor_current` and `ingestion_time`
/// for a foreign session.
pub fn ffi_cursor_functions(db: &Database) -> Vec<Arc<ScalarUDF>> {
    let mut out = vec![
        Arc::new(ScalarUDF::new_from_impl(FfiCursorPredicate::new(
            CursorPredicateKind::After,
        ))),
        Arc::new(ScalarUDF::new_from_impl(FfiCursorPredicate::new(
            CursorPredicateKind::BeforeOrAt,
        ))),
    ];
    out.extend(
        cursor_functions(Arc::new(db.clone()))
            .into_iter()
            .filter(|f| f.name() == "cursor_current" || f.name() == "ingestion_time")
            .map(Arc::new),
    );
    out
}

/// A cursor function, for
/// `datafusion.SessionContext.register_udf(datafusion.udf(f))`.
#[pyclass(frozen, name = "ScalarUDF", module = "datafusion_export")]
pub struct PyScalarUdf {
    udf: Arc<ScalarUDF>,
}

impl PyScalarUdf {
    pub fn new(udf: Arc<ScalarUDF>) -> Self {
        Self { udf }
    }
}

#[pymethods]
impl PyScalarUdf {
    /// The function's SQL name.
    #[getter]
    fn name(&self) -> String {
        self.udf.name().to_string()
    }

    /// The `datafusion_scalar_udf` capsule (DataFusion 55 FFI).
    fn __datafusion_scalar_udf__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let ffi = FFI_ScalarUDF::from(Arc::clone(&self.udf));
        PyCapsule::new_with_value(py, ffi, c"datafusion_scalar_udf")
    }

    fn __repr__(&self) -> String {
        format!("ScalarUDF({:?})", self.udf.name())
    }
}
