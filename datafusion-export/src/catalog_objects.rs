//! Typed access to the database's catalog objects (external tables, continuous
//! exports, their runs), which the log stores as JSON by kind and name.

use datafusion_export_tables::{Database, DatabaseState};
use serde::de::DeserializeOwned;

use crate::error::{ExportError, Result};

/// Object `name` of `kind` in `state`; `what` names the kind for users
/// ("external table").
pub fn get<T: DeserializeOwned>(
    state: &DatabaseState,
    kind: &str,
    what: &str,
    name: &str,
) -> Result<T> {
    let body = state
        .object(kind, name)
        .ok_or_else(|| ExportError::Invalid(format!("{what} '{name}' does not exist")))?;
    serde_json::from_value(body.clone())
        .map_err(|e| ExportError::Invalid(format!("{what} '{name}' is unreadable: {e}")))
}

/// Object `name` of `kind`, from the newest state.
pub async fn load<T: DeserializeOwned>(
    db: &Database,
    kind: &str,
    what: &str,
    name: &str,
) -> Result<T> {
    db.refresh().await?;
    let state = db.state();
    get(&state, kind, what, name)
}

/// Every object of `kind` whose name starts with `prefix`, by name, from `state`.
pub fn all<T: DeserializeOwned>(
    state: &DatabaseState,
    kind: &str,
    what: &str,
    prefix: &str,
) -> Result<Vec<T>> {
    state
        .objects_of(kind)
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(name, body)| {
            serde_json::from_value(body.clone())
                .map_err(|e| ExportError::Invalid(format!("{what} '{name}' is unreadable: {e}")))
        })
        .collect()
}

/// Every object of `kind`, from the newest state.
pub async fn list<T: DeserializeOwned>(db: &Database, kind: &str, what: &str) -> Result<Vec<T>> {
    db.refresh().await?;
    let state = db.state();
    all(&state, kind, what, "")
}
