//! Counters an export advances as it writes, for progress displays.

use std::sync::atomic::{AtomicU64, Ordering};

/// Running totals of what exports wrote (rows, bytes before compression, artifacts).
#[derive(Debug, Default)]
pub struct ExportProgress {
    rows: AtomicU64,
    bytes: AtomicU64,
    artifacts: AtomicU64,
}

/// A reading of [`ExportProgress`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// Records written.
    pub rows: u64,
    /// Bytes written before compression.
    pub bytes: u64,
    /// Artifacts completed.
    pub artifacts: u64,
}

impl ProgressSnapshot {
    /// What happened between `earlier` and this reading.
    pub fn since(&self, earlier: &ProgressSnapshot) -> ProgressSnapshot {
        ProgressSnapshot {
            rows: self.rows.saturating_sub(earlier.rows),
            bytes: self.bytes.saturating_sub(earlier.bytes),
            artifacts: self.artifacts.saturating_sub(earlier.artifacts),
        }
    }
}

impl ExportProgress {
    /// Records `rows` written, `bytes` more before compression.
    pub fn wrote(&self, rows: u64, bytes: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Records a completed artifact.
    pub fn finished_artifact(&self) {
        self.artifacts.fetch_add(1, Ordering::Relaxed);
    }

    /// The totals now.
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            rows: self.rows.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            artifacts: self.artifacts.load(Ordering::Relaxed),
        }
    }
}
