//! Cursor ranges: the scope a cursor predicate puts on a scan.

use std::fmt;

use crate::cursor::Cursor;

/// A half-open range of commits `(after, at_or_before]`.
///
/// `cursor_after(c)` gives `(c, ∞]`, `cursor_before_or_at(c)` gives `(0, c]`; nested
/// scopes [`intersect`](CursorRange::intersect).
///
/// ```
/// use datafusion_export_udfs::{Cursor, CursorRange};
/// let r = CursorRange::after(Cursor::new(5)).intersect(&CursorRange::at_or_before(Cursor::new(9)));
/// assert!(r.contains(Cursor::new(9)) && !r.contains(Cursor::new(5)));
/// assert_eq!(r.to_string(), "(5, 9]");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CursorRange {
    /// Exclusive lower bound.
    pub after: Cursor,
    /// Inclusive upper bound; `None` is unbounded (the newest commit at scan time).
    pub at_or_before: Option<Cursor>,
}

impl CursorRange {
    /// Every commit.
    pub const ALL: CursorRange = CursorRange {
        after: Cursor::BEGINNING,
        at_or_before: None,
    };

    /// Commits after `c`.
    pub fn after(c: Cursor) -> Self {
        CursorRange {
            after: c,
            at_or_before: None,
        }
    }

    /// Commits at or before `c`.
    pub fn at_or_before(c: Cursor) -> Self {
        CursorRange {
            after: Cursor::BEGINNING,
            at_or_before: Some(c),
        }
    }

    /// Commits in `(after, at_or_before]`.
    pub fn between(after: Cursor, at_or_before: Cursor) -> Self {
        CursorRange {
            after,
            at_or_before: Some(at_or_before),
        }
    }

    /// The commits in both ranges.
    pub fn intersect(&self, other: &CursorRange) -> CursorRange {
        CursorRange {
            after: self.after.max(other.after),
            at_or_before: match (self.at_or_before, other.at_or_before) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }

    /// Whether the commit `c` is in the range.
    pub fn contains(&self, c: Cursor) -> bool {
        c > self.after && self.at_or_before.is_none_or(|hi| c <= hi)
    }

    /// Whether no commit can be in the range.
    pub fn is_empty(&self) -> bool {
        self.at_or_before.is_some_and(|hi| hi <= self.after)
    }

    /// Whether this range admits every commit.
    pub fn is_all(&self) -> bool {
        *self == Self::ALL
    }
}

impl fmt::Display for CursorRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at_or_before {
            Some(hi) => write!(f, "({}, {}]", self.after, hi),
            None => write!(f, "({}, latest]", self.after),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(n: u64) -> Cursor {
        Cursor::new(n)
    }

    #[test]
    fn intersection_matches_membership() {
        let ranges = [
            CursorRange::ALL,
            CursorRange::after(c(3)),
            CursorRange::at_or_before(c(7)),
            CursorRange::between(c(2), c(5)),
            CursorRange::between(c(6), c(4)),
        ];
        for a in &ranges {
            for b in &ranges {
                let i = a.intersect(b);
                for n in 0..10 {
                    assert_eq!(i.contains(c(n)), a.contains(c(n)) && b.contains(c(n)));
                }
                assert_eq!(i.is_empty(), (0..10).all(|n| !i.contains(c(n))));
            }
        }
    }

    #[test]
    fn displays_as_interval() {
        assert_eq!(CursorRange::after(c(5)).to_string(), "(5, latest]");
        assert_eq!(CursorRange::ALL.to_string(), "(0, latest]");
    }
}
