//! The scheduler: runs every enabled continuous export about every
//! `intervalBetweenRuns`, at most `maxConcurrentExports` at a time.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{FutureExt, StreamExt};

use crate::continuous::definition::{self, ContinuousExport};
use crate::continuous::run::{run_once, RunOutcome};
use crate::continuous::Exporter;
use crate::error::{ExportError, Result};

/// The longest wait between ticks while the database cannot be read.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Runs due continuous exports; see the module docs.
#[derive(Debug)]
pub struct Scheduler {
    exporter: Exporter,
    last_attempt: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl Scheduler {
    /// A scheduler for `exporter`'s database (an [`crate::Engine`] converts), using
    /// its clock and settings.
    pub fn new(exporter: impl Into<Exporter>) -> Self {
        Self {
            exporter: exporter.into(),
            last_attempt: Mutex::new(HashMap::new()),
        }
    }

    fn is_due(&self, export: &ContinuousExport, now: DateTime<Utc>) -> bool {
        if export.is_disabled {
            return false;
        }
        let attempted = self
            .last_attempt
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&export.name)
            .copied();
        let last = match (attempted, export.last_run_time) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let interval = chrono::Duration::from_std(export.interval).unwrap_or(chrono::Duration::MAX);
        last.is_none_or(|last| now.signed_duration_since(last) >= interval)
    }

    /// Runs every due export once (at most `maxConcurrentExports` at a time) and
    /// returns what each did.
    pub async fn tick(&self) -> Result<Vec<(String, Result<RunOutcome>)>> {
        Ok(self
            .tick_timed()
            .await?
            .into_iter()
            .map(|(name, outcome, _)| (name, outcome))
            .collect())
    }

    /// [`Scheduler::tick`], with how long each run took.
    pub async fn tick_timed(&self) -> Result<Vec<(String, Result<RunOutcome>, Duration)>> {
        let db = self.exporter.database();
        let now = db.options().clock.now();
        db.refresh().await?;
        // One unreadable definition must not stop the others: it is reported as that
        // export's failure, every tick, until someone fixes or drops it.
        let mut unreadable = Vec::new();
        let mut due = Vec::new();
        for (name, body) in db.state().objects_of(definition::KIND) {
            match serde_json::from_value::<ContinuousExport>(body.clone()) {
                Ok(export) if self.is_due(&export, now) => due.push(export.name),
                Ok(_) => {}
                Err(e) => unreadable.push((
                    name.clone(),
                    Err(ExportError::Invalid(format!(
                        "continuous export '{name}' is unreadable and does not run: {e}; \
                         drop it and create it again"
                    ))),
                    Duration::ZERO,
                )),
            }
        }
        {
            let mut attempts = self.last_attempt.lock().unwrap_or_else(|p| p.into_inner());
            for name in &due {
                attempts.insert(name.clone(), now);
            }
        }
        let limit = self
            .exporter
            .continuous_state()
            .settings()
            .max_concurrent_exports
            .max(1);
        let exporter = &self.exporter;
        let results = futures::stream::iter(due)
            .map(|name| async move {
                let began = std::time::Instant::now();
                // A bug that panics in one run must not take the scheduler down.
                let outcome = std::panic::AssertUnwindSafe(run_once(exporter, &name))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|panic| {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        Err(ExportError::Invalid(format!(
                            "continuous export '{name}': the run panicked: {what}"
                        )))
                    });
                (name, outcome, began.elapsed())
            })
            .buffer_unordered(limit)
            .collect::<Vec<_>>()
            .await;
        unreadable.extend(results);
        Ok(unreadable)
    }

    /// Ticks every `poll` until `shutdown` completes. A run in flight when the
    /// signal comes is finished (it commits, or fails and reports nothing); no new
    /// run starts after it.
    ///
    /// Never returns on its own: a tick that fails as a whole (the database cannot be
    /// read) goes to `on_error`, and the next tick waits longer, doubling up to
    /// [`MAX_BACKOFF`], until one succeeds.
    pub async fn run_until<F, L, E>(
        &self,
        poll: Duration,
        shutdown: F,
        mut on_result: L,
        mut on_error: E,
    ) -> Result<()>
    where
        F: Future<Output = ()>,
        L: FnMut(&str, &Result<RunOutcome>, Duration),
        E: FnMut(&ExportError, Duration),
    {
        tokio::pin!(shutdown);
        let mut wait = poll;
        loop {
            let tick = self.tick_timed();
            tokio::pin!(tick);
            let results = tokio::select! {
                r = &mut tick => r,
                _ = &mut shutdown => {
                    // Let the runs in flight commit or fail cleanly.
                    match tick.await {
                        Ok(results) => {
                            for (name, outcome, elapsed) in results {
                                on_result(&name, &outcome, elapsed);
                            }
                        }
                        Err(e) => on_error(&e, Duration::ZERO),
                    }
                    return Ok(());
                }
            };
            match results {
                Ok(results) => {
                    wait = poll;
                    for (name, outcome, elapsed) in &results {
                        on_result(name, outcome, *elapsed);
                    }
                }
                Err(e) => {
                    wait = (wait * 2).clamp(poll, MAX_BACKOFF.max(poll));
                    on_error(&e, wait);
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut shutdown => return Ok(()),
            }
        }
    }
}
