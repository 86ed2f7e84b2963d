//! Asynchronous operations: `.export async …` returns an operation id at once;
//! `.show operations` and `.show operation <id> [details]` follow it.
//!
//! Operations live in memory for the life of the engine; with `persistDetails`
//! (the default for async exports) their outcome is also written under the
//! database root, `operations/<id>.json`, so another process can read the details.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ExportError, Result};

/// Where an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperationState {
    /// Still running.
    InProgress,
    /// Finished; details hold the result.
    Completed,
    /// Failed; `status` holds the error.
    Failed,
}

impl OperationState {
    /// The state's name as shown.
    pub fn name(&self) -> &'static str {
        match self {
            OperationState::InProgress => "InProgress",
            OperationState::Completed => "Completed",
            OperationState::Failed => "Failed",
        }
    }
}

/// A result table, kept as rows of strings so it survives JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OperationDetails {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Option<String>>>,
}

/// One operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Operation {
    /// Its id.
    pub id: Uuid,
    /// What it is, e.g. `DataExport`.
    pub kind: String,
    /// The command, secrets removed.
    pub text: String,
    /// When it started.
    pub started_on: DateTime<Utc>,
    /// When it last changed.
    pub last_updated_on: DateTime<Utc>,
    /// Its state.
    pub state: OperationState,
    /// The error of a failed operation.
    pub status: Option<String>,
    /// The result of a completed one.
    pub details: Option<OperationDetails>,
}

/// The operations of one engine.
#[derive(Debug, Clone)]
pub struct Operations {
    store: Arc<dyn ObjectStore>,
    known: Arc<Mutex<BTreeMap<Uuid, Operation>>>,
}

const FOLDER: &str = "operations";

impl Operations {
    /// Operations persisted in `store` (the database root).
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            store,
            known: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Uuid, Operation>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new operation in progress.
    pub fn start(&self, kind: &str, text: &str) -> Uuid {
        let now = Utc::now();
        let op = Operation {
            id: Uuid::new_v4(),
            kind: kind.to_string(),
            text: text.to_string(),
            started_on: now,
            last_updated_on: now,
            state: OperationState::InProgress,
            status: None,
            details: None,
        };
        let id = op.id;
        self.lock().insert(id, op);
        id
    }

    /// Records the outcome; persists it when asked.
    pub async fn finish(
        &self,
        id: Uuid,
        outcome: std::result::Result<OperationDetails, String>,
        persist: bool,
    ) {
        let op = {
            let mut known = self.lock();
            let Some(op) = known.get_mut(&id) else { return };
            op.last_updated_on = Utc::now();
            match outcome {
                Ok(details) => {
                    op.state = OperationState::Completed;
                    op.details = Some(details);
                }
                Err(error) => {
                    op.state = OperationState::Failed;
                    op.status = Some(error);
                }
            }
            op.clone()
        };
        if persist {
            if let Ok(body) = serde_json::to_vec(&op) {
                let path = Path::from(format!("{FOLDER}/{id}.json"));
                if let Err(e) = self.store.put(&path, PutPayload::from(body)).await {
                    log::warn!("operation {id}: details not persisted: {e}");
                }
            }
        }
    }

    /// Every operation this engine started.
    pub fn list(&self) -> Vec<Operation> {
        let mut ops: Vec<Operation> = self.lock().values().cloned().collect();
        ops.sort_by_key(|o| o.started_on);
        ops
    }

    /// One operation: from memory, or persisted by any process.
    pub async fn get(&self, id: &str) -> Result<Operation> {
        let uuid = Uuid::parse_str(id)
            .map_err(|_| ExportError::Invalid(format!("'{id}' is not an operation id (a GUID)")))?;
        if let Some(op) = self.lock().get(&uuid).cloned() {
            return Ok(op);
        }
        let path = Path::from(format!("{FOLDER}/{uuid}.json"));
        match self.store.get(&path).await {
            Ok(r) => {
                let bytes = r
                    .bytes()
                    .await
                    .map_err(|e| ExportError::Invalid(e.to_string()))?;
                serde_json::from_slice(&bytes)
                    .map_err(|e| ExportError::Invalid(format!("operation {uuid}: {e}")))
            }
            Err(object_store::Error::NotFound { .. }) => Err(ExportError::Invalid(format!(
                "operation {uuid} does not exist"
            ))),
            Err(e) => Err(ExportError::Invalid(e.to_string())),
        }
    }
}
