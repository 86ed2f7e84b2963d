//! The scheduler: runs every enabled continuous export about every
//! `intervalBetweenRuns`, at most `maxConcurrentExports` at a time.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::continuous::definition::{self, ContinuousExport};
use crate::continuous::run::{run_once, RunOutcome};
use crate::engine::Engine;
use crate::error::Result;

/// Runs due continuous exports; see the module docs.
#[derive(Debug)]
pub struct Scheduler {
    engine: Engine,
    last_attempt: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl Scheduler {
    /// A scheduler for `engine`'s database, using its clock and settings.
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
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
        last.is_none_or(|last| now - last >= interval)
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
        let db = self.engine.database();
        let now = db.options().clock.now();
        let due: Vec<String> = definition::list(db)
            .await?
            .into_iter()
            .filter(|e| self.is_due(e, now))
            .map(|e| e.name)
            .collect();
        {
            let mut attempts = self.last_attempt.lock().unwrap_or_else(|p| p.into_inner());
            for name in &due {
                attempts.insert(name.clone(), now);
            }
        }
        let limit = self
            .engine
            .continuous_state()
            .settings()
            .max_concurrent_exports
            .max(1);
        let engine = &self.engine;
        let results = futures::stream::iter(due)
            .map(|name| async move {
                let began = std::time::Instant::now();
                let outcome = run_once(engine, &name).await;
                (name, outcome, began.elapsed())
            })
            .buffer_unordered(limit)
            .collect::<Vec<_>>()
            .await;
        Ok(results)
    }

    /// Ticks every `poll` until `shutdown` completes. A run in flight when the
    /// signal comes is finished (it commits, or fails and reports nothing); no new
    /// run starts after it.
    pub async fn run_until<F, L>(&self, poll: Duration, shutdown: F, mut on_result: L) -> Result<()>
    where
        F: Future<Output = ()>,
        L: FnMut(&str, &Result<RunOutcome>, Duration),
    {
        tokio::pin!(shutdown);
        loop {
            let tick = self.tick_timed();
            tokio::pin!(tick);
            let results = tokio::select! {
                r = &mut tick => r?,
                _ = &mut shutdown => {
                    // Let the runs in flight commit or fail cleanly.
                    for (name, outcome, elapsed) in tick.await? {
                        on_result(&name, &outcome, elapsed);
                    }
                    return Ok(());
                }
            };
            for (name, outcome, elapsed) in &results {
                on_result(name, outcome, *elapsed);
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = &mut shutdown => return Ok(()),
            }
        }
    }
}
