//! The cursor SQL functions: `cursor_after`, `cursor_before_or_at`, `cursor_current`
//! and `ingestion_time`.
//!
//! `cursor_after`, `cursor_before_or_at` and `ingestion_time` are markers: the
//! [`CursorScopeRule`](crate::CursorScopeRule) rewrites them into scan scopes and scan
//! columns before execution. If one survives to execution it was used where no scan
//! scope can express it, and evaluating it fails with an error that says so.

use std::any::Any;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::cursor::Cursor;

/// Name of the hidden scan column that carries a record's ingestion time.
///
/// It is added to a scan only when a query calls `ingestion_time()`, after the SQL
/// planner has expanded `*`, so `SELECT *` never shows it.
pub const INGESTION_TIME_COLUMN: &str = "$IngestionTime";

/// The Arrow type of `ingestion_time()`.
pub fn ingestion_time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// Where `cursor_current()` reads the latest committed cursor from.
pub trait CurrentCursor: Debug + Send + Sync {
    /// The newest cursor this process knows to be committed.
    fn current_cursor(&self) -> Result<Cursor>;
}

/// Which bound a cursor predicate puts on the scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CursorPredicateKind {
    /// `cursor_after(c)`: commits after `c`.
    After,
    /// `cursor_before_or_at(c)`: commits at or before `c`.
    BeforeOrAt,
}

impl CursorPredicateKind {
    /// The SQL name of the function.
    pub fn function_name(self) -> &'static str {
        match self {
            CursorPredicateKind::After => "cursor_after",
            CursorPredicateKind::BeforeOrAt => "cursor_before_or_at",
        }
    }
}

/// `cursor_after(c)` / `cursor_before_or_at(c)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CursorPredicate {
    kind: CursorPredicateKind,
    signature: Signature,
}

impl CursorPredicate {
    /// A predicate function of the given kind.
    pub fn new(kind: CursorPredicateKind) -> Self {
        Self {
            kind,
            signature: Signature::any(1, Volatility::Volatile),
        }
    }

    /// Which bound this function sets.
    pub fn kind(&self) -> CursorPredicateKind {
        self.kind
    }
}

impl ScalarUDFImpl for CursorPredicate {
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
            "{}() can only be used as a condition of a WHERE clause (alone or AND-ed with other conditions) whose FROM reads ingestion-tracked tables",
            self.name()
        )
    }
}

/// `cursor_current()`: the latest committed cursor, as a string.
#[derive(Debug)]
pub struct CursorCurrent {
    source: Arc<dyn CurrentCursor>,
    signature: Signature,
}

impl CursorCurrent {
    /// A `cursor_current()` reading from `source`.
    pub fn new(source: Arc<dyn CurrentCursor>) -> Self {
        Self {
            source,
            signature: Signature::nullary(Volatility::Stable),
        }
    }

    /// The current cursor, as the function would return it.
    pub fn current(&self) -> Result<Cursor> {
        self.source.current_cursor()
    }
}

impl PartialEq for CursorCurrent {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.source, &other.source)
    }
}

impl Eq for CursorCurrent {}

impl Hash for CursorCurrent {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.source) as *const () as usize).hash(state);
    }
}

impl ScalarUDFImpl for CursorCurrent {
    fn name(&self) -> &str {
        "cursor_current"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let cursor = self.current()?;
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
            cursor.to_string(),
        ))))
    }
}

/// `ingestion_time()`: when the record was ingested.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IngestionTime {
    signature: Signature,
}

impl Default for IngestionTime {
    fn default() -> Self {
        Self {
            signature: Signature::nullary(Volatility::Volatile),
        }
    }
}

impl ScalarUDFImpl for IngestionTime {
    fn name(&self) -> &str {
        "ingestion_time"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(ingestion_time_type())
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        plan_err!("ingestion_time() can only be used over an ingestion-tracked table")
    }
}

/// The four cursor functions, ready to register in a `SessionContext`.
pub fn cursor_functions(current: Arc<dyn CurrentCursor>) -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(CursorPredicate::new(CursorPredicateKind::After)),
        ScalarUDF::new_from_impl(CursorPredicate::new(CursorPredicateKind::BeforeOrAt)),
        ScalarUDF::new_from_impl(CursorCurrent::new(current)),
        ScalarUDF::new_from_impl(IngestionTime::default()),
    ]
}

/// If `expr` calls `cursor_after` / `cursor_before_or_at`, its kind and argument.
pub fn as_cursor_predicate(expr: &Expr) -> Option<(CursorPredicateKind, &[Expr])> {
    match expr {
        Expr::ScalarFunction(f) => {
            let inner: &dyn Any = f.func.inner().as_ref();
            inner
                .downcast_ref::<CursorPredicate>()
                .map(|p| (p.kind(), f.args.as_slice()))
        }
        _ => None,
    }
}

/// If `expr` calls `cursor_current()`, that function.
pub fn as_cursor_current(expr: &Expr) -> Option<&CursorCurrent> {
    match expr {
        Expr::ScalarFunction(f) => {
            let inner: &dyn Any = f.func.inner().as_ref();
            inner.downcast_ref::<CursorCurrent>()
        }
        _ => None,
    }
}

/// Whether `expr` is a call to `ingestion_time()`.
pub fn is_ingestion_time(expr: &Expr) -> bool {
    match expr {
        Expr::ScalarFunction(f) => {
            let inner: &dyn Any = f.func.inner().as_ref();
            inner.is::<IngestionTime>()
        }
        _ => false,
    }
}
