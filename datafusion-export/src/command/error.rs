//! The error type returned by the command parser and the script splitter.

/// An error found while parsing user text.
///
/// `line` and `column` are 1-based; `column` counts characters (not bytes)
/// from the start of the line. The message never contains the value of an
/// obfuscated (`h'...'`) string literal.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("{message} (at line {line}, column {column})")]
pub struct ParseError {
    /// What went wrong and, where possible, what was expected instead.
    pub message: String,
    /// 1-based line number of the offending position.
    pub line: u64,
    /// 1-based column (in characters) of the offending position.
    pub column: u64,
}

impl ParseError {
    /// Creates an error at an explicit line and column.
    pub fn new(message: impl Into<String>, line: u64, column: u64) -> Self {
        Self {
            message: message.into(),
            line,
            column,
        }
    }

    /// Creates an error located at byte `offset` of `text`.
    ///
    /// Offsets past the end, or inside a multi-byte character, are clamped.
    pub(crate) fn at_offset(text: &str, offset: usize, message: impl Into<String>) -> Self {
        let (line, column) = line_col(text, offset);
        Self::new(message, line, column)
    }
}

/// Converts a byte offset of `text` into a 1-based (line, column) pair where
/// the column counts characters, matching the convention of the sqlparser
/// tokenizer (only `\n` starts a new line).
pub(crate) fn line_col(text: &str, offset: usize) -> (u64, u64) {
    let mut offset = offset.min(text.len());
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or("");
    let line = before.bytes().filter(|b| *b == b'\n').count() as u64 + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before.get(line_start..).unwrap_or("").chars().count() as u64 + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_includes_position() {
        let e = ParseError::new("expected ')' after column list", 3, 14);
        assert_eq!(
            e.to_string(),
            "expected ')' after column list (at line 3, column 14)"
        );
    }

    #[test]
    fn line_col_counts_chars_and_lines() {
        let text = "ab\nçé x\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 2), (1, 3));
        assert_eq!(line_col(text, 3), (2, 1));
        // 'x' is after two 2-byte chars and a space
        let x = text.find('x').unwrap();
        assert_eq!(line_col(text, x), (2, 4));
        // inside a multi-byte char: clamped to its start
        assert_eq!(line_col(text, 4), (2, 1));
        // past the end: clamped
        assert_eq!(line_col(text, 1000), (3, 1));
        assert_eq!(line_col("", 5), (1, 1));
    }

    #[test]
    fn at_offset_builds_error() {
        let e = ParseError::at_offset("a\nbc", 3, "boom");
        assert_eq!((e.line, e.column), (2, 2));
        assert_eq!(e.message, "boom");
    }
}
