//! Continuous export (DESIGN §6): definitions in the catalog, exactly-once runs over
//! cursor ranges, and the scheduler that runs them.

pub mod definition;
pub mod run;
pub mod scheduler;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{ExportError, Result};

/// Engine-wide continuous-export settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ContinuousSettings {
    /// Runs at most this many exports at once.
    pub max_concurrent_exports: usize,
    /// A job failing permanently for longer than this disables itself.
    pub permanent_failure_window: Duration,
}

impl Default for ContinuousSettings {
    fn default() -> Self {
        Self {
            max_concurrent_exports: 4,
            permanent_failure_window: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// What this process knows about its continuous exports: settings, and which
/// runs are in flight (`IsRunning`).
#[derive(Debug, Clone, Default)]
pub struct ContinuousState {
    settings: ContinuousSettings,
    running: Arc<Mutex<HashSet<String>>>,
}

/// Marks a run in flight until dropped.
#[derive(Debug)]
pub struct Running {
    name: String,
    running: Arc<Mutex<HashSet<String>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.name);
    }
}

impl ContinuousState {
    /// State with `settings`.
    pub fn new(settings: ContinuousSettings) -> Self {
        Self {
            settings,
            running: Arc::default(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &ContinuousSettings {
        &self.settings
    }

    /// Whether a run of `name` is in flight in this process.
    pub fn is_running(&self, name: &str) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(name)
    }

    /// Marks a run of `name` in flight; one at a time per export per process.
    pub fn start_running(&self, name: &str) -> Result<Running> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if !running.insert(name.to_string()) {
            return Err(ExportError::Invalid(format!(
                "a run of continuous export '{name}' is already in progress"
            )));
        }
        Ok(Running {
            name: name.to_string(),
            running: Arc::clone(&self.running),
        })
    }
}
