//! Export attempts on record. An attempt that writes to a storage external table on
//! behalf of an owner (a continuous export) is recorded in the catalog before it writes
//! a file, and dropped in the commit that reports its files. Until then its files are
//! not committed: reading the table back leaves them out, and once the owner knows the
//! attempt can never commit, it deletes them (every artifact's name carries the
//! attempt's id, see [`crate::export::path_format::artifact_name`]).

use chrono::{DateTime, Utc};
use datafusion_export_tables::log::action::Action;
use datafusion_export_tables::DatabaseState;
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog_objects;
use crate::error::{ExportError, Result};

/// The catalog kind of attempts on record, named `<owner>/<attempt>`.
pub const KIND: &str = "export_attempt";

/// An attempt that may have written files and not committed them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportAttempt {
    /// Its id, in its artifacts' names.
    pub attempt: Uuid,
    /// The external table it writes to.
    pub external_table: String,
    /// Who runs it (a continuous export's name).
    pub owner: String,
    /// The owner's identity when it started (a re-created owner has another).
    pub owner_id: Uuid,
    /// It exports the commits after this cursor.
    pub from_cursor: u64,
    /// When it started.
    pub started: DateTime<Utc>,
}

impl ExportAttempt {
    /// The catalog name of attempt `attempt` of `owner`.
    pub fn key(owner: &str, attempt: Uuid) -> String {
        format!("{owner}/{}", attempt.simple())
    }

    /// The action recording it.
    pub fn put_action(&self) -> Result<Action> {
        Ok(Action::PutObject {
            kind: KIND.into(),
            name: Self::key(&self.owner, self.attempt),
            body: serde_json::to_value(self).map_err(|e| ExportError::Invalid(e.to_string()))?,
        })
    }

    /// Whether `path` is one of its artifacts.
    pub fn wrote(attempt: Uuid, path: &Path) -> bool {
        let marker = format!("_{}_", attempt.simple());
        path.filename().is_some_and(|name| name.contains(&marker))
    }
}

/// The attempts on record of `owner`.
pub fn of_owner(state: &DatabaseState, owner: &str) -> Result<Vec<ExportAttempt>> {
    catalog_objects::all(state, KIND, "export attempt", &format!("{owner}/"))
}

/// The ids of the attempts on record that write to external table `table`.
pub fn writing_to(state: &DatabaseState, table: &str) -> Vec<Uuid> {
    state
        .objects_of(KIND)
        .filter_map(|(_, body)| serde_json::from_value::<ExportAttempt>(body.clone()).ok())
        .filter(|a| a.external_table == table)
        .map(|a| a.attempt)
        .collect()
}

/// Actions dropping the records of `attempts` of `owner` that `state` still holds.
pub fn drop_actions(state: &DatabaseState, owner: &str, attempts: &[Uuid]) -> Vec<Action> {
    attempts
        .iter()
        .map(|a| ExportAttempt::key(owner, *a))
        .filter(|key| state.object(KIND, key).is_some())
        .map(|key| Action::DropObject {
            kind: KIND.into(),
            name: key,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_its_artifacts_by_name() {
        let attempt = Uuid::from_u128(7);
        let name = crate::export::path_format::artifact_name("export", attempt, 0, 3, ".csv");
        assert!(ExportAttempt::wrote(
            attempt,
            &Path::from(format!("out/Region=EU/{name}"))
        ));
        assert!(!ExportAttempt::wrote(
            Uuid::from_u128(8),
            &Path::from(name.as_str())
        ));
        assert!(!ExportAttempt::wrote(attempt, &Path::from("out/other.csv")));
    }
}
