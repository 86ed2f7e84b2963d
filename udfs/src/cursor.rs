//! The database cursor: a position in the commit log.

use std::fmt;
use std::str::FromStr;

use crate::error::CursorError;

/// A database cursor: the sequence number of a commit in the database's log.
///
/// Cursors are assigned at commit, in commit order, so a reader that sees cursor `N`
/// sees every commit `<= N`. To users a cursor is an opaque decimal string; `''`
/// (or `0`) means "before the first commit".
///
/// ```
/// use datafusion_export_udfs::Cursor;
/// let c: Cursor = "42".parse().unwrap();
/// assert_eq!(c.to_string(), "42");
/// assert!(Cursor::BEGINNING < c);
/// assert!("4x2".parse::<Cursor>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cursor(u64);

impl Cursor {
    /// The cursor before any commit.
    pub const BEGINNING: Cursor = Cursor(0);

    /// A cursor from its sequence number.
    pub const fn new(sequence: u64) -> Self {
        Cursor(sequence)
    }

    /// The commit sequence number.
    pub const fn sequence(self) -> u64 {
        self.0
    }

    /// The cursor of the commit after this one.
    pub fn next(self) -> Cursor {
        Cursor(self.0.saturating_add(1))
    }

    /// Parses user text; `None`, `''` and whitespace-only text mean [`Cursor::BEGINNING`].
    pub fn parse_optional(text: Option<&str>) -> Result<Cursor, CursorError> {
        match text.map(str::trim) {
            None | Some("") => Ok(Cursor::BEGINNING),
            Some(t) => t.parse(),
        }
    }
}

impl FromStr for Cursor {
    type Err = CursorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CursorError::Malformed(s.to_string()));
        }
        t.parse::<u64>()
            .map(Cursor)
            .map_err(|_| CursorError::OutOfRange(s.to_string()))
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!("0".parse::<Cursor>().unwrap(), Cursor::BEGINNING);
        assert_eq!(" 17 ".parse::<Cursor>().unwrap(), Cursor::new(17));
        assert_eq!(
            Cursor::new(18446744073709551615).to_string(),
            "18446744073709551615"
        );
        assert_eq!(Cursor::parse_optional(None).unwrap(), Cursor::BEGINNING);
        assert_eq!(Cursor::parse_optional(Some("")).unwrap(), Cursor::BEGINNING);
    }

    #[test]
    fn rejects_bad_text() {
        for bad in ["-1", "1.5", "abc", "1e3", "+3", "0x10", "１２"] {
            assert!(
                matches!(bad.parse::<Cursor>(), Err(CursorError::Malformed(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            "18446744073709551616".parse::<Cursor>(),
            Err(CursorError::OutOfRange(_))
        ));
    }

    #[test]
    fn orders_numerically_not_lexically() {
        assert!("9".parse::<Cursor>().unwrap() < "10".parse::<Cursor>().unwrap());
    }
}
